"""docker's ``local`` log driver: compact binary records, rotated and (by default) compressed.

Why docker's own format rather than a new one: it is already the compact
format the issue asks for, and keeping it byte for byte lets a ``local`` log
move between docker and pinnace.  Each record (moby daemon/logger/local) is a
protobuf ``LogEntry`` between two big-endian u32 copies of its length, so a
reader walks forwards by the header and backwards (``--tail``) by the footer::

    [len][LogEntry][len][len][LogEntry][len]...

    LogEntry { string source = 1; int64 time_nano = 2; bytes line = 3;
               bool partial = 4; PartialLogEntryMetadata partial_log_metadata = 5;
               repeated LogAttr attrs = 6; }
    PartialLogEntryMetadata { bool last = 1; string id = 2; int32 ordinal = 3; }
    LogAttr { string key = 1; string value = 2; }

``line`` is stored without its newline.  The pieces of a line longer than
16 KiB are ``partial`` with one random 64-hex ``id``, ``ordinal`` 1, 2, ...
and ``last`` on the piece that ended with the newline; output left
unterminated when a stream ends is a piece that is not ``last``.  A reader
adds the newline back to whole lines and last pieces, as docker's does.
Proto3 leaves out fields at their zero value; fields go in number order.

Defaults as docker's: rotate at 20 MiB, keep 5 files, gzip the rotated ones
(``container.log.1.gz`` ..., with :mod:`~pinnace.logs.filelog`'s header).
The file is ``<container dir>/local-logs/container.log``.

Encoding is by hand (no protobuf module): this runs in the per-container
monitor.  The decoder accepts any field order and skips unknown fields.
"""

from __future__ import annotations

import os

from pinnace.logs.common import Format, LogRecord
from pinnace.logs.filelog import LAST, PIECE, WHOLE, RotatingWriter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

#: docker's local defaults (moby daemon/logger/local): 20 MiB, 5 files, compressed.
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILE = 5
DEFAULT_COMPRESS = True

#: docker's reader refuses a record longer than this (maxMsgLen): a length above it is not a record.
MAX_RECORD = 1_000_000

#: Every record docker writes for a container begins so (field 1, source, 6 bytes).
HEADS = (b"\x0a\x06stdout", b"\x0a\x06stderr")


def log_path(container_dir: str) -> str:
    """``<container dir>/local-logs/container.log``, where docker keeps a container's local log."""
    return os.path.join(container_dir, "local-logs", "container.log")


# ---------------------------------------------------------------- protobuf, the few bits needed


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 as proto encodes it: two's complement, ten bytes
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, data: bytes) -> bytes:
    """A length-delimited field (``tag`` is the key byte: number << 3 | 2), left out when empty."""
    return bytes((tag,)) + _varint(len(data)) + data if data else b""


# ---------------------------------------------------------------- writer


class LocalWriter(RotatingWriter):
    """Appends docker ``local`` records (see the module docstring), rotating as docker does."""

    def __init__(
        self,
        path: str,
        *,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_file: int = DEFAULT_MAX_FILE,
        compress: bool = DEFAULT_COMPRESS,
        attrs: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path, max_size=max_size, max_file=max_file, compress=compress)
        # attrs sorted by key then value, as docker's local driver sorts them
        self._attrs = b"".join(
            _field(0x32, _field(0x0A, k.encode()) + _field(0x12, v.encode()))
            for k, v in sorted((attrs or {}).items())
        )
        self._partial: dict[str, tuple[bytes, int]] = {}  # per stream: the cut line's id and last ordinal

    def _encode(self, stream: str, piece: bytes, when: int, kind: int) -> bytes:
        body = _field(0x0A, stream.encode())
        if when:
            body += b"\x10" + _varint(when)
        body += _field(0x1A, piece)
        if kind != WHOLE:  # PIECE or LAST: a partial entry, numbered within its line
            pid, ordinal = self._partial.get(stream) or (os.urandom(32).hex().encode(), 0)
            ordinal += 1
            meta = (b"\x08\x01" if kind == LAST else b"") + _field(0x12, pid) + b"\x18" + _varint(ordinal)
            body += b"\x20\x01" + _field(0x2A, meta)
            if kind == PIECE:
                self._partial[stream] = (pid, ordinal)
            else:
                self._partial.pop(stream, None)
        body += self._attrs
        size = len(body).to_bytes(4, "big")
        return size + body + size

    def _end_of_stream(self, stream: str) -> None:
        self._partial.pop(stream, None)


