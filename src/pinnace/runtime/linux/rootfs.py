"""A container's root filesystem: its mounts, its /dev, pivot_root, masked and read-only paths.

The container init calls, inside its new mount namespace:

* :func:`prepare` (host paths still visible): make ``/`` a slave so nothing
  propagates back to the host, bind the rootfs onto itself (pivot_root
  needs a mount point), mount ``mounts`` in order, create /dev's nodes and
  symlinks.  Nothing is made read-only yet where later steps still write.
* :func:`pivot`: pivot_root into the rootfs (runc's ``pivot_root(".", ".")``
  trick, so the rootfs needs no put_old directory), or MS_MOVE + chroot.
* :func:`finalize`: the late read-only remounts (tmpfs, /dev, ``root.readonly``),
  then ``linux.readonlyPaths`` and ``linux.maskedPaths``.

Confinement (the CVE-2021-30465 class).  A rootfs is untrusted: an image may
plant symlinks (``/dev -> /host/path``, ``/run -> ../../..``) so that a mount
meant for the container lands on the host.  Every path inside the rootfs is
therefore resolved by :class:`_Tree`, one component at a time from an fd of
the root, each opened ``O_PATH|O_NOFOLLOW``; symlinks are read and followed
by hand, an absolute target restarting at the rootfs and ``..`` never
climbing above it (what ``filepath-securejoin`` and ``openat2(RESOLVE_IN_ROOT)``
do).  The mount then targets ``/proc/self/fd/N`` of the resolved fd, so no
rename between the walk and the mount(2) can redirect it.

:mod:`pinnace.archive.beneath` is not reused: it refuses any symlinked parent
(right for a tar, wrong here: images legitimately have ``/var/run -> /run``
and a mount through it must work), opens directories only (a bind mount may
target a file) and caches fds by path, which every mount invalidates.

Every function here runs in the init after fork, single-threaded, and
:func:`pivot`/:func:`finalize` run after the host filesystem is gone: they
import nothing lazily.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from pinnace._util.fs import copy_tree
from pinnace.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    PinnaceError,
    Unavailable,
)
from pinnace.mount.flags import (
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
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    mountinfo,
    parse_options,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.runtime.linux.syscalls import Sys
    from pinnace.runtime.spec import Spec

MS_MOVE = 0x2000
_ATIME = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME
#: Flags the kernel locks on mounts inherited into a user namespace: a remount must keep them.
_LOCKED = MS_RDONLY | MS_NODEV | MS_NOEXEC | MS_NOSUID | _ATIME
#: What runc gives the tmpfs under a v1 ``cgroup`` mount and its hierarchies.
_DEFAULT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
#: Symlinks followed in one resolution before ELOOP, as the kernel's MAXSYMLINKS.
_MAX_SYMLINKS = 40

#: The devices every container gets (runtime-spec "Default Devices"; runc's AllowedDevices with a path).
_DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)
_DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

#: The only places under /proc a mount may cover (lxcfs-style emulated files), as runc allows.
_PROC_ALLOWED = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/net/dev",
        "/proc/sys/kernel/ns_last_pid",
    }
)

#: Options runc implements with mount_setattr(2) or an idmapped mount; refused rather than
#: silently ignored (a bind mount ignores data options, so "rro" would leave it writable).
_UNSUPPORTED_OPTIONS = frozenset(
    {
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnodiratime",
        "rdiratime",
        "rrelatime",
        "rnorelatime",
        "rnoatime",
        "ratime",
        "rstrictatime",
        "rnostrictatime",
        "rnosymfollow",
        "rsymfollow",
        "idmap",
        "ridmap",
    }
)

#: runc's extension option: fill a tmpfs with the contents of the directory it covers.
_COPY_UP = "tmpcopyup"

#: Options that clear a flag (runc's ClearedFlags): a bind remount must not keep those from the source.
_CLEARING = {
    "rw": MS_RDONLY,
    "suid": MS_NOSUID,
    "dev": MS_NODEV,
    "exec": MS_NOEXEC,
    "async": MS_SYNCHRONOUS,
    "nomand": MS_MANDLOCK,
    "atime": MS_NOATIME,
    "diratime": MS_NODIRATIME,
    "norelatime": MS_RELATIME,
    "nostrictatime": MS_STRICTATIME,
}

#: statvfs f_flag bit -> mount flag (fs/statfs.c calculate_f_flags, in reverse).
_ST_TO_MS = (
    (os.ST_RDONLY, MS_RDONLY),
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_SYNCHRONOUS, MS_SYNCHRONOUS),
    (os.ST_MANDLOCK, MS_MANDLOCK),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)


# -- public API ----------------------------------------------------------------


def rootfs_path(spec: Spec, bundle: str) -> str:
    """The absolute, symlink-free path of ``root.path`` (relative to ``bundle`` unless absolute)."""
    root = spec.get("root") or {}
    path = root.get("path") if isinstance(root, dict) else None
    if not isinstance(path, str) or not path:
        raise InvalidArgument("root.path: missing")
    full = os.path.realpath(os.path.join(bundle, path))
    if not os.path.exists(full):
        raise NotFound(f"root.path: rootfs ({full}) does not exist")
    if not os.path.isdir(full):
        raise InvalidArgument(f"root.path: rootfs ({full}) is not a directory")
    return full


def prepare(spec: Spec, bundle: str, sys: Sys) -> str:
    """Set up the rootfs in the caller's (new) mount namespace; return its absolute path.

    Ends with the cwd in the rootfs, as runc leaves it for the
    createContainer hooks.
    """
    rootfs = rootfs_path(spec, bundle)
    propagation = root_propagation(spec)
    _call("linux.rootfsPropagation", sys.mount, "", "/", "", propagation or MS_SLAVE | MS_REC, "")
    _make_parent_private(rootfs, sys)
    _call("root.path", sys.mount, rootfs, rootfs, "", MS_BIND | MS_REC, "")
    tree = _Tree(rootfs, sys)
    try:
        setup = _Setup(spec, bundle, tree)
        mounts = _mounts(spec)
        for i, m in enumerate(mounts):
            setup.mount(i, m)
        if not any(_is_bind(m) and posixpath.normpath(m["destination"]) == "/dev" for m in mounts):
            setup.devices()
        _make_cwd(spec, tree)
    finally:
        tree.close()
    os.chdir(rootfs)
    return rootfs


def _make_cwd(spec: Spec, tree: _Tree) -> None:
    """``process.cwd`` made (0755, root's) when missing, as runc does before the rootfs goes read-only:
    an image's WorkingDir need not exist in its layers (docker relies on this)."""
    process = spec.get("process") or {}
    cwd = process.get("cwd") if isinstance(process, dict) else None
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        return
    try:
        fd, _, _ = tree.open(cwd, create="dir")
    except OSError:
        return  # the chdir reports it, in runc's words
    os.close(fd)


def pivot(spec: Spec, bundle: str, sys: Sys, *, no_pivot: bool = False) -> None:
    """Make the rootfs the process's root, cwd "/", with the host's mounts out of reach."""
    rootfs = rootfs_path(spec, bundle)
    if no_pivot:
        if root_propagation(spec) & MS_PRIVATE:
            raise InvalidArgument(
                "linux.rootfsPropagation: [r]private is not safe without pivot_root (--no-pivot)"
            )
        _hide_host_pseudo_filesystems(rootfs, sys)
        os.chdir(rootfs)
        _call("root.path", sys.mount, rootfs, "/", "", MS_MOVE, "")
        os.chroot(".")
        os.chdir("/")
    else:
        old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fchdir(new)
                _call("root.path", sys.pivot_root, ".", ".")
            finally:
                os.close(new)
            # "." is the old root now (but the kernel does not promise it): go there by fd.
            os.fchdir(old)
        finally:
            os.close(old)
        # rslave, not rprivate: our unmounts must not reach the host, and the
        # host keeps seeing its own unmounts (runc's reasoning).
        _call("root.path", sys.mount, "", ".", "", MS_SLAVE | MS_REC, "")
        _call("root.path", sys.umount2, ".", MNT_DETACH)
        os.chdir("/")
    _reopen_dev_null()


def finalize(spec: Spec, sys: Sys) -> None:
    """After :func:`pivot`: propagation of "/", late read-only remounts, read-only and masked paths.

    Order as runc: rootfs propagation, tmpfs and /dev mounts that asked for
    ``ro`` (kept writable until /dev was filled), ``root.readonly``, then
    ``linux.readonlyPaths`` before ``linux.maskedPaths``.  Anything that
    must still write to those places (sysctls under /proc/sys, /dev/console)
    has to run before this.
    """
    propagation = root_propagation(spec)
    if propagation:
        _call("linux.rootfsPropagation", sys.mount, "", "/", "", propagation, "")
    tree = _Tree("/", sys)
    try:
        for i, m in enumerate(_mounts(spec)):
            if _is_bind(m):
                continue
            if m.get("type") == "tmpfs" or posixpath.normpath(m["destination"]) == "/dev":
                flags = parse_options(m.get("options") or [])[0]
                if flags & MS_RDONLY:
                    tree.remount_readonly(f"mounts[{i}]", m["destination"], flags)
        root = spec.get("root") or {}
        if root.get("readonly"):
            tree.remount_readonly("root.readonly", "/", 0)
        linux = spec.get("linux") or {}
        for i, path in enumerate(_str_list(linux, "readonlyPaths")):
            tree.readonly_path(f"linux.readonlyPaths[{i}]", path)
        for i, path in enumerate(_str_list(linux, "maskedPaths")):
            tree.mask_path(f"linux.maskedPaths[{i}]", path)
    finally:
        tree.close()


def root_propagation(spec: Spec) -> int:
    """The mount flags of ``linux.rootfsPropagation`` (0 when unset)."""
    value = (spec.get("linux") or {}).get("rootfsPropagation")
    if not value:
        return 0
    if isinstance(value, str):
        flags, propagation, data = parse_options([value])
        if propagation and not flags and not data:
            return propagation
    raise InvalidArgument(f'linux.rootfsPropagation: "{value}" is not a valid propagation')


# -- resolving paths inside a root ---------------------------------------------


class _Tree:
    """Paths resolved inside one root as if it were "/", and mounts onto them.

    Before pivot the root is the rootfs and mount targets are the
    ``/proc/self/fd/N`` of the resolved fds (the host's /proc); after
    pivot the root is "/" and the container's own /proc serves, or, if the
    container has none, the resolved path (which has no symlink left).
    """

    def __init__(self, root: str, sys: Sys) -> None:
        self.root = root.rstrip("/")
        self.sys = sys
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.procfd = os.path.isdir(f"/proc/self/fd/{self.fd}")

    def close(self) -> None:
        os.close(self.fd)

    def open(
        self,
        path: str,
        *,
        create: str | None = None,
        follow_last: bool = True,
        check: Callable[[str], object] | None = None,
    ) -> tuple[int, str, bool]:
        """``(O_PATH fd, resolved path inside the root, created)`` for ``path``.

        ``create``: None (a missing component raises FileNotFoundError),
        "dir" (missing components become 0755 directories) or "file" (as
        "dir", but a missing last component becomes an empty file).  With
        ``follow_last`` False a final symlink is returned, not followed.
        ``check`` is called with the path about to be created before
        anything is (it raises to refuse).
        """
        stack: list[tuple[int, str]] = []  # directories below the root, each opened from the previous
        todo = _components(path)
        links = 0
        created = False
        try:
            while todo:
                name = todo.pop()
                if name == "..":
                    if stack:  # at the root, ".." is the root (chroot semantics)
                        os.close(stack.pop()[0])
                    continue
                parent, prefix = stack[-1] if stack else (self.fd, "")
                last = not todo
                try:
                    fd = os.open(name, _O_PATH, dir_fd=parent)
                    created = False
                except FileNotFoundError:
                    if create is None:
                        raise
                    if check is not None:  # what is left has no symlink: it does not exist
                        check(posixpath.normpath("/".join([prefix, name, *reversed(todo)])))
                    fd = _create(parent, name, create if last else "dir")
                    created = True
                mode = os.fstat(fd).st_mode
                if stat.S_ISLNK(mode) and (follow_last or not last):
                    os.close(fd)
                    links += 1
                    if links > _MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                    target = os.readlink(name, dir_fd=parent)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop()[0])
                    todo.extend(_components(target))
                    continue
                if not last and not stat.S_ISDIR(mode):
                    os.close(fd)
                    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
                stack.append((fd, f"{prefix}/{name}"))
            if stack:
                fd, where = stack.pop()
                return fd, where, created
            return os.open(".", _O_PATH, dir_fd=self.fd), "/", False
        finally:
            for fd, _ in stack:
                os.close(fd)

    def resolve(
        self,
        field: str,
        path: str,
        *,
        create: str | None = None,
        follow_last: bool = True,
        check: Callable[[str], object] | None = None,
    ) -> tuple[int, str, bool]:
        """:meth:`open`, with OSError turned into a pinnace error naming ``field``."""
        try:
            return self.open(path, create=create, follow_last=follow_last, check=check)
        except OSError as exc:
            raise _os_error(field, path, exc) from None

    def target(self, fd: int, where: str) -> str:
        """What mount(2) is given to act on the resolved ``fd`` (at ``where`` in the root)."""
        if self.procfd:
            return f"/proc/self/fd/{fd}"
        return self.root + where if where != "/" else self.root or "/"

    def mount(self, field: str, source: str, fd: int, where: str, fstype: str, flags: int, data: str) -> None:
        """mount(2) onto the resolved ``fd``; the error names ``field`` and the path in the root."""
        target = self.target(fd, where)
        try:
            self.sys.mount(source, target, fstype, flags, data)
        except PinnaceError as exc:
            message = str(exc).replace(target, where)
            raise type(exc)(f'{field}: error mounting "{source}" to rootfs at "{where}": {message}') from None

    def remount(self, field: str, path: str, flags: int, *, keep_locked: bool = False) -> None:
        """MS_BIND|MS_REMOUNT the mount at ``path`` with ``flags``.

        With ``keep_locked`` the flags a user namespace locks (nosuid,
        nodev, noexec, atime) are read from the mount and kept: dropping one
        is EPERM there, and keeping them is what the caller wants anyway.
        Otherwise they are added only if the plain remount fails (runc's
        retry for bind mounts, which honours flags the user cleared).
        """
        fd, where, _ = self.resolve(field, path)
        try:
            flags = (flags & ~MS_REC) | MS_BIND | MS_REMOUNT
            if keep_locked:
                flags |= _mount_flags(self.target(fd, where)) & _LOCKED & ~MS_RDONLY
            self.mount(field, "", fd, where, "", flags, "")
        finally:
            os.close(fd)

    def remount_readonly(self, field: str, path: str, flags: int) -> None:
        self.remount(field, path, flags | MS_RDONLY, keep_locked=True)

    def propagate(self, field: str, path: str, propagation: list[int]) -> None:
        """Apply each propagation flag in turn (the kernel takes one per call)."""
        if not propagation:
            return
        fd, where, _ = self.resolve(field, path)
        try:
            for flag in propagation:
                self.mount(field, "", fd, where, "", flag, "")
        finally:
            os.close(fd)

    def readonly_path(self, field: str, path: str) -> None:
        """Bind ``path`` onto itself and make that read-only; a missing path is skipped."""
        found = self._existing(field, path)
        if found is None:
            return
        fd, where = found
        try:
            self.mount(field, self.target(fd, where), fd, where, "", MS_BIND | MS_REC, "")
        finally:
            os.close(fd)
        self.remount_readonly(field, where, 0)

    def mask_path(self, field: str, path: str) -> None:
        """Cover ``path``: an empty read-only tmpfs on a directory, /dev/null on anything else."""
        found = self._existing(field, path)
        if found is None:
            return
        fd, where = found
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                self.mount(field, "tmpfs", fd, where, "tmpfs", MS_RDONLY, "")
            else:
                self.mount(field, "/dev/null", fd, where, "", MS_BIND, "")
        finally:
            os.close(fd)

    def _existing(self, field: str, path: str) -> tuple[int, str] | None:
        try:
            fd, where, _ = self.open(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise _os_error(field, path, exc) from None
        return fd, where


def _components(path: str) -> list[str]:
    """The components of ``path`` in reverse order (a stack), without "" and "."."""
    return [part for part in reversed(path.split("/")) if part and part != "."]


def _create(parent: int, name: str, kind: str) -> int:
    """Make ``name`` under ``parent`` (a 0755 directory, or an empty file if ``kind`` is "file"); O_PATH it."""
    if kind == "file":
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(name, flags, 0o755, dir_fd=parent))
    else:
        os.mkdir(name, 0o755, dir_fd=parent)
    return os.open(name, _O_PATH, dir_fd=parent)


