"""Layer compression: recognise gzip / zstd / plain tar by magic and decompress as a stream.

Layers arrive from pipes (``docker load < x``, registry responses) as often
as from files, so detection never seeks: the first bytes are read once and
replayed in front of the rest.  Decoders are pull-based with bounded output
per read, so a small "compression bomb" cannot make us allocate gigabytes.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO, Protocol, cast

from pinnace.errors import InvalidArgument

#: Read size for every stage of the pipeline: big enough that per-call
#: Python overhead vanishes next to the copying, small enough to stay in cache.
CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def is_zstd_skippable(magic: bytes) -> bool:
    """Whether 4 bytes are the magic of a zstd skippable frame (0x184D2A50..5F, little-endian)."""
    return len(magic) == 4 and int.from_bytes(magic, "little") & 0xFFFFFFF0 == 0x184D2A50


class Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


def detect(head: bytes) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` for a stream starting with ``head``.

    A zstd stream may open with a skippable frame (magic 0x184D2A5?), as moby knows.
    """
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC) or is_zstd_skippable(head[:4]):
        return "zstd"
    return "none"


def open_decompressed(stream: BinaryIO) -> tuple[BinaryIO, str]:
    """A reader of ``stream``'s uncompressed bytes, and the compression found.

    Works on non-seekable streams.  Corrupt or truncated compressed data
    raises :class:`InvalidArgument` from the returned reader's ``read``.
    """
    head = b""
    while len(head) < len(ZSTD_MAGIC):
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        head += chunk
    kind = detect(head)
    raw: io.RawIOBase = Replay(head, stream)
    if kind == "gzip":
        raw = _GzipReader(raw)
    elif kind == "zstd":
        from pinnace.archive.zstd import ZstdReader

        raw = ZstdReader(raw)
    return cast(BinaryIO, io.BufferedReader(raw, CHUNK)), kind


class Replay(io.RawIOBase):
    """``stream`` with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        """Decoders read bytes: hand them over without RawIOBase's copy through a buffer."""
        if not self._head:
            return self._stream.read(n)
        if n < 0:
            data, self._head = self._head + self._stream.read(), b""
        else:
            data, self._head = self._head[:n], self._head[n:]
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _GzipReader(io.RawIOBase):
    """Gzip decoding with zlib directly, member after member.

    Multi-member files (``cat a.gz b.gz``) decode as one stream, and zero
    padding after the last member is ignored, as ``gzip -d`` does.  Each read
    returns at most the caller's buffer size.
    """

    def __init__(self, source: io.RawIOBase) -> None:
        self._source = source
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._input = b""  # compressed bytes to feed before reading more
        self._done = False

    def readable(self) -> bool:
        return True

    def _read_source(self) -> bytes:
        return self._source.read(CHUNK) or b""

    def _next_member(self) -> bool:
        """After a member's end: start the next one, or report the end of the stream."""
        rest = self._inflate.unused_data.lstrip(b"\0")
        while not rest:
            chunk = self._read_source()
            if not chunk:
                self._done = True
                return False
            rest = chunk.lstrip(b"\0")
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._input = rest
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        while not self._done and want:
            if self._inflate.eof:
                self._next_member()
                continue
            if self._input:
                data, self._input = self._input, b""
            else:
                data = self._inflate.unconsumed_tail or self._read_source()
            at_end = not data
            try:
                out = self._inflate.decompress(data, want)
            except zlib.error as exc:
                raise InvalidArgument(f"layer: gzip: {exc}") from None
            if out:
                buffer[: len(out)] = out
                return len(out)
            if at_end and not self._inflate.eof:
                raise InvalidArgument("layer: gzip: unexpected EOF")
        return 0
