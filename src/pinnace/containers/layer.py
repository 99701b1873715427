"""A container's writable layer: an active overlay snapshot over its image, and what reads it.

Layout, as dockerd's (layer store: image layers, ``<id>-init``, the rw layer)::

    image layers (committed, by chain ID)
      init-<top chain ID>     committed: docker's init layer (initlayer.Setup)
        container-<id>        active: the container's upper dir, its writes

The init layer holds the mount points the runtime binds over (/etc/hosts,
/etc/hostname, /etc/resolv.conf, /proc, /sys, ...), so creating them never
writes to the container's own layer and ``docker diff`` of a container that
changed nothing is empty, as with docker.  Its content depends only on the
image, so it is made once per image and shared by the image's containers
(docker makes one per container); it is reachable through the containers'
snapshots only, so GC removes it with the last container.

Reading a container's files, safely
-----------------------------------
The container owns its upper dir and may swap any path in it for a symlink
at any moment (CVE-2018-15664).  Nothing here resolves a path string inside
it: :func:`changes` walks the snapshot directories themselves with ``*at``
calls on directory fds and ``O_NOFOLLOW``; :func:`export` and
:func:`diff_tar` use :mod:`pinnace.archive.diff`'s walker, which does the
same.  A symlink is data (archived as a symlink), never a way out.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import BinaryIO

    from pinnace.archive.diff import DiffResult
    from pinnace.images.stores import Stores
    from pinnace.mount import Mount
    from pinnace.snapshots import Snapshotter

KEY_PREFIX = "container-"
INIT_PREFIX = "init-"

#: docker's init layer (moby daemon/initlayer): path -> "dir", "file", or a symlink's target.
INIT_ENTRIES: tuple[tuple[str, str], ...] = (
    ("/dev/pts", "dir"),
    ("/dev/shm", "dir"),
    ("/proc", "dir"),
    ("/sys", "dir"),
    ("/.dockerenv", "file"),
    ("/etc/resolv.conf", "file"),
    ("/etc/hosts", "file"),
    ("/etc/hostname", "file"),
    ("/dev/console", "file"),
    ("/etc/mtab", "/proc/mounts"),
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # our own paths: may be reached through links
_OPAQUE_XATTR = "trusted.overlay.opaque"  # pinnace.archive.whiteout.OPAQUE_XATTR, without importing it


def snapshot_key(container_id: str) -> str:
    return KEY_PREFIX + container_id


# -- lifecycle -------------------------------------------------------------------


def prepare(stores: Stores, container_id: str, image_top_chain_id: str) -> str:
    """Create the container's active snapshot on its image; return its key (for the record).

    Runs under the operation lease, so GC cannot sweep the init layer between
    its making and its use.  The caller should hold
    :func:`pinnace.meta.operations.operation` itself from here until the
    container record naming the key is written: until then the snapshot is
    no GC root, and a GC in between would remove it.
    """
    from pinnace.meta.operations import operation

    key = snapshot_key(container_id)
    with operation(stores.root_dir):
        parent = _init_layer(stores.snapshots, image_top_chain_id)
        stores.snapshots.prepare(key, parent, {"pinnace.container": container_id})
    return key


def mounts(stores: Stores, key: str) -> list[Mount]:
    """The mounts that make the container's root filesystem (for the runtime spec, or to mount here)."""
    return stores.snapshots.mounts(key)


def mount_rootfs(stores: Stores, key: str, target: str) -> None:
    """Mount the container's root filesystem at ``target`` (created); already mounted there is fine."""
    from pinnace.errors import Unavailable, map_errors
    from pinnace.mount import mount_all

    found = stores.snapshots.mounts(key)
    with map_errors({OSError: Unavailable}, f"create {target}"):
        os.makedirs(target, 0o700, exist_ok=True)
    if os.path.realpath(target) in _points_of(_layout(found)[0]):
        return
    mount_all(found, target)


def unmount_rootfs(target: str) -> None:
    """Unmount everything at or below ``target``; nothing mounted (or no ``target``) is fine.

    A mount that is busy (a process has its cwd there) is detached lazily:
    it goes away when the last user does.
    """
    from pinnace.errors import Unavailable
    from pinnace.mount import unmount, unmount_all
    from pinnace.mount.flags import mount_points

    real = os.path.realpath(target)
    prefix = real.rstrip("/") + "/"

    def below() -> list[str]:
        return [p for p in mount_points() if p == real or p.startswith(prefix)]

    try:
        unmount_all(target)
    except Unavailable:
        for _ in range(len(below())):
            left = below()
            if not left:
                break
            unmount(min(left, key=len), detach=True)  # a lazy detach takes the mounts below along


