"""Applying a layer tar onto a snapshot's (empty) upper dir, in one pass.

One read of the raw blob feeds three consumers: the caller's ``tee`` (the
content store writing the blob), the decompressor, and sha256 of the
uncompressed bytes (the diff ID).  Where entries may land is decided by
:mod:`pinnace.archive.beneath`; whiteouts become overlayfs whiteouts.

Metadata order per entry is the one the kernel needs: data, then chown
(which clears setuid bits and ``security.capability``), then chmod, then
xattrs, then times.  Directory times are set last, after their contents.

Where creating a file is measured to be slow (ext4 without a journal, soon
after a big tree was deleted, spends 200-400 µs of kernel time per inode),
small files and symlinks are handed to worker threads
(:mod:`pinnace.archive.writers`) while this thread goes on reading, hashing
and keeping the archive's order (see :class:`_Unpacker`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from time import perf_counter_ns, thread_time_ns
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
    from pinnace.archive.writers import WriterPool


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
        try:
            data, _ = open_decompressed(source)
            reader = TarReader(data)
            unpacker = _Unpacker(dest, reader)
            for info in reader.members():
                unpacker.entry(info)
            unpacker.finish()
            reader.drain()
        except Exception:
            if unpacker is not None:
                unpacker.stop()  # an earlier entry's failure on a worker comes first
            raise
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
_XATTR_PAX = "SCHILY.xattr."
_DEVICE_KINDS = {b"3"[0]: stat.S_IFCHR, b"4"[0]: stat.S_IFBLK, b"6"[0]: stat.S_IFIFO}
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

#: Regular files up to this size are read into memory and created by a
#: worker thread (see :mod:`pinnace.archive.writers`); bigger and sparse ones
#: are written by the reading thread straight from the stream.
_POOLED_MAX = 4 << 20
#: A create that takes this long is slow.  Workers pay for themselves only
#: while most creates are: on tmpfs or a fresh ext4 block group one costs
#: 5-50 µs; on ext4 without a journal, after a big tree was deleted, 200-400
#: µs (the inode allocator steps over every recently freed inode of the group).
SLOW_CREATE_NS = 64_000


class _CreateScore:
    """Whether creating files is slow lately: +1 per slow create, -1 per fast one, within 0..8.

    Files and symlinks go to workers while the score is 4 or more, so a
    stray slow create (a page fault, a GC pass) never starts them.  The
    reading thread times its creates by the clock; workers by their CPU time
    (kernel time included), which leaves out waiting for the GIL or for each
    other.  Updates from several threads may race: a lost one does no harm.
    """

    POOL, MAX = 4, 8

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.value = 0

    def note(self, elapsed_ns: int) -> None:
        if elapsed_ns >= SLOW_CREATE_NS:
            if self.enabled and self.value < self.MAX:
                self.value += 1
        elif self.value:
            self.value -= 1


#: Worker threads; None: by CPUs (2 already keep 2 CPUs busy allocating
#: inodes, more only contend), 0: every entry is made on the reading thread.
WORKERS: int | None = None


def _worker_count() -> int:
    return WORKERS if WORKERS is not None else min(4, max(2, len(os.sched_getaffinity(0))))


def _optional_xattr(key: str) -> bool:
    """xattrs a filesystem or a user namespace may refuse; docker goes on without them."""
    return key.startswith("trusted.") or key == "security.selinux"


def _mtime_ns(info: TarInfo) -> int:
    """The entry's mtime in ns, exact even for PAX's decimal ``mtime`` (a float would round)."""
    text = info.pax_headers.get("mtime", "")
    whole, _, frac = text.partition(".")
    try:
        seconds, ns = int(whole), int((frac + "000000000")[:9])
    except ValueError:  # absent or malformed: tarfile's reading of it
        return int(info.mtime) * 1_000_000_000
    return seconds * 1_000_000_000 + (-ns if whole.startswith("-") else ns)


# -- making one entry: shared by the reading thread and the workers ----------


def _xattrs(info: TarInfo, target: int | str) -> None:
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


def _file_metadata(info: TarInfo, fd: int) -> None:
    """Owner, mode, xattrs and times of a regular file whose data is written."""
    os.fchown(fd, info.uid, info.gid)
    os.fchmod(fd, info.mode & 0o7777)
    _xattrs(info, fd)
    mtime = _mtime_ns(info)
    os.utime(fd, ns=(mtime, mtime))


def _metadata_at(info: TarInfo, parent: int, base: str, *, symlink: bool) -> None:
    """Owner, mode, xattrs and times of a non-regular entry just made at ``parent``/``base``."""
    os.chown(base, info.uid, info.gid, dir_fd=parent, follow_symlinks=False)
    if not symlink:  # just made, no symlink -- unless swapped since (``docker cp`` into a live container)
        try:
            os.chmod(base, info.mode & 0o7777, dir_fd=parent, follow_symlinks=False)
        except ValueError:  # CPython's word for fchmodat(AT_SYMLINK_NOFOLLOW) meeting a symlink
            raise OSError(errno.ELOOP, "replaced by a symbolic link", base) from None
    _xattrs(info, f"/proc/self/fd/{parent}/{base}")
    mtime = _mtime_ns(info)
    os.utime(base, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)


def _replacing(parent: int, base: str, make: Callable[[], _T]) -> _T:
    """Run ``make``; if a non-directory is in the way, unlink it and run it again.

    For the workers, which never remove a directory: the reading thread did
    that before queuing the job.
    """
    try:
        return make()
    except FileExistsError:
        os.unlink(base, dir_fd=parent)
        return make()


def _pooled_file(parent: int, base: str, info: TarInfo, data: bytes, score: _CreateScore) -> None:
    start = thread_time_ns()
    fd = _replacing(parent, base, lambda: os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent))
    score.note(thread_time_ns() - start)
    try:
        done = os.write(fd, data) if data else 0
        while done < len(data):
            done += os.write(fd, memoryview(data)[done:])
        _file_metadata(info, fd)
    finally:
        os.close(fd)


def _pooled_symlink(parent: int, base: str, info: TarInfo, score: _CreateScore) -> None:
    start = thread_time_ns()
    _replacing(parent, base, lambda: os.symlink(info.linkname, base, dir_fd=parent))
    score.note(thread_time_ns() - start)
    _metadata_at(info, parent, base, symlink=True)


class _Unpacker:
    """Applies entries in archive order, handing small files and symlinks to workers.

    The workers' jobs keep the archive's order wherever it shows: an entry
    whose path (or a parent of it, or a hardlink's target) is still being
    created waits for that job; removing a tree, re-applying a directory's
    metadata, closing cached directory fds and the final directory times
    wait for every job.  Workers create only under a directory fd resolved
    here, which stays open until no job can use it.
    """

    def __init__(self, dest: Path, reader: TarReader) -> None:
        self._reader = reader
        self._beneath = Beneath(dest)
        self._dir_times: dict[Parts, int] = {}
        self.current = ""  # the entry being applied, for error messages
        self._pool: WriterPool | None = None
        # Workers need the Beneath to know every directory (they cannot remove
        # one in their way): true of what this apply makes, so dest must start empty.
        self._score = _CreateScore(WORKERS != 0 and _is_empty(self._beneath.root_fd))

    def stop(self) -> None:
        """After an error: let the workers finish what is queued; raise the error one met, if any.

        Its entry came before the one being applied, so its error is the one
        applying in order would have raised.
        """
        if self._pool is not None:
            error = self._pool.close(finish=True)
            if error is not None:
                self.current = self._pool.failed
                raise error

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()  # before any fd a job might use is closed
        self._beneath.close()

    # -- entries ---------------------------------------------------------

    def entry(self, info: TarInfo) -> None:
        name = self.current = info.name
        parts = clean_name(name)
        if parts is None:
            raise UnsafeArchive(f"unsafe layer entry {quote(name)}: path is outside of the root")
        self._beneath.trim()
        if self._pool is not None:
            self._pool.wait_for(parts)
        if parts and parts[0].startswith(whiteout.META_PREFIX) and parts != (whiteout.OPAQUE,):
            return  # aufs metadata dirs (/.wh..wh.plnk, /.wh..wh.aufs) and all they hold
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
        if self._score.value >= _CreateScore.POOL and info.sparse is None and info.size <= _POOLED_MAX:
            pool = self._pool_for(parent, parts)
            if pool is not None:
                data = self._reader.read_data(info.size)
                job = partial(_pooled_file, parent, base, info, data, self._score)
                pool.submit(parent, parts, info.name, info.size, job)
                return
        start = perf_counter_ns()
        fd = self._create(parent, parts, lambda: os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent))
        if (elapsed := perf_counter_ns() - start) >= SLOW_CREATE_NS or self._score.value:
            self._score.note(elapsed)
        try:
            regions: list[tuple[int, int]] | None = info.sparse  # type: ignore[assignment]
            if regions is None:
                self._reader.copy_to(fd, info.size)
            else:
                self._reader.copy_sparse(fd, regions, info.size, info.name)
            _file_metadata(info, fd)
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
                elif self._pool is not None:
                    self._pool.flush()  # new metadata after what was queued inside, as in order
        elif self._pool is not None:
            self._pool.flush()
        fd = self._beneath.dir(parts, info.name)  # a dir replacing a dir merges
        os.fchown(fd, info.uid, info.gid)
        os.fchmod(fd, info.mode & 0o7777)
        _xattrs(info, fd)
        self._dir_times[parts] = _mtime_ns(info)

    def _symlink(self, info: TarInfo, parts: Parts) -> None:
        parent, base = self._parent(parts), parts[-1]
        pool = self._pool_for(parent, parts) if self._score.value >= _CreateScore.POOL else None
        if pool is not None:
            pool.submit(
                parent, parts, info.name, 0, partial(_pooled_symlink, parent, base, info, self._score)
            )
            return
        start = perf_counter_ns()
        self._create(parent, parts, lambda: os.symlink(info.linkname, base, dir_fd=parent))
        if (elapsed := perf_counter_ns() - start) >= SLOW_CREATE_NS or self._score.value:
            self._score.note(elapsed)
        _metadata_at(info, parent, base, symlink=True)

    def _node(self, info: TarInfo, parts: Parts) -> None:
        parent, base = self._parent(parts), parts[-1]
        kind = _DEVICE_KINDS[info.type[0]]
        device = os.makedev(info.devmajor, info.devminor) if kind != stat.S_IFIFO else 0
        self._create(parent, parts, lambda: os.mknod(base, kind | 0o600, device, dir_fd=parent))
        _metadata_at(info, parent, base, symlink=False)

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
        if self._pool is not None:
            self._pool.wait_for(target)
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
        _metadata_at(info, parent, base, symlink=symlink)

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
        if self._pool is not None:
            self._pool.wait_for((*parts[:-1], hidden))
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

    def _pool_for(self, parent: int, parts: Parts) -> WriterPool | None:
        """The workers to make ``parts`` with, ready for it; None to make it here after all."""
        pool = self._pool
        if pool is None:
            from pinnace.archive.writers import WriterPool

            try:
                pool = self._pool = WriterPool(_worker_count())
            except RuntimeError:  # no threads to be had: go on without
                self._score = _CreateScore(False)
                return None
            self._beneath.before_lookup = pool.wait_for
            self._beneath.before_trim = pool.flush
        if parts in self._beneath.dirs:
            self._remove(parent, parts)  # workers never remove a directory
        return pool

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

            if self._pool is not None:
                self._pool.flush()  # jobs may be creating inside
            shutil.rmtree(base, dir_fd=parent)  # fd-based: never follows symlinks
        else:
            os.unlink(base, dir_fd=parent)
        self._beneath.forget(parts)
        depth = len(parts)
        for key in [k for k in self._dir_times if k[:depth] == parts]:
            del self._dir_times[key]

    def finish(self) -> None:
        """Set directory times, now that nothing more is created inside them."""
        if self._pool is not None:
            self._pool.flush()
        self.current = ""
        for parts, mtime in self._dir_times.items():
            self._beneath.trim()
            if parts:
                parent = self._beneath.dir(parts[:-1], "/".join(parts), create=False)
                os.utime(parts[-1], ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
            else:
                os.utime(self._beneath.root_fd, ns=(mtime, mtime))


def _is_empty(dir_fd: int) -> bool:
    with os.scandir(dir_fd) as entries:
        return next(entries, None) is None
