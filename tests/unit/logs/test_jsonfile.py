"""docker's json-file log: exact bytes, rotation, tail/since by seeking, follow across rotations, --log-opt."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pinnace.errors import InvalidArgument
from pinnace.logs import jsonfile, reader
from pinnace.logs.jsonfile import (
    DEFAULT_MAX_FILE,
    DEFAULT_MAX_SIZE,
    MAX_LINE,
    JsonFileWriter,
    LogRecord,
    format_record,
    format_time,
    parse_log_opts,
    parse_time,
    read_logs,
)

SRC = Path(__file__).resolve().parents[3] / "src"
T0 = 1704164645123456789  # 2024-01-02T03:04:05.123456789Z
SEC = 1_000_000_000


def log_file(tmp_path: Path) -> str:
    return jsonfile.log_path(str(tmp_path), "c0ffee")


def lines_of(path: str) -> list[bytes]:
    return Path(path).read_bytes().splitlines(keepends=True)


def write_lines(w: JsonFileWriter, n: int, *, start: int = 0, t0: int = T0, step: int = 1000) -> None:
    for i in range(start, start + n):
        w.write("stdout", b"line %06d\n" % i, t0 + i * step)


def numbers(records: list[LogRecord]) -> list[int]:
    return [int(r.data.split()[1]) for r in records]


class CountingReads:
    """Wraps the reader's one read function to count the bytes it reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real = reader._read_at

        def counted(fd: int, size: int, offset: int) -> bytes:
            data = real(fd, size, offset)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(reader, "_read_at", counted)


# ------------------------------------------------------------------ format


def test_a_line_is_byte_for_byte_what_docker_writes(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    assert path == f"{tmp_path}/c0ffee-json.log"
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"hello\n", T0)
        w.write("stderr", b"oops\n", 1704164645 * SEC)
        w.write("stdout", b"x\n", 1704164645 * SEC + 120_000_000)
    assert lines_of(path) == [
        b'{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}\n',
        b'{"log":"oops\\n","stream":"stderr","time":"2024-01-02T03:04:05Z"}\n',
        b'{"log":"x\\n","stream":"stdout","time":"2024-01-02T03:04:05.12Z"}\n',
    ]


# moby daemon/logger/jsonfilelog/jsonlog/jsonlogbytes_test.go, plus the control bytes Go escapes as \u00XX.
ESCAPES = [
    (b'"A log line with \\"', b'\\"A log line with \\\\\\"'),
    (b"A log line with \r", b"A log line with \\r"),
    (b"A log line with & < >", b"A log line with \\u0026 \\u003c \\u003e"),
    ("A log line with utf8 : 🚀 ψ ω β".encode(), "A log line with utf8 : 🚀 ψ ω β".encode()),
    ("\u2028 \u2029".encode(), b"\\u2028 \\u2029"),
    (b"\xaf", b"\\ufffd"),
    (b"\x7f", b"\x7f"),
    (b"tab\there\x00\x1b[0m\x08", b"tab\\u0009here\\u0000\\u001b[0m\\u0008"),
    # Go rejects invalid UTF-8 a byte at a time; a real U+FFFD stays as it is
    (b"\xe2\x82A\xed\xa0\x80\xc0\x80", b"\\ufffd\\ufffdA" + b"\\ufffd" * 5),
    ("\ufffd".encode(), "\ufffd".encode()),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES)