def remove(stores: Stores, key: str) -> None:
    """Delete the container's snapshot, unmounting it wherever it is mounted; a missing one is fine.

    The shared init layer stays (other containers of the image may be
    created on it right now): GC removes it once no container uses it.
    """
    from pinnace.errors import NotFound

    try:
        found = stores.snapshots.mounts(key)
    except NotFound:
        return
    for point in _points_of(_layout(found)[0]):
        unmount_rootfs(point)
    try:
        stores.snapshots.remove(key)
    except NotFound:
        pass  # removed meanwhile by another process


# -- reading ---------------------------------------------------------------------


def changes(stores: Stores, key: str) -> list[tuple[str, str]]:
    """``docker diff``: ("A"|"C"|"D", "/path") for what the container changed, in docker's order.

    As moby's overlay2 driver (pkg/archive ``OverlayChanges``): the upper dir
    is walked depth-first, names in byte order.  A whiteout is "D"; an
    opaque directory that hid something is "D" too (docker's report of a
    directory deleted and made again), its entries then "A".  Anything else
    is "A" unless the layers below have it, then "C" -- except a directory
    whose size, mode and mtime equal those below (only copied up to hold a
    change further down: not reported).  The parent of an "A" or "D" is
    reported "C" if it was not already.

    "Below" is the image and init layers merged as overlayfs merges them
    (whiteouts and opaque directories honoured), where docker looks for the
    path in each layer.  Nothing is read through a path: see the module doc.
    """
    from pinnace.archive.oserrors import os_error

    upper, lowers = _layout(stores.snapshots.mounts(key))
    try:
        return _changes(upper, lowers)
    except OSError as exc:
        raise os_error(f"changes of {key}", exc) from exc


def export(stores: Stores, key: str, out: BinaryIO) -> None:
    """``docker export``: the container's whole filesystem (image, init layer, its writes) as a tar.

    Read from the container's mounted root if it is mounted (as dockerd
    does), else from a read-only overlay of its layers mounted for the
    occasion (the upper dir as the top lowerdir: nothing can write to the
    container's layer meanwhile).  Entries as :func:`pinnace.archive.write_tree`
    writes them: deterministic PAX, no symlink followed.
    """
    from pathlib import Path

    from pinnace.archive import write_tree
    from pinnace.errors import Unavailable, map_errors
    from pinnace.mount import Mount, mounted

    found = stores.snapshots.mounts(key)
    upper, lowers = _layout(found)
    live = _points_of(upper)
    if live:
        write_tree(Path(live[0]), out)
        return
    if not lowers:  # a parentless snapshot is a plain directory
        write_tree(Path(upper), out)
        return
    keep = tuple(o for o in found[0].options if not o.startswith(("upperdir=", "workdir=", "lowerdir=")))
    view = Mount("overlay", "overlay", (*keep, "ro", "lowerdir=" + ":".join((upper, *lowers))))
    scratch = stores.root / "tmp"
    with map_errors({OSError: Unavailable}, f"create {scratch}"):
        scratch.mkdir(mode=0o700, exist_ok=True)
    with mounted([view], scratch) as where:
        write_tree(where, out)


def diff_tar(stores: Stores, key: str, out: BinaryIO, *, clamp_mtime: int | None = None) -> DiffResult:
    """The container's changes as an uncompressed OCI layer tar (``docker commit``'s new layer).

    The upper dir is the diff: :func:`pinnace.archive.write_diff` turns its
    whiteouts and opaque directories into ``.wh.`` entries.
    """
    from pathlib import Path

    from pinnace.archive import write_diff

    upper, _ = _layout(stores.snapshots.mounts(key))
    return write_diff(Path(upper), out, clamp_mtime=clamp_mtime)


# -- snapshot layout ---------------------------------------------------------------


def _layout(found: Sequence[Mount]) -> tuple[str, list[str]]:
    """The upper dir and the lower dirs (topmost first) of an active snapshot's mounts."""
    from pinnace.mount import writable_path

    upper = writable_path(found)
    for option in found[0].options:
        if option.startswith("lowerdir="):
            return upper, option[len("lowerdir=") :].split(":")
    return upper, []


