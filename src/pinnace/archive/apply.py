"""Applying a layer tar onto a snapshot's (empty) upper dir, in one pass.

One read of the raw blob feeds three consumers: the caller's ``tee`` (the
content store writing the blob), the decompressor, and sha256 of the
uncompressed bytes (the diff ID).  Where entries may land is decided by
:mod:`pinnace.archive.beneath`; whiteouts become overlayfs whiteouts.

Metadata order per entry is the one the kernel needs: data, then chown
(which clears setuid bits and ``security.capability``), then chmod, then
xattrs, then times.  Directory times are set last, after their contents.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from pinnace.archive import whiteout
from pinnace.archive.beneath import Beneath, Parts, clean_name, quote
from pinnace.archive.compression import open_decompressed
from pinnace.archive.oserrors import os_error
from pinnace.errors import InvalidArgument, UnsafeArchive
from pinnace.oci.digest import Digest

if TYPE_CHECKING:
    from tarfile import TarInfo

    from pinnace.archive.tarstream import TarReader


@dataclass(frozen=True, slots=True)
class ApplyResult:
    diff_id: Digest  # sha256 of the uncompressed tar stream
    size: int  # bytes of the uncompressed tar stream


def apply_layer(stream: BinaryIO, dest: Path, *, tee: Callable[[bytes], object] | None = None) -> ApplyResult:
    """Unpack the (maybe compressed) layer ``stream`` into the directory ``dest``.

    Every raw chunk read from ``stream`` is passed to ``tee``; the stream is
    read to EOF.  An entry that would land outside ``dest`` raises
    :class:`UnsafeArchive`; a corrupt archive :class:`InvalidArgument`.
    ``dest`` is left half-filled on error: the caller removes the snapshot.
    """
    from pinnace.archive.tarstream import TarReader

    source: BinaryIO = _Tee(stream, tee) if tee is not None else stream  # type: ignore[assignment]
    unpacker: _Unpacker | None = None
    try:
        data, _ = open_decompressed(source)
        reader = TarReader(data)
        unpacker = _Unpacker(dest, reader)
        for info in reader.members():
            unpacker.entry(info)
        unpacker.finish()
        reader.drain()
    except OSError as exc:
        where = f" entry {quote(unpacker.current)}" if unpacker and unpacker.current else ""
        raise os_error(f"apply layer{where}", exc) from exc
    finally:
        if unpacker is not None:
            unpacker.close()
    return ApplyResult(diff_id=reader.digest, size=reader.size)


class _Tee:
    """``stream`` whose every chunk is also handed to ``tee``."""

    def __init__(self, stream: BinaryIO, tee: Callable[[bytes], object]) -> None:
        self._stream = stream
        self._tee = tee

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._tee(data)
        return data


_T = TypeVar("_T")


#: xattrs a filesystem or a user namespace may refuse; docker skips them then.
def _optional_xattr(key: str) -> bool:
    return key.startswith("trusted.") or key == "security.selinux"


_XATTR_PAX = "SCHILY.xattr."
_DEVICE_KINDS = {b"3"[0]: stat.S_IFCHR, b"4"[0]: stat.S_IFBLK, b"6"[0]: stat.S_IFIFO}


def _mtime_ns(info: TarInfo) -> int:
    """The entry's mtime in ns, exact even for PAX's decimal ``mtime``."""
    text = info.pax_headers.get("mtime")
    if text is None:
        return int(info.mtime) * 1_000_000_000
    whole, _, frac = text.partition(".")
    seconds = int(whole)
    ns = int((frac + "000000000")[:9]) if frac else 0
    return seconds * 1_000_000_000 - ns if text.startswith("-") else seconds * 1_000_000_000 + ns


class _Unpacker:
    def __init__(self, dest: Path, reader: TarReader) -> None:
        self._reader = reader
        self._beneath = Beneath(dest)
        self._dir_times: dict[Parts, int] = {}
        self.current = ""  # the entry being applied, for error messages

    def close(self) -> None:
        self._beneath.close()

    # -- entries ---------------------------------------------------------

    def entry(self, info: TarInfo) -> None:
        name = self.current = info.name
        parts = clean_name(name)
        if parts is None:
            raise UnsafeArchive(f"unsafe layer entry {quote(name)}: path is outside of the root")
        self._beneath.trim()
        if parts and parts[-1].startswith(whiteout.PREFIX):
            self._whiteout(info, parts)
        elif not parts:
            if not info.isdir():
                raise UnsafeArchive(f"unsafe layer entry {quote(name)}: cannot replace the root")
            self._directory(info, parts)
        elif info.isreg():
            self._file(info, parts)
        elif info.isdir():
            self._directory(info, parts)
        elif info.issym():
            self._symlink(info, parts)
        elif info.islnk():
            self._hardlink(info, parts)
        elif info.type[0] in _DEVICE_KINDS:
            self._node(info, parts)
        else:
            raise InvalidArgument(
                f"unpack layer: unhandled tar header type {info.type!r} of entry {quote(name)}"
            )

    def _file(self, info: TarInfo, parts: Parts) -> None:
        parent, base = self._parent(parts), parts[-1]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

        fd = self._create(parent, parts, lambda: os.open(base, flags, 0o600, dir_fd=parent))
        try:
            regions: list[tuple[int, int]] | None = info.sparse  # type: ignore[assignment]
            if regions is None:
                self._reader.copy_to(fd, info.size)
            else:
                self._reader.copy_sparse(fd, regions, info.size, info.name)
            os.fchown(fd, info.uid, info.gid)
            os.fchmod(fd, info.mode & 0o7777)
            self._xattrs(info, fd)
            mtime = _mtime_ns(info)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def _directory(self, info: TarInfo, parts: Parts) -> None:
        if parts:
            parent, base = self._parent(parts), parts[-1]
            try:
                existing = os.lstat(base, dir_fd=parent)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISDIR(existing.st_mode):
                    self._remove(parent, parts)
        fd = self._beneath.dir(parts, info.name)  # a dir replacing a dir merges
        os.fchown(fd, info.uid, info.gid)
        os.fchmod(fd, info.mode & 0o7777)
        self._xattrs(info, fd)
        self._dir_times[parts] = _mtime_ns(info)

    def _symlink(self, info: TarInfo, parts: Parts) -> None:
        parent, base = self._parent(parts), parts[-1]
        self._create(parent, parts, lambda: os.symlink(info.linkname, base, dir_fd=parent))
        self._metadata_at(info, parent, base, symlink=True)

    def _node(self, info: TarInfo, parts: Parts) -> None:
        parent, base = self._parent(parts), parts[-1]
        kind = _DEVICE_KINDS[info.type[0]]
        device = os.makedev(info.devmajor, info.devminor) if kind != stat.S_IFIFO else 0
        self._create(parent, parts, lambda: os.mknod(base, kind | 0o600, device, dir_fd=parent))
        self._metadata_at(info, parent, base, symlink=False)

    def _hardlink(self, info: TarInfo, parts: Parts) -> None:
        name, linkname = info.name, info.linkname
        target = clean_name(linkname)
        if not target:
            raise UnsafeArchive(
                f"unsafe layer entry {quote(name)}: hardlink target {quote(linkname)} is outside of the root"
            )
        if target[: len(parts)] == parts:  # replacing the entry would remove the target
            raise InvalidArgument(f"layer entry {quote(name)}: hardlink to itself")
        missing = UnsafeArchive(
            f"unsafe layer entry {quote(name)}: hardlink target {quote(linkname)} is not in this layer"
        )
        try:
            target_parent = self._beneath.dir(target[:-1], name, create=False)
        except FileNotFoundError:
            raise missing from None
        parent, base = self._parent(parts), parts[-1]

        def link() -> None:
            os.link(target[-1], base, src_dir_fd=target_parent, dst_dir_fd=parent, follow_symlinks=False)

        try:
            self._create(parent, parts, link)
        except FileNotFoundError:
            raise missing from None
        except PermissionError:  # EPERM: the target is a directory
            raise InvalidArgument(
                f"layer entry {quote(name)}: hardlink target {quote(linkname)} is a directory"
            ) from None
        symlink = stat.S_ISLNK(os.lstat(base, dir_fd=parent).st_mode)
        self._metadata_at(info, parent, base, symlink=symlink)

    def _whiteout(self, info: TarInfo, parts: Parts) -> None:
        base = parts[-1]
        if base == whiteout.OPAQUE:
            fd = self._beneath.dir(parts[:-1], info.name)
            os.setxattr(fd, whiteout.OPAQUE_XATTR, b"y")
            return
        if base.startswith(whiteout.META_PREFIX):
            return  # aufs bookkeeping
        hidden = base[len(whiteout.PREFIX) :]
        if hidden in ("", ".", ".."):
            raise InvalidArgument(f"layer entry {quote(info.name)}: invalid whiteout")
        parent = self._parent(parts)
        try:
            os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=parent)
        except FileExistsError:
            # Present in this very layer: a whiteout only hides lower layers (OCI).
            return
        os.chown(hidden, info.uid, info.gid, dir_fd=parent, follow_symlinks=False)
        mtime = _mtime_ns(info)
        os.utime(hidden, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    # -- helpers ---------------------------------------------------------

    def _parent(self, parts: Parts) -> int:
        return self._beneath.dir(parts[:-1], self.current)

    def _create(self, parent: int, parts: Parts, make: Callable[[], _T]) -> _T:
        """Run ``make``; if the name exists, remove what is there and run it again."""
        try:
            return make()
        except FileExistsError:
            self._remove(parent, parts)
            return make()

    def _remove(self, parent: int, parts: Parts) -> None:
        base = parts[-1]
        if stat.S_ISDIR(os.lstat(base, dir_fd=parent).st_mode):
            import shutil

            shutil.rmtree(base, dir_fd=parent)  # fd-based: never follows symlinks
        else:
            os.unlink(base, dir_fd=parent)
        self._beneath.forget(parts)
        depth = len(parts)
        for key in [k for k in self._dir_times if k[:depth] == parts]:
            del self._dir_times[key]

    def _metadata_at(self, info: TarInfo, parent: int, base: str, *, symlink: bool) -> None:
        """Owner, mode, xattrs and times of a non-regular entry just made at ``parent``/``base``."""
        os.chown(base, info.uid, info.gid, dir_fd=parent, follow_symlinks=False)
        if not symlink:  # Linux has no lchmod; the node was just made, it is no symlink
            os.chmod(base, info.mode & 0o7777, dir_fd=parent)
        self._xattrs(info, f"/proc/self/fd/{parent}/{base}")
        mtime = _mtime_ns(info)
        os.utime(base, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def _xattrs(self, info: TarInfo, target: int | str) -> None:
        for key, value in info.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            attr = key[len(_XATTR_PAX) :]
            if attr.startswith(whiteout.OVERLAY_XATTR_PREFIX):
                continue
            try:
                raw = value.encode("utf-8", "surrogateescape")
                os.setxattr(target, attr, raw, follow_symlinks=isinstance(target, int))
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.ENOTSUP) and _optional_xattr(attr):
                    continue
                raise

    def finish(self) -> None:
        """Set directory times, now that nothing more is created inside them."""
        self.current = ""
        for parts, mtime in self._dir_times.items():
            self._beneath.trim()
            if parts:
                parent = self._beneath.dir(parts[:-1], "/".join(parts), create=False)
                os.utime(parts[-1], ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
            else:
                os.utime(self._beneath.root_fd, ns=(mtime, mtime))
