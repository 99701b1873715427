"""docker's ``local`` log format: exact record bytes, partials, rotation and compression, tail/since/until by seeking."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from pinnace.logs import local, reader
from pinnace.logs.common import MAX_LINE, LogRecord
from pinnace.logs.local import LocalWriter, read_logs

T0 = 1704164645123456789  # 2024-01-02T03:04:05.123456789Z
SEC = 1_000_000_000


def log_file(tmp_path: Path) -> str:
    return str(tmp_path / "container.log")


def numbers(records: list[LogRecord]) -> list[int]:
    return [int(r.data.split()[1]) for r in records]


def write_lines(w: LocalWriter, n: int, *, start: int = 0, t0: int = T0, step: int = 1000) -> None:
    for i in range(start, start + n):
        w.write("stdout", b"line %06d\n" % i, t0 + i * step)


def frames(data: bytes) -> list[bytes]:
    """An independent reading of the framing: [u32 len][entry][u32 len] ..."""
    out = []
    while data:
        size = int.from_bytes(data[:4], "big")
        assert data[4 + size : 8 + size] == data[:4]
        out.append(data[4 : 4 + size])
        data = data[8 + size :]
    return out


def test_path_is_dockers() -> None:
    assert local.log_path("/c") == "/c/local-logs/container.log"


def test_a_record_is_byte_for_byte_what_docker_writes(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=None, max_file=1, compress=False) as w:
        w.write("stdout", b"hello\n", T0)
    # LogEntry{source: "stdout", time_nano: T0, line: "hello"}: fields 1, 2, 3 in order, proto3 encoding
    entry = b"\x0a\x06stdout" + b"\x10\x95\xfe\xf3\xba\xf3\x96\x9a\xd3\x17" + b"\x1a\x05hello"
    assert Path(path).read_bytes() == len(entry).to_bytes(4, "big") + entry + len(entry).to_bytes(4, "big")
    assert list(read_logs(path)) == [LogRecord("stdout", b"hello\n", T0)]


def test_attrs_are_sorted_repeated_fields(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=None, max_file=1, compress=False, attrs={"tag": "web", "a": "1"}) as w:
        w.write("stderr", b"\n", T0)  # an empty line: no line field at all
    (entry,) = frames(Path(path).read_bytes())
    assert entry.endswith(b"\x32\x06\x0a\x01a\x12\x011" + b"\x32\x0a\x0a\x03tag\x12\x03web")
    assert b"\x1a" not in entry[:19]
    assert list(read_logs(path)) == [LogRecord("stderr", b"\n", T0, False, (("a", "1"), ("tag", "web")))]


def message(fields: dict[int, int | bytes], number: int) -> bytes:
    """A length-delimited field's bytes (b"" when absent)."""
    value = fields.get(number, b"")
    assert isinstance(value, bytes)
    return value


def test_long_lines_are_numbered_pieces_with_one_id(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=None, max_file=1, compress=False) as w:
        w.write("stdout", b"a" * (2 * MAX_LINE + 10) + b"\n", T0)
        w.write("stdout", b"short\n", T0 + 1)
        w.write("stdout", b"b" * (MAX_LINE + 1), T0 + 2)  # unterminated when the stream ends
        w.flush("stdout")
    entries = frames(Path(path).read_bytes())
    metas = []
    ids = []
    for entry in entries:
        fields = dict(local._fields(entry))
        meta = dict(local._fields(message(fields, 5))) if 5 in fields else {}
        metas.append((fields.get(4, 0), meta.get(1, 0), meta.get(3), len(message(fields, 3))))
        if meta:
            ids.append(message(meta, 2))
    assert metas == [
        (1, 0, 1, MAX_LINE),
        (1, 0, 2, MAX_LINE),
        (1, 1, 3, 10),  # the piece that ended the line: last
        (0, 0, None, 5),
        (1, 0, 1, MAX_LINE),
        (1, 0, 2, 1),  # left unterminated: not last
    ]
    assert len(set(ids[:3])) == 1 and len(set(ids[3:])) == 1 and ids[0] != ids[3]
    assert len(ids[0]) == 64 and all(c in b"0123456789abcdef" for c in ids[0])
    recs = list(read_logs(path))
    assert [(len(r.data), r.partial, r.time_ns) for r in recs] == [
        (MAX_LINE, True, T0),
        (MAX_LINE, True, T0),
        (11, False, T0),
        (6, False, T0 + 1),
        (MAX_LINE, True, T0 + 2),
        (1, True, T0 + 2),
    ]


def test_decoder_takes_any_field_order_and_skips_unknown_fields() -> None:
    entry = b"\x1a\x02hi" + b"\x40\x07" + b"\x10\x05" + b"\x0a\x06stderr" + b"\x4d\x00\x00\x00\x00"
    assert local._parse(entry) == LogRecord("stderr", b"hi\n", 5)
    assert local._time_of(entry) == 5
    assert local._parse(b"\x0a\xff") is None  # a length past the end
    assert local._parse(b"\x0f") is None  # wire type 7
    negative = b"\x0a\x06stdout\x10" + b"\xff" * 9 + b"\x01"  # int64 -1, ten bytes
    assert local._time_of(negative) == -1


def test_defaults_are_dockers(tmp_path: Path) -> None:
    w = LocalWriter(log_file(tmp_path))
    assert (w.max_size, w.max_file, w.compress) == (20 * 1024 * 1024, 5, True)
    w.close()