def _os_error(field: str, path: str, exc: OSError) -> PinnaceError:
    err = exc.errno or errno.EIO
    reason = os.strerror(err)
    message = f"{field}: {path}: {reason[:1].lower()}{reason[1:]}"
    if err in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EEXIST, errno.ENAMETOOLONG, errno.EINVAL):
        return InvalidArgument(message)
    if err in (errno.EPERM, errno.EACCES, errno.EROFS):
        return FailedPrecondition(message)
    return Unavailable(message)


def _mount_flags(path: str) -> int:
    """The MS_* flags of the mount holding ``path``, from statvfs (strictatime when no atime flag)."""
    bits = os.statvfs(path).f_flag
    flags = 0
    for st_flag, ms_flag in _ST_TO_MS:
        if bits & st_flag:
            flags |= ms_flag
    if not flags & (MS_NOATIME | MS_RELATIME):
        flags |= MS_STRICTATIME
    return flags


# -- mounts ----------------------------------------------------------------------


def _mounts(spec: Spec) -> list[dict[str, Any]]:
    mounts = spec.get("mounts") or []
    if not isinstance(mounts, list):
        raise InvalidArgument("mounts: must be a JSON array")
    for i, m in enumerate(mounts):
        if not isinstance(m, dict):
            raise InvalidArgument(f"mounts[{i}]: must be a JSON object")
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest:
            raise InvalidArgument(f"mounts[{i}].destination: missing")
        options = m.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InvalidArgument(f"mounts[{i}].options: must be an array of strings")
    return mounts


