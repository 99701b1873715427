"""docker's json-file log driver: the writer the per-container monitor runs, and its record codec.

The format is moby's (daemon/logger/jsonfilelog), byte for byte, so files
move between docker and pinnace and tools that read docker's logs read ours::

    {"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}

- ``log`` is the line with its newline, escaped as moby's ``jsonlogbytes``
  escapes: ``\\"`` ``\\\\`` ``\\n`` ``\\r``, other control bytes and ``< > &`` as
  ``\\u00XX``, U+2028/U+2029 as ``\\u2028``/``\\u2029``, every byte of invalid
  UTF-8 as one ``\\ufffd``, all else as-is.
- A line longer than docker's 16 KiB copier buffer is cut into 16 KiB records
  without a newline; those partial records carry no other mark in this format
  (the ``attrs`` field holds only the labels/env/tag attributes), and every
  piece of one line gets the time of its first piece, as moby's copier does.
  Output still unterminated at end of stream is one more partial record.
- ``time`` is RFC 3339 with nanoseconds, trailing zeros trimmed, in UTC.
- Rotation and compression are :mod:`pinnace.logs.filelog`'s (docker's names:
  ``<id>-json.log``, ``.1``, ``.2.gz`` ...).

The writer escapes by hand and imports no json module (the monitor's memory
is paid per container).  Reading (``--tail`` backwards from the end,
``--since`` by binary search, ``--follow`` across rotations) is the generic
:mod:`pinnace.logs.reader` over :data:`FORMAT`.
"""

from __future__ import annotations

import codecs
import os

from pinnace.errors import InvalidArgument
from pinnace.logs.common import MAX_LINE, Format, LogRecord, format_record, format_time, parse_time
from pinnace.logs.filelog import PIECE, RotatingWriter
from pinnace.logs.options import DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, parse_log_opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

__all__ = [
    "DEFAULT_MAX_FILE",
    "DEFAULT_MAX_SIZE",
    "FORMAT",
    "MAX_LINE",
    "JsonFileWriter",
    "LogRecord",
    "format_record",
    "format_time",
    "log_path",
    "parse_log_opts",
    "parse_time",
    "read_logs",
]

# ---------------------------------------------------------------- escaping (Go's rules)


def _mark_invalid(exc: UnicodeError) -> tuple[str, int]:
    """Decoding for the writer: each byte of invalid UTF-8 becomes one marker, a lone surrogate.

    Go (utf8.DecodeRune) rejects invalid UTF-8 one byte at a time, where
    Python's "replace" merges a truncated sequence into one U+FFFD; and docker
    writes the escape ``\\ufffd`` for a bad byte but a real U+FFFD as-is, so
    the two must stay apart until the escaping.  No valid text decodes to a
    lone surrogate.
    """
    if isinstance(exc, UnicodeDecodeError):
        return "\udfff", exc.start + 1
    raise exc


def _replace_surrogates(exc: UnicodeError) -> tuple[str, int]:
    """Encoding for the reader: a lone surrogate (from a ``\\ud800`` escape) is U+FFFD, as Go decodes it."""
    if isinstance(exc, UnicodeEncodeError):
        return "\ufffd" * (exc.end - exc.start), exc.end
    raise exc


_MARK = "pinnace.go-mark-invalid"
_FFFD = "pinnace.go-replace-surrogates"
codecs.register_error(_MARK, _mark_invalid)
codecs.register_error(_FFFD, _replace_surrogates)