def _escape(value: bytes) -> bytes:
    """A value as overlayfs shows it in its mount options (seq_show_option's escapes)."""
    return b"".join(b"\\%03o" % c if c in b",= \t\n\\" else bytes((c,)) for c in value)


def _points_of(upper: str) -> list[str]:
    """Where an overlay with ``upper`` as its upperdir is mounted in this mount namespace."""
    from pinnace.mount.flags import mountinfo

    want = os.fsdecode(b"upperdir=" + _escape(os.fsencode(upper)))
    return [m.point for m in mountinfo() if m.fstype == "overlay" and want in m.super_options.split(",")]


# -- the layers below, merged as overlayfs merges them ---------------------------------


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, _OPAQUE_XATTR) == b"y"
    except OSError:  # ENODATA: not set; ENOTSUP: cannot be set
        return False


def _open_roots(lowers: Sequence[str]) -> list[int]:
    """Fds of the lower dirs that take part in the merged root (down to an opaque one)."""
    fds: list[int] = []
    try:
        for path in lowers:
            fds.append(os.open(path, _ROOT_FLAGS))
            if _is_opaque(fds[-1]):
                break
    except BaseException:
        _close(fds)
        raise
    return fds


def _lookup(stack: Sequence[int], name: str) -> tuple[os.stat_result | None, list[int]]:
    """``name`` in the merged directory made of ``stack`` (dir fds, topmost first), as overlayfs finds it.

    Returns the topmost entry's lstat (None: absent or whited out) and, for
    a directory, the fds of the directories merged into it (the caller
    closes them).  A whiteout, an opaque directory or a non-directory ends
    the search downwards.  Lower layers are committed, read-only snapshots;
    they are opened without following symlinks all the same.
    """
    found: os.stat_result | None = None
    below: list[int] = []
    try:
        for fd in stack:
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            if _is_whiteout(st):
                break
            if found is None:
                found = st
            if not stat.S_ISDIR(st.st_mode) or not stat.S_ISDIR(found.st_mode):
                break
            below.append(os.open(name, _DIR_FLAGS, dir_fd=fd))
            if _is_opaque(below[-1]):
                break
    except BaseException:
        _close(below)
        raise
    return found, below


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


# -- docker diff -------------------------------------------------------------------------


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    """moby's test for a directory merely copied up: same size, mode and mtime (sameFsTime)."""
    if a.st_size != b.st_size or a.st_mode != b.st_mode:
        return False
    if a.st_mtime_ns == b.st_mtime_ns:
        return True
    # tar keeps whole seconds: equal seconds with one side at .0 count as the same time
    sa, na = divmod(a.st_mtime_ns, 1_000_000_000)
    sb, nb = divmod(b.st_mtime_ns, 1_000_000_000)
    return sa == sb and (na == 0 or nb == 0)


class _Dir:
    """One directory of the walk: its upper fd, the lower fds merged under it, the names left."""

    __slots__ = ("fd", "lowers", "path", "names")

    def __init__(self, fd: int, lowers: list[int], path: str) -> None:
        self.fd = fd
        self.lowers = lowers
        self.path = path  # "" for the root
        self.names = sorted(os.listdir(fd), key=os.fsencode, reverse=True)  # pop() takes the first

    def close(self) -> None:
        os.close(self.fd)
        _close(self.lowers)