def test_escaping_matches_go(tmp_path: Path, raw: bytes, escaped: bytes) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", raw + b"\n", T0)
    assert lines_of(path) == [
        b'{"log":"' + escaped + b'\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}\n'
    ]
    json.loads(lines_of(path)[0])  # valid JSON
    (rec,) = read_logs(path)
    # read back, each invalid byte is one U+FFFD, as Go decodes what it wrote
    text = raw.decode("utf-8", "surrogateescape")
    assert rec.data == "".join("\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text).encode() + b"\n"


def test_unicode_and_invalid_utf8_round_trip(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", "héllo wörld 🚀 \u2028\n".encode(), T0)
        w.write("stdout", b"bad \xff\xfe end\n", T0 + 1)
    first, second = read_logs(path)
    assert first.data == "héllo wörld 🚀 \u2028\n".encode()
    assert second.data == "bad \ufffd\ufffd end\n".encode()  # as docker reads back what it wrote


def test_attrs_are_written_between_stream_and_time_and_shown_by_details(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None, attrs={"tag": "web", "a b": "x<y\t"}) as w:
        w.write("stdout", b"hi\n", T0)
    assert lines_of(path) == [
        b'{"log":"hi\\n","stream":"stdout","attrs":{"a b":"x\\u003cy\\t","tag":"web"},'
        b'"time":"2024-01-02T03:04:05.123456789Z"}\n'
    ]
    (rec,) = read_logs(path)
    assert rec.attrs == (("a b", "x<y\t"), ("tag", "web"))
    assert format_record(rec, details=True) == b"a+b=x%3Cy%09,tag=web hi\n"
    assert format_record(rec, timestamps=True, details=True) == (
        b"2024-01-02T03:04:05.123456789Z a+b=x%3Cy%09,tag=web hi\n"
    )


def test_format_record_as_docker_logs_prints() -> None:
    rec = LogRecord("stdout", b"hi\n", 1704164645 * SEC)
    assert format_record(rec) == b"hi\n"
    assert format_record(rec, timestamps=True) == b"2024-01-02T03:04:05.000000000Z hi\n"
    assert format_record(rec, details=True) == b" hi\n"  # docker prints the (empty) attrs and a space


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T0, "2024-01-02T03:04:05.123456789Z"),
        (1704164645 * SEC, "2024-01-02T03:04:05Z"),
        (1704164645 * SEC + 100_000_000, "2024-01-02T03:04:05.1Z"),
        (0, "1970-01-01T00:00:00Z"),
        (951782400 * SEC + 5, "2000-02-29T00:00:00.000000005Z"),
    ],
)
def test_time_formats_as_go_rfc3339nano(ns: int, text: str) -> None:
    assert format_time(ns) == text
    assert parse_time(text) == ns
    fixed = format_time(ns, fixed=True)
    assert len(fixed) == 30 and fixed.startswith(text[:19]) and parse_time(fixed) == ns


def test_parse_time_offsets_and_errors() -> None:
    assert parse_time("2024-01-02T04:04:05.5+01:00") == 1704164645 * SEC + 500_000_000
    assert parse_time("2024-01-02T02:34:05-00:30") == 1704164645 * SEC
    for bad in ["", "2024-01-02", "2024-01-02T03:04:05", "2024-01-02T03:04:05.Z", "2024-01-02 03:04:05Z"]:
        with pytest.raises(ValueError):
            parse_time(bad)


# ------------------------------------------------------------------ writer: lines, partials


def test_stdout_and_stderr_lines_in_pieces_round_trip(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=None)
    w.write("stdout", b"hel", T0)
    w.write("stderr", b"err one\nerr", T0 + 1)
    w.write("stdout", b"lo\n\nwor", T0 + 2)
    w.write("stderr", b" two\n", T0 + 3)
    w.close()
    got = [(r.stream, r.data, r.time_ns, r.partial) for r in read_logs(path)]
    assert got[:4] == [
        ("stderr", b"err one\n", T0 + 1, False),
        ("stdout", b"hello\n", T0 + 2, False),
        ("stdout", b"\n", T0 + 2, False),
        ("stderr", b"err two\n", T0 + 3, False),
    ]
    assert got[4][:2] == ("stdout", b"wor") and got[4][3]  # the unterminated tail, at close
    assert [r.data for r in read_logs(path, stderr=False)] == [b"hello\n", b"\n", b"wor"]
    assert [r.data for r in read_logs(path, stdout=False)] == [b"err one\n", b"err two\n"]