# Bytes written as they are; everything else needs a look.
_PLAIN = bytes(b for b in range(0x20, 0x80) if b not in b'"\\<>&')
_HIGH = bytes(range(0x80, 0x100))
_NON_ASCII = (
    (b"\xed\xbf\xbf", b"\\ufffd"),  # the marker of an invalid byte, as surrogatepass encodes it
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _escapes(*, attrs: bool) -> dict[int, bytes]:
    table = {b: b"\\u%04x" % b for b in range(0x20)}
    table.update({0x22: b'\\"', 0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r"})
    table.update({0x3C: b"\\u003c", 0x3E: b"\\u003e", 0x26: b"\\u0026"})
    if attrs:  # encoding/json (attrs) also has the short forms jsonlogbytes (log) leaves out
        table.update({0x08: b"\\b", 0x0C: b"\\f", 0x09: b"\\t"})
    return table


_LOG_ESCAPES = _escapes(attrs=False)
_ATTR_ESCAPES = _escapes(attrs=True)


def _escape(data: bytes, table: dict[int, bytes] = _LOG_ESCAPES) -> bytes:
    """The inside of a JSON string for ``data``, as Go writes it (see the module docstring)."""
    odd = data.translate(None, _PLAIN)
    if not odd:
        return data
    ascii_odd = odd.translate(None, _HIGH)
    high = len(ascii_odd) != len(odd)
    if high:
        data = data.decode("utf-8", _MARK).encode("utf-8", "surrogatepass")
    if 0x5C in ascii_odd:  # first: the other escapes add backslashes
        data = data.replace(b"\\", b"\\\\")
    for b in set(ascii_odd):
        if b != 0x5C:
            data = data.replace(bytes((b,)), table[b])
    if high:
        for raw, escaped in _NON_ASCII:
            if raw in data:
                data = data.replace(raw, escaped)
    return data


def _encode_attrs(attrs: Mapping[str, str]) -> bytes:
    """``"attrs":{...},`` as encoding/json marshals a map[string]string (sorted keys)."""
    items = (
        b'"' + _escape(k.encode(), _ATTR_ESCAPES) + b'":"' + _escape(v.encode(), _ATTR_ESCAPES) + b'"'
        for k, v in sorted(attrs.items())
    )
    return b'"attrs":{' + b",".join(items) + b"},"


def log_path(directory: str, container_id: str) -> str:
    """``<dir>/<id>-json.log``, where docker keeps a container's json-file log."""
    return os.path.join(directory, f"{container_id}-json.log")


# ---------------------------------------------------------------- writer


class JsonFileWriter(RotatingWriter):
    """docker's json-file records (see the module docstring) on :class:`~pinnace.logs.filelog.RotatingWriter`."""

    def __init__(
        self,
        path: str,
        *,
        max_size: int | None,
        max_file: int = 1,
        compress: bool = False,
        attrs: Mapping[str, str] | None = None,
    ) -> None:
        if max_size is not None and max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
        super().__init__(path, max_size=max_size, max_file=max_file, compress=compress)
        self._attrs = _encode_attrs(attrs) if attrs else b""
        self._heads: dict[str, bytes] = {}  # per stream: the fields between "log" and the time

    def _encode(self, stream: str, piece: bytes, when: int, kind: int) -> bytes:
        middle = self._heads.get(stream)
        if middle is None:
            middle = b'"stream":"' + _escape(stream.encode()) + b'",' + self._attrs + b'"time":"'
            self._heads[stream] = middle
        escaped = _escape(piece) + b"\\n" if kind != PIECE else _escape(piece)
        head = b'{"log":"' + escaped + b'",' if escaped else b"{"
        return head + middle + format_time(when).encode() + b'"}\n'


# ---------------------------------------------------------------- reading


_STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}


def _parse(line: bytes) -> LogRecord | None:
    """The record on one line of the file; None for a line that is not one (a torn or foreign write).

    Most lines are ``{"log":"text\\n","stream":"stdout","time":"..."}`` with no
    other escape: those are cut apart directly (three times faster than
    decoding JSON), since inside an escaped string ``","`` cannot occur.
    """
    if line.startswith(b'{"log":"') and line.endswith(b'"}'):
        i = line.find(b'","stream":"', 8)
        j = line.find(b'","time":"', i + 12) if i > 0 else -1
        stream = _STREAMS.get(line[i + 12 : j]) if j > 0 else None
        if stream is not None:
            text = line[8:i]
            slashes = text.count(b"\\")
            if slashes == 0 or (slashes == 1 and text.endswith(b"\\n")):
                try:
                    when = parse_time(line[j + 10 : -2].decode("ascii"))
                except (ValueError, UnicodeDecodeError):
                    return None
                if slashes:
                    return LogRecord(stream, text[:-2] + b"\n", when, False)
                return LogRecord(stream, text, when, True)
    from pinnace._util.jsonc import loads

    try:
        obj = loads(line.decode("utf-8", "replace"))
        when = parse_time(obj["time"])
        text = obj.get("log", "")
        stream = obj.get("stream", "")
        raw = obj.get("attrs") or {}
        data = text.encode("utf-8", _FFFD)
        attrs = tuple(sorted((str(k), str(v)) for k, v in raw.items()))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    return LogRecord(stream, data, when, not data.endswith(b"\n"), attrs)


def _line_time(line: bytes) -> int | None:
    """The time of a record without decoding it all: ``"time"`` is the last field docker writes.

    Inside an escaped string every quote follows a backslash, so ``":"`` can
    only be the real field.
    """
    i = line.rfind(b'"time":"')
    if i < 0:
        return None
    j = line.find(b'"', i + 8)
    try:
        return parse_time(line[i + 8 : j].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


FORMAT = Format("json-file", False, _parse, _line_time)


def read_logs(path: str, **kw: Any) -> Iterator[LogRecord]:
    """The records of the json-file log at ``path``: :func:`pinnace.logs.reader.read_logs` with its options."""
    from pinnace.logs.reader import read_logs as read

    return read(path, FORMAT, **kw)
