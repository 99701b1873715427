"""A RUN step: the command in a container on the stage's layers; what it changed becomes a layer.

The container is docker's: its writable layer on an init layer (/etc/hosts, /etc/resolv.conf and the
other mount points, so they never land in the image), Docker's default capabilities, seccomp profile
and masked paths, run by the runtime library in a forked child whose stdout and stderr are a pipe
the builder reads (the build's output), stdin /dev/null.  The upper directory is the diff: it is
written as the layer's tar, then moved onto the stage's top layer and committed as the new layer's
snapshot (no second extraction).
"""

from __future__ import annotations

import os
import secrets

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from pinnace.images.stores import Stores


class StepFailed(PinnaceError):
    """A RUN whose command failed: buildkit's words, with the exit code."""

    def __init__(self, command: str, code: int) -> None:
        super().__init__(f'process "{command}" did not complete successfully: exit code: {code}')
        self.command = command
        self.code = code


class _Nothing:
    def __enter__(self) -> None:
        pass

    def __exit__(self, *_: object) -> None:
        pass


def _nothing() -> _Nothing:
    return _Nothing()


@record
class RunSpec:
    args: list[str]
    env: list[str]
    cwd: str = "/"
    user: str = ""
    network: str = "default"  # default (the host's, as buildkit without CNI), none, host
    mounts: Sequence[dict[str, object]] = ()  # extra OCI mounts (RUN --mount)


@record
class Layer:
    """The layer a step made: its blob (uncompressed tar) and its snapshot; None fields: no change."""

    digest: str
    size: int
    diff_id: str
    chain_id: str


def run_step(
    stores: Stores,
    runroot: str,
    parent_chain: str,
    parent_diff_ids: Sequence[str],
    spec: RunSpec,
    output: Callable[[bytes], None],
    *,
    clamp_mtime: int | None = None,
    unlocked: Callable[[], Any] = _nothing,
) -> Layer | None:
    """Run ``spec`` on the layers up to ``parent_chain``; the new layer, or None if nothing changed."""
    from pinnace.containers import layer

    step_id = secrets.token_hex(32)
    key = layer.prepare(stores, step_id, parent_chain)
    bundle = os.path.join(runroot, "build", step_id)
    rootfs = os.path.join(bundle, "rootfs")
    done = False
    try:
        layer.mount_rootfs(stores, key, rootfs)
        stubs = _missing(rootfs, [str(m["destination"]) for m in spec.mounts])
        try:
            with unlocked():  # other stages may use the store while this container runs
                code = _execute(runroot, step_id, bundle, rootfs, spec, output)
            _remove_stubs(rootfs, stubs)
        finally:
            layer.unmount_rootfs(rootfs)
        if code != 0:
            raise StepFailed(" ".join(spec.args), code)
        made = commit_layer(stores, key, parent_chain, parent_diff_ids, clamp_mtime)
        done = True
        return made
    finally:
        if not done:
            layer.remove(stores, key)
        _remove_tree(bundle)