def test_long_lines_are_cut_at_16k_with_the_first_pieces_time(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"a" * 20000, T0)
        w.write("stdout", b"a" * 20000 + b"\n", T0 + 5)  # the rest of the same line, later
        w.write("stdout", b"b" * (MAX_LINE - 1) + b"\n", T0 + 6)  # fits docker's buffer exactly
        w.write("stdout", b"c" * MAX_LINE + b"\n", T0 + 7)  # one byte too many: a piece, then "\n"
    recs = list(read_logs(path))
    assert [(len(r.data), r.partial, r.time_ns) for r in recs] == [
        (MAX_LINE, True, T0),
        (MAX_LINE, True, T0),
        (40000 - 2 * MAX_LINE + 1, False, T0),
        (MAX_LINE, False, T0 + 6),
        (MAX_LINE, True, T0 + 7),
        (1, False, T0 + 7),
    ]
    assert b"".join(r.data for r in recs[:3]) == b"a" * 40000 + b"\n"
    # a piece is marked only by the missing newline, as docker's json-file marks it
    assert lines_of(path)[0] == (
        b'{"log":"' + b"a" * MAX_LINE + b'","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}\n'
    )


def test_flush_logs_the_unterminated_tail_of_one_stream(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=None)
    w.write("stdout", b"prompt> ", T0)
    w.write("stderr", b"half", T0)
    w.flush("stdout")
    assert [(r.stream, r.data, r.partial) for r in read_logs(path)] == [("stdout", b"prompt> ", True)]
    w.close()
    w.close()
    assert [r.data for r in read_logs(path)] == [b"prompt> ", b"half"]


def test_flush_ends_a_cut_line_so_the_next_run_has_its_own_time(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"x" * (MAX_LINE + 5), T0)
        w.flush()  # the container exited in the middle of a long line
        w.write("stdout", b"restarted\n", T0 + SEC)
    assert [(len(r.data), r.time_ns, r.partial) for r in read_logs(path)] == [
        (MAX_LINE, T0, True),
        (5, T0, True),
        (10, T0 + SEC, False),
    ]


@pytest.mark.parametrize(
    "line",
    [
        b'{"log":"plain\\n","stream":"stdout","time":"2024-01-02T03:04:05.1Z"}',
        b'{"log":"cut","stream":"stderr","time":"2024-01-02T03:04:05Z"}',
        b'{"log":"a \\"q\\" \\u003c\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}',
        b'{"log":"back\\\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}',
        b'{"log":"x\\n","stream":"stdout","attrs":{"k":"v"},"time":"2024-01-02T03:04:05Z"}',
        b'{"log":"x\\n","stream":"other","time":"2024-01-02T03:04:05Z"}',
        b'{"stream":"stdout","time":"2024-01-02T04:04:05+01:00"}',
    ],
)
def test_fast_and_full_parsing_agree(line: bytes) -> None:
    obj = json.loads(line)
    rec = jsonfile._parse(line)
    assert rec is not None
    assert rec.data == obj.get("log", "").encode()
    assert rec.stream == obj["stream"]
    assert rec.time_ns == parse_time(obj["time"])
    assert rec.partial == (not rec.data.endswith(b"\n"))
    assert rec.attrs == tuple(sorted(obj.get("attrs", {}).items()))


def test_reopening_appends_like_a_restarted_container(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"first run\n", T0)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"second run\n", T0 + 1)
    assert [r.data for r in read_logs(path)] == [b"first run\n", b"second run\n"]


# ------------------------------------------------------------------ rotation


