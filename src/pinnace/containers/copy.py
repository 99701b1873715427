"""``docker cp``: a path of a container as a tar, a tar into a container's directory, and the host side.

Docker splits cp between the daemon and the client, and so does this module:

Container side (moby's ContainerStatPath / ContainerArchivePath / ContainerExtractToDir)
    :func:`open_container` yields a :class:`ContainerFS` with
    :meth:`~ContainerFS.stat`, :meth:`~ContainerFS.archive` and
    :meth:`~ContainerFS.extract`, on the root its processes see
    (``/proc/PID/root``, its volumes and binds mounted) when it runs, else on
    its layer with its volumes and binds mounted on a private mount point,
    all unmounted afterwards.  A remote engine's ``open_files`` gives an
    object with the same three methods over the Engine API
    (:class:`pinnace.client.containers.RemoteFiles`), so the host side below
    runs unchanged against either.
Host side (the docker CLI's copy logic, moby's pkg/archive copy.go)
    :func:`copy_from_container` and :func:`copy_to_container` decide, from
    the source and the destination, which directory to extract into and what
    the archive's top entry must be renamed to: copying into an existing
    directory, a trailing ``/.`` for a directory's contents, a missing parent
    as an error.  Their errors are :class:`LocalError` (docker prints them
    without "Error response from daemon").

Confinement (CVE-2018-15664).  The container owns its files and may swap
any path for a symlink at any moment.  Every container path is resolved
inside the container's root one component at a time from an fd of the
root (:func:`pinnace.containers.spec.open_in_root`: absolute targets restart
at the root, ``..`` never climbs above it), and from there on only fds are
used: the archive is written by :func:`pinnace.archive.write_entry` and
extracted by :func:`pinnace.archive.apply_layer` into
``/proc/self/fd/N`` of the resolved directory, both of which walk with
``*at`` calls and ``O_NOFOLLOW``.  No path string inside the container ever
reaches the kernel from the host's root.

Entries of a tar on their way in are re-encoded by :class:`_Filter`: owners
replaced unless ``-a``, the top entry renamed, the extraction directory's
own entry (``./``) dropped, and an entry that would replace a directory
with a non-directory (or the reverse) refused, as docker's
``NoOverwriteDirNonDir``.
"""

from __future__ import annotations

import contextlib
import os
import stat

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

    from pinnace.archive.beneath import Beneath
    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.service import ContainerService

_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_XATTR_PAX = "SCHILY.xattr."


class LocalError(PinnaceError):
    """An error of the copy's local half (docker's client): shown without the daemon's prefix."""


@record
class PathStat:
    """docker's ContainerPathStat: what ``stat`` of a container path says (the final symlink not followed)."""

    name: str
    size: int
    mode: int  # st_mode
    mtime: float
    link_target: str = ""  # a symlink's target, resolved inside the container ("/abs/path")


# Go's os.FileMode type bits: the ``mode`` of docker's ContainerPathStat is a FileMode, not st_mode.
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHAR, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20
#: (st_mode bit, FileMode bit) of the permission extras.
_GO_EXTRAS = ((stat.S_ISUID, _GO_SETUID), (stat.S_ISGID, _GO_SETGID), (stat.S_ISVTX, _GO_STICKY))


