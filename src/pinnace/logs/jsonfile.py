"""docker's json-file log: the writer the per-container monitor runs, and the reader behind ``logs``.

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
- Rotation renames ``<id>-json.log`` to ``.1``, ``.1`` to ``.2`` ... keeping
  ``max-file`` files in all; with ``compress`` the rotated files are gzip'd
  (``.1.gz`` ...) with the last record's time in the gzip header, as docker does.
  With ``max-file`` 1 the file is truncated in place.

The writer lives in the monitor, whose memory is paid per container: it
imports ``os`` and ``time`` only (zlib when compressing), escapes by hand,
and writes each batch of records with one ``write(2)``, so a reader never sees
half a batch it cannot finish.  The reader (``logs``) seeks instead of
scanning: ``--tail`` reads blocks backwards from the end, ``--since`` skips
rotated files whose last record is older and binary-searches the first file it
needs, and ``--follow`` polls the file and follows it across rotations.
"""

from __future__ import annotations

import codecs
import os
import time

from pinnace._util.golang import is_digits
from pinnace._util.record import record
from pinnace.errors import InvalidArgument
from pinnace.logs.options import DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, parse_log_opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping

__all__ = [
    "DEFAULT_MAX_FILE",
    "DEFAULT_MAX_SIZE",
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

#: docker's copier buffer: a line longer than this is logged in pieces of this size.
MAX_LINE = 16 * 1024

_NS = 1_000_000_000

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


# ---------------------------------------------------------------- time


def format_time(ns: int, *, fixed: bool = False) -> str:
    """RFC 3339 in UTC: Go's RFC3339Nano (trailing zeros trimmed), or 9 digits with ``fixed`` (``logs -t``)."""
    sec, frac = divmod(ns, _NS)
    t = time.gmtime(sec)
    head = f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}"
    if fixed:
        return f"{head}.{frac:09d}Z"
    if not frac:
        return head + "Z"
    return f"{head}.{frac:09d}".rstrip("0") + "Z"


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``Z`` or ``±hh:mm``); ValueError otherwise."""
    head, rest = text[:19], text[19:]
    cached_head, secs = _second_cache[0]
    if head != cached_head:  # records come in order: most share their second with the one before
        secs = _head_seconds(head)
        _second_cache[0] = (head, secs)
    if rest[-1:] in ("Z", "z"):
        frac = rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-" and rest[-3] == ":" and is_digits(rest[-5:-3] + rest[-2:]):
        offset = int(rest[-5:-3]) * 3600 + int(rest[-2:]) * 60
        secs -= offset if rest[-6] == "+" else -offset
        frac = rest[:-6]
    else:
        raise ValueError(f"bad time {text!r}")
    if not frac:
        return secs * _NS
    if frac[0] != "." or not 1 < len(frac) <= 10 or not is_digits(frac[1:]):
        raise ValueError(f"bad time {text!r}")
    return secs * _NS + int(frac[1:].ljust(9, "0"))


_second_cache: list[tuple[str, int]] = [("", 0)]


def _head_seconds(s: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS`` (UTC)."""
    if (
        len(s) != 19
        or not is_digits(s[0:4] + s[5:7] + s[8:10] + s[11:13] + s[14:16] + s[17:19])
        or s[4] + s[7] + s[13] + s[16] != "--::"
        or s[10] not in "Tt"
    ):
        raise ValueError(f"bad time {s!r}")
    y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])


def log_path(directory: str, container_id: str) -> str:
    """``<dir>/<id>-json.log``, where docker keeps a container's json-file log."""
    return os.path.join(directory, f"{container_id}-json.log")


# ---------------------------------------------------------------- writer

_WFLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rename_quiet(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass


class JsonFileWriter:
    """Appends a container's output to ``path`` in docker's json-file format, rotating by size.

    ``write`` takes what was read from the container's stdout or stderr, in
    any pieces: it cuts lines, keeps an unterminated tail until its newline
    comes (or 16 KiB of it piles up, or ``flush``), and writes the records.
    Rotation happens before a record that would take the file past
    ``max_size`` (so a file stays within it unless one record alone is bigger;
    docker rotates after the file has passed it).  Opening appends to an
    existing log, as docker does when a container restarts.  Not thread-safe:
    the monitor is one thread.
    """

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
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
        if compress and (max_file < 2 or max_size is None):
            raise InvalidArgument(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
        self.path = path
        self.max_size = max_size
        self.max_file = max_file
        self.compress = compress
        self._attrs = _encode_attrs(attrs) if attrs else b""
        self._heads: dict[str, bytes] = {}  # per stream: the fields between "log" and the time
        self._fd = os.open(path, _WFLAGS, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {}  # per stream: output after its last newline
        self._partial_ns: dict[str, int] = {}  # per stream: time of the first piece of a cut line
        self._last_ns = 0  # time of the last record in the live file (gzip header of its rotation)

    def write(self, stream: str, data: bytes, when_ns: int | None = None) -> None:
        """Log ``data`` read from ``stream`` ("stdout" or "stderr") at ``when_ns`` (default: now)."""
        if not data:
            return
        now = time.time_ns() if when_ns is None else when_ns
        buf = self._pending.pop(stream, b"") + data
        out: list[tuple[bytes, int]] = []
        start, end = 0, len(buf)
        while start < end:
            nl = buf.find(b"\n", start, start + MAX_LINE)
            if nl >= 0:
                when = self._partial_ns.pop(stream, now)
                out.append((self._record(stream, _escape(buf[start:nl]) + b"\\n", when), when))
                start = nl + 1
            elif end - start >= MAX_LINE:
                when = self._partial_ns.setdefault(stream, now)
                out.append((self._record(stream, _escape(buf[start : start + MAX_LINE]), when), when))
                start += MAX_LINE
            else:
                self._pending[stream] = buf[start:]
                break
        self._emit(out)

    def flush(self, stream: str | None = None) -> None:
        """End of ``stream`` (or of both): its unterminated output becomes a last partial record.

        The next output of the stream (a restarted container's) starts afresh,
        as a new copier does in docker.
        """
        now = time.time_ns()
        out = []
        for name in [stream] if stream is not None else list(self._pending):
            rest = self._pending.pop(name, b"")
            when = self._partial_ns.pop(name, now)
            if rest:
                out.append((self._record(name, _escape(rest), when), when))
        self._emit(out)

    def close(self) -> None:
        """Flush both streams and close the file (idempotent)."""
        if self._fd < 0:
            return
        self.flush()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> JsonFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, stream: str, escaped: bytes, when: int) -> bytes:
        middle = self._heads.get(stream)
        if middle is None:
            middle = b'"stream":"' + _escape(stream.encode()) + b'",' + self._attrs + b'"time":"'
            self._heads[stream] = middle
        head = b'{"log":"' + escaped + b'",' if escaped else b"{"
        return head + middle + format_time(when).encode() + b'"}\n'

    def _emit(self, records: list[tuple[bytes, int]]) -> None:
        batch: list[bytes] = []
        size = self._size
        limit = self.max_size
        for rec, when in records:
            if limit is not None and size > 0 and size + len(rec) > limit:
                if batch:
                    _write_all(self._fd, b"".join(batch))
                    batch.clear()
                self._rotate()
                size = 0
            batch.append(rec)
            size += len(rec)
            self._last_ns = when
        if batch:
            _write_all(self._fd, b"".join(batch) if len(batch) > 1 else batch[0])
        self._size = size

    def _rotate(self) -> None:
        """docker's order: drop the oldest, shift ``.i`` to ``.i+1``, the live file to ``.1``, start afresh."""
        if self.max_file < 2:
            os.ftruncate(self._fd, 0)
            return
        path = self.path
        ext = ".gz" if self.compress else ""
        _unlink_quiet(f"{path}.{self.max_file - 1}{ext}")
        for i in range(self.max_file - 1, 1, -1):
            _rename_quiet(f"{path}.{i - 1}{ext}", f"{path}.{i}{ext}")
        _rename_quiet(path, path + ".1")
        fd = os.open(path, _WFLAGS | os.O_TRUNC, 0o640)
        os.close(self._fd)
        self._fd = fd
        if self.compress:
            _gzip_file(path + ".1", self._last_ns)


def _gzip_file(src: str, last_ns: int) -> None:
    """``src`` -> ``src.gz`` with docker's ``{"lastTime":...}`` in the gzip header's extra field.

    Written under a temporary name and renamed, then ``src`` removed, so a
    reader always finds one complete copy (it prefers ``src`` while both exist).
    Runs inline: the monitor has no threads, and compression is opt-in.
    """
    import zlib

    extra = b'{"lastTime":"' + format_time(last_ns).encode() + b'"}'
    # Go's gzip.Writer: FEXTRA, MTIME 0, XFL 0, OS 255 (unknown)
    header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + len(extra).to_bytes(2, "little") + extra
    tmp = src + ".gz.tmp"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    crc = 0
    total = 0
    rfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
    try:
        _write_all(wfd, header)
        while chunk := os.read(rfd, 1 << 20):
            crc = zlib.crc32(chunk, crc)
            total += len(chunk)
            _write_all(wfd, comp.compress(chunk))
        trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
        _write_all(wfd, comp.flush() + trailer)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    finally:
        os.close(rfd)
        os.close(wfd)
    os.rename(tmp, src + ".gz")
    _unlink_quiet(src)


# ---------------------------------------------------------------- records


@record
class LogRecord:
    """One record of the log: ``data`` ends with a newline unless ``partial`` (a piece of a long line)."""

    stream: str
    data: bytes
    time_ns: int
    partial: bool = False
    attrs: tuple[tuple[str, str], ...] = ()


def format_record(rec: LogRecord, *, timestamps: bool = False, details: bool = False) -> bytes:
    """What ``docker logs`` prints for ``rec``: [time ][attrs ]line (moby daemon/logs.go order)."""
    out = rec.data
    if details:
        pairs = (_query_escape(k) + b"=" + _query_escape(v) for k, v in sorted(rec.attrs))
        out = b",".join(pairs) + b" " + out
    if timestamps:
        out = format_time(rec.time_ns, fixed=True).encode() + b" " + out
    return out


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _query_escape(text: str) -> bytes:
    """Go's url.QueryEscape."""
    out = bytearray()
    for b in text.encode():
        if b in _UNRESERVED:
            out.append(b)
        elif b == 0x20:
            out.append(0x2B)
        else:
            out += b"%%%02X" % b
    return bytes(out)


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


# ---------------------------------------------------------------- reader: files


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """Every read of the reader goes through here (tests count the bytes)."""
    return os.pread(fd, size, offset)


_CHUNK = 1 << 16  # forward reads
_PROBE = 512  # first read of a backward scan or binary-search probe: most records fit; doubled as needed


class _Plain:
    """An open plain log file read over ``[start, end)``, a range of whole lines."""

    gz = False

    def __init__(self, fd: int, start: int, end: int) -> None:
        self.fd = fd
        self.start = start
        self.end = end
        st = os.fstat(fd)
        self.key = (st.st_dev, st.st_ino)

    def lines(self) -> Iterator[bytes]:
        pos, rest = self.start, b""
        while pos < self.end:
            chunk = _read_at(self.fd, min(_CHUNK, self.end - pos), pos)
            if not chunk:
                return
            pos += len(chunk)
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            yield from parts

    def first_line(self) -> bytes:
        buf = b""
        while b"\n" not in buf:
            chunk = _read_at(self.fd, _PROBE << min(len(buf) // _PROBE, 7), len(buf))
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\n", 1)[0]

    def tail(self, n: int) -> int:
        """Start at the last ``n`` lines; returns how many that is (fewer when the file has fewer)."""
        count = 0
        hi = self.end - 1  # the newline that ends the last line is not a line start
        step = _PROBE
        while hi > self.start:
            lo = max(self.start, hi - step)
            step = min(step * 2, _CHUNK)
            block = _read_at(self.fd, hi - lo, lo)
            i = len(block)
            while (i := block.rfind(b"\n", 0, i)) >= 0:
                count += 1
                if count == n:
                    self.start = lo + i + 1
                    return count
            hi = lo
        return count + (self.end > self.start)

    def last_time(self) -> int | None:
        if self.end <= self.start:
            return None
        saved = self.start
        self.tail(1)
        start, self.start = self.start, saved
        line = _read_at(self.fd, self.end - start, start)
        return _line_time(line)

    def line_at(self, pos: int) -> tuple[int, bytes, int]:
        """The first line starting at or after ``pos``: (start, line, start of the next); start == end if none."""
        p = pos - 1 if pos > self.start else self.start
        begin = -1 if pos > self.start else 0  # where the line starts in buf; -1: not found yet
        buf = b""
        while True:
            if begin < 0 and (i := buf.find(b"\n")) >= 0:
                begin = i + 1
            if begin >= 0 and (j := buf.find(b"\n", begin)) >= 0:
                return p + begin, buf[begin:j], p + j + 1
            want = min(max(_PROBE, len(buf)), self.end - p - len(buf))
            more = _read_at(self.fd, want, p + len(buf)) if want > 0 else b""
            if not more:
                if begin < 0 or p + begin >= self.end:
                    return self.end, b"", self.end
                return p + begin, buf[begin:], p + len(buf)
            buf += more

    def seek_since(self, since: int) -> None:
        """Start at the first line stamped ``since`` or later, by binary search on line times."""
        lo, hi, found = self.start, self.end, self.end
        while lo < hi:
            mid = (lo + hi) // 2
            start, line, nxt = self.line_at(mid)
            if start >= hi:
                hi = mid
                continue
            t = _line_time(line)
            if t is None or t >= since:
                found, hi = start, mid
            else:
                lo = nxt
        self.start = found

    def close(self) -> None:
        os.close(self.fd)


class _Gz:
    """A rotated file docker (or pinnace) compressed: read forward only, by streaming it."""

    gz = True

    def __init__(self, fd: int) -> None:
        self.fd = fd
        st = os.fstat(fd)
        self.key = (st.st_dev, st.st_ino)
        self.kept: list[bytes] | None = None  # the lines ``tail`` kept

    def _stream(self) -> Iterator[bytes]:
        import zlib

        dec = zlib.decompressobj(31)
        pos = 0
        try:
            while chunk := _read_at(self.fd, _CHUNK, pos):
                pos += len(chunk)
                yield dec.decompress(chunk)
                if dec.eof:
                    break
            yield dec.flush()
        except zlib.error:  # a damaged file: what came out before the damage is all there is
            return

    def lines(self) -> Iterator[bytes]:
        if self.kept is not None:
            yield from self.kept
            return
        rest = b""
        for data in self._stream():
            parts = (rest + data).split(b"\n")
            rest = parts.pop()
            yield from parts

    def first_line(self) -> bytes:
        buf = b""
        for data in self._stream():
            buf += data
            if b"\n" in buf:
                break
        return buf.split(b"\n", 1)[0]

    def tail(self, n: int) -> int:
        from collections import deque

        self.kept = list(deque(self.lines(), maxlen=n))
        return len(self.kept)

    def last_time(self) -> int | None:
        """The ``lastTime`` docker puts in the gzip header's extra field; None when absent."""
        head = _read_at(self.fd, 12, 0)
        if len(head) < 12 or head[:2] != b"\x1f\x8b" or not head[3] & 4:
            return None
        extra = _read_at(self.fd, int.from_bytes(head[10:12], "little"), 12)
        i = extra.find(b'"lastTime":"')
        if i < 0:
            return None
        try:
            return parse_time(extra[i + 12 : extra.index(b'"', i + 12)].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None

    def seek_since(self, since: int) -> None:
        """Nothing to seek in a stream: the records are filtered as they are read."""

    def close(self) -> None:
        os.close(self.fd)


_Source = _Plain | _Gz


def _open_rotated(path: str) -> list[tuple[str, _Source]]:
    """The rotated files of ``path``, newest (``.1``) first; a plain file wins over its ``.gz``."""
    directory, base = os.path.split(path)
    prefix = base + "."
    found: dict[int, str] = {}
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    for name in names:
        if not name.startswith(prefix):
            continue
        num = name[len(prefix) :]
        gz = num.endswith(".gz")
        if gz:
            num = num[:-3]
        if not (num.isascii() and num.isdigit()) or num.startswith("0"):
            continue
        if not gz or int(num) not in found:
            found[int(num)] = name
    out: list[tuple[str, _Source]] = []
    for k in sorted(found):
        name = os.path.join(directory, found[k])
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        out.append((name, _Gz(fd) if name.endswith(".gz") else _Plain(fd, 0, os.fstat(fd).st_size)))
    return out


def _key_of(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _snapshot(path: str) -> tuple[_Plain | None, list[_Source]]:
    """The live file and the rotated ones (newest first), all opened in one state of the rotation.

    A rotation renames files while they are being opened; the set is taken
    again until every name still holds the file opened through it.
    """
    for attempt in range(100):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1
        live = _Plain(fd, 0, 0) if fd >= 0 else None
        rotated = _open_rotated(path)
        stable = _key_of(path) == (live.key if live else None) and all(
            _key_of(name) == src.key for name, src in rotated
        )
        if stable or attempt == 99:
            return live, [src for _, src in rotated]
        for src in [live, *(s for _, s in rotated)]:
            if src is not None:
                src.close()
        time.sleep(0.001)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- reader


def read_logs(
    path: str,
    *,
    tail: int | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    follow: bool = False,
    stdout: bool = True,
    stderr: bool = True,
    should_stop: Callable[[], bool] | None = None,
    poll_interval: float = 0.05,
) -> Iterator[LogRecord]:
    """The records of the log at ``path`` (rotated files first), as ``docker logs`` selects them.

    ``tail`` keeps the last N records (None or negative: all; 0: none of the
    past), counted before ``since``/``until`` and the stream filter, as docker
    counts them.  ``since_ns`` keeps records stamped at or after it; the first
    record after ``until_ns`` ends the output.  ``follow`` then keeps reading
    as the container writes, across rotations, until ``should_stop()`` returns
    True (checked between polls; what was written before it did is still
    read) or ``until_ns`` passes.  Close the generator to stop earlier.
    ``poll_interval`` is the pause, in seconds, when there is nothing new.
    """
    live, rotated = _snapshot(path)
    sources: list[_Source] = [*reversed(rotated)]
    if live is not None:
        live.end = _last_newline(live.fd, os.fstat(live.fd).st_size)
        sources.append(live)
    try:
        history = _select(sources, tail, since_ns)
        for src in history:
            if (yield from _records(src.lines(), since_ns, until_ns, stdout, stderr)):
                return
        if not follow:
            return
        follower = _Follower(path, live, poll_interval, should_stop, until_ns)
        live = None  # the follower owns it now
        try:
            yield from _records(follower.lines(), since_ns, until_ns, stdout, stderr)
        finally:
            follower.close()
    finally:
        for src in rotated:
            src.close()
        if live is not None:
            live.close()


def _records(
    lines: Iterator[bytes], since: int | None, until: int | None, stdout: bool, stderr: bool
) -> Generator[LogRecord, None, bool]:
    """The records of ``lines`` that pass the filters; returns True at the first one after ``until``."""
    for line in lines:
        rec = _parse(line) if line else None
        if rec is None or (since is not None and rec.time_ns < since):
            continue
        if until is not None and rec.time_ns > until:
            return True
        # like moby daemon/logs.go: other streams than these two are not shown
        if stdout if rec.stream == "stdout" else stderr if rec.stream == "stderr" else False:
            yield rec
    return False


def _last_newline(fd: int, size: int) -> int:
    """End of the last whole line at or before ``size`` (a record being written is left to ``follow``)."""
    hi = size
    step = _PROBE
    while hi > 0:
        lo = max(0, hi - step)
        step = min(step * 2, _CHUNK)
        i = _read_at(fd, hi - lo, lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        hi = lo
    return 0


def _select(sources: list[_Source], tail: int | None, since: int | None) -> list[_Source]:
    """Narrow the files (oldest first) to what ``tail`` and ``since`` need, reading as little as possible."""
    if tail is not None and tail >= 0:
        if tail == 0:
            for src in sources:
                if isinstance(src, _Plain):
                    src.start = src.end
            return []
        need = tail
        for i in range(len(sources) - 1, -1, -1):
            need -= sources[i].tail(need)
            if need <= 0:
                sources = sources[i:]
                break
    if since is not None:
        for i, src in enumerate(sources):
            last = src.last_time()
            if last is not None and last < since:
                if isinstance(src, _Plain):
                    src.start = src.end
                continue
            src.seek_since(since)
            return sources[i:]
        return []
    return sources


class _Follower:
    """Reads the live file as it grows, and the files after it when the writer rotates it away.

    A rotation shows as ``path`` naming another file: what is left of the
    old one is read to its end through the open descriptor, then the files
    rotated after it (found by identity: the same inode, or for a gzip'd one
    the same first line), then the new live file from its start.  A shrinking
    file (max-file 1 truncates in place) is read again from its start.
    """

    def __init__(
        self,
        path: str,
        live: _Plain | None,
        poll: float,
        should_stop: Callable[[], bool] | None,
        until: int | None,
    ) -> None:
        self.path = path
        self.live = live
        self.pos = live.end if live is not None else 0
        self.rest = b""
        self.poll = poll
        self.should_stop = should_stop
        self.until = until

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None

    def _drain(self) -> Iterator[bytes]:
        live = self.live
        if live is None:
            return
        if os.fstat(live.fd).st_size < self.pos:  # truncated in place: max-file 1
            self.pos, self.rest = 0, b""
        while chunk := _read_at(live.fd, _CHUNK, self.pos):
            self.pos += len(chunk)
            parts = (self.rest + chunk).split(b"\n")
            self.rest = parts.pop()
            yield from parts

    def lines(self) -> Iterator[bytes]:
        while True:
            stop = self.should_stop is not None and self.should_stop()
            if self.until is not None and time.time_ns() > self.until:
                stop = True
            yield from self._drain()
            key = _key_of(self.path)
            if key is not None and (self.live is None or key != self.live.key):
                yield from self._drain()  # what was written before the rename
                yield from self._switch()
                continue
            if stop:
                return
            time.sleep(self.poll)

    def _switch(self) -> Iterator[bytes]:
        """The live file was rotated away (or has appeared): read the files after it, open the new one."""
        old = self.live
        new, rotated = _snapshot(self.path)
        try:
            # a live file that appears where there was none: the rotated ones were read with the history
            for src in _newer_than(old, rotated) if old is not None else ():
                yield from src.lines()
        finally:
            for src in rotated:
                src.close()
        if old is not None:
            old.close()
        self.live, self.pos, self.rest = new, 0, b""


def _newer_than(old: _Plain, rotated: list[_Source]) -> list[_Source]:
    """The rotated files (given newest first) written after ``old``, oldest first.

    ``old`` is found by its inode, or once gzip'd by its first line, and the
    files rotated after it are those before it.  When it is gone (rotated out
    while the reader was away, or the listing raced a burst of rotations)
    the files that begin after it began are the newer ones.
    """
    first = old.first_line()
    for i, src in enumerate(rotated):
        if src.key == old.key or (src.gz and first and src.first_line() == first):
            return rotated[:i][::-1]
    began = _line_time(first)
    if began is None:
        return rotated[::-1]
    dated = [(t, src) for src in rotated if (t := _line_time(src.first_line())) is not None and t > began]
    return [src for _, src in sorted(dated, key=lambda pair: pair[0])]
