"""The reader over both file formats: follow across rotations while a writer rotates, and --since on a big log."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pinnace.logs import jsonfile, local, reader
from pinnace.logs.common import Format, LogRecord
from pinnace.logs.filelog import RotatingWriter

T0 = 1704164645123456789
SEC = 1_000_000_000

FORMATS = {
    "json-file": (jsonfile.JsonFileWriter, jsonfile.FORMAT),
    "local": (local.LocalWriter, local.FORMAT),
}


def writer_for(name: str, path: str, **kw: object) -> RotatingWriter:
    cls = FORMATS[name][0]
    return cls(path, **kw)  # type: ignore[arg-type]


def fmt(name: str) -> Format:
    return FORMATS[name][1]


def numbers(records: list[LogRecord]) -> list[int]:
    return [int(r.data.split()[1]) for r in records]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("name", list(FORMATS))
def test_follow_while_a_writer_rotates_reads_every_line_once_in_order(
    tmp_path: Path, name: str, compress: bool
) -> None:
    """A writer thread rotates about 60 times (gzip'ing each file, too) while the reader follows.

    The writer never runs more than 60 lines ahead of what the reader has
    yielded (two files of the five kept), so nothing is rotated out of
    reach: every line must come exactly once, in order, whatever the
    interleaving of reads and renames.
    """
    path = str(tmp_path / "c.log")
    total = 3000
    got: list[int] = []
    done = threading.Event()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            w = writer_for(name, path, max_size=2500, max_file=5, compress=compress)
            for i in range(total):
                while i - len(got) > 60 and not failure:
                    time.sleep(0.0005)
                w.write("stdout" if i % 3 else "stderr", b"line %06d\n" % i)
            w.close()
        except BaseException as e:  # pragma: no cover - shown by the assertion below
            failure.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while not os.path.exists(path):
            time.sleep(0.0005)
        for rec in reader.read_logs(
            path, fmt(name), follow=True, should_stop=done.is_set, poll_interval=0.0005
        ):
            got.append(int(rec.data.split()[1]))
    finally:
        failure.append(AssertionError("reader ended"))
        thread.join()
    assert failure[:-1] == []
    assert got == list(range(total))
    rotated = [n for n in os.listdir(tmp_path) if n != "c.log"]
    assert len(rotated) == 4 and all(n.endswith(".gz") == compress for n in rotated)


@pytest.mark.parametrize("name", list(FORMATS))
def test_since_on_a_large_rotated_log_returns_the_right_suffix(tmp_path: Path, name: str) -> None:
    """200,000 records over 4 files: every --since gives exactly the records from it on.

    Each write() of 1000 lines stamps them with one time (as one read from
    the container's pipe is stamped), a second apart from the next write's.
    """
    path = str(tmp_path / "c.log")
    n = 200_000
    with writer_for(name, path, max_size=1_000_000, max_file=4, compress=False) as w:
        chunk = 1000
        for start in range(0, n, chunk):
            lines = b"".join(b"line %07d\n" % i for i in range(start, start + chunk))
            w.write("stdout", lines, T0 + start * 10**6)
    first = numbers(list(reader.read_logs(path, fmt(name), tail=1)))
    assert first == [n - 1]
    kept = numbers(list(reader.read_logs(path, fmt(name))))
    assert kept == list(range(kept[0], n)) and kept[0] > 0 and len(os.listdir(tmp_path)) == 4
    oldest = kept[0] // 1000 + 1  # the first whole block kept
    for block in (oldest, (oldest + 199) // 2, 198, 199):
        since = T0 + block * 1000 * 10**6
        got = numbers(list(reader.read_logs(path, fmt(name), since_ns=since)))
        assert got == list(range(block * 1000, n)), block
        got = numbers(list(reader.read_logs(path, fmt(name), since_ns=since - 1)))
        assert got == list(range(block * 1000, n)), block
        got = numbers(list(reader.read_logs(path, fmt(name), since_ns=since + 1)))
        assert got == list(range((block + 1) * 1000, n)), block
    assert numbers(list(reader.read_logs(path, fmt(name), since_ns=0))) == kept


@pytest.mark.parametrize("name", list(FORMATS))
def test_follow_picks_up_a_log_that_appears_later(tmp_path: Path, name: str) -> None:
    """A container that has not written yet has no file: the follower waits for it."""
    path = str(tmp_path / "c.log")
    stop = threading.Event()

    def later() -> None:
        time.sleep(0.05)
        with writer_for(name, path, max_size=None, max_file=1, compress=False) as w:
            w.write("stdout", b"line 000001\n", T0)
            w.write("stderr", b"line 000002\n", T0)
        stop.set()

    thread = threading.Thread(target=later)
    thread.start()
    got = numbers(
        list(reader.read_logs(path, fmt(name), follow=True, should_stop=stop.is_set, poll_interval=0.001))
    )
    thread.join()
    assert got == [1, 2]
