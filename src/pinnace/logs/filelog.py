"""The part of a file log driver every format shares: cutting output into lines, rotating, compressing.

Both json-file and local (moby's loggerutils.LogFile under both) take the
container's output in whatever pieces the pipe gives, cut it at newlines,
cut lines longer than docker's 16 KiB copier buffer into pieces stamped with
their first piece's time, and append encoded records to a file that rotates
by size: ``<file>`` becomes ``<file>.1``, ``.1`` becomes ``.2`` ... keeping
``max-file`` files in all, optionally gzip'd with the last record's time in
the gzip header (``{"lastTime":...}``, as docker writes it) so a reader can
skip a whole file for ``--since`` without opening it.  With ``max-file`` 1 the
file is truncated in place.  A subclass only encodes records.

This runs in the per-container monitor, whose memory is paid per container:
it imports ``os`` and ``time`` only (zlib when a rotated file is compressed),
and writes each batch of records with one ``write(2)``, so a reader never
sees half a batch it cannot finish.
"""

from __future__ import annotations

import os
import time

from pinnace.errors import InvalidArgument
from pinnace.logs.common import MAX_LINE, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

#: What :meth:`RotatingWriter._encode` is asked to encode.
WHOLE = 0  # a whole line (the newline is not part of the piece)
PIECE = 1  # a piece of a longer line, more to come, or output left unterminated at the end of a stream
LAST = 2  # the last piece of a line that was cut (it ended with a newline)

_WFLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def write_all(fd: int, data: bytes) -> None:
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


class RotatingWriter:
    """Appends a container's output to ``path`` as records of a subclass's format, rotating by size.

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
    ) -> None:
        if max_size is not None and max_size < 0:
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
        self._fd = os.open(path, _WFLAGS, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {}  # per stream: output after its last newline
        self._partial_ns: dict[str, int] = {}  # per stream: time of the first piece of a cut line
        self._last_ns = 0  # time of the last record in the live file (gzip header of its rotation)

    # -- the format
    def _encode(self, stream: str, piece: bytes, when: int, kind: int) -> bytes:
        """One record of ``piece`` (without its newline) of ``kind`` WHOLE, PIECE or LAST."""
        raise NotImplementedError

    # -- the interface the monitor uses
    def write(self, stream: str, data: bytes, when_ns: int | None = None) -> None:
        """Log ``data`` read from ``stream`` ("stdout" or "stderr") at ``when_ns`` (default: now)."""
        if not data:
            return
        now = time.time_ns() if when_ns is None else when_ns
        buf = self._pending.pop(stream, b"") + data
        out: list[tuple[bytes, int]] = []
        start, end = 0, len(buf)
        encode = self._encode
        while start < end:
            nl = buf.find(b"\n", start, start + MAX_LINE)
            if nl >= 0:
                when = self._partial_ns.pop(stream, None)
                if when is None:
                    out.append((encode(stream, buf[start:nl], now, WHOLE), now))
                else:
                    out.append((encode(stream, buf[start:nl], when, LAST), when))
                start = nl + 1
            elif end - start >= MAX_LINE:
                when = self._partial_ns.setdefault(stream, now)
                out.append((encode(stream, buf[start : start + MAX_LINE], when, PIECE), when))
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
                out.append((self._encode(name, rest, when, PIECE), when))
            self._end_of_stream(name)
        self._emit(out)

    def close(self) -> None:
        """Flush both streams and close the file (idempotent)."""
        if self._fd < 0:
            return
        self.flush()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _end_of_stream(self, stream: str) -> None:
        """A hook: the stream ended (a format that numbers the pieces of a line starts over)."""

    # -- the file
    def _emit(self, records: list[tuple[bytes, int]]) -> None:
        batch: list[bytes] = []
        size = self._size
        limit = self.max_size
        for rec, when in records:
            if limit is not None and size > 0 and size + len(rec) > limit:
                if batch:
                    write_all(self._fd, b"".join(batch))
                    batch.clear()
                self._rotate()
                size = 0
            batch.append(rec)
            size += len(rec)
            self._last_ns = when
        if batch:
            write_all(self._fd, b"".join(batch) if len(batch) > 1 else batch[0])
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
            gzip_file(path + ".1", self._last_ns)


def gzip_file(src: str, last_ns: int) -> None:
    """``src`` -> ``src.gz`` with docker's ``{"lastTime":...}`` in the gzip header's extra field.

    Written under a temporary name and renamed, then ``src`` removed, so a
    reader always finds one complete copy (it prefers ``src`` while both exist).
    Runs inline: the monitor has no threads (measured here: 0.11 s for
    36 MB of repetitive log lines; real output compresses slower).
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
        write_all(wfd, header)
        while chunk := os.read(rfd, 1 << 20):
            crc = zlib.crc32(chunk, crc)
            total += len(chunk)
            write_all(wfd, comp.compress(chunk))
        trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
        write_all(wfd, comp.flush() + trailer)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    finally:
        os.close(rfd)
        os.close(wfd)
    os.rename(tmp, src + ".gz")
    _unlink_quiet(src)
