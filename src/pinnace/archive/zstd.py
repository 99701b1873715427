"""Zstandard decoding for layers (``application/vnd.oci.image.layer.v1.tar+zstd``).

python-zstandard's stream reader bounds its output per read (good against
bombs) and reads across frames (zstd:chunked layers are many frames plus
skippable ones), but it ends silently when the input is cut short.  So the
compressed bytes are also walked frame by frame here, header fields only,
to tell a complete stream from a truncated one.
"""

from __future__ import annotations

import io
from typing import IO, cast

from pinnace.archive.compression import CHUNK, is_zstd_skippable
from pinnace.errors import InvalidArgument

_FRAME_MAGIC = 0xFD2FB528

# States of the frame walker: what the next ``want`` bytes are.
_MAGIC, _SKIP_SIZE, _FRAME_HEADER, _BLOCK_HEADER = range(4)
_DICT_ID_SIZE = (0, 1, 2, 4)
_CONTENT_SIZE_SIZE = (0, 2, 4, 8)  # index 0 means 1 byte for single-segment frames


class FrameWalker:
    """Follows zstd frame and block boundaries; :attr:`complete` at a frame boundary."""

    def __init__(self) -> None:
        self._state = _MAGIC
        self._want = 4
        self._header = b""
        self._skip = 0
        self._checksum = False

    @property
    def complete(self) -> bool:
        return self._state == _MAGIC and not self._header and not self._skip

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._want - len(self._header), end - pos)
            self._header += data[pos : pos + take]
            pos += take
            if len(self._header) == self._want:
                header, self._header = self._header, b""
                self._step(header)

    def _step(self, header: bytes) -> None:
        value = int.from_bytes(header, "little")
        if self._state == _MAGIC:
            if value == _FRAME_MAGIC:
                self._state, self._want = _FRAME_HEADER, 1
            elif is_zstd_skippable(header):
                self._state, self._want = _SKIP_SIZE, 4
            else:
                raise InvalidArgument("layer: zstd: unknown frame descriptor")
        elif self._state == _SKIP_SIZE:
            self._skip = value
            self._state, self._want = _MAGIC, 4
        elif self._state == _FRAME_HEADER:
            single_segment = bool(value & 0x20)
            self._checksum = bool(value & 0x04)
            content_size = _CONTENT_SIZE_SIZE[value >> 6] or int(single_segment)
            self._skip = int(not single_segment) + _DICT_ID_SIZE[value & 3] + content_size
            self._state, self._want = _BLOCK_HEADER, 3
        else:
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            if block_type == 3:
                raise InvalidArgument("layer: zstd: corrupted block detected")
            self._skip = 1 if block_type == 1 else size
            if last:
                self._skip += 4 if self._checksum else 0
                self._state, self._want = _MAGIC, 4


class _Walked(io.RawIOBase):
    """The compressed source, shown to the walker as it is read."""

    def __init__(self, source: io.RawIOBase, walker: FrameWalker) -> None:
        self._source = source
        self._walker = walker

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        data = self._source.read(n) or b""
        self._walker.feed(data)
        return data


class ZstdReader(io.RawIOBase):
    """Decompressed bytes of a (multi-frame) zstd stream; truncation is an error."""

    def __init__(self, source: io.RawIOBase) -> None:
        import zstandard

        self._error = zstandard.ZstdError
        self._walker = FrameWalker()
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], _Walked(source, self._walker)),
            read_size=CHUNK,
            read_across_frames=True,
            closefd=False,
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            n: int = self._reader.readinto(buffer)
        except self._error as exc:
            raise InvalidArgument(f"layer: zstd: {exc}") from None
        if not n and not self._walker.complete:
            raise InvalidArgument("layer: zstd: unexpected EOF")
        return n