def test_rotation_keeps_exactly_max_file_files_within_max_size(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=1000, max_file=3) as w:
        write_lines(w, 500)
    names = sorted(os.listdir(tmp_path))
    assert names == ["c0ffee-json.log", "c0ffee-json.log.1", "c0ffee-json.log.2"]
    for name in names:
        assert 0 < os.path.getsize(tmp_path / name) <= 1000
    got = numbers(list(read_logs(path)))
    assert got == list(range(got[0], 500))  # the newest lines, in order, none lost in between
    # .1 is the file rotated last: its lines come right before the live file's
    last_of_1 = json.loads(lines_of(path + ".1")[-1])["log"]
    first_live = json.loads(lines_of(path)[0])["log"]
    assert int(last_of_1.split()[1]) + 1 == int(first_live.split()[1])


def test_max_file_1_truncates_in_place(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=500) as w:
        ino = os.stat(path).st_ino
        write_lines(w, 100)
    assert os.listdir(tmp_path) == ["c0ffee-json.log"]
    assert os.stat(path).st_ino == ino and os.path.getsize(path) <= 500
    assert numbers(list(read_logs(path)))[-1] == 99


def test_compressed_rotation_is_docker_gzip_with_last_time(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=1000, max_file=3, compress=True) as w:
        write_lines(w, 300)
    assert sorted(os.listdir(tmp_path)) == ["c0ffee-json.log", "c0ffee-json.log.1.gz", "c0ffee-json.log.2.gz"]
    raw = (tmp_path / "c0ffee-json.log.1.gz").read_bytes()
    xlen = int.from_bytes(raw[10:12], "little")
    meta = json.loads(raw[12 : 12 + xlen])
    content = gzip.decompress(raw).splitlines()
    assert meta == {"lastTime": json.loads(content[-1])["time"]}
    got = numbers(list(read_logs(path)))
    assert got == list(range(got[0], 300))
    assert len(got) > len(lines_of(path))  # the rotated files were read too


def test_writer_refuses_what_docker_refuses(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with pytest.raises(InvalidArgument, match="^max-file cannot be less than 1$"):
        JsonFileWriter(path, max_size=10, max_file=0)
    with pytest.raises(InvalidArgument, match="^compress cannot be true when max-file"):
        JsonFileWriter(path, max_size=None, max_file=3, compress=True)


# ------------------------------------------------------------------ reader: tail, since, until


def rotated_log(tmp_path: Path, n: int = 200, max_size: int = 2000, max_file: int = 5, **kw: bool) -> str:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=max_size, max_file=max_file, **kw) as w:
        write_lines(w, n, step=SEC)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_tail_across_rotated_files(tmp_path: Path, compress: bool) -> None:
    path = rotated_log(tmp_path, compress=compress)
    live = len(lines_of(path))
    total = numbers(list(read_logs(path)))
    assert numbers(list(read_logs(path, tail=live + 3))) == total[-(live + 3) :]
    assert numbers(list(read_logs(path, tail=1))) == [199]
    assert list(read_logs(path, tail=0)) == []
    assert numbers(list(read_logs(path, tail=100000))) == total
    assert numbers(list(read_logs(path, tail=-1))) == total


def test_tail_reads_blocks_from_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        write_lines(w, 20000)
    reads = CountingReads(monkeypatch)
    assert numbers(list(read_logs(path, tail=10))) == list(range(19990, 20000))
    assert reads.bytes < 3 * 4096 < os.path.getsize(path) // 100


def test_since_and_until_filter_inclusively(tmp_path: Path) -> None:
    path = rotated_log(tmp_path, compress=False)
    assert numbers(list(read_logs(path, since_ns=T0 + 150 * SEC))) == list(range(150, 200))
    assert numbers(list(read_logs(path, since_ns=T0 + 150 * SEC - 1))) == list(range(150, 200))
    assert numbers(list(read_logs(path, since_ns=T0 + 150 * SEC + 1))) == list(range(151, 200))
    first = numbers(list(read_logs(path)))[0]
    assert numbers(list(read_logs(path, until_ns=T0 + (first + 2) * SEC))) == [first, first + 1, first + 2]
    window = read_logs(path, since_ns=T0 + 160 * SEC, until_ns=T0 + 170 * SEC)
    assert numbers(list(window)) == list(range(160, 171))
    assert list(read_logs(path, since_ns=T0 + 1000 * SEC)) == []
    # docker applies --tail first, then --since
    assert numbers(list(read_logs(path, tail=5, since_ns=T0 + 197 * SEC))) == [197, 198, 199]


