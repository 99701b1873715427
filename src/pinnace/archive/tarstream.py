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
import struct
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
                buf = self.read(tarfile.BLOCKSIZE)
                info = None if self.pax_headers else _plain_header(buf, self._pos)
                if info is not None:
                    self.offset = self._pos + (_blocks(info.size) if info.isreg() else 0)
                else:  # what TarInfo.fromtarfile does, on the block already read
                    info = tarfile.TarInfo.frombuf(buf, self.encoding, self.errors)
                    info.offset = self._pos - tarfile.BLOCKSIZE
                    info = info._proc_member(cast(tarfile.TarFile, self))  # type: ignore[attr-defined]
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


#: Entry types a plain ustar header fully describes (no extended header, no sparse map).
_PLAIN_TYPES = frozenset(b"01234567\x00")
_USTAR_POSIX = b"ustar\x0000"
_USTAR_GNU = b"ustar  \x00"


def _blocks(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


#: The ustar header: name mode uid gid size mtime chksum type linkname magic uname gname major minor prefix.
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s")
_NUL = b"\x00"


def _octal(field: bytes) -> int:
    """A NUL/space-terminated octal number (ValueError for base-256 or garbage)."""
    text = field.split(_NUL, 1)[0].strip()
    return int(text, 8) if text else 0


def _text(field: bytes) -> str:
    return field.split(_NUL, 1)[0].decode("utf-8", "surrogateescape")


def _plain_header(buf: bytes, end: int) -> tarfile.TarInfo | None:
    """Parse the common header (ustar, a plain entry type, octal numbers) directly.

    tarfile's general parser costs ~35 µs a header; a layer has thousands.
    Anything unusual (PAX or GNU extended headers, sparse files, base-256
    numbers, a bad checksum, v7 headers) returns None and goes to tarfile,
    which also produces the errors.  ``end`` is the stream position after
    ``buf``.  The result equals what TarInfo.fromtarfile returns.
    """
    if len(buf) != tarfile.BLOCKSIZE or buf[156] not in _PLAIN_TYPES:
        return None
    name, mode, uid, gid, size, mtime, chksum, kind, link, magic, uname, gname, major, minor, prefix = (
        _USTAR.unpack_from(buf)
    )
    if magic != _USTAR_POSIX and magic != _USTAR_GNU:
        return None
    try:
        numbers = (
            _octal(mode),
            _octal(uid),
            _octal(gid),
            _octal(size),
            _octal(mtime),
            _octal(major),
            _octal(minor),
        )
        if _octal(chksum) != 256 + sum(buf[:148]) + sum(buf[156:]):
            return None
    except ValueError:
        return None
    path = _text(name)
    if magic == _USTAR_POSIX and prefix[0] != 0:
        path = _text(prefix) + "/" + path
    info = tarfile.TarInfo(path)
    info.mode, info.uid, info.gid, info.size, info.mtime, info.devmajor, info.devminor = numbers
    info.chksum = _octal(chksum)
    info.type = kind
    if kind == tarfile.AREGTYPE and path.endswith("/"):
        info.type = tarfile.DIRTYPE  # v7 spelling of a directory, as tarfile reads it
    info.linkname = _text(link)
    info.uname = _text(uname)
    info.gname = _text(gname)
    if info.isdir():
        info.name = path.rstrip("/")
    info.offset = end - tarfile.BLOCKSIZE
    info.offset_data = end
    return info
