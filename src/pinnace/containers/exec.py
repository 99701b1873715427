"""``docker exec``: a new process in a running container, made as dockerd makes it.

dockerd starts from the running container's own OCI process (its user,
capabilities, rlimits, no_new_privs, oom score) and changes only what the
exec asks for (moby daemon/exec.go ``ContainerExecCreate`` /
``ContainerExecStart`` and daemon/exec_linux.go ``execSetPlatformOpt``):

- args, the terminal, and the working directory (``-w``, else the
  Config's WorkingDir, else ``/``);
- the environment: Docker's base (PATH, HOSTNAME, TERM=xterm with ``-t``)
  under the Config's Env, under ``-e`` (``ReplaceOrAppendEnvValues`` twice);
- the user, when ``-u`` or the Config names one: resolved again now, in
  the container's own /etc/passwd and /etc/group, with its ``--group-add``;
- every capability with ``--privileged`` (the container's seccomp filter
  still applies, as in docker: it belongs to the container, not the process).

The process runs in-process through :func:`pinnace.runtime.container.exec_process`
(no monitor, no runtime CLI): it inherits the caller's stdio, so a CLI's
output reaches its terminal or pipe with no copy.  The caller arranges
stdin, stdout and stderr before calling :func:`run`.

Errors come in docker's two kinds: the container cannot take an exec
(missing, not running, paused: the API's errors, raised as they are) and
the process could not be started (:class:`ExecStartError`, with the exit
code docker's exec instance records: 127 not found, 126 otherwise).
"""

from __future__ import annotations

import os

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import Conflict, FailedPrecondition, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.service import ContainerService


@record
class ExecConfig:
    """What ``docker exec`` asks for (the API's ExecConfig, minus the attach flags)."""

    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()  # env files then -e, lookups done (KEY alone: unset)
    user: str = ""  # "": the container's Config.User
    workdir: str = ""  # "": the container's Config.WorkingDir, else "/"
    tty: bool = False
    privileged: bool = False
    detach: bool = False


@record
class ExecResult:
    """A finished (or, detached, started) exec: its ID (for events), the process's pid and exit code."""

    id: str
    pid: int
    exit_code: int  # 0 when detached


class ExecStartError(FailedPrecondition):
    """The process could not be started; ``exit_code`` is what docker records for the exec (126, 127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def warm_up() -> None:
    """Start warming the kernel's cgroup migration lock on a thread (see :mod:`pinnace.runtime.cgroups`).

    The exec joins the container's cgroups, and the first migration after a
    quiet spell waits for an RCU grace period (~10-15 ms here); a caller
    that starts this first overlaps that wait with its own set-up.
    """
    from pinnace.runtime.cgroups import warm_up as start

    start()


# --------------------------------------------------------------------------- checks


def active(service: ContainerService, ref: str) -> ContainerRecord:
    """The container ``ref`` names, if it can take an exec; else dockerd's error (getActiveContainer)."""
    rec = service.get(ref)
    if rec.status == "paused":
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    if rec.status == "restarting":
        raise Conflict(f"Container {rec.id} is restarting, wait until the container is running")
    if rec.status != "running":
        raise Conflict(f"Container {rec.id} is not running")
    return rec


def start_error(message: str) -> ExecStartError:
    """A runtime's failure to start the process as docker reports it, with docker's exit code.

    The runtime's words are wrapped as containerd wraps runc's (``OCI
    runtime exec failed: ...: unknown``) and classified as dockerd's
    ``translateContainerdStartErr`` does: not found -> 127, permission
    denied or a directory -> 126 (anything else: 126, the exec's default).
    """
    text = f"OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"
    lowered = message.lower()
    if "is a directory" in lowered:
        return ExecStartError(text + ": permission denied", 126)
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return ExecStartError(text, 127)
    return ExecStartError(text, 126)


# --------------------------------------------------------------------------- the process