# ---------------------------------------------------------------- reading


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: an int for varints, bytes for the rest; ValueError."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield key >> 3, value
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > n:
                raise ValueError("truncated field")
            yield key >> 3, buf[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > n:
                raise ValueError("truncated field")
            yield key >> 3, buf[pos : pos + width]
            pos += width
        else:
            raise ValueError(f"wire type {wire}")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _int64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


_SOURCES = {b"stdout": "stdout", b"stderr": "stderr"}


def _parse(entry: bytes) -> LogRecord | None:
    """The record in one ``LogEntry``; None when it is not a well-formed one.

    Most entries are a whole line as docker and pinnace write them (source,
    time, line, nothing else): those are cut apart directly, a third faster
    than walking the fields.
    """
    source = _SOURCES.get(entry[2:8]) if entry[:2] == b"\x0a\x06" and entry[8:9] == b"\x10" else None
    if source is not None:
        try:
            when, pos = _read_varint(entry, 9)
            if entry[pos : pos + 1] == b"\x1a":
                size, pos = _read_varint(entry, pos + 1)
                if pos + size == len(entry):
                    return LogRecord(source, entry[pos:] + b"\n", _int64(when))
            elif pos == len(entry):
                return LogRecord(source, b"\n", _int64(when))
        except ValueError:
            return None
    return _parse_fields(entry)


def _parse_fields(entry: bytes) -> LogRecord | None:
    source, when, line, partial, last = "", 0, b"", False, False
    attrs: list[tuple[str, str]] = []
    try:
        for num, value in _fields(entry):
            if num == 1 and isinstance(value, bytes):
                source = value.decode("utf-8", "replace")
            elif num == 2 and isinstance(value, int):
                when = _int64(value)
            elif num == 3 and isinstance(value, bytes):
                line = value
            elif num == 4 and isinstance(value, int):
                partial = bool(value)
            elif num == 5 and isinstance(value, bytes):
                last = any(k == 1 and v for k, v in _fields(value))
            elif num == 6 and isinstance(value, bytes):
                pair = dict(_fields(value))
                key, val = pair.get(1, b""), pair.get(2, b"")
                if isinstance(key, bytes) and isinstance(val, bytes):
                    attrs.append((key.decode("utf-8", "replace"), val.decode("utf-8", "replace")))
    except ValueError:
        return None
    cut = partial and not last
    return LogRecord(source, line if cut else line + b"\n", when, cut, tuple(sorted(attrs)))


def _time_of(entry: bytes) -> int | None:
    """The ``time_nano`` of an entry: right after the source in what docker writes, else found by decoding."""
    if entry[:2] == b"\x0a\x06" and entry[8:9] == b"\x10":
        try:
            return _int64(_read_varint(entry, 9)[0])
        except ValueError:
            return None
    try:
        for num, value in _fields(entry):
            if num == 2 and isinstance(value, int):
                return _int64(value)
    except ValueError:
        return None
    return 0


FORMAT = Format("local", True, _parse, _time_of)


def read_logs(path: str, **kw: Any) -> Iterator[LogRecord]:
    """The records of the local log at ``path``: :func:`pinnace.logs.reader.read_logs` with its options."""
    from pinnace.logs.reader import read_logs as read

    return read(path, FORMAT, **kw)
