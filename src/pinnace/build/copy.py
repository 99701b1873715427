"""COPY and ADD: files from the context, another stage or image, a heredoc or a URL, into a new layer.

Docker's rules: a directory source copies its contents; a file goes to ``dest`` itself unless
``dest`` ends in ``/`` or is a directory already (then under its own name); several sources need a
``dest`` ending in ``/``; a relative ``dest`` is under WORKDIR; everything is owned by root unless
``--chown``; modes are kept unless ``--chmod``.  ADD also unpacks a local tar (plain, gzip, bzip2, xz)
into ``dest`` and downloads a URL.

The destination directory is resolved inside the image's root as a chroot would (its symlinks
followed, never out of the root: :func:`pinnace.containers.spec.open_in_root`), and the files arrive
as a tar stream unpacked there by the same safe unpacker ``docker cp`` uses.  The new layer is the
snapshot's upper directory, as a RUN's.
"""

from __future__ import annotations

import os
import secrets
import stat

from pinnace._util.record import record
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, BinaryIO

    from pinnace.build.run import Layer
    from pinnace.images.stores import Stores

MANY_SOURCES = (
    "When using COPY with more than one source file, the destination must be a directory and end with a /"
)


@record
class Source:
    """One thing to copy: ``path`` under the host directory ``root`` ("" for ``root`` itself), or
    ``data`` (a heredoc, a download) named ``name``."""

    root: str = ""
    path: str = ""
    name: str = ""
    data: bytes | None = None
    mode: int = 0o644
    excluded: Callable[[str], bool] | None = None  # context-relative path -> .dockerignore'd
    descend: Callable[[str], bool] | None = None  # whether an excluded directory may hold kept entries


def copy_step(
    stores: Stores,
    runroot: str,
    parent_chain: str,
    parent_diff_ids: Sequence[str],
    sources: Sequence[Source],
    dest: str,
    *,
    workdir: str,
    chown: str = "",
    chmod: int | None = None,
    unpack_archives: bool = False,
    clamp_mtime: int | None = None,
    unlocked: Callable[[], Any] | None = None,
) -> Layer | None:
    """The layer of ``sources`` copied to ``dest`` on the layers up to ``parent_chain``."""
    from pinnace.build.run import commit_layer
    from pinnace.containers import layer

    key = "build-copy-" + secrets.token_hex(16)
    stores.snapshots.prepare(key, parent_chain)
    rootfs = os.path.join(runroot, "build", key)
    done = False
    try:
        layer.mount_rootfs(stores, key, rootfs)
        from pinnace.build.run import _nothing

        try:
            with (unlocked or _nothing)():  # other stages may use the store while the files copy
                copy_into(
                    rootfs,
                    sources,
                    dest,
                    workdir=workdir,
                    chown=chown,
                    chmod=chmod,
                    unpack_archives=unpack_archives,
                )
        finally:
            layer.unmount_rootfs(rootfs)
            try:
                os.rmdir(rootfs)
            except OSError:
                pass
        made = commit_layer(stores, key, parent_chain, parent_diff_ids, clamp_mtime)
        done = True
        return made
    finally:
        if not done:
            layer.remove(stores, key)


def copy_into(
    rootfs: str,
    sources: Sequence[Source],
    dest: str,
    *,
    workdir: str,
    chown: str = "",
    chmod: int | None = None,
    unpack_archives: bool = False,
) -> None:
    """Copy ``sources`` to ``dest`` in the root filesystem mounted at ``rootfs``."""
    from pinnace.containers.spec import open_in_root, resolve_user

    names_dir = dest.endswith("/") or os.path.basename(dest) in (".", "..")  # "COPY f ." is into WORKDIR
    if not dest.startswith("/"):
        dest = os.path.join(workdir or "/", dest)
    dest = os.path.normpath(dest) + ("/" if names_dir else "")
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        owner = (0, 0)
        if chown:
            uid, gid, _ = resolve_user(chown, rootfs)
            owner = (uid, gid)
        into_dir = names_dir or _is_dir(root_fd, dest)
        if len(sources) > 1 and not names_dir:
            raise InvalidArgument(MANY_SOURCES)
        from pinnace.build.treecopy import Target, copy_file, copy_tree

        target = Target(root_fd, owner, chmod)
        for source in sources:
            host_fd = _open_source(source)
            try:
                host = f"/proc/self/fd/{host_fd}" if host_fd >= 0 else ""
                if host and os.path.isdir(host):  # by system calls: no archive in between
                    copy_tree(
                        host, target, dest.rstrip("/") or "/", excluded=source.excluded,
                        descend=source.descend, base=source.path,
                    )  # fmt: skip
                    continue
                if host and not (unpack_archives and _is_archive(host)):
                    name = source.name or os.path.basename(source.path.rstrip("/")) or "file"
                    where, name = (dest.rstrip("/") or "/", name) if into_dir else os.path.split(dest)
                    copy_file(host, target, where or "/", name)
                    continue
                where, entries = _plan(source, host, dest, into_dir, chmod, unpack_archives)
                fd = open_in_root(root_fd, where, make_dirs=True)
                try:
                    _unpack(entries, f"/proc/self/fd/{fd}", where, owner)
                finally:
                    os.close(fd)
            finally:
                if host_fd >= 0:
                    os.close(host_fd)
    finally:
        os.close(root_fd)