def exec_env(config: Mapping[str, Any], env: Sequence[str], *, tty: bool) -> list[str]:
    """The exec's environment: Docker's base, then the container's Env, then ``env`` (moby CreateDaemonEnvironment)."""
    from pinnace.runtime.defaults import DEFAULT_PATH_ENV, merge_env

    base = [DEFAULT_PATH_ENV, f"HOSTNAME={config.get('Hostname') or ''}"]
    if tty:
        base.append("TERM=xterm")
    return merge_env(merge_env(base, config.get("Env") or ()), env)


def build_process(
    rec: ContainerRecord, container_process: Mapping[str, Any], options: ExecConfig, *, rootfs: str
) -> dict[str, Any]:
    """The OCI process of the exec, from the container's own process (see the module's docstring).

    ``rootfs`` is the container's mounted root, where a user name is looked
    up.  Raises :class:`ExecStartError` (126) for a user docker cannot
    resolve, in docker's words.
    """
    config = rec.config
    process: dict[str, Any] = jsonc.loads(jsonc.dumps(container_process))  # a deep copy
    process["args"] = list(options.cmd)
    process["env"] = exec_env(config, options.env, tty=options.tty)
    process["terminal"] = options.tty  # detached, :func:`_terminal_holder` holds the pty
    process["cwd"] = options.workdir or str(config.get("WorkingDir") or "") or "/"
    process.pop("consoleSize", None)
    user = options.user or str(config.get("User") or "")
    if user:
        from pinnace.containers import spec

        group_add = rec.host_config.get("GroupAdd") or ()
        try:
            uid, gid, groups = spec.resolve_user(user, rootfs, group_add)
        except PinnaceError as e:
            raise ExecStartError(str(e), 126) from None
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": groups}
    if options.privileged:
        from pinnace.runtime.defaults import current_capabilities

        caps = current_capabilities()
        process["capabilities"] = {"bounding": caps, "effective": list(caps), "permitted": list(caps)}
    return process


def container_process(service: ContainerService, container_id: str) -> dict[str, Any]:
    """The running container's OCI process, from the bundle its start wrote."""
    path = os.path.join(service.runroot, "containers", container_id, "bundle", "config.json")
    try:
        with open(path, "rb") as f:
            document: dict[str, Any] = jsonc.loads(f.read())
    except FileNotFoundError:
        raise Conflict(f"Container {container_id} is not running") from None
    return dict(document.get("process") or {})


# --------------------------------------------------------------------------- running it


def _action(name: str, cmd: Sequence[str]) -> str:
    """dockerd's event action for an exec: ``exec_create: sh -c true`` (entrypoint, a space, the args)."""
    return f"{name}: {cmd[0] if cmd else ''} {' '.join(cmd[1:])}"


def _attributes(rec: ContainerRecord, exec_id: str, **extra: str) -> dict[str, str]:
    """An exec event's attributes: the container's labels, image and name (as every container event), execID."""
    return {**rec.labels, "execID": exec_id, "image": rec.image_name, "name": rec.name, **extra}


def prepare(
    service: ContainerService, ref: str, options: ExecConfig
) -> tuple[ContainerRecord, str, dict[str, Any]]:
    """Check the container, build the process and log ``exec_create``: (the container, the exec's ID, the process)."""
    from pinnace.containers import names

    rec = active(service, ref)
    exec_id = names.new_id()
    process = process_of(service, rec, options)
    log_create(service, rec, exec_id, options.cmd)
    return rec, exec_id, process


def process_of(service: ContainerService, rec: ContainerRecord, options: ExecConfig) -> dict[str, Any]:
    """The exec's OCI process in the running container ``rec`` (:func:`build_process` on its bundle's)."""
    return build_process(rec, container_process(service, rec.id), options, rootfs=service.rootfs(rec.id))


def log_create(service: ContainerService, rec: ContainerRecord, exec_id: str, cmd: Sequence[str]) -> None:
    """Log ``exec_create`` (the API logs it when the exec is created, before it is started)."""
    from pinnace.events import append_event

    append_event(service.db, "container", _action("exec_create", cmd), rec.id, _attributes(rec, exec_id))


