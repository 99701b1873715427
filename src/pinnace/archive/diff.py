"""Directory tree -> layer tar: ``docker commit``'s diff and ``docker export``'s rootfs.

One encoder for both; :func:`write_diff` also turns overlayfs whiteouts back
into tar whiteouts.  Output is deterministic: entries depth-first in byte
order of names, PAX headers as :mod:`pinnace.archive.header` writes them,
mtimes in whole seconds (as docker), no uname/gname.

The tree may belong to a container, i.e. to a stranger: it is walked with
``*at`` calls on directory fds and ``O_NOFOLLOW``, so a symlink swapped in
mid-walk is never followed out of it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pinnace.archive import header, whiteout
from pinnace.archive.compression import CHUNK
from pinnace.archive.oserrors import os_error
from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound
from pinnace.oci.digest import Digest

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class DiffResult:
    diff_id: Digest  # sha256 of the bytes written
    size: int  # bytes written


def write_diff(upper: Path, out: BinaryIO, *, clamp_mtime: int | None = None) -> DiffResult:
    """Write the overlay upper dir ``upper`` as an uncompressed OCI layer tar to ``out``.

    0/0 character devices become ``.wh.NAME`` and opaque directories get a
    ``.wh..wh..opq`` entry right after their own.  ``clamp_mtime`` (a build's
    SOURCE_DATE_EPOCH) caps every entry's mtime, so the same build gives the
    same bytes (BuildKit's rewrite-timestamp).
    """
    return _write(upper, out, whiteouts=True, clamp_mtime=clamp_mtime)


def write_tree(root: Path, out: BinaryIO) -> DiffResult:
    """Write the plain directory tree ``root`` (not ``root`` itself) as a tar to ``out``."""
    return _write(root, out, whiteouts=False)


def write_entry(dir_fd: int, name: str, as_name: str, out: BinaryIO) -> DiffResult:
    """Entry ``name`` of the directory ``dir_fd`` (with all it holds) as a tar whose top entry is ``as_name``.

    ``docker cp``'s archive of one path: ``name`` may be ``"."`` (the
    directory itself); a symlink is archived as a symlink, and the tree below
    is walked from ``dir_fd`` as :func:`write_tree` walks, never by path.
    """
    writer = _Writer(out, False)
    try:
        writer._entry(dir_fd, os.fsencode(name), os.fsencode(as_name))
        return writer.finish()
    except OSError as exc:
        where = writer.current.decode("utf-8", "surrogateescape")
        raise os_error("write archive" + (f" entry {where}" if where else ""), exc) from exc


def _write(root: Path, out: BinaryIO, *, whiteouts: bool, clamp_mtime: int | None = None) -> DiffResult:
    try:
        fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        raise NotFound(f"write layer: {root}: no such directory") from None
    except NotADirectoryError:
        raise InvalidArgument(f"write layer: {root}: not a directory") from None
    writer = _Writer(out, whiteouts, clamp_mtime)
    try:
        writer.tree(fd)
        return writer.finish()
    except OSError as exc:
        where = writer.current.decode("utf-8", "surrogateescape")
        raise os_error(f"write layer {root}" + (f" entry {where}" if where else ""), exc) from exc
    finally:
        os.close(fd)


def _xattrs(target: int | bytes) -> tuple[dict[str, bytes], bool]:
    """The xattrs to record (sorted, overlay's own left out), and whether the dir is opaque.

    ``target`` is an fd, or a path whose last component is not followed.
    """
    follow = isinstance(target, int)
    try:
        keys = os.listxattr(target, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno == errno.ENOTSUP:
            return {}, False
        raise
    found: dict[str, bytes] = {}
    opaque = False
    for key in sorted(keys):
        try:
            value = os.getxattr(target, key, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno == errno.ENODATA:  # removed since listed
                continue
            raise
        if key == whiteout.OPAQUE_XATTR:
            opaque = value == b"y"
        if not key.startswith(whiteout.OVERLAY_XATTR_PREFIX):
            found[key] = value
    return found, opaque


class _Writer:
    def __init__(self, out: BinaryIO, whiteouts: bool, clamp_mtime: int | None = None) -> None:
        import hashlib

        self._clamp = clamp_mtime
        self._out = out
        self._sha = hashlib.sha256()
        self._size = 0
        self._pending = bytearray()
        self._whiteouts = whiteouts
        self._links: dict[tuple[int, int], bytes] = {}  # (dev, ino) -> first name
        self.current = b""  # the entry being written, for error messages

    # -- output ------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        """Small pieces are batched into big writes; big ones go straight out."""
        if len(data) >= CHUNK:
            self._flush()
            self._write(data)
        else:
            self._pending += data
            if len(self._pending) >= CHUNK:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = self._pending, bytearray()
            self._write(data)

    def _write(self, data: bytes | bytearray) -> None:
        self._sha.update(data)
        self._out.write(data)
        self._size += len(data)

    def finish(self) -> DiffResult:
        self.current = b""
        self._emit(header.END_OF_ARCHIVE)
        self._flush()
        return DiffResult(diff_id=Digest("sha256:" + self._sha.hexdigest()), size=self._size)

    # -- walking -----------------------------------------------------------

    def tree(self, fd: int) -> None:
        if self._whiteouts and _xattrs(fd)[1]:
            self._opaque_marker(b"", os.fstat(fd))
        self._children(fd, b"")

    def _children(self, dir_fd: int, prefix: bytes) -> None:
        with os.scandir(dir_fd) as entries:
            names = sorted(os.fsencode(entry.name) for entry in entries)
        for name in names:
            self._entry(dir_fd, name, prefix + name)

    def _opaque_marker(self, prefix: bytes, st: os.stat_result) -> None:
        # As docker: a regular file with the directory's owner and permissions, mtime 0.
        marker = prefix + whiteout.OPAQUE.encode()
        self._emit(
            header.encode(
                marker, header.REGULAR, mode=st.st_mode & 0o777, uid=st.st_uid, gid=st.st_gid, mtime=0
            )
        )

    def _entry(self, dir_fd: int, name: bytes, rel: bytes) -> None:
        self.current = rel
        st = os.lstat(name, dir_fd=dir_fd)
        kind = stat.S_IFMT(st.st_mode)
        mode, uid, gid, mtime = st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime_ns // 1_000_000_000
        if self._clamp is not None and mtime > self._clamp:
            mtime = self._clamp
        if kind == stat.S_IFDIR:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                xattrs, opaque = _xattrs(fd)
                self._emit(
                    header.encode(
                        rel + b"/", header.DIRECTORY, mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs
                    )
                )
                if opaque and self._whiteouts:
                    self._opaque_marker(rel + b"/", st)
                self._children(fd, rel + b"/")
            finally:
                os.close(fd)
            return
        if kind == stat.S_IFSOCK:
            return  # sockets are not image content (docker skips them too)
        if self._whiteouts and kind == stat.S_IFCHR and st.st_rdev == 0:
            # overlay may hardlink all whiteouts to one inode: never a hardlink entry
            hidden = rel[: len(rel) - len(name)] + whiteout.PREFIX.encode() + name
            self._emit(header.encode(hidden, header.REGULAR, mode=0o600, uid=uid, gid=gid, mtime=mtime))
            return
        xattrs, _ = _xattrs(b"/proc/self/fd/%d/%s" % (dir_fd, name))
        if st.st_nlink > 1:
            first = self._links.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                self._emit(
                    header.encode(
                        rel,
                        header.HARDLINK,
                        mode=mode,
                        uid=uid,
                        gid=gid,
                        mtime=mtime,
                        linkname=first,
                        xattrs=xattrs,
                    )
                )
                return
        if kind == stat.S_IFREG:
            self._emit(
                header.encode(
                    rel,
                    header.REGULAR,
                    mode=mode,
                    uid=uid,
                    gid=gid,
                    mtime=mtime,
                    size=st.st_size,
                    xattrs=xattrs,
                )
            )
            self._file_data(dir_fd, name, rel, st.st_size)
        elif kind == stat.S_IFLNK:
            target = os.readlink(name, dir_fd=dir_fd)
            self._emit(
                header.encode(
                    rel,
                    header.SYMLINK,
                    mode=mode,
                    uid=uid,
                    gid=gid,
                    mtime=mtime,
                    linkname=target,
                    xattrs=xattrs,
                )
            )
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            typeflag = header.CHAR if kind == stat.S_IFCHR else header.BLOCKDEV
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self._emit(
                header.encode(
                    rel,
                    typeflag,
                    mode=mode,
                    uid=uid,
                    gid=gid,
                    mtime=mtime,
                    devmajor=major,
                    devminor=minor,
                    xattrs=xattrs,
                )
            )
        elif kind == stat.S_IFIFO:
            self._emit(
                header.encode(rel, header.FIFO, mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs)
            )

    def _file_data(self, dir_fd: int, name: bytes, rel: bytes, size: int) -> None:
        """Exactly ``size`` bytes of the file (the header promised them), then padding."""
        if not size:
            return
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        try:
            remaining = size
            while remaining:
                data = os.read(fd, min(remaining, CHUNK))
                if not data:
                    path = rel.decode("utf-8", "surrogateescape")
                    raise FailedPrecondition(f"write layer: {path}: file changed as we read it")
                self._emit(data)
                remaining -= len(data)
        finally:
            os.close(fd)
        self._emit(header.padding(size))
