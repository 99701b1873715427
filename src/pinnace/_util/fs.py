"""Durable, atomic file writes.

Every piece of state pinnace keeps outside SQLite is written through
:func:`atomic_write`: a temp file in the same directory, written, fsynced,
renamed over the target, and the directory fsynced, so a process killed at
any instant leaves either the old file or the new one, never half of one.
Only ``os`` is imported: the runtime writes its state through here once per
container, and pathlib alone costs a few milliseconds of start-up.
"""

from __future__ import annotations

import os
import stat


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically, and durably unless ``durable`` is False.

    ``durable=False`` skips the fsyncs, for state on a tmpfs (the runtime's
    ``--root``) that a reboot discards anyway: the rename alone keeps it atomic.
    """
    target = os.fspath(path)
    parent, name = os.path.split(target)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, target)
    if durable:
        fsync_dir(parent or ".")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` and everything below it; a missing ``path`` is fine.

    What ``shutil.rmtree`` does on Linux, without importing shutil (it pulls
    in fnmatch, bz2 and lzma: ~1.5 ms of every ``run --rm``, which removes a
    container's layer and directories).  Every entry is reached through a
    directory fd opened with O_NOFOLLOW, so a symlink anywhere in the tree
    (a container's writable layer holds what the container put there) is
    removed, never followed.  Iterative: no nesting depth exhausts the
    recursion limit.  Entries that vanish meanwhile are fine.  Without root,
    a directory we may not list or change (layers hold read-only ones) is
    made 0o700 and the step retried.  Errors are OSError.
    """
    top = os.fspath(path)
    try:
        fd = _open_dir(top, None)
    except FileNotFoundError:
        return
    # (parent fd, name in it, the directory's fd, its entries not yet removed)
    stack: list[tuple[int | None, str, int, list[str]]] = []
    try:
        stack.append((None, top, fd, os.listdir(fd)))
        while stack:
            parent, name, fd, names = stack[-1]
            if names:
                child = names.pop()
                if _unlink(child, fd):
                    continue
                try:
                    sub = _open_dir(child, fd)
                except FileNotFoundError:
                    continue
                except OSError:  # no longer a directory (swapped for a link meanwhile): an entry
                    if not _unlink(child, fd):
                        raise
                    continue
                try:
                    stack.append((fd, child, sub, os.listdir(sub)))
                except BaseException:
                    os.close(sub)
                    raise
                continue
            stack.pop()
            os.close(fd)
            _rmdir(name, parent)
    finally:
        for _, _, fd, _ in stack:
            os.close(fd)


def _open_dir(name: str, dir_fd: int | None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if dir_fd is not None:
            os.fchmod(dir_fd, 0o700)  # the parent may deny the lookup
        os.chmod(name, 0o700, dir_fd=dir_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _unlink(name: str, dir_fd: int, *, retry: bool = True) -> bool:
    """Remove the non-directory ``name``; False when it is a directory (left for the walk)."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except IsADirectoryError:
        return False
    except FileNotFoundError:
        pass
    except PermissionError:
        if not retry:
            raise
        os.fchmod(dir_fd, 0o700)
        return _unlink(name, dir_fd, retry=False)
    return True


def _rmdir(name: str, dir_fd: int | None, *, retry: bool = True) -> None:
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except PermissionError:
        if not retry:
            raise
        if dir_fd is None:
            os.chmod(os.path.dirname(os.path.abspath(name)), 0o700)
        else:
            os.fchmod(dir_fd, 0o700)
        _rmdir(name, dir_fd, retry=False)


def copy_tree(src: int, dst: int) -> None:
    """Copy directory ``src``'s entries into ``dst`` (fds), with owners, modes and times.

    runc's tmpcopyup and docker's copy of an image's content into a new
    volume.  Every entry is opened relative to its parent's fd without
    following symlinks (they are copied as links), so a tree that belongs
    to a container cannot lead the copy outside it.  Errors are OSError.
    """
    opened = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for entry in os.scandir(src):
        name = entry.name
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            sub_src = os.open(name, opened | os.O_DIRECTORY, dir_fd=src)
            try:
                sub_dst = os.open(name, opened | os.O_DIRECTORY, dir_fd=dst)
                try:
                    copy_tree(sub_src, sub_dst)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
        elif stat.S_ISREG(st.st_mode):
            source = os.open(name, opened, dir_fd=src)
            try:
                target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | opened, 0o600, dir_fd=dst)
                try:
                    while os.sendfile(target, source, None, 1 << 30):
                        pass
                finally:
                    os.close(target)
            finally:
                os.close(source)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        else:  # devices, fifos, sockets
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)  # after chown, which clears setuid
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