def _str_list(linux: dict[str, Any], key: str) -> list[str]:
    value = linux.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"linux.{key}: must be an array of strings")
    return value


def _is_bind(m: dict[str, Any]) -> bool:
    """runc's rule: type "bind", or any type with a "bind"/"rbind" option."""
    return m.get("type") == "bind" or bool(parse_options(m.get("options") or [])[0] & MS_BIND)


def _split_options(field: str, options: list[str]) -> tuple[int, list[int], str, int]:
    """``(flags, propagation flags in order, data, flags the options clear)`` of a mount's options."""
    propagation: list[int] = []
    cleared = 0
    for j, option in enumerate(options):
        if option in _UNSUPPORTED_OPTIONS:
            raise NotImplementedYet(f'{field}.options[{j}]: mount option "{option}" is not supported')
        prop = parse_options([option])[1]
        if prop:
            propagation.append(prop)
        cleared |= _CLEARING.get(option, 0)
    flags, _, data = parse_options([o for o in options if o != _COPY_UP])
    return flags, propagation, ",".join(data), cleared


class _Setup:
    """The steps of :func:`prepare` that walk the spec, sharing one :class:`_Tree`."""

    def __init__(self, spec: Spec, bundle: str, tree: _Tree) -> None:
        self.spec = spec
        self.bundle = bundle
        self.tree = tree
        linux = spec.get("linux") or {}
        kinds = {ns.get("type") for ns in linux.get("namespaces") or [] if isinstance(ns, dict)}
        self.cgroupns = "cgroup" in kinds
        self.userns = "user" in kinds or _in_user_namespace()

    def mount(self, i: int, m: dict[str, Any]) -> None:
        field = f"mounts[{i}]"
        dest: str = m["destination"]
        fstype = m.get("type") or ""
        source = m.get("source") or ""
        flags, propagation, data, cleared = _split_options(field, m.get("options") or [])
        if not isinstance(fstype, str) or not isinstance(source, str):
            raise InvalidArgument(f"{field}: type and source must be strings")
        if fstype == "bind" or flags & MS_BIND:
            self.bind(field, dest, self._host_path(source), flags | MS_BIND, propagation, cleared)
        elif fstype == "cgroup":
            self.cgroup(field, dest, flags, propagation)
        else:
            copy_up = fstype == "tmpfs" and _COPY_UP in (m.get("options") or [])
            self.filesystem(field, dest, source, fstype, flags, data, propagation, copy_up=copy_up)

    def _host_path(self, source: str) -> str:
        """A bind source: relative ones are relative to the bundle (runtime-spec "Mounts")."""
        return os.path.normpath(os.path.join(self.bundle, source))

    def filesystem(
        self,
        field: str,
        dest: str,
        source: str,
        fstype: str,
        flags: int,
        data: str,
        propagation: list[int],
        *,
        copy_up: bool = False,
    ) -> None:
        """Any mount that is not a bind: proc, sysfs, tmpfs, devpts, mqueue, cgroup2, overlay ...

        ``copy_up`` (a tmpfs with runc's ``tmpcopyup``, as podman's ``--tmpfs``
        and ``--read-only`` ask) fills the new tmpfs with what the directory
        it covers held.
        """
        special = fstype in ("proc", "sysfs")
        check = None
        if fstype not in ("proc", "sysfs", "tmpfs", "mqueue", "cgroup2"):  # runc checks the others only
            check = _proc_check(field, fstype, source)
        fd, where, created = self.tree.resolve(
            f"{field}.destination", dest, create="dir", follow_last=not special, check=check
        )
        try:
            mode = os.fstat(fd).st_mode
            if special and not stat.S_ISDIR(mode):
                raise InvalidArgument(
                    f'{field}.destination: filesystem "{fstype}" must be mounted on ordinary directory'
                )
            if check is not None:
                check(where)
            if fstype == "tmpfs" and not created:  # keep the directory's mode unless the options set one
                data = f"mode={stat.S_IMODE(mode):04o}" + (f",{data}" if data else "")
            if fstype == "tmpfs" or posixpath.normpath(dest) == "/dev":
                flags &= ~MS_RDONLY  # /dev is filled and tmpfs chmod-ed first: finalize makes them ro
            under = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd) if copy_up else -1
            try:
                self.tree.mount(field, source, fd, where, fstype, flags, data)
                if copy_up:
                    self._copy_up(field, under, where)
            finally:
                if under >= 0:
                    os.close(under)
        finally:
            os.close(fd)
        self.tree.propagate(field, where, propagation)

    def _copy_up(self, field: str, under: int, where: str) -> None:
        """Copy the covered directory ``under`` (an fd) into the tmpfs just mounted at ``where``."""
        fd, _, _ = self.tree.resolve(f"{field}.destination", where)
        try:
            top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            copy_tree(under, top)
        except OSError as exc:
            raise _os_error(f"{field} (tmpcopyup)", exc.filename or where, exc) from None
        finally:
            os.close(top)

    def bind(
        self, field: str, dest: str, source: str, flags: int, propagation: list[int], cleared: int
    ) -> None:
        """A bind mount, then the remount that applies its flags (a bind ignores them)."""
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as exc:
            raise _os_error(f"{field}.source", f"stat {source}", exc) from None
        check = _proc_check(field, "bind", source)
        fd, where, _ = self.tree.resolve(
            f"{field}.destination", dest, create="dir" if is_dir else "file", check=check
        )
        try:
            check(where)
            self.tree.mount(field, source, fd, where, "", flags & (MS_BIND | MS_REC), "")
        finally:
            os.close(fd)
        if flags & ~(MS_BIND | MS_REC | MS_REMOUNT) or cleared:
            try:
                self.tree.remount(field, where, flags)
            except PinnaceError:
                # Locked flags (user namespace): keep the source's, unless the user cleared
                # one of them or asked for another atime (runc's retry).
                source_flags = _mount_flags(source) & _LOCKED
                if source_flags & cleared or (flags & _ATIME and flags & _ATIME != source_flags & _ATIME):
                    raise
                self.tree.remount(field, where, flags | source_flags)
        self.tree.propagate(field, where, propagation)

    def cgroup(self, field: str, dest: str, flags: int, propagation: list[int]) -> None:
        """A ``cgroup`` mount: cgroup2 on a unified host, runc's v1 layout on a v1 or hybrid one.

        v1: a tmpfs at ``dest`` holding one directory per host hierarchy
        (named as the host's mount point).  With a cgroup namespace each is
        a fresh cgroup mount of that hierarchy, which the kernel roots at the
        namespace's cgroup; without one, the container's own cgroup
        directory is bind-mounted there.  Comma-joined hierarchies
        (``cpu,cpuacct``) get one symlink per controller.  The tmpfs is made
        read-only at the end when the mount says ``ro``.
        """
        v1, v2 = _cgroup_layout()
        if not v1:
            if v2 is None:
                raise FailedPrecondition(f"{field}: no cgroup hierarchy is mounted on this host")
            try:
                self.filesystem(field, dest, "cgroup", "cgroup2", flags, "", propagation)
            except (FailedPrecondition, Unavailable):
                # EPERM/EBUSY: in a user namespace without a cgroup namespace (runc #2158).
                self.bind(field, dest, v2, flags | MS_BIND | MS_REC, propagation, 0)
            return
        self.filesystem(field, dest, "tmpfs", "tmpfs", _DEFAULT_FLAGS, "mode=755", propagation)
        own = {} if self.cgroupns else _own_cgroups()
        base = dest.rstrip("/")
        for point, root, options in v1:
            name = posixpath.basename(point)
            sub = f"{base}/{name}"
            if self.cgroupns:
                fd, where, _ = self.tree.resolve(f"{field}.destination", sub, create="dir")
                try:
                    hierarchy_flags = _DEFAULT_FLAGS | (flags & MS_RDONLY)
                    self.tree.mount(field, "cgroup", fd, where, "cgroup", hierarchy_flags, ",".join(options))
                finally:
                    os.close(fd)
            else:
                path = next((p for keys, p in own.items() if keys & set(options)), None)
                rel = posixpath.relpath(path, root) if path is not None else ".."
                if rel.startswith(".."):
                    continue  # not in this hierarchy, or outside what the host mounted of it
                source = posixpath.normpath(f"{point}/{rel}")
                self.bind(field, sub, source, flags | MS_BIND | MS_REC, propagation, 0)
            if "," in name:
                fd, _, _ = self.tree.resolve(f"{field}.destination", base)
                try:
                    for controller in name.split(","):
                        _symlink(name, controller, fd)
                finally:
                    os.close(fd)
        if flags & MS_RDONLY:
            self.tree.remount_readonly(field, dest, _DEFAULT_FLAGS)

    # -- /dev --------------------------------------------------------------------

    def devices(self) -> None:
        """Default devices, ``linux.devices``, /dev/ptmx and the /dev symlinks (when /dev is no host bind)."""
        for field, path, kind, rdev, mode, uid, gid in self._device_list():
            if path == "/dev/ptmx":
                continue  # a symlink to pts/ptmx, below
            parent_fd, _, _ = self.tree.resolve(f"{field}.path", posixpath.dirname(path), create="dir")
            try:
                self._device(field, path, parent_fd, kind, rdev, mode, uid, gid)
            finally:
                os.close(parent_fd)
        fd, _, _ = self.tree.resolve("linux.devices", "/dev", create="dir")
        try:
            try:
                os.unlink("ptmx", dir_fd=fd)
            except FileNotFoundError:
                pass
            os.symlink("pts/ptmx", "ptmx", dir_fd=fd)
            links = [("/proc/self/fd", "fd"), *((f"/proc/self/fd/{n}", s) for n, s in _STDIO)]
            if os.path.exists("/proc/kcore"):  # CONFIG_PROC_KCORE may be off
                links.append(("/proc/kcore", "core"))
            for target, name in links:
                _symlink(target, name, fd)
        except OSError as exc:
            raise _os_error("linux.devices", exc.filename or "/dev", exc) from None
        finally:
            os.close(fd)

    def _device_list(self) -> list[tuple[str, str, int, int, int, int, int]]:
        """``(field, clean path, S_IF* type, rdev, mode, uid, gid)``: defaults not overridden, then the spec's."""
        specified = (self.spec.get("linux") or {}).get("devices") or []
        if not isinstance(specified, list):
            raise InvalidArgument("linux.devices: must be a JSON array")
        out = []
        parsed = [_parse_device(f"linux.devices[{i}]", d) for i, d in enumerate(specified)]
        paths = {entry[1] for entry in parsed}
        for path, major, minor in _DEFAULT_DEVICES:
            if path not in paths:
                out.append(
                    (f"default device {path}", path, stat.S_IFCHR, os.makedev(major, minor), 0o666, 0, 0)
                )
        out.extend(parsed)
        return out

    def _device(
        self, field: str, path: str, parent: int, kind: int, rdev: int, mode: int, uid: int, gid: int
    ) -> None:
        """mknod the node, or (user namespace, or EPERM) bind the host's node onto an empty file."""
        name = posixpath.basename(path)
        if not (self.userns and kind != stat.S_IFIFO):
            try:
                os.mknod(name, kind | mode, rdev, dir_fd=parent)
            except FileExistsError:
                return
            except PermissionError:
                pass
            except OSError as exc:
                raise _os_error(field, f"mknod {path}", exc) from None
            else:
                fd = os.open(name, _O_PATH, dir_fd=parent)
                try:
                    os.chmod(f"/proc/self/fd/{fd}", mode)  # what the umask took away
                    os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
                except OSError as exc:
                    raise _os_error(field, path, exc) from None
                finally:
                    os.close(fd)
                return
        fd, where, _ = self.tree.resolve(f"{field}.path", path, create="file")
        try:
            self.tree.mount(field, path, fd, where, "", MS_BIND, "")
        finally:
            os.close(fd)