def test_since_with_compressed_files_uses_the_gzip_last_time(tmp_path: Path) -> None:
    path = rotated_log(tmp_path, compress=True)
    assert numbers(list(read_logs(path, since_ns=T0 + 190 * SEC))) == list(range(190, 200))
    first = numbers(list(read_logs(path)))[0]
    assert numbers(list(read_logs(path, since_ns=T0 + (first + 1) * SEC))) == list(range(first + 1, 200))


def test_since_seeks_instead_of_scanning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30,000 records in 3 files: since near the end reads a few KiB, not the ~2.5 MB."""
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=1_000_000, max_file=3) as w:
        write_lines(w, 30000)
    total = sum(os.path.getsize(tmp_path / n) for n in os.listdir(tmp_path))
    assert len(os.listdir(tmp_path)) == 3 and total > 1_000_000
    reads = CountingReads(monkeypatch)
    got = numbers(list(read_logs(path, since_ns=T0 + 29990 * 1000)))
    assert got == list(range(29990, 30000))
    assert reads.bytes < total // 100, reads.bytes
    # a since inside an older rotated file seeks there and reads on from that point
    reads.bytes = 0
    got = numbers(list(read_logs(path, since_ns=T0 + 20000 * 1000)))
    assert got == list(range(20000, 30000))
    assert reads.bytes < (total * 45) // 100, reads.bytes


def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_logs(str(tmp_path / "nope-json.log"))) == []
    assert (
        list(read_logs(str(tmp_path / "gone" / "nope-json.log"), follow=True, should_stop=lambda: True)) == []
    )


def test_reads_lines_docker_wrote(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    Path(path).write_bytes(
        b'{"log":"one\\n","stream":"stdout","time":"2024-01-02T03:04:05.1Z"}\n'
        b'{"log":"two \\u003cb\\u003e\\n","stream":"stderr","attrs":{"tag":"t"},"time":"2024-01-02T03:04:06Z"}\n'
        b"not json\n"
        b'{"log":"torn'
    )
    assert list(read_logs(path)) == [
        LogRecord("stdout", b"one\n", 1704164645 * SEC + 100_000_000),
        LogRecord("stderr", b"two <b>\n", 1704164646 * SEC, False, (("tag", "t"),)),
    ]


# ------------------------------------------------------------------ follow


class Stopper:
    def __init__(self) -> None:
        self.stop = False

    def __call__(self) -> bool:
        return self.stop


def test_follow_picks_up_appended_lines_and_stops_when_told(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=None)
    write_lines(w, 3)
    stop = Stopper()
    gen = read_logs(path, tail=2, follow=True, should_stop=stop, poll_interval=0.001)
    assert numbers([next(gen), next(gen)]) == [1, 2]
    write_lines(w, 2, start=3)
    assert numbers([next(gen), next(gen)]) == [3, 4]
    write_lines(w, 1, start=5)
    stop.stop = True  # what was written before the stop is still read
    assert numbers(list(gen)) == [5]
    w.close()


@pytest.mark.parametrize(("max_file", "compress"), [(4, False), (2, False), (3, True)])
def test_follow_survives_rotations_between_reads(tmp_path: Path, max_file: int, compress: bool) -> None:
    """Two rotations while the reader is away: its old file (even deleted, or gzip'd) and the ones after it."""
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=1000, max_file=max_file, compress=compress)  # 11 records a file
    write_lines(w, 3)
    stop = Stopper()
    gen = read_logs(path, follow=True, should_stop=stop, poll_interval=0.001)
    assert numbers([next(gen) for _ in range(3)]) == [0, 1, 2]
    write_lines(w, 25, start=3)  # two rotations: the live file starts at record 24
    assert json.loads(lines_of(path)[0])["log"] == "line 000024\n"
    assert numbers([next(gen) for _ in range(25)]) == list(range(3, 28))
    write_lines(w, 10, start=28)
    stop.stop = True
    assert numbers(list(gen)) == list(range(28, 38))
    w.close()


