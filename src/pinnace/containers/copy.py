"""``docker cp``: a path of a container as a tar, a tar into a container's directory, and the host side.

Docker splits cp between the daemon and the client, and so does this module:

Container side (moby's ContainerStatPath / ContainerArchivePath / ContainerExtractToDir)
    :func:`open_container` mounts the container's root if it is not running
    (on a private mount point, unmounted afterwards) and yields a
    :class:`ContainerFS` with :meth:`~ContainerFS.stat`,
    :meth:`~ContainerFS.archive` and :meth:`~ContainerFS.extract`.
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
        owner: tuple[int, int] | None = None,
    ) -> int:
        """docker's ``PUT /containers/ID/archive``: unpack ``stream`` into the directory at ``path``.

        ``path``'s final symlink is followed (inside the root), as moby
        does, so a link to a directory is a fine target.  Entries belong to
        the container's root unless ``keep_owners`` (``-a``), or to
        ``owner`` (uid, gid) when given.  Returns the bytes read from ``stream``.
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
            if self.container.host_config.get("ReadonlyRootfs"):
                raise InvalidArgument("container rootfs is marked read-only")
            size = untar(
                stream,
                f"/proc/self/fd/{fd}",
                shown=_clean(absolute),
                owner=owner if owner is not None else None if keep_owners else (0, 0),
                rename=rename,
                check_kinds=not allow_overwrite_dir_with_file,
            )
        finally:
            os.close(fd)
        self.service._event(self.container, "extract-to-dir")
        return size


@contextlib.contextmanager
def open_container(service: ContainerService, ref: str) -> Iterator[ContainerFS]:
    """The container's root filesystem for one copy; nothing stays mounted afterwards.

    A running container's root is its mount at ``service.rootfs(id)``.  A
    stopped one's layer is mounted on a fresh directory under
    ``<root>/tmp`` rather than there: ``start`` takes no lock, and a start
    racing this copy must neither reuse a mount we are about to remove nor
    see its own removed under it.
    """
    container = service.get(ref)
    live = _live_root(service.rootfs(container.id))
    if live is not None:
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
            yield ContainerFS(service, container, ref, fd)
        finally:
            os.close(fd)


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
    stream end early.
    """

    def __init__(self, produce: Callable[[BinaryIO], object]) -> None:
        import threading

        r, w = os.pipe()
        self.reader: BinaryIO = os.fdopen(r, "rb")
        self._writer: BinaryIO = os.fdopen(w, "wb")
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[BinaryIO], object]) -> None:
        try:
            produce(self._writer)
        except BaseException as exc:  # handed to the reading thread by finish()
            self._error = exc
        finally:
            try:
                self._writer.close()
            except OSError:
                pass  # the reader went away first

    def finish(self) -> None:
        """Stop reading, wait for the writer; raise its error, if it had one."""
        self.reader.close()
        self._thread.join()
        if self._error is not None and not isinstance(self._error, BrokenPipeError):
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
    with open_container(service, ref) as fs:
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
    with open_container(service, ref) as fs:
        dst = _container_destination(fs, ref, dst_path)
        if src_path == "-":
            if not dst.is_dir:
                raise LocalError(f'destination "{ref}:{dst_path}" must be a directory')
            assert stdin is not None
            size = fs.extract(dst.path, stdin, keep_owners=keep_owners)
            return Copied(size, size, f"{ref}:{dst.path}")
        src = source_info(src_path, follow_link)
        dst_dir, new_name = prepare_copy(src, dst)
        top = src.rebase_name or entry_name(src.path)

        def consume(stream: BinaryIO) -> int:
            return fs.extract(
                dst_dir,
                stream,
                keep_owners=keep_owners,
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