def _execute(
    runroot: str, step_id: str, bundle: str, rootfs: str, spec: RunSpec, output: Callable[[bytes], None]
) -> int:
    """The command's exit status (128+N for a signal), its output passed to ``output`` as it comes."""
    import json

    config = _runtime_spec(step_id, bundle, rootfs, spec)
    with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the child: stdio to the pipe, then the runtime's run (create, start, wait, delete)
        code = 125
        try:
            os.close(read_end)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            from pinnace.runtime import container

            code = container.run(os.path.join(runroot, "runtime"), step_id, bundle)
        except BaseException as e:  # noqa: BLE001 - the child reports anything and exits
            try:
                os.write(2, f"{getattr(e, 'message', '') or e}\n".encode())
            except OSError:
                pass
        finally:
            os._exit(code & 0xFF if code >= 0 else 125)
    os.close(write_end)
    try:
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            output(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _missing(rootfs: str, targets: Sequence[str]) -> list[str]:
    """The ``RUN --mount`` targets (and their parents) the image lacks, deepest first: the runtime
    makes them as mount points, and they must not stay in the layer (a secret's name least of all)."""
    from pinnace.containers.spec import open_in_root

    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    missing: set[str] = set()
    try:
        for target in targets:
            path = os.path.normpath("/" + target)
            while path != "/":
                try:
                    os.close(open_in_root(root_fd, path))
                    break
                except OSError:
                    missing.add(path)
                path = os.path.dirname(path)
    finally:
        os.close(root_fd)
    return sorted(missing, key=lambda p: -p.count("/"))


def _remove_stubs(rootfs: str, stubs: Sequence[str]) -> None:
    """Remove the mount points the runtime made, if they are still empty (what the command wrote
    beside them stays)."""
    from pinnace.containers.spec import open_in_root

    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for path in stubs:
            parent, name = os.path.split(path)
            try:
                fd = open_in_root(root_fd, parent)
            except OSError:
                continue
            try:
                _remove_empty(f"/proc/self/fd/{fd}", name)
            except OSError:
                pass  # not empty, or gone: it stays as the command left it
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def _remove_empty(where: str, name: str) -> None:
    import stat

    dir_fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.lstat(name, dir_fd=dir_fd)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(name, dir_fd=dir_fd)  # fails when not empty: then it stays
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _runtime_spec(step_id: str, bundle: str, rootfs: str, spec: RunSpec) -> dict[str, object]:
    from pinnace.containers.spec import resolve_user
    from pinnace.runtime.defaults import docker_spec

    hostname = step_id[:12]
    uid, gid, groups = resolve_user(spec.user or "0", rootfs)
    config = docker_spec(
        args=spec.args,
        rootfs=rootfs,
        env=spec.env,
        cwd=spec.cwd or "/",
        user={"uid": uid, "gid": gid, "additionalGids": groups},
        hostname=hostname,
    )
    linux = config["linux"]
    linux["cgroupsPath"] = f"/pinnace/{step_id}"
    if spec.network == "host":
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    elif spec.network not in ("default", "none"):
        raise InvalidArgument(f"network mode {spec.network!r} not supported by the builder")
    if spec.network == "default":
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    files = _host_files(bundle, hostname, host_network=spec.network != "none")
    config["mounts"] = [
        *config["mounts"],
        *(
            {"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate", "ro"]}
            for dest, src in files
        ),
        *spec.mounts,
    ]
    return config


def _host_files(bundle: str, hostname: str, *, host_network: bool) -> list[tuple[str, str]]:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf for the step's container."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    resolv = ""
    if host_network:
        try:
            with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as f:
                resolv = f.read()
        except OSError:
            resolv = ""
    out = []
    for name, text in (("hosts", hosts), ("hostname", hostname + "\n"), ("resolv.conf", resolv)):
        path = os.path.join(bundle, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        out.append((f"/etc/{name}", path))
    return out


def commit_layer(
    stores: Stores, key: str, parent_chain: str, parent_diff_ids: Sequence[str], clamp_mtime: int | None
) -> Layer | None:
    """Active snapshot ``key``'s upper dir as a layer blob, and as the snapshot of the new chain ID
    (moved off the init layer a RUN's container stands on); None, and the snapshot gone, when the
    step changed nothing."""
    from pinnace.containers import layer
    from pinnace.containers.commit import EMPTY_TAR_DIGEST
    from pinnace.images.stores import unique_ref

    with stores.content.writer(unique_ref("build")) as writer:
        result = layer.diff_tar(stores, key, writer, clamp_mtime=clamp_mtime)  # type: ignore[arg-type]
        if result.diff_id == EMPTY_TAR_DIGEST:
            writer.abort()
            layer.remove(stores, key)
            return None
        info = writer.commit()
    return commit_snapshot(stores, key, parent_chain, parent_diff_ids, str(info.digest), info.size)


def commit_snapshot(
    stores: Stores, key: str, parent_chain: str, parent_diff_ids: Sequence[str], digest: str, size: int
) -> Layer:
    """Make active ``key`` (whose upper is exactly the layer ``digest``, uncompressed) the committed
    snapshot of the new chain ID on ``parent_chain``; a snapshot of that chain already there wins."""
    from pinnace.containers import layer
    from pinnace.images.unpack import has_snapshot
    from pinnace.oci.config import chain_ids

    chain = str(chain_ids([*parent_diff_ids, digest])[-1])
    if has_snapshot(stores.snapshots, chain):
        layer.remove(stores, key)
    else:
        stores.snapshots.rebase(key, parent_chain)  # type: ignore[attr-defined]
        from pinnace.images.unpack import commit

        commit(stores.snapshots, key, chain)
    return Layer(digest, size, digest, chain)


def _remove_tree(path: str) -> None:
    from pinnace._util.fs import remove_tree

    try:
        remove_tree(path)
    except OSError:
        pass  # a scratch directory under the runroot: a leftover costs nothing
