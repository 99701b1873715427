"""Reading a file log (json-file or local) as ``docker logs`` selects it, seeking instead of scanning.

One reader serves every file format through its :class:`~pinnace.logs.common.Format`:
records are either lines (json-file) or length-framed (local), and the
format parses one record and reads its time.  On top of that:

- ``--tail N`` reads blocks backwards from the end of the newest file until
  it has N records (newlines, or the local format's trailing lengths), and
  goes on into older files only if it must;
- ``--since T`` skips rotated files whose last record is older (a gzip'd
  file says its last time in its header) and binary-searches the first file
  it needs by record time, probing at record boundaries (the next newline;
  for local records, the next record head whose two lengths agree);
- ``--until T`` stops at the first record after T;
- ``--follow`` polls the live file and follows it across rotations: when the
  name points at a new file, what is left of the old one is read through its
  open descriptor, then the files rotated after it, then the new one, so no
  record is lost or read twice.

Records a writer has not finished (a torn last write) are left for
``--follow``; a torn record in the middle of a file (a monitor killed
mid-write, then restarted) is skipped.  Everything yields
:class:`~pinnace.logs.common.LogRecord`, so the Engine API can stream the same
iterator the CLI prints.
"""

from __future__ import annotations

import os
import time

from pinnace.logs.local import HEADS, MAX_RECORD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from pinnace.logs.common import Format, LogRecord


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """Every read of the reader goes through here (tests count the bytes)."""
    return os.pread(fd, size, offset)


_CHUNK = 1 << 16  # forward reads
_PROBE = 512  # first read of a backward scan or binary-search probe: most records fit; doubled as needed

# ---------------------------------------------------------------- splitting a buffer into records


def split_lines(buf: bytes) -> tuple[list[bytes], int]:
    """The whole lines of ``buf`` (without newlines) and how many bytes they take."""
    parts = buf.split(b"\n")
    rest = parts.pop()
    return parts, len(buf) - len(rest)


def _is_head(buf: bytes, pos: int) -> bool:
    return buf[pos + 4 : pos + 12] in HEADS


def _resync(buf: bytes, start: int) -> int:
    """The first position at or after ``start`` where a local record could begin (its head), else near the end."""
    found = [i for i in (buf.find(HEADS[0], start + 4), buf.find(HEADS[1], start + 4)) if i >= 0]
    return min(found) - 4 if found else max(start, len(buf) - 11)


def split_frames(buf: bytes) -> tuple[list[bytes], int]:
    """The complete local records of ``buf`` (the entries, without lengths) and how many bytes they take.

    A record must begin with a head (source stdout or stderr), fit docker's
    size limit and end with the same length it starts with; anything else is
    a torn write, skipped up to the next head.  An incomplete record at the
    end is left (not counted as taken).
    """
    out = []
    pos, n = 0, len(buf)
    while n - pos >= 12:
        size = int.from_bytes(buf[pos : pos + 4], "big")
        if size > MAX_RECORD or not _is_head(buf, pos):
            pos = _resync(buf, pos + 1)
            continue
        end = pos + 8 + size
        if end > n:
            break
        if buf[end - 4 : end] != buf[pos : pos + 4]:
            pos = _resync(buf, pos + 1)
            continue
        out.append(buf[pos + 4 : end - 4])
        pos = end
    return out, pos


# ---------------------------------------------------------------- sources: one open file each


