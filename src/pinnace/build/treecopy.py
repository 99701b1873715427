"""COPY's files into an image root by system calls, with no archive in between.

A tar stream written by one thread and unpacked by another costs a Python round trip per header and
per block (10,000 small files took seconds); here each entry is a few fd-relative calls:
``mkdirat``/``openat`` under directory fds of the destination, the content by ``copy_file_range`` (or
``sendfile``), then owner, mode and times on the fd.  A destination directory that is a symlink in the
image is resolved inside the root (:func:`pinnace.containers.spec.open_in_root`), never out of it;
nothing else below the destination is followed.

Files are written by a few threads (:class:`_Writers`): creating a small file is a handful of metadata
operations that wait on the filesystem's journal, not on the CPU, and they overlap well (the system
calls drop the GIL).  Directories are made by the walking thread, so a file's parent always exists
before the file is queued, and a directory gets its times only after all its files are written, so
writing them does not move its mtime.
"""

from __future__ import annotations

import errno
import os
import stat

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Target:
    """Where files go: the image root and the owner and mode every copied entry gets."""

    def __init__(self, root_fd: int, owner: tuple[int, int], chmod: int | None) -> None:
        self.root_fd = root_fd
        self.owner = owner
        self.chmod = chmod

    def open_dir(self, path: str) -> int:
        """A directory fd of absolute ``path`` in the root, made (0755) as needed."""
        from pinnace.containers.spec import open_in_root

        fd = open_in_root(self.root_fd, path, make_dirs=True)
        try:
            return os.open(f"/proc/self/fd/{fd}", _DIR)
        finally:
            os.close(fd)


def copy_tree(
    source: str,
    target: Target,
    dest: str,
    *,
    excluded: Callable[[str], bool] | None = None,
    descend: Callable[[str], bool] | None = None,
    base: str = "",
) -> None:
    """The contents of directory ``source`` (a host path) into ``dest`` (absolute, in the root).
    ``excluded`` sees context-relative names (``base`` is the source's); an excluded directory is
    made only for what an exception pattern keeps below it (``descend`` says whether one could)."""
    dest_fd = target.open_dir(dest)
    try:
        with _Writers() as writers:
            _Walk(target, excluded, descend, base, writers).fill(source, dest_fd, dest, "")
    finally:
        os.close(dest_fd)


def copy_file(source: str, target: Target, dest_dir: str, name: str) -> None:
    """One file (``source`` followed if it is a link) as ``dest_dir/name``."""
    dest_fd = target.open_dir(dest_dir)
    try:
        _file(source, os.stat(source), dest_fd, name, os.path.join(dest_dir, name), target)
    finally:
        os.close(dest_fd)


class _Walk:
    def __init__(
        self,
        target: Target,
        excluded: Callable[[str], bool] | None,
        descend: Callable[[str], bool] | None,
        base: str,
        writers: _Writers,
    ) -> None:
        self.target = target
        self.excluded = excluded
        self.descend = descend
        self.base = "" if base in ("", ".") else base.strip("/")
        self.writers = writers

    def _key(self, rel: str) -> str:
        return f"{self.base}/{rel}" if self.base else rel

    def _keeps(self, src: str, rel: str) -> bool:
        """Whether anything below the excluded directory ``rel`` is kept (re-included by a "!")."""
        if self.descend is not None and not self.descend(self._key(rel)):
            return False
        with os.scandir(src) as it:
            for entry in it:
                path = f"{rel}/{entry.name}"
                assert self.excluded is not None
                if not self.excluded(self._key(path)):
                    return True
                if entry.is_dir(follow_symlinks=False) and self._keeps(entry.path, path):
                    return True
        return False

    def fill(self, src: str, dir_fd: int, where: str, rel: str) -> None:
        target = self.target
        with os.scandir(src) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            ignored = self.excluded is not None and self.excluded(self._key(path))
            if ignored and not (stat.S_ISDIR(st.st_mode) and self._keeps(entry.path, path)):
                continue
            name, place = entry.name, os.path.join(where, entry.name)
            if stat.S_ISDIR(st.st_mode):
                child = _directory(dir_fd, name, place, target)
                try:
                    self.fill(entry.path, child, place, path)
                except BaseException:
                    os.close(child)
                    raise
                self.writers.finish_dir(child, st, target)  # closes it
            elif stat.S_ISREG(st.st_mode):
                self.writers.file(entry.path, st, dir_fd, name, place, target)
            elif stat.S_ISLNK(st.st_mode):
                _symlink(os.readlink(entry.path), st, dir_fd, name, place, target)
            # devices, fifos, sockets: a build context carries none (docker skips them too)