def test_rotation_and_compression(tmp_path: Path) -> None:
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=1000, max_file=3, compress=True) as w:
        write_lines(w, 300)
    assert sorted(os.listdir(tmp_path)) == ["container.log", "container.log.1.gz", "container.log.2.gz"]
    raw = (tmp_path / "container.log.1.gz").read_bytes()
    meta = json.loads(raw[12 : 12 + int.from_bytes(raw[10:12], "little")])
    last = frames(gzip.decompress(raw))[-1]
    assert meta == {"lastTime": _go_time(local._time_of(last))}
    assert os.path.getsize(path) <= 1000
    got = numbers(list(read_logs(path)))
    assert got == list(range(got[0], 300)) and len(got) > 40


def _go_time(ns: int | None) -> str:
    from pinnace.logs.common import format_time

    assert ns is not None
    return format_time(ns)


def rotated_log(tmp_path: Path, n: int = 200, max_size: int = 2000, max_file: int = 5, **kw: bool) -> str:
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=max_size, max_file=max_file, **kw) as w:
        write_lines(w, n, step=SEC)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_tail_since_until_across_rotated_files(tmp_path: Path, compress: bool) -> None:
    path = rotated_log(tmp_path, compress=compress)
    total = numbers(list(read_logs(path)))
    assert total == list(range(200))
    live = len(frames(Path(path).read_bytes()))
    assert numbers(list(read_logs(path, tail=live + 3))) == total[-(live + 3) :]
    assert numbers(list(read_logs(path, tail=1))) == [199]
    assert list(read_logs(path, tail=0)) == []
    assert numbers(list(read_logs(path, tail=-1))) == total
    assert numbers(list(read_logs(path, since_ns=T0 + 150 * SEC))) == list(range(150, 200))
    assert numbers(list(read_logs(path, since_ns=T0 + 150 * SEC + 1))) == list(range(151, 200))
    assert numbers(list(read_logs(path, since_ns=T0 + 10 * SEC, until_ns=T0 + 12 * SEC))) == [10, 11, 12]
    assert numbers(list(read_logs(path, tail=5, since_ns=T0 + 197 * SEC))) == [197, 198, 199]
    assert list(read_logs(path, since_ns=T0 + 1000 * SEC)) == []


class CountingReads:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real = reader._read_at

        def counted(fd: int, size: int, offset: int) -> bytes:
            data = real(fd, size, offset)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(reader, "_read_at", counted)


def test_tail_and_since_read_little_of_a_big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30,000 records in 3 files: tail and a recent since read a few KiB, not the ~1 MB."""
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=400_000, max_file=3, compress=False) as w:
        write_lines(w, 30000)
    total = sum(os.path.getsize(tmp_path / n) for n in os.listdir(tmp_path))
    reads = CountingReads(monkeypatch)
    assert numbers(list(read_logs(path, tail=10))) == list(range(29990, 30000))
    assert reads.bytes < 8192, reads.bytes
    reads.bytes = 0
    got = numbers(list(read_logs(path, since_ns=T0 + 29990 * 1000)))
    assert got == list(range(29990, 30000))
    assert reads.bytes < total // 100, (reads.bytes, total)
    reads.bytes = 0
    got = numbers(list(read_logs(path, since_ns=T0 + 12345 * 1000)))
    assert got == list(range(12345, 30000))
    assert got[0] != numbers(list(read_logs(path)))[0]  # the since point lies inside a rotated file


def test_a_torn_record_is_skipped_and_a_half_written_one_waits(tmp_path: Path) -> None:
    """A monitor killed mid-write leaves half a record; the restarted one appends after it."""
    path = log_file(tmp_path)
    with LocalWriter(path, max_size=None, max_file=1, compress=False) as w:
        write_lines(w, 3)
    whole = Path(path).read_bytes()
    one = len(whole) // 3
    with open(path, "ab") as f:
        f.write(whole[: one - 5])  # a torn copy of record 0
    with LocalWriter(path, max_size=None, max_file=1, compress=False) as w:
        write_lines(w, 3, start=3)
    assert numbers(list(read_logs(path))) == [0, 1, 2, 3, 4, 5]
    assert numbers(list(read_logs(path, tail=4))) == [2, 3, 4, 5]
    assert numbers(list(read_logs(path, since_ns=T0 + 2000))) == [2, 3, 4, 5]
    # a record being written (half of it on disk) is not read yet
    with open(path, "ab") as f:
        f.write(whole[:7])
    assert numbers(list(read_logs(path, tail=2))) == [4, 5]
    assert numbers(list(read_logs(path)))[-1] == 5


def test_files_docker_wrote_read_back(tmp_path: Path) -> None:
    """Records built field by field as moby's gogo marshaller lays them out, partial metadata included."""
    path = log_file(tmp_path)

    def entry(line: bytes, when: int, meta: bytes = b"") -> bytes:
        body = b"\x0a\x06stdout\x10" + local._varint(when) + b"\x1a" + local._varint(len(line)) + line
        if meta:
            body += b"\x20\x01\x2a" + local._varint(len(meta)) + meta
        n = len(body).to_bytes(4, "big")
        return n + body + n

    pid = b"\x12\x40" + b"f" * 64
    Path(path).write_bytes(
        entry(b"x" * 3, T0, pid + b"\x18\x01")
        + entry(b"yy", T0, b"\x08\x01" + pid + b"\x18\x02")
        + entry(b"plain", T0 + SEC)
    )
    assert [(r.data, r.partial) for r in read_logs(path)] == [
        (b"xxx", True),
        (b"yy\n", False),
        (b"plain\n", False),
    ]
