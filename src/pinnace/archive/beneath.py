"""Confining tar entries to the directory they unpack into.

The rule, stricter than Docker's chroot-style resolution and simple enough
to see it holds:

1. Entry names are cleaned lexically: a leading ``/`` is dropped (docker
   treats ``/etc/x`` as ``etc/x``), ``.`` and empty components vanish, and a
   ``..`` removes the previous component; a ``..`` with nothing left to
   remove climbs out of the root and the entry is refused.  The kernel never
   sees a ``..`` from an archive.
2. Every parent component is opened relative to its own parent's fd with
   ``O_NOFOLLOW | O_DIRECTORY``: it must be a real directory.  A symlink as a
   parent, wherever it points, is refused, so nothing is ever written
   *through* a symlink.  Symlinks themselves are plain data and may point
   anywhere.
3. The last component is created or replaced with ``*at`` calls on the
   parent's fd and never followed.

Refusing in-tree symlinked parents costs nothing for real layers: a layer
is applied onto an empty upper dir, so the only symlinks present are the
layer's own, and a tar made by walking a filesystem never names a path
through one of its symlinks.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from pinnace.errors import InvalidArgument, UnsafeArchive

Parts = tuple[str, ...]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Directory fds kept open between entries; tars are sorted depth-first, so
#: a few dozen cover the working set.
_MAX_OPEN = 128


def clean_name(name: str) -> Parts | None:
    """The components of ``name`` inside the root, or None if it climbs out."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def quote(name: str) -> str:
    """An entry name as error messages show it (docker's %q)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Beneath:
    """Open directory fds under one root, resolved without following symlinks.

    Fds are cached by path; whoever removes or replaces a path calls
    :meth:`forget` so no stale fd (to an unlinked directory) is ever used.
    :attr:`dirs` remembers every directory opened or made, cached or not, so
    that a caller who started from an empty root knows, without a syscall,
    whether a path is a directory.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        self._fds: dict[Parts, int] = {(): self.root_fd}
        self.dirs: set[Parts] = {()}
        #: Called with a path before it is looked up on disk (not when cached),
        #: and before :meth:`trim` closes fds: lets a caller finish whatever
        #: is still creating that path, or still using those fds.
        self.before_lookup: Callable[[Parts], object] | None = None
        self.before_trim: Callable[[], object] | None = None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def trim(self) -> None:
        """Bound the cache; call only between entries (fds handed out are closed)."""
        if len(self._fds) > _MAX_OPEN:
            if self.before_trim is not None:
                self.before_trim()
            for parts, fd in list(self._fds.items()):
                if parts:
                    os.close(fd)
                    del self._fds[parts]

    def forget(self, parts: Parts) -> None:
        """Drop cached fds for ``parts`` and everything below it."""
        depth = len(parts)
        for key in [k for k in self._fds if k[:depth] == parts and k]:
            os.close(self._fds.pop(key))
        if parts and parts in self.dirs:
            self.dirs.difference_update([k for k in self.dirs if k[:depth] == parts])

    def dir(self, parts: Parts, entry: str, *, create: bool = True) -> int:
        """The fd of directory ``parts``; missing ones are made 0755 if ``create``.

        Raises FileNotFoundError if missing and not ``create``;
        :class:`UnsafeArchive` (naming ``entry``) if a component is a symlink.
        """
        fd = self._fds.get(parts)
        if fd is None:
            parent = self.dir(parts[:-1], entry, create=create)
            if self.before_lookup is not None:
                self.before_lookup(parts)
            fd = self._open_child(parent, parts, entry, create)
            self._fds[parts] = fd
            self.dirs.add(parts)
        return fd

    @staticmethod
    def _open_child(parent: int, parts: Parts, entry: str, create: bool) -> int:
        name = parts[-1]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            where = quote("/".join(parts))
            if stat.S_ISLNK(os.lstat(name, dir_fd=parent).st_mode):
                raise UnsafeArchive(
                    f"unsafe layer entry {quote(entry)}: parent {where} is a symbolic link"
                ) from None
            raise InvalidArgument(f"layer entry {quote(entry)}: parent {where} is not a directory") from None
        os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        os.fchmod(fd, 0o755)  # what the umask took away
        return fd