def _is_dir(root_fd: int, path: str) -> bool:
    from pinnace.containers.spec import open_in_root

    try:
        fd = open_in_root(root_fd, path)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _open_source(source: Source) -> int:
    """An O_PATH fd of the source, its symlinks resolved inside its root (a context's or a stage's link
    never reaches the host's files); -1 for data."""
    from pinnace.containers.spec import open_in_root

    if source.data is not None:
        return -1
    root_fd = os.open(source.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_in_root(root_fd, source.path or "/")
    except FileNotFoundError:
        raise InvalidArgument(f'"{source.path or "/"}": not found') from None
    finally:
        os.close(root_fd)


def _plan(
    source: Source, host: str, dest: str, into_dir: bool, chmod: int | None, unpack_archives: bool
) -> tuple[str, Callable[[BinaryIO], object]]:
    """(the directory to unpack in, what writes the tar of it); ``host`` is where the source is."""
    if source.data is not None:
        target, name = (dest.rstrip("/") or "/", source.name) if into_dir else os.path.split(dest)
        return target or "/", lambda out: _tar_bytes(out, name, source.data or b"", chmod or source.mode)
    st = os.stat(host)
    if stat.S_ISDIR(st.st_mode):
        return dest.rstrip("/") or "/", lambda out: _tar_tree(out, host, source, chmod)
    if unpack_archives and _is_archive(host):
        return dest.rstrip("/") or "/", lambda out: _copy_file(out, host)
    name = source.name or os.path.basename(source.path.rstrip("/")) or "file"
    target, name = (dest.rstrip("/") or "/", name) if into_dir else os.path.split(dest)
    return target or "/", lambda out: _tar_file(out, host, name, chmod)


def _unpack(produce: Callable[[BinaryIO], object], where: str, shown: str, owner: tuple[int, int]) -> None:
    from pinnace.containers.copy import consume_pipe, untar

    consume_pipe(produce, lambda stream: untar(stream, where, shown=shown, owner=owner))


def _tar_bytes(out: BinaryIO, name: str, data: bytes, mode: int) -> None:
    import io
    import tarfile
    import time

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))


def _tar_file(out: BinaryIO, host: str, name: str, chmod: int | None) -> None:
    import tarfile

    # host is an O_PATH fd's magic link: opening it opens the file itself
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar, open(host, "rb") as f:
        info = tar.gettarinfo(arcname=name, fileobj=f)
        _mode(info, chmod)
        tar.addfile(info, f)


def _tar_tree(out: BinaryIO, top: str, source: Source, chmod: int | None) -> None:
    """The directory's contents (not itself), symlinks as links, in sorted order."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk(top, source):
            path = os.path.join(top, rel)
            info = tar.gettarinfo(path, arcname=rel)
            if info.islnk():
                info.type = tarfile.REGTYPE  # hardlinks inside the context are copied as files
            if not (info.isreg() or info.isdir() or info.issym()):
                continue  # devices, fifos, sockets: docker skips what a context cannot carry
            _mode(info, chmod)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _walk(top: str, source: Source) -> Iterator[str]:
    def visit(rel: str) -> Iterator[str]:
        with os.scandir(os.path.join(top, rel) if rel else top) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if source.excluded is not None and source.excluded(_join(source.path, path)):
                if entry.is_dir(follow_symlinks=False):
                    yield from (p for p in visit(path))  # exceptions (!pattern) may re-include below
                continue
            yield path
            if entry.is_dir(follow_symlinks=False):
                yield from visit(path)

    return visit("")


def _join(base: str, rel: str) -> str:
    return f"{base.strip('/')}/{rel}" if base.strip("/") not in ("", ".") else rel


def _mode(info: tarfile.TarInfo, chmod: int | None) -> None:
    if chmod is not None and not info.issym():
        info.mode = chmod
    info.uname = info.gname = ""


def _is_archive(path: str) -> bool:
    """A tar, plain or compressed (ADD unpacks those; anything else is copied)."""
    import tarfile

    from pinnace.archive import open_decompressed

    try:
        with open(path, "rb") as f:
            stream, _ = open_decompressed(f)
            head = stream.read(512)
    except (OSError, ValueError, EOFError):
        return False
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.TarError:
        return False
    return True


def _copy_file(out: BinaryIO, path: str) -> None:
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