def test_a_vanished_file_is_followed_by_the_files_that_began_after_it(tmp_path: Path) -> None:
    """When the reader's file is gone from the listing, only files that start later are read."""
    files = {}
    for name, first in [("old", 100), ("newer", 200), ("older", 50)]:
        files[name] = str(tmp_path / name)
        with JsonFileWriter(files[name], max_size=None) as w:
            w.write("stdout", b"%s\n" % name.encode(), T0 + first)
    opened = {
        n: reader._LineFile(jsonfile.FORMAT, os.open(p, os.O_RDONLY), 0, os.path.getsize(p))
        for n, p in files.items()
    }
    try:
        newer = reader._newer_than(opened["old"], [opened["newer"], opened["older"]])
        assert newer == [opened["newer"]]
        # found by inode: the files listed before it are the newer ones, oldest first
        same = reader._LineFile(jsonfile.FORMAT, os.open(files["old"], os.O_RDONLY), 0, 0)
        assert reader._newer_than(same, [opened["newer"], opened["older"], opened["old"]]) == [
            opened["older"],
            opened["newer"],
        ]
        same.close()
    finally:
        for src in opened.values():
            src.close()


def test_follow_after_truncation_in_place(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=400, max_file=1)  # 4 records of 84 bytes
    write_lines(w, 4)
    stop = Stopper()
    gen = read_logs(path, follow=True, should_stop=stop, poll_interval=0.001)
    assert numbers([next(gen) for _ in range(4)]) == [0, 1, 2, 3]
    write_lines(w, 2, start=4)  # the 5th record does not fit: the file starts over
    assert len(lines_of(path)) == 2
    stop.stop = True
    assert numbers(list(gen)) == [4, 5]
    w.close()


def test_follow_with_a_concurrent_writer_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    w = JsonFileWriter(path, max_size=3000, max_file=5)
    done = threading.Event()

    def writer() -> None:
        for i in range(400):
            w.write("stdout" if i % 3 else "stderr", b"line %06d\n" % i)
            if i % 20 == 0:
                time.sleep(0.002)
        w.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    got = numbers(list(read_logs(path, follow=True, should_stop=done.is_set, poll_interval=0.001)))
    thread.join()
    assert got == list(range(got[0], 400))
    assert got[0] == 0  # with 5 files kept, nothing was rotated away before the reader began


