"""Reading a tar stream once, front to back, hashing every byte.

Headers are parsed by :meth:`tarfile.TarInfo.fromtarfile` (ustar, PAX,
GNU long names and all GNU sparse flavours are its business); member data
never goes through tarfile: it is copied in big chunks straight to file
descriptors.  This object is the ``tarfile`` that ``fromtarfile`` expects
(``fileobj``, ``offset``, ``pax_headers``, ``encoding``, ``errors``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO, cast

from pinnace.archive.compression import CHUNK
from pinnace.errors import InvalidArgument
from pinnace.oci.digest import Digest

#: Largest header-ish read (PAX records, GNU long names), as Go's archive/tar.
_MAX_SPECIAL = 1 << 20

UNEXPECTED_EOF = "unpack layer: unexpected EOF"

# tarfile's header errors (real, long-standing classes that typeshed omits).
_EMPTY: type[tarfile.HeaderError] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]
_TRUNCATED: type[tarfile.HeaderError] = tarfile.TruncatedHeaderError  # type: ignore[attr-defined]
_END_OF_ARCHIVE = (tarfile.EOFHeaderError, _EMPTY)  # type: ignore[attr-defined]
_AFTER_EXTENDED_HEADER: type[tarfile.HeaderError] = tarfile.SubsequentHeaderError  # type: ignore[attr-defined]


class TarReader:
    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, stream: BinaryIO) -> None:
        # open_decompressed's reader: a BufferedReader, which has readinto.
        self._stream = cast(io.BufferedReader, stream)
        self._sha = hashlib.sha256()
        self._pos = 0
        self._buffer = bytearray(CHUNK)
        self._view = memoryview(self._buffer)
        # The attributes TarInfo.fromtarfile uses.
        self.fileobj = self
        self.offset = 0  # where the next header starts
        self.pax_headers: dict[str, str] = {}

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._sha.hexdigest())

    @property
    def size(self) -> int:
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int) -> bytes:
        if n > _MAX_SPECIAL:
            raise InvalidArgument(f"unpack layer: tar header of {n} bytes is too large")
        data = self._stream.read(n)
        self._sha.update(data)
        self._pos += len(data)
        return data

    def _fill(self, n: int) -> memoryview:
        """The next ``n`` (<= CHUNK) bytes, in the shared buffer."""
        view = self._view[:n]
        got = 0
        while got < n:
            step = self._stream.readinto(view[got:])
            if not step:
                raise InvalidArgument(UNEXPECTED_EOF)
            got += step
        self._sha.update(view)
        self._pos += n
        return view

    def skip(self, n: int) -> None:
        while n:
            n -= len(self._fill(min(n, CHUNK)))

    def copy_to(self, fd: int, n: int) -> None:
        """Write the next ``n`` bytes of the stream to ``fd`` at its position."""
        if n < 0:
            raise InvalidArgument(f"unpack layer: negative size {n} in tar header")
        while n:
            view = self._fill(min(n, CHUNK))
            n -= len(view)
            while view:
                view = view[os.write(fd, view) :]

    def read_data(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream, as one object (a member's data, to write elsewhere)."""
        if n < 0:
            raise InvalidArgument(f"unpack layer: negative size {n} in tar header")
        data = self._stream.read(n)  # a BufferedReader reads on to n bytes or EOF
        if len(data) != n:
            raise InvalidArgument(UNEXPECTED_EOF)
        self._sha.update(data)
        self._pos += n
        return data

    def copy_sparse(self, fd: int, regions: Sequence[tuple[int, int]], size: int, name: str) -> None:
        """Write a GNU sparse member: data regions at their offsets, holes left unwritten."""
        if size < 0:
            raise InvalidArgument(f"unpack layer: negative size {size} in tar header")
        available = self.offset - self._pos
        end = 0
        for offset, length in regions:
            if length == 0:
                continue  # old GNU headers pad the map with (0, 0) and end it with (size, 0)
            if offset < end or length < 0 or offset + length > size or length > available:
                raise InvalidArgument(f"unpack layer: entry {name!r}: invalid sparse map")
            available -= length
            end = offset + length
            os.lseek(fd, offset, os.SEEK_SET)
            self.copy_to(fd, length)
        os.ftruncate(fd, size)

    def members(self) -> Iterator[tarfile.TarInfo]:
        """Each member's header; the consumer may read its data before asking for the next."""
        while True:
            if self.offset < self._pos:
                raise InvalidArgument("unpack layer: tar member overlaps the next header")
            self.skip(self.offset - self._pos)
            try:
                info = tarfile.TarInfo.fromtarfile(cast(tarfile.TarFile, self))
            except _END_OF_ARCHIVE:
                return  # end-of-archive blocks, or (as Go accepts) plain EOF
            except _TRUNCATED:
                raise InvalidArgument(UNEXPECTED_EOF) from None
            except _AFTER_EXTENDED_HEADER as exc:
                if isinstance(exc.__context__, _TRUNCATED | _EMPTY):
                    raise InvalidArgument(UNEXPECTED_EOF) from None
                raise InvalidArgument(f"unpack layer: invalid tar header: {exc}") from None
            except (tarfile.TarError, ValueError, IndexError) as exc:
                raise InvalidArgument(f"unpack layer: invalid tar header: {exc}") from None
            yield info

    def drain(self) -> None:
        """Read (and hash) to EOF: whatever follows the archive is part of the layer's bytes."""
        while n := self._stream.readinto(self._view):
            self._sha.update(self._view[:n])
            self._pos += n