class _Plain:
    """An open uncompressed log file read over ``[start, end)``, a range of whole records."""

    gz = False

    def __init__(self, fmt: Format, fd: int, start: int, end: int) -> None:
        self.fmt = fmt
        self.fd = fd
        self.start = start
        self.end = end
        st = os.fstat(fd)
        self.key = (st.st_dev, st.st_ino)
        self.split = split_frames if fmt.framed else split_lines

    def lines(self) -> Iterator[bytes]:
        """The records in ``[start, end)``, oldest first."""
        pos, rest = self.start, b""
        while pos < self.end:
            chunk = _read_at(self.fd, min(_CHUNK, self.end - pos), pos)
            if not chunk:
                return
            pos += len(chunk)
            buf = rest + chunk
            units, used = self.split(buf)
            rest = buf[used:]
            yield from units

    def last_time(self) -> int | None:
        if self.end <= self.start:
            return None
        saved = self.start
        self.tail(1)
        start, self.start = self.start, saved
        data = _read_at(self.fd, self.end - start, start)
        if self.fmt.framed:
            units, _ = split_frames(data)
            data = units[-1] if units else b""
        elif data.endswith(b"\n"):
            data = data[:-1]
        return self.fmt.time_of(data) if data else None

    def seek_since(self, since: int) -> None:
        """Start at the first record stamped ``since`` or later, by binary search on record times."""
        lo, hi, found = self.start, self.end, self.end
        while lo < hi:
            mid = (lo + hi) // 2
            start, unit, nxt = self.unit_at(mid)
            if start >= hi:
                hi = mid
                continue
            t = self.fmt.time_of(unit)
            if t is None or t >= since:
                found, hi = start, mid
            else:
                lo = nxt
        self.start = found

    def close(self) -> None:
        os.close(self.fd)

    # -- per framing
    def whole_end(self, size: int) -> int:
        """End of the last whole record at or before ``size`` (one being written is left to ``follow``)."""
        raise NotImplementedError

    def first_line(self) -> bytes:
        """The file's first record (from offset 0): what identifies it once rotated and gzip'd."""
        raise NotImplementedError

    def tail(self, n: int) -> int:
        """Start at the last ``n`` records; returns how many that is (fewer when the file has fewer)."""
        raise NotImplementedError

    def unit_at(self, pos: int) -> tuple[int, bytes, int]:
        """The first record starting at or after ``pos``: (start, record, start of the next); start == end if none."""
        raise NotImplementedError