def test_follow_until_a_child_process_has_written(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    code = (
        f"import sys, time; sys.path[:0] = [{str(SRC)!r}]\n"
        "from pinnace.logs.jsonfile import JsonFileWriter\n"
        f"w = JsonFileWriter({path!r}, max_size=400, max_file=3)\n"
        "for i in range(60):\n"
        "    w.write('stdout', b'line %06d\\n' % i)\n"
        "    time.sleep(0.001)\n"
        "w.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    got = numbers(
        list(read_logs(path, follow=True, should_stop=lambda: child.poll() is not None, poll_interval=0.001))
    )
    assert child.wait() == 0
    assert got == list(range(got[0], 60)) and got[-1] == 59


def test_follow_ends_when_until_passes(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with JsonFileWriter(path, max_size=None) as w:
        w.write("stdout", b"old\n", T0)
    start = time.monotonic()
    got = list(read_logs(path, follow=True, until_ns=time.time_ns() + 50_000_000, poll_interval=0.005))
    assert [r.data for r in got] == [b"old\n"]
    assert time.monotonic() - start < 5


# ------------------------------------------------------------------ --log-opt


def test_default_rotation() -> None:
    assert (DEFAULT_MAX_SIZE, DEFAULT_MAX_FILE) == (10 * 1024 * 1024, 3)
    assert parse_log_opts({}) == (None, 1, False)  # docker's own default: one file, unbounded
    assert parse_log_opts({}, defaults=True) == (DEFAULT_MAX_SIZE, 3, False)
    assert parse_log_opts({"max-file": "5"}, defaults=True) == (DEFAULT_MAX_SIZE, 5, False)
    assert parse_log_opts({"max-size": "1g"}, defaults=True) == (10**9, 3, False)
    assert parse_log_opts({"compress": "true"}, defaults=True) == (DEFAULT_MAX_SIZE, 3, True)


@pytest.mark.parametrize(
    ("opts", "parsed"),
    [
        ({"max-size": "10m", "max-file": "3"}, (10_000_000, 3, False)),
        ({"max-size": "32"}, (32, 1, False)),
        ({"max-size": "32.5 kB"}, (32500, 1, False)),
        ({"max-size": "1MiB"}, (1_000_000, 1, False)),  # go-units' FromHumanSize is decimal
        ({"max-size": "0.3K"}, (300, 1, False)),
        ({"max-file": "4"}, (None, 4, False)),  # accepted, and no rotation without max-size
        ({"max-size": "1k", "max-file": "2", "compress": "T"}, (1000, 2, True)),
        (
            {"labels": "a", "env": "B", "tag": "{{.Name}}", "labels-regex": "x", "env-regex": "y"},
            (None, 1, False),
        ),
    ],
)
def test_log_opts_parse_as_docker(opts: dict[str, str], parsed: tuple[int | None, int, bool]) -> None:
    assert parse_log_opts(opts) == parsed


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"max-szie": "1m"}, "unknown log opt 'max-szie' for json-file log driver"),
        ({"max-size": "abc"}, "invalid size: 'abc'"),
        ({"max-size": ""}, "invalid size: ''"),
        ({"max-size": "-32"}, "invalid size: '-32'"),
        ({"max-size": "32bm"}, "invalid suffix: 'bm'"),
        ({"max-size": "10mx"}, "invalid suffix: 'mx'"),
        ({"max-size": "10 XXXX"}, "invalid suffix: 'XXXX'"),
        ({"max-size": "32m b"}, 'strconv.ParseFloat: parsing "32m": invalid syntax'),
        ({"max-size": " 32 "}, 'strconv.ParseFloat: parsing " 32": invalid syntax'),
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-size": "0.5"}, "max-size must be a positive number"),
        ({"max-file": "0"}, "max-file cannot be less than 1"),
        ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"max-file": " 3"}, 'strconv.Atoi: parsing " 3": invalid syntax'),
        ({"compress": "yes"}, 'strconv.ParseBool: parsing "yes": invalid syntax'),
        ({"compress": "true"}, "compress cannot be true when max-file is less than 2 or max-size is not set"),
        (
            {"compress": "1", "max-file": "3"},
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
    ],
)
def test_log_opt_errors_are_dockers(opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_log_opts(opts)
    assert str(err.value) == message


# ------------------------------------------------------------------ cost


def test_the_writer_imports_nothing_heavy(tmp_path: Path) -> None:
    """It runs in every container's monitor: no json, re, threading, pathlib, typing, dataclasses, zlib."""
    code = (
        f"import sys; sys.path[:0] = [{str(SRC)!r}]\n"
        "import os\n"
        "from pinnace.logs.jsonfile import JsonFileWriter\n"
        "d = sys.argv[1]\n"
        "w = JsonFileWriter(os.path.join(d, 'x-json.log'), max_size=200, max_file=2)\n"
        "for i in range(20): w.write('stdout', b'hello \\xff <world>\\n')\n"
        "w.close()\n"
        "heavy = {'json', 're', 'threading', 'pathlib', 'typing', 'dataclasses', 'zlib', 'collections'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