def go_file_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` (what docker's client tests with ``IsDir()``, ``ModeSymlink``)."""
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_SYMLINK,
        stat.S_IFBLK: _GO_DEVICE,
        stat.S_IFCHR: _GO_DEVICE | _GO_CHAR,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCKET,
    }.get(kind, 0)
    for bit, go in _GO_EXTRAS:
        if st_mode & bit:
            mode |= go
    return mode


def st_mode_of(go_mode: int) -> int:
    """A Go ``os.FileMode`` as ``st_mode`` (the inverse of :func:`go_file_mode`)."""
    if go_mode & _GO_DIR:
        kind = stat.S_IFDIR
    elif go_mode & _GO_SYMLINK:
        kind = stat.S_IFLNK
    elif go_mode & _GO_DEVICE:
        kind = stat.S_IFCHR if go_mode & _GO_CHAR else stat.S_IFBLK
    elif go_mode & _GO_PIPE:
        kind = stat.S_IFIFO
    elif go_mode & _GO_SOCKET:
        kind = stat.S_IFSOCK
    else:
        kind = stat.S_IFREG
    mode = kind | (go_mode & 0o777)
    for bit, go in _GO_EXTRAS:
        if go_mode & go:
            mode |= bit
    return mode


def path_stat_header(found: PathStat) -> str:
    """``X-Docker-Container-Path-Stat``: the stat as JSON, base64 (standard alphabet), as dockerd sets it."""
    import base64
    import json

    from pinnace.logs.common import format_time

    doc = {
        "name": found.name,
        "size": found.size,
        "mode": go_file_mode(found.mode),
        "mtime": format_time(int(found.mtime * 1_000_000_000)),
        "linkTarget": found.link_target,
    }
    return base64.b64encode(json.dumps(doc).encode()).decode()


def path_stat_of_header(header: str) -> PathStat:
    """The PathStat an ``X-Docker-Container-Path-Stat`` header carries (:func:`path_stat_header`'s inverse)."""
    import base64
    import binascii
    import json

    from pinnace.logs.common import parse_time

    try:
        doc = json.loads(base64.b64decode(header))
        mtime = parse_time(str(doc.get("mtime") or "")) / 1e9 if doc.get("mtime") else 0.0
        return PathStat(
            str(doc.get("name") or ""),
            int(doc.get("size") or 0),
            st_mode_of(int(doc.get("mode") or 0)),
            mtime,
            str(doc.get("linkTarget") or ""),
        )
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise InvalidArgument("unable to decode container path stat header") from None


@record
class CopyInfo:
    """docker's CopyInfo: a source or destination path, what is there, and its archive name if renamed."""

    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


# -- docker's path rules (pkg/archive copy.go), on "/" paths -----------------------------------


def _clean(path: str) -> str:
    """Go's ``filepath.Clean``."""
    cleaned = os.path.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _base(path: str) -> str:
    """Go's ``filepath.Base``: trailing slashes dropped; "/" for the root, "." for nothing."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else "."
    return stripped.rsplit("/", 1)[-1]


def preserve_trailing(cleaned: str, original: str) -> str:
    """``PreserveTrailingDotOrSeparator``: keep a trailing ``/.`` or ``/`` that cleaning removed."""
    if _base(cleaned) != "." and _base(original) == ".":
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def split_dir_entry(path: str) -> tuple[str, str]:
    """``SplitPathDirEntry``: the directory and the entry name, a trailing ``.`` kept as the name."""
    cleaned = _clean(path)
    if _base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    head, sep, tail = cleaned.rpartition("/")
    if not sep:
        return ".", tail
    return head or "/", tail or "/"


def asserts_directory(path: str) -> bool:
    """A path ending in ``/`` or ``/.`` says it names a directory."""
    return path.endswith("/") or _base(path) == "."


def entry_name(path: str) -> str:
    """The top entry's name in the archive of ``path``: its base name, "." for the root or ``dir/.``."""
    base = split_dir_entry(path)[1]
    return "." if base == "/" else base


def _go_error(op: str, path: str, exc: OSError) -> str:
    """An OSError as Go's *PathError prints (``lstat /x: no such file or directory``)."""
    text = exc.strerror or str(exc)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


# -- the container side ------------------------------------------------------------------------


class ContainerFS:
    """A container's root filesystem, held open by an fd for the duration of one copy."""

    def __init__(self, service: ContainerService, container: ContainerRecord, ref: str, root_fd: int) -> None:
        self.service = service
        self.container = container
        self.ref = ref  # the name the user gave: docker's error messages repeat it
        self.root_fd = root_fd

    def _not_found(self, path: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {self.ref}")

    def _resolve(self, path: str) -> tuple[int, str, str]:
        """(O_PATH fd of the parent directory, entry name there, absolute path) of ``path`` in the container.

        As moby's ResolvePath: every component but the last is resolved
        (symlinks followed inside the root); a trailing ``/`` or ``/.``
        names the directory itself (entry ``"."``).
        """
        from pinnace.containers.spec import open_in_root

        absolute = preserve_trailing(_clean("/" + path), path)
        parent, _, base = absolute.rpartition("/")
        try:
            fd = open_in_root(self.root_fd, parent + "/")
        except FileNotFoundError:
            raise self._not_found(path) from None
        except OSError as exc:
            raise InvalidArgument(_go_error("lstat", absolute, exc)) from None
        return fd, base or ".", absolute

    def stat(self, path: str) -> PathStat:
        """docker's ``HEAD /containers/ID/archive``: the entry at ``path``, its symlink target resolved."""
        fd, name, absolute = self._resolve(path)
        try:
            st = self._lstat(fd, name, path, absolute)
        finally:
            os.close(fd)
        target = self._link_target(absolute) if stat.S_ISLNK(st.st_mode) else ""
        return PathStat(_base(absolute), st.st_size, st.st_mode, st.st_mtime, target)

    def _lstat(self, fd: int, name: str, path: str, absolute: str) -> os.stat_result:
        try:
            return os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            raise self._not_found(path) from None
        except OSError as exc:
            raise InvalidArgument(_go_error("lstat", absolute, exc)) from None

    def _link_target(self, absolute: str) -> str:
        """Where the symlink ``absolute`` leads inside the container (moby evaluates it in scope)."""
        from pinnace.containers.spec import open_in_root

        try:
            fd = open_in_root(self.root_fd, absolute)
        except OSError:  # dangling or looping: its target, joined lexically
            parent, _, base = absolute.rpartition("/")
            try:
                fd = open_in_root(self.root_fd, parent + "/")
            except OSError:
                return ""
            try:
                target = os.readlink(base, dir_fd=fd)
            except OSError:
                return ""
            finally:
                os.close(fd)
            return _clean(target if target.startswith("/") else f"{parent}/{target}")
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        root = os.readlink(f"/proc/self/fd/{self.root_fd}").rstrip("/")
        inside = where[len(root) :] if where == root or where.startswith(root + "/") else where
        return "/" + inside.lstrip("/")

    def archive(self, path: str) -> tuple[PathStat, Callable[[BinaryIO], int]]:
        """docker's ``GET /containers/ID/archive``: the stat of ``path`` and a function writing its tar.

        The top entry is named as :func:`entry_name` says; a symlink is
        archived as itself.  The function (which resolves ``path`` again: it
        holds nothing open until called) returns the bytes written.
        """
        found = self.stat(path)

        def write(out: BinaryIO) -> int:
            from pinnace.archive.diff import write_entry

            fd, name, absolute = self._resolve(path)
            try:
                self._lstat(fd, name, path, absolute)
                written = write_entry(fd, name, entry_name(absolute), out).size
            finally:
                os.close(fd)
            self.service._event(self.container, "archive-path")
            return written

        return found, write

    def extract(
        self,
        path: str,
        stream: BinaryIO,
        *,
        keep_owners: bool = False,
        rename: tuple[str, str] | None = None,
        allow_overwrite_dir_with_file: bool = False,
        copy_uid_gid: bool = False,
    ) -> int:
        """docker's ``PUT /containers/ID/archive``: unpack ``stream`` into the directory at ``path``.

        ``path``'s final symlink is followed (inside the root), as moby
        does, so a link to a directory is a fine target.  Entries belong to
        the container's root unless ``keep_owners`` (the tar's owners kept);
        with ``copy_uid_gid`` (``-a``, the API's ``copyUIDGID``) to the
        container's ``User`` if it has one (moby's tarCopyOptions).  Returns
        the bytes read from ``stream``.
        """
        from pinnace.containers.spec import open_in_root

        absolute = preserve_trailing(_clean("/" + path), path)
        try:
            fd = open_in_root(self.root_fd, absolute)
        except FileNotFoundError:
            raise self._not_found(path) from None
        except OSError as exc:
            raise InvalidArgument(_go_error("lstat", absolute, exc)) from None
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise InvalidArgument("extraction point is not a directory")
            self._check_writable(_clean(absolute))
            size = untar(
                stream,
                f"/proc/self/fd/{fd}",
                shown=_clean(absolute),
                owner=self._user_owner() if copy_uid_gid else None if keep_owners else (0, 0),
                rename=rename,
                check_kinds=not allow_overwrite_dir_with_file,
            )
        finally:
            os.close(fd)
        self.service._event(self.container, "extract-to-dir")
        return size

    def _user_owner(self) -> tuple[int, int] | None:
        """The uid and gid of the container's ``User`` in its own passwd and group (None without one)."""
        user = str(self.container.config.get("User") or "")
        if not user:
            return None
        from pinnace.containers.spec import resolve_user

        uid, gid, _ = resolve_user(user, f"/proc/self/fd/{self.root_fd}")
        return uid, gid

    def _check_writable(self, absolute: str) -> None:
        """moby's refusals: a path in a read-only volume or bind, or else on a read-only rootfs."""
        from pinnace.containers import mounts

        inside = [
            p
            for p in mounts.load(self.container)
            if p.type in ("volume", "bind")
            and (
                absolute == _clean(p.destination)
                or absolute.startswith(_clean(p.destination).rstrip("/") + "/")
            )
        ]
        if inside:
            if not max(inside, key=lambda p: len(_clean(p.destination))).rw:
                raise InvalidArgument("mounted volume is marked read-only")
        elif self.container.host_config.get("ReadonlyRootfs"):
            raise InvalidArgument("container rootfs is marked read-only")


@contextlib.contextmanager
def open_container(service: ContainerService, ref: str) -> Iterator[ContainerFS]:
    """The container's root filesystem for one copy; nothing stays mounted afterwards.

    A running container's root is its process's (``/proc/PID/root``, checked
    to be its mount at ``service.rootfs(id)``), where its volumes and binds
    are mounted.  A stopped one's layer is mounted on a fresh directory under
    ``<root>/tmp`` rather than there, with its volumes and binds on it
    (:func:`_mount_points`): ``start`` takes no lock, and a start racing this
    copy must neither reuse a mount we are about to remove nor see its own
    removed under it.
    """
    container = service.get(ref)
    live = _live_root(service.rootfs(container.id))
    if live is not None:
        live = _process_root(container.pid, live)
        try:
            yield ContainerFS(service, container, ref, live)
        finally:
            os.close(live)
        return
    from pinnace.containers import layer
    from pinnace.errors import Unavailable, map_errors
    from pinnace.mount import mounted

    scratch = service.stores.root / "tmp"
    with map_errors({OSError: Unavailable}, f"create {scratch}"):
        scratch.mkdir(mode=0o700, exist_ok=True)
    with mounted(layer.mounts(service.stores, container.snapshot_key), scratch) as where:
        fd = os.open(where, _PATH_DIR)
        try:
            _mount_points(service, container, fd)  # unmounted with the layer, by mounted()
            yield ContainerFS(service, container, ref, fd)
        finally:
            os.close(fd)


def _process_root(pid: int, live: int) -> int:
    """The running container's root as its processes see it, ``/proc/PID/root``: with its volumes,
    binds and tmpfs mounted (the fd ``live`` of its rootfs mount shows only the layer beneath them).

    Taken only when it is the very directory ``live`` is (the pid may have
    been reused since the record was read); else ``live`` itself.  One of the
    two fds is closed: the caller owns the one returned.
    """
    if pid <= 0:
        return live
    try:
        fd = os.open(f"/proc/{pid}/root", _PATH_DIR)
    except OSError:
        return live
    here, there = os.fstat(live), os.fstat(fd)
    if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
        os.close(fd)
        return live
    os.close(live)
    return fd


def _mount_points(service: ContainerService, container: ContainerRecord, root_fd: int) -> None:
    """Bind a stopped container's volumes and binds onto its root ``root_fd``, as moby's
    ``mountVolumes`` does for a copy, so ``cp`` reaches their files and not the layer beneath.

    Each destination is resolved inside the root (:func:`open_in_root`: a
    symlink the container planted cannot lead the mount outside), made if
    missing (a directory, or an empty file for a file's bind), and mounted
    on through ``/proc/self/fd``.  A bind whose source is gone is left out;
    tmpfs mounts hold nothing while the container is stopped.
    """
    from pinnace.containers import mounts
    from pinnace.containers.spec import open_in_root
    from pinnace.errors import Unavailable, map_errors
    from pinnace.mount import Mount
    from pinnace.mount.ops import mount_one

    points = [p for p in mounts.load(container) if p.type in ("volume", "bind")]
    for point in sorted(points, key=lambda p: _clean(p.destination).count("/")):  # parents first
        source = service.volumes.mount(point.name) if point.type == "volume" else point.source
        if not os.path.lexists(source):
            continue
        with map_errors({OSError: Unavailable}, f"mount {source} on {point.destination}"):
            target = _mount_target(root_fd, point.destination, directory=os.path.isdir(source))
            try:
                mount_one(
                    Mount("bind", source, ("rbind" if point.recursive else "bind",)),
                    f"/proc/self/fd/{target}",
                )
            finally:
                os.close(target)
            # The flags and propagation go on the new mount's root: the old fd is of the directory under it.
            top = open_in_root(root_fd, point.destination)
            try:
                options = ("remount", *(() if point.rw else ("ro",)), "rprivate")
                mount_one(Mount("bind", "", options), f"/proc/self/fd/{top}")
            finally:
                os.close(top)


def _mount_target(root_fd: int, destination: str, *, directory: bool) -> int:
    """An O_PATH fd of ``destination`` in the root (made if missing: a directory, or an empty file)."""
    from pinnace.containers.spec import open_in_root

    if directory:
        return open_in_root(root_fd, destination, make_dirs=True)
    parent, _, name = _clean("/" + destination).rpartition("/")
    where = open_in_root(root_fd, parent + "/", make_dirs=True)
    try:
        dir_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=where)
    finally:
        os.close(where)
    try:
        with contextlib.suppress(FileExistsError):
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o755, dir_fd=dir_fd))
    finally:
        os.close(dir_fd)
    return open_in_root(root_fd, destination)


def _live_root(target: str) -> int | None:
    """An fd of the container's mounted root at ``target``, or None when nothing is mounted there.

    The fd is taken first and checked after (a mount point has another
    device than its parent), so a container exiting meanwhile cannot leave
    us writing into the empty directory below its mount.
    """
    try:
        fd = os.open(target, _PATH_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if os.fstat(fd).st_dev == os.stat(os.path.dirname(target)).st_dev:
        os.close(fd)
        return None
    return fd


# -- tar streams: one re-encoded on its way in, one produced by a thread -------------------------


class _Filter:
    """A tar stream read entry by entry and written again, for :func:`pinnace.archive.apply_layer`.

    It does what docker's client (RebaseArchiveEntries) and its untar
    options (ChownOpts, NoOverwriteDirNonDir) do: rename the top entry,
    replace owners, refuse to turn a directory into a file or back.  The
    extraction directory's own entry (``.``) is dropped, since it must not
    take the archive's owner and mode.  ``.wh.`` names are refused: the
    unpacker would turn them into whiteouts.
    """

    def __init__(
        self,
        stream: BinaryIO,
        dest: Beneath | None,
        shown: str,
        owner: tuple[int, int] | None,
        rename: tuple[str, str] | None,
    ) -> None:
        from pinnace.archive import open_decompressed
        from pinnace.archive.tarstream import TarReader

        self._reader = TarReader(open_decompressed(stream)[0])
        self._dest = dest
        self._shown = shown
        self._owner = owner
        self._rename = rename
        self._chunks = self._encode()
        self._pending = b""

    @property
    def size(self) -> int:
        """Bytes read from the source stream so far."""
        return self._reader.size

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._pending) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        if n < 0:
            n = len(self._pending)
        data, self._pending = self._pending[:n], self._pending[n:]
        return data

    def _name(self, name: str) -> str:
        if self._rename is None:
            return name
        old, new = self._rename
        first, sep, rest = name.lstrip("/").partition("/")
        return new + sep + rest if first == old else name

    def _encode(self) -> Iterator[bytes]:
        from pinnace.archive import header
        from pinnace.archive.beneath import clean_name
        from pinnace.archive.compression import CHUNK

        for info in self._reader.members():
            name = self._name(info.name)
            parts = clean_name(name)
            if parts == () and info.isdir():
                continue  # the extraction directory itself
            if parts and any(p.startswith(".wh.") for p in parts):
                raise InvalidArgument(f'cannot copy "{name}": names starting with ".wh." are reserved')
            kind = _kind(info)
            if parts and self._dest is not None:
                self._check(parts, kind == header.DIRECTORY)
            uid, gid = self._owner if self._owner is not None else (info.uid, info.gid)
            linkname = info.linkname
            if kind == header.HARDLINK:
                linkname = self._name(linkname)
            encoded = os.fsencode(name.rstrip("/") + ("/" if kind == header.DIRECTORY else ""))
            size = info.size if kind == header.REGULAR else 0
            yield header.encode(
                encoded,
                kind,
                mode=info.mode & 0o7777,
                uid=uid,
                gid=gid,
                mtime=max(int(info.mtime), 0),
                size=size,
                linkname=os.fsencode(linkname),
                devmajor=info.devmajor if kind in (header.CHAR, header.BLOCKDEV) else 0,
                devminor=info.devminor if kind in (header.CHAR, header.BLOCKDEV) else 0,
                xattrs={
                    k[len(_XATTR_PAX) :]: v.encode("utf-8", "surrogateescape")
                    for k, v in info.pax_headers.items()
                    if k.startswith(_XATTR_PAX)
                },
            )
            if size:
                yield from self._data(info, CHUNK)
                yield header.padding(size)
        yield header.END_OF_ARCHIVE

    def _data(self, info: tarfile.TarInfo, chunk: int) -> Iterator[bytes]:
        """The member's bytes; a sparse one expanded, holes as zeros."""
        sparse: list[tuple[int, int]] | None = info.sparse  # type: ignore[assignment]
        regions = sparse or [(0, info.size)]
        at = 0
        for offset, length in regions:
            if length <= 0:
                continue
            if offset < at or offset + length > info.size:
                raise InvalidArgument(f"copy: entry {info.name!r}: invalid sparse map")
            yield from _zeros(offset - at, chunk)
            left = length
            while left:
                data = self._reader.read_data(min(left, chunk))
                left -= len(data)
                yield data
            at = offset + length
        yield from _zeros(info.size - at, chunk)

    def _check(self, parts: tuple[str, ...], is_dir: bool) -> None:
        """docker's NoOverwriteDirNonDir, against what the destination holds now."""
        from pinnace.errors import UnsafeArchive

        assert self._dest is not None
        self._dest.trim()
        try:
            parent = self._dest.dir(parts[:-1], "/".join(parts), create=False)
            st = os.lstat(parts[-1], dir_fd=parent)
        except (OSError, UnsafeArchive, InvalidArgument):
            return  # nothing there, or a path the unpacker refuses with its own error
        path = f"{self._shown.rstrip('/')}/{'/'.join(parts)}"
        if stat.S_ISDIR(st.st_mode) and not is_dir:
            raise InvalidArgument(f'cannot overwrite directory "{path}" with non-directory "{self._shown}"')
        if not stat.S_ISDIR(st.st_mode) and is_dir:
            raise InvalidArgument(f'cannot overwrite non-directory "{path}" with directory "{self._shown}"')


def _kind(info: tarfile.TarInfo) -> bytes:
    from pinnace.archive import header

    if info.isreg():
        return header.REGULAR
    for test, kind in (
        (info.isdir, header.DIRECTORY),
        (info.issym, header.SYMLINK),
        (info.islnk, header.HARDLINK),
        (info.ischr, header.CHAR),
        (info.isblk, header.BLOCKDEV),
        (info.isfifo, header.FIFO),
    ):
        if test():
            return kind
    raise InvalidArgument(f"copy: unhandled tar header type {info.type!r} of entry {info.name!r}")


def _zeros(n: int, chunk: int) -> Iterator[bytes]:
    while n > 0:
        step = min(n, chunk)
        yield bytes(step)
        n -= step


def rebased_tar(
    stream: BinaryIO, *, owner: tuple[int, int] | None, rename: tuple[str, str] | None = None
) -> _Filter:
    """The tar ``stream`` re-encoded as docker's client sends it to a remote engine: its top entry
    renamed, its owners ``owner`` (None: kept).  A file-like (``read``), whose ``size`` is the bytes
    read from ``stream``."""
    return _Filter(stream, None, "", owner, rename)


def untar(
    stream: BinaryIO,
    dest: str,
    *,
    shown: str,
    owner: tuple[int, int] | None,
    rename: tuple[str, str] | None = None,
    check_kinds: bool = True,
) -> int:
    """Unpack the tar ``stream`` into the directory ``dest`` (see :class:`_Filter`); the bytes read.

    ``shown`` is ``dest`` as error messages name it (the container's path).
    """
    from pathlib import Path

    from pinnace.archive import apply_layer
    from pinnace.archive.beneath import Beneath
    from pinnace.errors import map_errors

    with map_errors({OSError: InvalidArgument}, f"open {shown}"):
        beneath = Beneath(dest) if check_kinds else None
    try:
        source = _Filter(stream, beneath, shown, owner, rename)
        apply_layer(source, Path(dest))  # type: ignore[arg-type]  # read() is all it needs
        return source.size
    finally:
        if beneath is not None:
            beneath.close()


class _Producer:
    """A thread writing a tar into a pipe whose other end we read: a writer feeding a reader.

    Its error, if any, is the one to report: the reader then only saw the
    stream end early.  Unless its writes met a broken pipe: then the reader
    stopped first, and the reader's error is the one.
    """

    def __init__(self, produce: Callable[[BinaryIO], object]) -> None:
        import threading

        r, w = os.pipe()
        self.reader: BinaryIO = os.fdopen(r, "rb")
        self._pipe = os.fdopen(w, "wb")
        self.broken = False  # a write met a broken pipe: the reader stopped first
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[BinaryIO], object]) -> None:
        try:
            from typing import cast

            produce(cast("BinaryIO", self))  # write() is all a producer calls
        except BaseException as exc:  # handed to the reading thread by finish()
            self._error = exc
        finally:
            try:
                self._pipe.close()
            except OSError:
                pass  # the reader went away first

    def write(self, data: bytes) -> int:
        try:
            return self._pipe.write(data)
        except BrokenPipeError:
            self.broken = True
            raise

    def finish(self) -> None:
        """Stop reading, wait for the writer; raise its error, if it had one (not a broken pipe's)."""
        self.reader.close()
        self._thread.join()
        if self._error is not None and not self.broken and not isinstance(self._error, BrokenPipeError):
            raise self._error


def consume_pipe(produce: Callable[[BinaryIO], object], consume: Callable[[BinaryIO], int]) -> int:
    """``consume`` what ``produce`` writes, through a pipe; the producer's error first."""
    producer = _Producer(produce)
    try:
        size = consume(producer.reader)
    except BaseException:
        producer.finish()  # its error, if any, is the cause of ours
        raise
    producer.finish()
    return size


# -- the host side (docker's client) --------------------------------------------------------------


def resolve_local_path(path: str) -> str:
    """An absolute local path, keeping a trailing ``/`` or ``/.`` (docker's resolveLocalPath)."""
    return preserve_trailing(os.path.abspath(path), path)


def validate_output_path(path: str) -> None:
    """docker's ValidateOutputPath: the parent must exist; an existing target must be a file or directory."""
    parent = os.path.dirname(_clean(path))
    if parent and parent != "." and not os.path.exists(parent):
        raise LocalError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise LocalError(_go_error("stat", path, exc)) from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        what = "a device" if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode) else "an irregular file"
        raise LocalError(f'invalid output path: "{path}" must be a directory or a regular file: got {what}')


def source_info(path: str, follow_link: bool) -> CopyInfo:
    """docker's CopyInfoSourcePath: the local source, symlinks before its last component resolved."""
    if follow_link:
        try:
            resolved = os.path.realpath(path, strict=True)
        except OSError as exc:
            raise LocalError(_go_error("lstat", path, exc)) from None
        resolved, rebase = _rebase_name(path, resolved)
    else:
        head, _, tail = path.rpartition("/")
        try:
            resolved_dir = os.path.realpath(head + "/", strict=True)
        except OSError as exc:
            raise LocalError(_go_error("lstat", head or "/", exc)) from None
        resolved = resolved_dir.rstrip("/") + "/" + tail
        rebase = _base(path) if path.endswith("/") and _base(path) != _base(resolved) else ""
    try:
        st = os.lstat(resolved)  # a trailing "/" follows a final symlink, as in Go
    except OSError as exc:
        raise LocalError(_go_error("lstat", resolved, exc)) from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def _rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName: ``resolved`` with ``path``'s trailing ``/.`` or ``/``, and the name to keep."""
    if _base(path) == "." and _base(resolved) != ".":
        resolved = resolved.rstrip("/") + "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    return resolved, (_base(path) if _base(path) != _base(resolved) else "")


def destination_info(path: str) -> CopyInfo:
    """docker's CopyInfoDestinationPath for a local path: symlinks followed; a missing one needs its parent."""
    original = path
    for _ in range(11):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            break
        except OSError as exc:
            raise LocalError(_go_error("lstat", path, exc)) from None
        if not stat.S_ISLNK(st.st_mode):
            return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
        target = os.readlink(path)
        path = target if target.startswith("/") else os.path.join(split_dir_entry(path)[0], target)
    else:
        raise LocalError(f"too many symlinks in {original}")
    parent = split_dir_entry(path)[0]
    try:
        parent_st = os.stat(parent)
    except OSError as exc:
        raise LocalError(_go_error("stat", parent, exc)) from None
    if not stat.S_ISDIR(parent_st.st_mode):
        raise LocalError("not a directory")
    return CopyInfo(path)


def prepare_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, str | None]:
    """docker's PrepareArchiveCopy: the directory to extract into, and the top entry's new name (None: keep)."""
    dst_dir, dst_base = split_dir_entry(dst.path)
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise LocalError("cannot copy directory")
    if not dst.exists and not src.is_dir and asserts_directory(dst.path):
        raise LocalError("no such directory")
    return dst_dir, dst_base


def tar_local(info: CopyInfo, out: BinaryIO) -> int:
    """docker's TarResource: the local source as a tar, its top entry named ``info.rebase_name`` if set."""
    from pinnace.archive.diff import write_entry

    parent, name = split_dir_entry(info.path)
    if info.path.endswith("/"):  # "dir/": the directory itself, through a symlink if it is one
        parent, name = info.path, "."
    fd = os.open(parent, _PATH_DIR)
    try:
        return write_entry(fd, name, info.rebase_name or entry_name(info.path), out).size
    finally:
        os.close(fd)


def content_size(path: str) -> int:
    """Bytes of regular file content at ``path`` (docker's localContentSize, for its summary line)."""
    st = os.lstat(path.rstrip("/") or "/")
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(top, name))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    return total


@record
class Copied:
    """What a copy moved, for docker's "Successfully copied" line: content bytes, tar bytes, where to."""

    content: int
    transferred: int
    destination: str


def copy_from_container(
    service: ContainerService,
    ref: str,
    src_path: str,
    dst_path: str,
    *,
    follow_link: bool = False,
    keep_owners: bool = False,
    stdout: BinaryIO | None = None,
) -> Copied:
    """``docker cp CONTAINER:SRC DST``; ``DST`` "-" writes the tar to ``stdout``."""
    if dst_path != "-":
        dst_path = resolve_local_path(dst_path)
        validate_output_path(dst_path)
    with service.open_files(ref) as fs:
        rebase = ""
        if follow_link:
            with contextlib.suppress(PinnaceError):
                found = fs.stat(src_path)
                if found.link_target:
                    src_path, rebase = _rebase_name(src_path, found.link_target)
        top = entry_name(preserve_trailing(_clean("/" + src_path), src_path))
        found, produce = fs.archive(src_path)
        if dst_path == "-":
            assert stdout is not None
            size = produce(stdout)
            return Copied(size, size, "-")
        src = CopyInfo(src_path, True, stat.S_ISDIR(found.mode), rebase)
        dst = destination_info(dst_path)
        dst_dir, new_name = prepare_copy(src, dst)
        new_name = new_name or rebase or None
        owner = None if keep_owners else (os.getuid(), os.getgid())

        def consume(stream: BinaryIO) -> int:
            try:
                return untar(
                    stream,
                    dst_dir,
                    shown=dst_dir,
                    owner=owner,
                    rename=(top, new_name) if new_name else None,
                )
            except PinnaceError as exc:
                raise LocalError(exc.message) from exc

        transferred = consume_pipe(produce, consume)
    content = transferred if stat.S_ISDIR(found.mode) else found.size
    return Copied(content, transferred, dst_path)


def copy_to_container(
    service: ContainerService,
    ref: str,
    src_path: str,
    dst_path: str,
    *,
    follow_link: bool = False,
    keep_owners: bool = False,
    stdin: BinaryIO | None = None,
) -> Copied:
    """``docker cp SRC CONTAINER:DST``; ``SRC`` "-" reads a tar from ``stdin`` into the directory ``DST``."""
    if src_path != "-":
        src_path = resolve_local_path(src_path)
    with service.open_files(ref) as fs:
        dst = _container_destination(fs, ref, dst_path)
        if src_path == "-":
            if not dst.is_dir:
                raise LocalError(f'destination "{ref}:{dst_path}" must be a directory')
            assert stdin is not None
            size = fs.extract(dst.path, stdin, keep_owners=keep_owners, copy_uid_gid=keep_owners)
            return Copied(size, size, f"{ref}:{dst.path}")
        src = source_info(src_path, follow_link)
        dst_dir, new_name = prepare_copy(src, dst)
        top = src.rebase_name or entry_name(src.path)

        def consume(stream: BinaryIO) -> int:
            return fs.extract(
                dst_dir,
                stream,
                keep_owners=keep_owners,
                copy_uid_gid=keep_owners,
                rename=(top, new_name) if new_name else None,
            )

        def produce(out: BinaryIO) -> int:
            try:
                return tar_local(src, out)
            except PinnaceError as exc:
                raise LocalError(exc.message) from exc
            except OSError as exc:
                raise LocalError(_go_error("open", src.path, exc)) from exc

        transferred = consume_pipe(produce, consume)
    return Copied(content_size(src.path), transferred, f"{ref}:{dst.path}")


def _container_destination(fs: ContainerFS, ref: str, dst_path: str) -> CopyInfo:
    """What the CLI learns by stat-ing the destination: a symlink followed once; errors mean "absent"."""
    try:
        found = fs.stat(dst_path)
    except PinnaceError:
        return CopyInfo(dst_path)
    path = dst_path
    if found.link_target:
        path = found.link_target
        try:
            found = fs.stat(path)
        except PinnaceError:
            return CopyInfo(path)
    if stat.S_ISCHR(found.mode) or stat.S_ISBLK(found.mode):
        raise LocalError(
            f'destination "{ref}:{dst_path}" must be a directory or a regular file: got a device'
        )
    return CopyInfo(path, True, stat.S_ISDIR(found.mode))