class _LineFile(_Plain):
    """json-file: one record a line."""

    def whole_end(self, size: int) -> int:
        hi = size
        step = _PROBE
        while hi > 0:
            lo = max(0, hi - step)
            step = min(step * 2, _CHUNK)
            i = _read_at(self.fd, hi - lo, lo).rfind(b"\n")
            if i >= 0:
                return lo + i + 1
            hi = lo
        return 0

    def first_line(self) -> bytes:
        buf = b""
        while b"\n" not in buf:
            chunk = _read_at(self.fd, _PROBE << min(len(buf) // _PROBE, 7), len(buf))
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\n", 1)[0]

    def tail(self, n: int) -> int:
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

    def unit_at(self, pos: int) -> tuple[int, bytes, int]:
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


class _FrameFile(_Plain):
    """local: length-framed records, walked backwards by their trailing length."""

    def _frame(self, pos: int, limit: int) -> bytes | None:
        """The entry of a valid record starting at ``pos`` and ending by ``limit``, else None."""
        head = _read_at(self.fd, 12, pos)
        if len(head) < 12 or head[4:] not in HEADS:
            return None
        size = int.from_bytes(head[:4], "big")
        end = pos + 8 + size
        if size > MAX_RECORD or end > limit:
            return None
        frame = _read_at(self.fd, 8 + size, pos)
        return frame[4:-4] if len(frame) == 8 + size and frame[-4:] == head[:4] else None

    def _last_before(self, limit: int, floor: int) -> int:
        """End of the last valid record within ``[floor, limit)``, found by its head; ``floor`` if none."""
        lo = limit
        step = _PROBE
        while lo > floor:
            lo = max(floor, lo - step)
            step = min(step * 2, _CHUNK)
            block = _read_at(self.fd, limit - lo, lo)  # up to the limit: the record may end there
            j = len(block)
            while (h := max(block.rfind(HEADS[0], 0, j), block.rfind(HEADS[1], 0, j))) >= 4:
                i = h - 4
                size = int.from_bytes(block[i:h], "big")
                end = i + 8 + size
                if size <= MAX_RECORD and end <= len(block) and block[end - 4 : end] == block[i:h]:
                    return lo + end
                j = h + 7  # the heads that begin before this one
        return floor

    def whole_end(self, size: int) -> int:
        if size >= 12:
            footer = _read_at(self.fd, 4, size - 4)
            start = size - 8 - int.from_bytes(footer, "big")
            if start >= 0 and self._frame(start, size) is not None:
                return size
        return self._last_before(size, 0)

    def first_line(self) -> bytes:
        entry = self._frame(0, 1 << 62)
        return entry if entry is not None else b""

    def tail(self, n: int) -> int:
        start, fd = self.start, self.fd
        count = 0
        pos = self.end  # a record boundary: the walk goes from record to record by their lengths
        lo, buf = pos, b""  # buf holds the file from lo; what lies past pos is no longer needed
        step = _PROBE

        def cover(a: int) -> None:
            nonlocal lo, buf, step
            a = max(a, start)
            if a < lo:
                new_lo = max(start, min(a, lo - step))
                step = min(step * 2, _CHUNK)
                buf = _read_at(fd, lo - new_lo, new_lo) + buf[: pos - lo]
                lo = new_lo

        while pos > start and count < n:
            cover(pos - 4)
            size = int.from_bytes(buf[pos - 4 - lo : pos - lo], "big") if pos - 4 >= lo else -1
            begin = pos - 8 - size
            if 0 <= size <= MAX_RECORD and begin >= start:
                cover(begin)
                b = begin - lo
                if buf[b : b + 4] == buf[pos - 4 - lo : pos - lo] and _is_head(buf, b):
                    count += 1
                    pos = begin
                    continue
            # not a record's end: a torn write lies before pos; go on from the last whole record before it
            before = self._last_before(pos, start)
            if before >= pos:  # cannot happen with the checks above agreeing; never loop on it
                break
            pos = before
            lo, buf = pos, b""
        self.start = pos
        return count

    def unit_at(self, pos: int) -> tuple[int, bytes, int]:
        p = max(pos, self.start)
        width = _PROBE
        while p < self.end:
            block = _read_at(self.fd, min(width, self.end - p), p)
            i = 0
            while True:
                if not _is_head(block, i):
                    i = _resync(block, i)
                if i + 12 > len(block):
                    break
                entry = self._frame(p + i, self.end)
                if entry is not None:
                    return p + i, entry, p + i + 8 + len(entry)
                i += 1
            if p + len(block) >= self.end:
                break
            p += i
            width = min(width * 2, _CHUNK)
        return self.end, b"", self.end


class _Gz:
    """A rotated file docker (or pinnace) compressed: read forward only, by streaming it."""

    gz = True

    def __init__(self, fmt: Format, fd: int) -> None:
        self.fmt = fmt
        self.fd = fd
        st = os.fstat(fd)
        self.key = (st.st_dev, st.st_ino)
        self.kept: list[bytes] | None = None  # the records ``tail`` kept
        self.split = split_frames if fmt.framed else split_lines

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
            buf = rest + data
            units, used = self.split(buf)
            rest = buf[used:]
            yield from units

    def first_line(self) -> bytes:
        buf = b""
        for data in self._stream():
            buf += data
            units, _ = self.split(buf)
            if units:
                return units[0]
        return b""

    def tail(self, n: int) -> int:
        from collections import deque

        self.kept = list(deque(self.lines(), maxlen=n))
        return len(self.kept)

    def last_time(self) -> int | None:
        """The ``lastTime`` docker puts in the gzip header's extra field; None when absent."""
        from pinnace.logs.common import parse_time

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


def _open_plain(fmt: Format, fd: int, start: int = 0, end: int = 0) -> _Plain:
    return (_FrameFile if fmt.framed else _LineFile)(fmt, fd, start, end)


def _open_rotated(path: str, fmt: Format) -> list[tuple[str, _Source | None]]:
    """The rotated files of ``path``, newest (``.1``) first; a plain file wins over its ``.gz``.

    A file listed but gone when opened (renamed or compressed meanwhile) is
    there as None, so the caller knows the listing is stale.
    """
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
    out: list[tuple[str, _Source | None]] = []
    for k in sorted(found):
        name = os.path.join(directory, found[k])
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            out.append((name, None))
            continue
        src: _Source = _Gz(fmt, fd) if name.endswith(".gz") else _open_plain(fmt, fd, 0, os.fstat(fd).st_size)
        out.append((name, src))
    return out


def _key_of(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _snapshot(path: str, fmt: Format) -> tuple[_Plain | None, list[_Source]]:
    """The live file and the rotated ones (newest first), all opened in one state of the rotation.

    A rotation renames files while they are being opened; the set is taken
    again until every name still holds the file opened through it.
    """
    for attempt in range(100):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1
        live = _open_plain(fmt, fd) if fd >= 0 else None
        listed = _open_rotated(path, fmt)
        rotated = [src for _, src in listed if src is not None]
        stable = _key_of(path) == (live.key if live else None) and all(
            src is not None and _key_of(name) == src.key for name, src in listed
        )
        if stable or attempt == 99:
            return live, rotated
        for src in [live, *rotated]:
            if src is not None:
                src.close()
        time.sleep(0.001)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- reader


def read_logs(
    path: str,
    fmt: Format,
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
    """The records of the log at ``path`` in format ``fmt`` (rotated files first), as ``docker logs`` selects them.

    ``tail`` keeps the last N records (None or negative: all; 0: none of the
    past), counted before ``since``/``until`` and the stream filter, as docker
    counts them.  ``since_ns`` keeps records stamped at or after it; the first
    record after ``until_ns`` ends the output.  ``follow`` then keeps reading
    as the container writes, across rotations, until ``should_stop()`` returns
    True (checked between polls; what was written before it did is still
    read) or ``until_ns`` passes.  Close the generator to stop earlier.
    ``poll_interval`` is the pause, in seconds, when there is nothing new.
    """
    live, rotated = _snapshot(path, fmt)
    sources: list[_Source] = [*reversed(rotated)]
    if live is not None:
        live.end = live.whole_end(os.fstat(live.fd).st_size)
        sources.append(live)
    try:
        history = _select(sources, tail, since_ns)
        for src in history:
            if (yield from _records(fmt, src.lines(), since_ns, until_ns, stdout, stderr)):
                return
        if not follow:
            return
        follower = _Follower(path, fmt, live, poll_interval, should_stop, until_ns)
        live = None  # the follower owns it now
        try:
            yield from _records(fmt, follower.lines(), since_ns, until_ns, stdout, stderr)
        finally:
            follower.close()
    finally:
        for src in rotated:
            src.close()
        if live is not None:
            live.close()


def _records(
    fmt: Format, units: Iterator[bytes], since: int | None, until: int | None, stdout: bool, stderr: bool
) -> Generator[LogRecord, None, bool]:
    """The records of ``units`` that pass the filters; returns True at the first one after ``until``."""
    parse = fmt.parse
    for unit in units:
        rec = parse(unit) if unit else None
        if rec is None or (since is not None and rec.time_ns < since):
            continue
        if until is not None and rec.time_ns > until:
            return True
        # like moby daemon/logs.go: other streams than these two are not shown
        if stdout if rec.stream == "stdout" else stderr if rec.stream == "stderr" else False:
            yield rec
    return False


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
    the same first record), then the new live file from its start.  A
    shrinking file (max-file 1 truncates in place) is read again from its start.
    """

    def __init__(
        self,
        path: str,
        fmt: Format,
        live: _Plain | None,
        poll: float,
        should_stop: Callable[[], bool] | None,
        until: int | None,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.split = split_frames if fmt.framed else split_lines
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
            buf = self.rest + chunk
            units, used = self.split(buf)
            self.rest = buf[used:]
            yield from units

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
        new, rotated = _snapshot(self.path, self.fmt)
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

    ``old`` is found by its inode, or once gzip'd by its first record, and the
    files rotated after it are those before it.  When it is gone (rotated out
    while the reader was away, or the listing raced a burst of rotations)
    the files that begin after it began are the newer ones.
    """
    first = old.first_line()
    for i, src in enumerate(rotated):
        if src.key == old.key or (src.gz and first and src.first_line() == first):
            return rotated[:i][::-1]
    time_of = old.fmt.time_of
    began = time_of(first) if first else None
    if began is None:
        return rotated[::-1]
    dated = [
        (t, src) for src in rotated if (f := src.first_line()) and (t := time_of(f)) is not None and t > began
    ]
    return [src for _, src in sorted(dated, key=lambda pair: pair[0])]