def _changes(upper: str, lowers: Sequence[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    changed_dirs: set[str] = set()
    root_fd = os.open(upper, _ROOT_FLAGS)
    try:
        roots = _open_roots(lowers)
    except BaseException:
        os.close(root_fd)
        raise
    stack = [
        _Dir(root_fd, roots, "")
    ]  # iterative: a container may nest directories deeper than recursion goes
    try:
        while stack:
            here = stack[-1]
            if not here.names:
                stack.pop().close()
                continue
            name = here.names.pop()
            path = f"{here.path}/{name}"
            entry = _entry(here, name, path)
            if entry is None:
                continue
            kind, sub = entry
            if kind:
                if sub is not None:
                    changed_dirs.add(path)
                parent = here.path
                if kind != "C" and parent and parent not in changed_dirs:
                    out.append(("C", parent))
                    changed_dirs.add(parent)
                out.append((kind, path))
            if sub is not None:
                stack.append(sub)
    finally:
        for left in stack:
            left.close()
    return out


def _entry(here: _Dir, name: str, path: str) -> tuple[str, _Dir | None] | None:
    """The change ``name`` in ``here`` is ("" for none) and, for a directory, the walk into it.

    None when the entry vanished or changed type as we looked (the container
    is running): there is nothing consistent to report about it.
    """
    try:
        st = os.lstat(name, dir_fd=here.fd)
    except FileNotFoundError:
        return None
    if _is_whiteout(st):
        return "D", None
    sub_fd = -1
    if stat.S_ISDIR(st.st_mode):
        try:
            sub_fd = os.open(name, _DIR_FLAGS, dir_fd=here.fd)
        except OSError as exc:
            import errno

            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # swapped meanwhile
                return None
            raise
    below: list[int] = []
    try:
        lower, below = _lookup(here.lowers, name)
        if sub_fd < 0:
            _close(below)
            return ("A" if lower is None else "C"), None
        if _is_opaque(sub_fd):
            _close(below)
            below = []
            kind = "A" if lower is None else "D"
        elif lower is None:
            kind = "A"
        elif stat.S_ISDIR(lower.st_mode) and _same_dir(st, lower):
            kind = ""
        else:
            kind = "C"
        sub = _Dir(sub_fd, below, path)
    except BaseException:
        _close(below)
        if sub_fd >= 0:
            os.close(sub_fd)
        raise
    return kind, sub


# -- docker's init layer -----------------------------------------------------------------


def _init_layer(snapshots: Snapshotter, parent: str) -> str:
    """The committed init layer on ``parent`` (made now if missing); its name.

    Two processes making it at once both build one; the first commit wins
    and the other's is dropped (:func:`pinnace.images.unpack.commit`).
    """
    from pinnace.images.stores import unique_ref
    from pinnace.images.unpack import commit, has_snapshot

    name = INIT_PREFIX + (parent or "scratch")
    if has_snapshot(snapshots, name):
        return name
    work = unique_ref("init")
    made = snapshots.prepare(work, parent)
    try:
        _fill_init(*_layout(made))
    except BaseException:
        snapshots.remove(work)
        raise
    commit(snapshots, work, name)
    return name


def _fill_init(upper: str, lowers: Sequence[str]) -> None:
    """Make :data:`INIT_ENTRIES` in the empty directory ``upper`` over the image layers ``lowers``.

    As docker's initlayer.Setup: files and the /etc/mtab link are made even
    where the image has them (the runtime binds over them); directories only
    where the image has none.  Two differences, both to leave the image as
    it is: a path under a non-directory of the image (/etc a symlink) is
    left out, where a real directory here would hide the image's; and a
    parent directory made here takes the owner, mode and times of the
    image's, so the merged view shows the image's.
    """
    from pinnace.archive.oserrors import os_error

    fds: list[int] = []
    copied: list[tuple[int, os.stat_result]] = []  # directories to give the image's metadata, last
    try:
        top = os.open(upper, _ROOT_FLAGS)
        fds.append(top)
        roots = _open_roots(lowers)
        fds += roots
        for path, kind in INIT_ENTRIES:
            *dirs, leaf = path.strip("/").split("/")
            fd, stack = top, roots
            for part in dirs:
                lower, stack = _lookup(stack, part)
                fds += stack
                if lower is not None and not stat.S_ISDIR(lower.st_mode):
                    break
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    new = True
                except FileExistsError:
                    new = False
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                fds.append(fd)
                if new:
                    os.fchmod(fd, 0o755)  # what the umask took away
                    if lower is not None:
                        copied.append((fd, lower))
            else:
                _make(fd, stack, leaf, kind)
        for fd, st in reversed(copied):  # children first: making entries in a directory sets its mtime
            os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as exc:
        raise os_error("make the init layer", exc) from exc
    finally:
        _close(fds)


def _make(fd: int, stack: Sequence[int], name: str, kind: str) -> None:
    if kind == "dir":
        lower, below = _lookup(stack, name)
        _close(below)
        if lower is None or not stat.S_ISDIR(lower.st_mode):
            os.mkdir(name, 0o755, dir_fd=fd)
            os.chmod(name, 0o755, dir_fd=fd)  # just made, in a directory only we write: no link
    elif kind == "file":
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        made = os.open(name, flags, 0o755, dir_fd=fd)
        try:
            os.fchmod(made, 0o755)
        finally:
            os.close(made)
    else:
        os.symlink(kind, name, dir_fd=fd)