class _Writers:
    """The threads that write files, and the directories waiting for their files to be written.

    A directory's fd stays open until its times are set; past :attr:`MAX_OPEN` waiting directories
    the walk waits for the writers to drain (a context of many small directories stays within the
    fd limit).  The first error any writer met is raised once the work queued before it is done.
    """

    THREADS = 4
    MAX_OPEN = 256

    def __init__(self) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="copy")
        self._pending: list[Future[None]] = []
        self._dirs: list[tuple[int, os.stat_result, Target]] = []

    def file(self, src: str, st: os.stat_result, parent: int, name: str, where: str, target: Target) -> None:
        self._pending.append(self._pool.submit(_file, src, st, parent, name, where, target))

    def finish_dir(self, fd: int, st: os.stat_result, target: Target) -> None:
        """Give directory ``fd`` its times once the files queued so far are written; then close it."""
        self._dirs.append((fd, st, target))
        if len(self._dirs) >= self.MAX_OPEN:
            self._drain()

    def _drain(self, *, quiet: bool = False) -> None:
        """Wait for the queued files, then set the waiting directories' times (not after an error,
        which is raised, unless ``quiet``: an error of the walk itself is on its way already)."""
        pending, self._pending = self._pending, []
        error: BaseException | None = None
        for future in pending:
            failed = future.exception()
            if failed is not None and error is None:
                error = failed
        dirs, self._dirs = self._dirs, []
        for fd, st, target in dirs:
            try:
                if error is None:
                    _metadata(fd, st, target)
            finally:
                os.close(fd)
        if error is not None and not quiet:
            raise error

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            self._drain(quiet=kind is not None)
        finally:
            self._pool.shutdown(wait=True)


def _directory(parent: int, name: str, where: str, target: Target) -> int:
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink in the image: followed inside the root, as docker does
            return target.open_dir(where)
        raise InvalidArgument(f"cannot copy to non-directory: {where}") from None


def _replace(parent: int, name: str, where: str) -> None:
    """Make room for a new non-directory entry ``name``."""
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"cannot overwrite directory {where} with non-directory")
    os.unlink(name, dir_fd=parent)


def _file(src: str, st: os.stat_result, parent: int, name: str, where: str, target: Target) -> None:
    _replace(parent, name, where)
    out = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent
    )
    try:
        source = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _content(source, out, st.st_size)
        finally:
            os.close(source)
        _metadata(out, st, target)
    finally:
        os.close(out)


def _content(source: int, out: int, size: int) -> None:
    """Copy in the kernel: copy_file_range (reflinks where the filesystem can), else sendfile."""
    left = size
    try:
        while left > 0:
            done = os.copy_file_range(source, out, left)
            if done == 0:
                break
            left -= done
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    offset = size - left
    while left > 0:
        done = os.sendfile(out, source, offset, left)
        if done == 0:
            break
        offset += done
        left -= done


def _symlink(link: str, st: os.stat_result, parent: int, name: str, where: str, target: Target) -> None:
    _replace(parent, name, where)
    os.symlink(link, name, dir_fd=parent)
    os.chown(name, *target.owner, dir_fd=parent, follow_symlinks=False)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent, follow_symlinks=False)


def _metadata(fd: int, st: os.stat_result, target: Target) -> None:
    """Owner first (a chown clears set-id bits), then the mode, then the source's times."""
    os.fchown(fd, *target.owner)
    os.fchmod(fd, target.chmod if target.chmod is not None else stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