_STDIO = ((0, "stdin"), (1, "stdout"), (2, "stderr"))


def _symlink(target: str, name: str, dir_fd: int) -> None:
    try:
        os.symlink(target, name, dir_fd=dir_fd)
    except FileExistsError:
        pass


def _parse_device(field: str, device: object) -> tuple[str, str, int, int, int, int, int]:
    if not isinstance(device, dict):
        raise InvalidArgument(f"{field}: must be a JSON object")
    path = device.get("path")
    if not isinstance(path, str) or not path:
        raise InvalidArgument(f"{field}.path: missing")
    clean = posixpath.normpath(path)
    if not clean.startswith("/dev/"):
        raise InvalidArgument(f"{field}.path: must be under /dev")
    kind = device.get("type")
    if kind not in _DEVICE_TYPES:
        raise InvalidArgument(f'{field}.type: "{kind}" is not a valid device type for device {path}')
    numbers = []
    for key in ("major", "minor"):
        value = device.get(key, 0 if kind == "p" else None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{field}.{key}: must be a non-negative integer")
        numbers.append(value)
    ids = []
    for key, default in (("fileMode", 0o666), ("uid", 0), ("gid", 0)):
        value = device.get(key, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{field}.{key}: must be a non-negative integer")
        ids.append(value)
    mode = ids[0] & ~stat.S_IFMT(ids[0]) & 0o7777
    return field, clean, _DEVICE_TYPES[kind], os.makedev(*numbers), mode, ids[1], ids[2]


def _proc_check(field: str, fstype: str, source: str) -> Callable[[str], None]:
    """runc's checkProcMount for one mount, as a check of the resolved destination.

    Nothing covers /proc (but another procfs) or goes under it (but a few
    files lxcfs emulates).
    """

    def check(where: str) -> None:
        if where == "/proc":
            if fstype == "bind" and _is_proc(source):
                return
            raise InvalidArgument(
                f'{field}.destination: "{where}" cannot be mounted because it is not of type proc'
            )
        if where.startswith("/proc/") and where not in _PROC_ALLOWED:
            raise InvalidArgument(
                f'{field}.destination: "{where}" cannot be mounted because it is inside /proc'
            )

    return check


def _is_proc(path: str) -> bool:
    """Whether ``path`` is on a procfs (its device is that of a proc mount)."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return False
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    return any(m.device == wanted and m.fstype == "proc" for m in mountinfo())


# -- host state ------------------------------------------------------------------


def _call(field: str, fn: Any, *args: Any) -> None:
    """Call a Sys method; its error gets ``field`` in front."""
    try:
        fn(*args)
    except PinnaceError as exc:
        raise type(exc)(f"{field}: {exc}") from None


def _make_parent_private(rootfs: str, sys: Sys) -> None:
    """Make the mount holding ``rootfs`` private if it is shared (runc's rootfsParentMountPrivate).

    Otherwise the rootfs bind would propagate to its peers (the host), and
    pivot_root refuses a new root whose parent is shared.
    """
    best = ""
    shared = False
    for m in mountinfo():
        point, optional = m.point, m.optional
        inside = point == "/" or rootfs == point or rootfs.startswith(point + "/")
        if inside and len(point) >= len(best):
            best, shared = point, "shared:" in optional
    if shared:
        _call("root.path", sys.mount, "", best, "", MS_PRIVATE, "")


def _in_user_namespace() -> bool:
    """Whether this process is in a user namespace other than the initial one."""
    try:
        with open("/proc/self/uid_map", "rb") as f:
            return f.read().split() != [b"0", b"0", b"4294967295"]
    except OSError:
        return False


def _cgroup_layout() -> tuple[list[tuple[str, str, list[str]]], str | None]:
    """The host's v1 hierarchies ``(mount point, root, super options)`` and cgroup2 mount point."""
    v1: list[tuple[str, str, list[str]]] = []
    v2: str | None = None
    seen: set[str] = set()
    for m in mountinfo():
        dev, root, point, fstype, options = m.device, m.root, m.point, m.fstype, m.super_options.split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = point
        elif fstype == "cgroup" and dev not in seen:
            seen.add(dev)
            wanted = [o for o in options if o not in ("rw", "ro") and not o.startswith("release_agent=")]
            v1.append((point, root, wanted))
    return v1, v2


def _own_cgroups() -> dict[frozenset[str], str]:
    """This process's cgroup per v1 hierarchy: controllers (or ``name=...``) -> path."""
    own: dict[frozenset[str], str] = {}
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers:
                own[frozenset(controllers.split(","))] = path
    return own


def _hide_host_pseudo_filesystems(rootfs: str, sys: Sys) -> None:
    """Before MS_MOVE + chroot: detach (or cover) the host's full proc and sysfs mounts.

    After a chroot they stay in the mount namespace, and the kernel lets a
    container mount a new procfs/sysfs only while a fully visible one
    exists; runc's msMoveRoot removes them for that reason.
    """
    done: list[str] = []
    for m in mountinfo():
        root, point, fstype = m.root, m.point, m.fstype
        if root != "/" or fstype not in ("proc", "sysfs"):
            continue
        if point == rootfs or point.startswith(rootfs + "/"):
            continue
        if any(point == d or point.startswith(d.rstrip("/") + "/") for d in done):
            continue  # gone with a parent already detached
        _call("root.path", sys.mount, "", point, "", MS_SLAVE | MS_REC, "")
        try:
            sys.umount2(point, MNT_DETACH)
        except (InvalidArgument, FailedPrecondition):
            _call("root.path", sys.mount, "tmpfs", point, "tmpfs", 0, "")
        done.append(point)


def _reopen_dev_null() -> None:
    """Point stdio that was the host's /dev/null at the container's (runc's reOpenDevNull)."""
    try:
        fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return
    try:
        null = os.fstat(fd)
        for n in (0, 1, 2):
            try:
                st = os.fstat(n)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev and st.st_ino != null.st_ino:
                os.dup2(fd, n, inheritable=True)
    finally:
        os.close(fd)