def run(service: ContainerService, ref: str, options: ExecConfig) -> ExecResult:
    """Run ``options.cmd`` in container ``ref`` on the caller's stdio; its exit code (128+N on signal N).

    Detached, return once the process runs (exit code 0): it goes on in the
    container alone.  With a terminal, the runtime relays our stdio through
    the process's pty.  Events: ``exec_create``, ``exec_start``,
    ``exec_die`` (not for a detached exec: nobody is left to see it end).
    """
    rec, exec_id, process = prepare(service, ref, options)
    pid, code = start(service, rec, exec_id, process, options.cmd, detach=options.detach, ref=ref)
    if not options.detach:
        died(service, rec, exec_id, code)
    return ExecResult(id=exec_id, pid=pid, exit_code=code)


def died(service: ContainerService, rec: ContainerRecord, exec_id: str, code: int) -> None:
    """Log ``exec_die`` with the process's exit code."""
    from pinnace.events import append_event

    append_event(service.db, "container", "exec_die", rec.id, _attributes(rec, exec_id, exitCode=str(code)))


def log_start(service: ContainerService, rec: ContainerRecord, exec_id: str, cmd: Sequence[str]) -> None:
    """Log ``exec_start`` (dockerd logs it as the start begins, before it can fail)."""
    from pinnace.events import append_event

    append_event(service.db, "container", _action("exec_start", cmd), rec.id, _attributes(rec, exec_id))


def start(
    service: ContainerService,
    rec: ContainerRecord,
    exec_id: str,
    process: dict[str, Any],
    cmd: Sequence[str],
    *,
    detach: bool,
    ref: str = "",
    console: Any = None,
) -> tuple[int, int]:
    """Log ``exec_start`` and start the process: (its pid, its exit code, or 0 when ``detach``).

    Not detached, this waits for it (forwarding our signals to it).  With a
    ``console`` (a connected unix socket) and a terminal, the pty's master
    goes there (the API service relays it) instead of being relayed to our
    stdio.  Errors in docker's words (:func:`translate`).
    """
    log_start(service, rec, exec_id, cmd)
    held = None
    if detach and process.get("terminal") and console is None:
        console = held = _terminal_holder()
    try:
        return service.runtime(rec).exec_process(rec.id, process, detach=detach, console=console)
    except PinnaceError as e:
        raise translate(e, rec, ref or rec.id) from None
    finally:
        if held is not None:
            held.close()


def _terminal_holder() -> Any:
    """The container's end of a console socket whose pty master a small process of its own receives and
    holds, reading and dropping the output until the exec ends: ``exec -dt`` gets its terminal, as
    containerd's shim holds a detached exec's.  (Closed, the master would hang the process up.)"""
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = os.fork()
    if child == 0:  # pragma: no cover - a forked process
        try:
            if os.fork() == 0:  # the holder: no parent waits for it, init reaps it
                os.setsid()
                theirs.close()
                _hold(ours)
        finally:
            os._exit(0)
    ours.close()
    os.waitpid(child, 0)
    return theirs


def _hold(console: Any) -> None:
    """In the holder: take the master, let go of every other fd (a caller's pipe held open would keep
    its reader waiting), drain the master until the exec's end (EIO) or the sender's going."""
    import socket

    try:
        _, fds, _, _ = socket.recv_fds(console, 1024, 1)
    except OSError:
        return
    if not fds:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    master = os.dup2(fds[0], 3, inheritable=False)
    os.closerange(4, 65536)
    try:
        while os.read(master, 65536):
            pass
    except OSError:
        pass


def translate(error: PinnaceError, rec: ContainerRecord, ref: str) -> PinnaceError:
    """The runtime's error starting an exec in dockerd's words: the container's state, or :func:`start_error`."""
    text = str(error)
    if isinstance(error, NotFound) and "container does not exist" in text:
        return Conflict(f"Container {rec.id} is not running")  # it ended meanwhile
    if isinstance(error, FailedPrecondition) and "paused" in text:
        return Conflict(f"Container {ref} is paused, unpause the container before exec")
    if isinstance(error, FailedPrecondition) and "stopped" in text:
        return Conflict(f"Container {rec.id} is not running")
    return start_error(text)
