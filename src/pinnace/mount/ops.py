"""Performing :class:`~pinnace.mount.Mount` descriptions: mount(2), umount2(2), syncfs(2).

The syscalls go through ctypes rather than ``mount``/``umount`` subprocesses:
a fork+exec costs milliseconds on every container start, a libc call
microseconds.  ctypes itself is imported on first use only, so commands that
never mount do not pay for it.

Option strings follow mount(8)/containerd: the ones naming a VFS flag
(``ro``, ``nosuid``, ``rbind``, ...) become mount flags, propagation ones
(``rprivate``, ...) a second mount call, and everything else the
filesystem's data string (``lowerdir=...``, ``size=64m``, ``mode=755``).

Mounting a container's root is on the path of every ``run``: targets are
``str`` or any path-like, and nothing but ``os`` and ``errno`` is imported
here (pathlib only by :func:`writable_dir` and :func:`mounted`, which hand
out a :class:`~pathlib.Path`).
"""

from __future__ import annotations

import errno
import os

from pinnace.errors import InvalidArgument, PinnaceError, Unavailable, map_errors
from pinnace.mount.flags import (  # noqa: F401  (re-exported: the flags were born here)
    MNT_DETACH,
    MS_BIND,
    MS_MANDLOCK,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    UMOUNT_NOFOLLOW,
    libc,
    mount_points,
    parse_options,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from pinnace.mount import Mount

    #: What the functions here take as a path.
    StrPath = str | os.PathLike[str]

#: errnos that mean the request itself is wrong (bad option, missing path), not a busy system.
_INVALID_ERRNOS = frozenset(
    {errno.EINVAL, errno.ENOENT, errno.ENOTDIR, errno.ENODEV, errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTBLK}
)

#: mount(2) copies at most one page of data; containerd keeps 512 bytes of slack.
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_DATA_LIMIT = _PAGE_SIZE - 512


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _error(kind_context: str, err: int) -> PinnaceError:
    """The pinnace error for a failed syscall: InvalidArgument for bad requests, else Unavailable."""
    kind = InvalidArgument if err in _INVALID_ERRNOS else Unavailable
    return kind(f"{kind_context}: {os.strerror(err)}")


def _sys_mount(source: str, target: str, fstype: str, flags: int, data: str, what: str) -> None:
    rc = libc().mount(
        os.fsencode(source) if source else None,
        os.fsencode(target),
        os.fsencode(fstype) if fstype else None,
        flags,
        os.fsencode(data) if data else None,
    )
    if rc != 0:
        raise _error(f"mount {what} on {target}", _errno())


def compact_lowerdir(data: list[str]) -> tuple[str, list[str]]:
    """containerd's compactLowerdirOption: lowerdirs made relative to their common parent.

    Returns ``(chdir, data)``; ``chdir`` is "" when nothing could be
    shortened.  The kernel resolves relative lowerdirs against the cwd of
    the mounting process, so the caller mounts from inside ``chdir``.
    """
    index = next((i for i, option in enumerate(data) if option.startswith("lowerdir=")), -1)
    if index < 0:
        return "", data
    dirs = data[index][len("lowerdir=") :].split(":")
    if len(dirs) < 2 or not all(os.path.isabs(d) for d in dirs):
        return "", data
    common = os.path.commonpath(dirs)
    if common in dirs:  # one lowerdir is another's ancestor: relative to its parent instead
        common = os.path.dirname(common)
    if common == "/":
        return "", data
    relative = [os.path.relpath(d, common) for d in dirs]
    return common, [*data[:index], *data[index + 1 :], "lowerdir=" + ":".join(relative)]


class _cwd:  # noqa: N801  (used as a function: ``with _cwd(path):``)
    """Run the block with ``path`` as the process's cwd, restoring the old one after.

    The cwd is per process, so this is only safe while no other thread
    resolves relative paths: pinnace mounts from single-threaded code (the
    CLI, the per-container monitor), and the window is one syscall long.
    The old cwd is kept as an fd so even a deleted cwd comes back.  ("" is
    no change.)  A class, not contextlib: start-up.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._old = -1

    def __enter__(self) -> None:
        if not self._path:
            return
        old = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(self._path)
        except BaseException:
            os.close(old)
            raise
        self._old = old

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._old >= 0:
            old, self._old = self._old, -1
            try:
                os.fchdir(old)
            finally:
                os.close(old)


def mount_one(m: Mount, target: StrPath) -> None:
    """Perform one mount onto ``target`` (which must exist)."""
    flags, propagation, data = parse_options(m.options)
    if m.type == "bind":
        flags |= MS_BIND
    target_s = os.path.abspath(target)
    chdir = ""
    if m.type == "overlay" and len(",".join(data)) >= _DATA_LIMIT:
        chdir, data = compact_lowerdir(data)
    data_s = ",".join(data)
    if len(data_s) >= _PAGE_SIZE:
        raise InvalidArgument(f"mount {m.type} on {target_s}: mount options are too long")
    with map_errors({OSError: Unavailable}, f"mount {m.type} on {target_s}"), _cwd(chdir):
        _sys_mount(m.source, target_s, "" if flags & MS_BIND else m.type, flags, data_s, m.type)
    try:
        # A bind mount ignores every flag but MS_BIND|MS_REC on creation: ro, nosuid, ... need a remount.
        settable = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if flags & MS_BIND and settable:
            _sys_mount("", target_s, "", settable | MS_BIND | MS_REMOUNT, "", m.type)
        if propagation:
            _sys_mount("", target_s, "", propagation, "", m.type)
    except PinnaceError:
        unmount(target_s, detach=True)
        raise


def mount_all(mounts: Sequence[Mount], target: StrPath) -> None:
    """Mount ``mounts`` in order: the first onto ``target``, later ones onto ``target/m.target``.

    All or nothing: when one fails, the ones already made are unmounted.
    """
    done: list[str] = []
    top = os.fspath(target)
    try:
        for m in mounts:
            sub = m.target.strip("/")
            where = os.path.join(top, sub) if sub else top
            mount_one(m, where)
            done.append(where)
    except BaseException:
        for where in reversed(done):
            unmount(where, detach=True)
        raise


def unmount(target: StrPath, *, detach: bool = False) -> None:
    """umount2 ``target`` (the topmost mount there); a path that is no mount point is fine.

    Symlinks are not followed (UMOUNT_NOFOLLOW): a container could plant
    one to make the engine unmount a host path.
    """
    flags = UMOUNT_NOFOLLOW | (MNT_DETACH if detach else 0)
    if libc().umount2(os.fsencode(target), flags) != 0:
        err = _errno()
        if err in (errno.EINVAL, errno.ENOENT):  # not mounted, or gone already
            return
        raise _error(f"unmount {target}", err)


def unmount_all(target: StrPath) -> None:
    """Unmount everything mounted at or under ``target``, deepest first.

    Stacked mounts on one point come off one by one (the latest first, as
    mountinfo lists them in mount order).
    """
    root = os.path.realpath(target)
    prefix = root.rstrip("/") + "/"
    found = [p for p in mount_points() if p == root or p.startswith(prefix)]
    # stable sort: for equal depth the later mount (listed later) comes off first
    order = sorted(enumerate(found), key=lambda item: (item[1].count("/"), item[0]), reverse=True)
    for _, point in order:
        unmount(point)


def writable_path(mounts: Sequence[Mount]) -> str:
    """The directory that receives writes to an active snapshot, to fill it without mounting.

    That is the source of a single read-write bind, or the ``upperdir=`` of
    an overlay.  Anything else (a view, a read-only mount) has none.
    """
    if len(mounts) == 1:
        m = mounts[0]
        flags, _, data = parse_options(m.options)
        if not flags & MS_RDONLY:
            if m.type == "bind" or flags & MS_BIND:
                return m.source
            if m.type == "overlay":
                for option in data:
                    if option.startswith("upperdir="):
                        return option[len("upperdir=") :]
    raise InvalidArgument("mounts have no writable directory: the snapshot is read-only")


def writable_dir(mounts: Sequence[Mount]) -> Path:
    """:func:`writable_path` as a :class:`~pathlib.Path`."""
    from pathlib import Path

    return Path(writable_path(mounts))


def mounted(mounts: Sequence[Mount], scratch_parent: StrPath) -> _Mounted:
    """Mount ``mounts`` on a fresh directory under ``scratch_parent`` for a ``with`` block.

    ``with mounted(mounts, scratch) as where:`` (``where`` a :class:`~pathlib.Path`);
    unmounted and removed when the block ends, however it ends.
    """
    return _Mounted(mounts, scratch_parent)


class _Mounted:
    """:func:`mounted`'s context manager (a class, not contextlib: start-up)."""

    def __init__(self, mounts: Sequence[Mount], scratch_parent: StrPath) -> None:
        self._mounts = mounts
        self._parent = scratch_parent
        self._where: Path | None = None

    def __enter__(self) -> Path:
        import tempfile
        from pathlib import Path

        with map_errors({OSError: Unavailable}, f"create a mount point in {os.fspath(self._parent)}"):
            where = Path(tempfile.mkdtemp(prefix="mount-", dir=self._parent))
        try:
            mount_all(self._mounts, where)
        except BaseException:
            os.rmdir(where)
            raise
        self._where = where
        return where

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        where, self._where = self._where, None
        if where is None:
            return
        unmount_all(where)
        with map_errors({OSError: Unavailable}, f"remove mount point {where}"):
            os.rmdir(where)


def syncfs(path: StrPath) -> None:
    """syncfs(2) on the filesystem holding ``path``: one flush instead of an fsync per file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _error(f"syncfs {path}", exc.errno or errno.EIO) from exc
    try:
        if libc().syncfs(fd) != 0:
            raise _error(f"syncfs {path}", _errno())
    finally:
        os.close(fd)
