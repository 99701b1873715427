"""The runtime as a library: create, start, state, kill, delete, run, exec and friends.

Each function is one runc verb, taking the state root (runc's ``--root``)
and a container ID; ``pinnace-runtime`` is a thin command line over them and
the engine calls them in-process.  They run in the *parent*: the host-side
half of the choreography whose container-side half is
:mod:`pinnace.runtime.linux.init`.

Verbs that change a container hold its ``lock`` (an flock in its state
directory) so that, e.g., ``delete`` cannot remove a container ``start`` is
starting.  A failed ``create`` removes what it made (processes, cgroup,
state directory) before raising: nothing of it remains, as the runtime
issue requires of bad specs.
"""

from __future__ import annotations

import os

from pinnace._util import jsonc
from pinnace._util.lock import FileLock
from pinnace.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    PinnaceError,
    Unavailable,
)
from pinnace.runtime import state as st
from pinnace.runtime.linux import sync
from pinnace.runtime.signals import exit_code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.runtime.cgroups import Manager
    from pinnace.runtime.linux.init import Job
    from pinnace.runtime.linux.standby import Standby
    from pinnace.runtime.linux.syscalls import Sys

#: How long delete waits for killed processes to leave the cgroup.
KILL_TIMEOUT = 10.0

_PR_SET_CHILD_SUBREAPER = 36


def _sys() -> Sys:
    from pinnace.runtime.linux.syscalls import LinuxSys

    return LinuxSys()


def cgroup_path(spec: dict[str, Any], container_id: str) -> str:
    """The container's ``cgroupsPath``; runc's default (``/<id>``) when the spec has none."""
    path = (spec.get("linux") or {}).get("cgroupsPath")
    return str(path) if path else f"/{container_id}"


def _manager(path: str) -> Manager:
    from pinnace.runtime.cgroups import manager_for

    return manager_for(path)


def _cool_down() -> None:
    from pinnace.runtime.cgroups import cool_down

    cool_down()


def _lock(root: str, container_id: str) -> FileLock:
    """The container's lock; NotFound (in runc's words) when the container does not exist."""
    directory = st.container_dir(root, container_id)
    if not os.path.isdir(directory):
        raise NotFound(f"container does not exist: {container_id}")
    return FileLock(os.path.join(directory, st.LOCK))


def _now() -> str:
    """RFC 3339 UTC with nanoseconds, as runc writes ``created``."""
    import time

    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


def set_subreaper() -> None:
    """Become the reaper of orphaned descendants, so a container init a child of ours creates becomes ours.

    The init is the child of the process that calls :func:`create` (stage 1
    forks it with CLONE_PARENT); the engine's monitor creates containers from
    a short-lived child and, as a subreaper, inherits the init when that
    child exits.
    """
    _sys().prctl(_PR_SET_CHILD_SUBREAPER, 1)


# -- create --------------------------------------------------------------------------------------------


def load_bundle(bundle: str) -> tuple[dict[str, Any], str]:
    """The bundle's validated spec and absolute rootfs path; checks what create needs up front."""
    from pinnace.runtime import hooks
    from pinnace.runtime.spec import load_spec

    spec = load_spec(os.path.join(bundle, "config.json"))
    hooks.validate_hooks(spec)
    if spec.get("process") is None:
        raise InvalidArgument("process: the container has no process to run")
    rootfs = os.path.join(bundle, spec["root"]["path"])
    if not os.path.isdir(rootfs):
        raise NotFound(f"root.path: rootfs ({rootfs}) does not exist")
    namespaces = (spec.get("linux") or {}).get("namespaces") or []
    if not any(ns.get("type") == "mount" and "path" not in ns for ns in namespaces):
        raise NotImplementedYet("linux.namespaces: a new mount namespace is required")
    return spec, rootfs


def create(
    root: str,
    container_id: str,
    bundle: str,
    *,
    pid_file: str = "",
    console_socket: str = "",
    console: Any = None,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    preserve_fds: int = 0,
    loaded: tuple[dict[str, Any], str] | None = None,
) -> st.State:
    """Create the container (its init waits for ``start``); return its state.

    ``console`` is an already connected console socket (``run`` passes its
    own); ``console_socket`` a path to connect to.  A terminal without
    either is refused, as runc refuses it.  The init is this process's
    child (stage 1 forks it with ``CLONE_PARENT``, as runc's does), so
    ``run`` waits for it directly.
    """
    from pinnace.runtime.cgroups import warm_up

    warm_up()  # the CLI started it already; the library's other callers start it here
    bundle = os.path.abspath(bundle)
    directory = st.container_dir(root, container_id)
    os.makedirs(root, 0o711, exist_ok=True)
    try:
        os.mkdir(directory, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container with id exists: {container_id}") from None
    try:
        with _lock(root, container_id):
            spec, rootfs = loaded or load_bundle(bundle)
            process = spec["process"]
            if process.get("terminal") and not console_socket and console is None:
                raise InvalidArgument(
                    "cannot allocate tty if runc will detach without setting console socket"
                )
            if not process.get("terminal") and console_socket:
                raise InvalidArgument("cannot use console socket if runc will not detach or allocate tty")
            from pinnace._util.fs import atomic_write

            atomic_write(os.path.join(directory, st.CONFIG_FILE), jsonc.dumps(spec).encode(), durable=False)
            fifo = os.path.join(directory, st.FIFO)
            os.mkfifo(fifo, 0o622)
            # chmod, as runc clears its umask: a process with another user (podman's
            # `-u 1000`, no capabilities) must still open the fifo for writing.
            os.chmod(fifo, 0o622)
            state = _create(
                root,
                container_id,
                bundle,
                rootfs,
                spec,
                console_socket,
                console,
                no_pivot,
                no_new_keyring,
                preserve_fds,
            )
            if pid_file:
                write_pid_file(pid_file, state.pid)
            return state
    except BaseException:
        _remove_dir(directory)
        raise


def _create(
    root: str,
    container_id: str,
    bundle: str,
    rootfs: str,
    spec: dict[str, Any],
    console_socket: str,
    console: Any,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
) -> st.State:
    from pinnace.runtime import hooks
    from pinnace.runtime.linux.init import Job

    linux = spec.get("linux") or {}
    cgroup = cgroup_path(spec, container_id)
    if console is None and console_socket:
        from pinnace.runtime.linux import console as consoles

        console = consoles.connect(console_socket)
    job = Job(
        spec=spec,
        process=spec["process"],
        namespaces=linux.get("namespaces") or [],
        container=True,
        bundle=bundle,
        fifo=os.path.join(root, container_id, st.FIFO),
        keep_fds=preserve_fds,
        no_pivot=no_pivot,
        new_keyring=not no_new_keyring,
        seccomp=_seccomp_program(root, spec),
    )
    # Stage 1 first: it loads the init's modules while we work out its cgroup.
    parent, stage = spawn_stage1(root, job, console)
    init_pid = 0
    manager: Manager | None = None
    try:
        manager = _manager(cgroup)
        manager.apply(stage)
        _cool_down()  # the lock is warm for what follows: the warming thread may end
        parent.send(sync.Go())
        # The limits are written while stage 1 and the init build the container (two cores
        # work at once): they hold before the user's process runs, which waits for start().
        # The pids limit waits until stage 1 is gone: it forks the init inside the cgroup, and a
        # limit of 1 (docker's --pids-limit 1, which runc honours) would refuse that fork.
        resources = dict(linux.get("resources") or {})
        pids_limit = resources.pop("pids", None)
        if resources:
            manager.set(_with_runc_devices(resources))
        oci = {
            "ociVersion": spec["ociVersion"],
            "id": container_id,
            "status": "creating",
            "pid": 0,
            "bundle": bundle,
            "annotations": spec.get("annotations") or {},
        }
        while True:
            message = parent.recv()
            if isinstance(message, sync.UserNamespaceReady):
                write_id_maps(stage, linux)
                parent.send(sync.MapsWritten())
            elif isinstance(message, sync.InitPid):
                init_pid = message.pid
                oci["pid"] = init_pid
                if init_pid != stage:
                    _reap(stage)
                if pids_limit is not None:
                    manager.set({"pids": pids_limit})
            elif isinstance(message, sync.RootfsReady):
                hooks.run_hooks(spec, "prestart", oci)
                hooks.run_hooks(spec, "createRuntime", oci)
                parent.send(sync.HooksDone(state=oci))
            elif isinstance(message, sync.Ready):
                break
            elif isinstance(message, sync.Failure):
                raise sync.error_of(message)
            else:
                raise Unavailable(f"container init exited before it was ready (unexpected: {message!r})")
        pid_start = st.start_time(init_pid)
        if pid_start is None:
            raise Unavailable("container init exited before it was ready")
        state = st.State(
            id=container_id,
            pid=init_pid,
            pid_start=pid_start,
            bundle=bundle,
            rootfs=rootfs,
            created=_now(),
            cgroup=cgroup,
            annotations=dict(spec.get("annotations") or {}),
        )
        st.save(os.path.join(root, container_id), state)
        return state
    except BaseException:
        for pid in (stage, init_pid):
            if pid:
                _kill(pid, 9)
                _reap(pid)  # the init too: stage 1 forks it as our child (CLONE_PARENT)
        if manager is not None:
            _destroy_cgroup(manager)
        raise
    finally:
        parent.close()


def _with_runc_devices(resources: dict[str, Any]) -> dict[str, Any]:
    """``resources`` with runc's always-allowed devices after the spec's own rules.

    runc appends them to every container, so a bundle that denies all
    devices (as ``runc spec`` writes) still gets /dev/null and the ptys.
    """
    if not resources.get("devices"):
        return resources
    from pinnace.runtime.cgroups.devices import RUNC_ALLOWED_DEVICES

    return {**resources, "devices": [*resources["devices"], *RUNC_ALLOWED_DEVICES]}


def _start_stage1(root: str, job: Job, channel: sync.Channel, peer: sync.Channel, console: Any) -> int:
    """Start stage 1 of ``job`` from a sealed interpreter (CVE-2019-5736); its pid.

    Every process that enters the container must run from a read-only bind
    of the interpreter (:mod:`pinnace.runtime.linux.sealed`).  When this
    process already does (the ``pinnace-runtime`` launcher), a fork is
    enough and the job stays in memory; otherwise stage 1 is executed
    through the sealed path under ``root`` (an interpreter start) and reads
    the job from a memfd.  ``peer`` is the parent's end of the channel,
    closed in the child so that the parent's death reads as end-of-file.
    """
    from pinnace.runtime.linux import init, sealed

    console_fd = console.fileno() if console is not None else -1
    if sealed.is_sealed():
        pid = os.fork()
        if pid == 0:
            try:
                peer.close()
                init.start(job, channel, console)
            finally:
                os._exit(127)
        _start_elsewhere(pid)
        return pid
    import sys as _sys_module

    python = sealed.interpreter(root)
    job_fd = job.memfd()
    try:
        fds = (channel.fileno(), console_fd, job_fd)
        code = (
            f"import sys; sys.path[:0] = {_sys_module.path!r}; "
            f"from pinnace.runtime.linux.init import bootstrap; bootstrap{fds}"
        )
        pid = os.fork()
        if pid == 0:
            try:
                peer.close()
                for fd in fds:
                    if fd >= 0:
                        os.set_inheritable(fd, True)
                os.execve(python, [python, "-IS", "-c", code], os.environ)
            finally:
                os._exit(127)
    finally:
        os.close(job_fd)
    return pid


def _start_elsewhere(pid: int) -> None:
    """Have our new child ``pid`` start on another CPU than ours, at once.

    The kernel queues a forked child on its parent's CPU, where it waits
    until the parent sleeps (here: after the cgroup work, 1-3 ms) while the
    other CPUs idle.  Restricting it to the others moves it now; widening
    its mask back right away leaves it where it is, with our affinity (which
    the container inherits).  The native launcher does the same for the
    stage 1 it starts ahead (``runtime/launcher.c``).
    """
    try:
        ours = os.sched_getaffinity(0)
        with open("/proc/self/stat", "rb") as f:
            cpu = int(f.read().rpartition(b")")[2].split()[36])  # field 39: the CPU we last ran on
        if len(ours) > 1 and cpu in ours:
            os.sched_setaffinity(pid, ours - {cpu})
            os.sched_setaffinity(pid, ours)
    except (OSError, ValueError, IndexError):
        pass  # only a hint


def spawn_stage1(root: str, job: Job, console: Any) -> tuple[sync.Channel, int]:
    """Start stage 1 of ``job``; (the parent's end of the sync channel, stage 1's pid).

    Our copies of the child's channel end and of ``console`` are closed
    once it runs (a runtime-owned console keeps its other end).
    """
    import sys

    # Only the CLI adopts a standby (and so loads the module): the engine's monitors need not import it.
    standby = sys.modules.get("pinnace.runtime.linux.standby")
    ahead: Standby | None = standby.take() if standby is not None else None
    if ahead is not None:
        try:
            handed = ahead.hand(job, console)
        except Unavailable:
            ahead.dismiss()  # it is gone (killed?): start one ourselves
        else:
            if console is not None:
                console.close()
            return handed
    parent, child = sync.socketpair()
    try:
        stage = _start_stage1(root, job, child, parent, console)
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
        if console is not None:
            console.close()
    return parent, stage


def _seccomp_program(root: str, spec: dict[str, Any]) -> tuple[bytes, int] | None:
    """The spec's seccomp filter compiled (or read from ``<root>/.seccomp``) before any fork.

    Compiling here, on the host, keeps libseccomp and the cache out of the
    container's reach, and a bad section fails before anything starts.
    """
    section = (spec.get("linux") or {}).get("seccomp")
    if section is None:
        return None
    from pinnace.runtime.linux import seccomp

    return seccomp.prepare(section, cache_dir=os.path.join(root, ".seccomp"))


def write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    """Write the spec's uid/gid mappings for the user namespace of ``pid`` (the parent's job)."""
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or [])
        if not lines:
            continue
        path = f"/proc/{pid}/{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, lines.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise FailedPrecondition(f"linux.{key}: write {path}: {e.strerror or e}") from None


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` atomically (runc writes it through a temp file and a rename too)."""
    from pinnace._util.fs import atomic_write

    atomic_write(os.path.abspath(path), str(pid).encode(), durable=False)


def _reap(pid: int) -> int | None:
    """waitpid ``pid`` if it is our child; its wait status, or None if it is not ours."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _destroy_cgroup(manager: Manager) -> None:
    """Kill whatever is left in the cgroup, wait for it to empty, remove it."""
    try:
        manager.destroy()  # most often empty already: the init was the last process
        return
    except Conflict:
        pass
    except NotFound:
        return
    import time

    deadline = time.monotonic() + KILL_TIMEOUT
    try:
        if manager.frozen():
            manager.freeze(False)
    except PinnaceError:
        pass
    while True:
        try:
            pids = manager.pids()
        except PinnaceError:
            pids = []
        for pid in pids:
            _kill(pid, 9)
            _reap(pid)
        try:
            manager.destroy()
            return
        except Conflict:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
        except NotFound:
            return


def _remove_dir(directory: str) -> None:
    """Remove a state directory (files only, no subdirectories) without importing shutil."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass


# -- start, state, kill, delete -----------------------------------------------------------------------------


def current(root: str, container_id: str) -> tuple[st.State, str]:
    """The container's state and OCI status."""
    state = st.load(root, container_id)
    return state, _status(root, state, None)


def _status(root: str, state: st.State, manager: Manager | None) -> str:
    """The OCI status of ``state`` (``manager``, if given, is its cgroup's: asked whether it is frozen)."""
    frozen = False
    if st.alive(state):
        frozen = (manager or _manager(state.cgroup)).frozen()
    return st.status(root, state, frozen)


def state(root: str, container_id: str) -> dict[str, Any]:
    """The OCI state document of ``runc state``."""
    s, status = current(root, container_id)
    return st.oci_state(s, status)


def start(root: str, container_id: str) -> list[str]:
    """Let a created container's init execute the user's process; run poststart hooks.

    Returns the poststart hooks' failures: the spec has the runtime log them
    and carry on.
    """
    with _lock(root, container_id):
        s, status = current(root, container_id)
        if status != "created":
            if status == "stopped":
                raise FailedPrecondition("cannot start a container that has stopped")
            raise FailedPrecondition("cannot start an already running container")
        _release(root, s)
    return _poststart(st.load_config(root, container_id), s)


def _release(root: str, s: st.State) -> None:
    """Let the created init of ``s`` execute the user's process (under the container's lock)."""
    fifo = os.path.join(root, s.id, st.FIFO)
    try:
        _open_exec_fifo(fifo, s.pid)
    except FileNotFoundError:
        raise FailedPrecondition("cannot start an already running container") from None
    os.unlink(fifo)


def _poststart(config: dict[str, Any], s: st.State) -> list[str]:
    """Run the poststart hooks of a container just started; their failures."""
    from pinnace.runtime import hooks

    return hooks.run_hooks_warn(config, "poststart", st.oci_state(s, "running"))


def _open_exec_fifo(fifo: str, pid: int) -> None:
    """Open the fifo's read end and wait for the init's byte, or for the init to die."""
    import select

    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.close(fd)
        raise FailedPrecondition("cannot start a container that has stopped") from None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if fd in events:
                data = os.read(fd, 1)
                if data == b"0":
                    return
            if pidfd in events:
                raise FailedPrecondition("container init exited before it was started")
    finally:
        os.close(fd)
        os.close(pidfd)


def kill(root: str, container_id: str, signum: int, *, all_processes: bool = False) -> None:
    """Send ``signum`` to the init, or with ``all_processes`` to every process in the cgroup."""
    s, status = current(root, container_id)
    if status == "stopped":
        raise FailedPrecondition("container not running")
    if not all_processes:
        _kill(s.pid, signum)
        return
    manager = _manager(s.cgroup)
    for pid in manager.pids():
        _kill(pid, signum)


def delete(root: str, container_id: str, *, force: bool = False) -> list[str]:
    """Remove a stopped (or created) container; ``force`` kills a running one first.

    Returns the poststop hooks' failures (logged, not fatal, per the spec).
    """
    directory = st.container_dir(root, container_id)
    if not os.path.isdir(directory):
        if force:
            return []
        raise NotFound(f"container does not exist: {container_id}")
    with _lock(root, container_id):
        try:
            s = st.load(root, container_id)
        except NotFound:
            _abandoned_create(root, container_id)
            _remove_dir(directory)
            return []
        manager = _manager(s.cgroup)
        status = _status(root, s, manager)
        if status in ("running", "paused") and not force:
            raise FailedPrecondition(f"cannot delete container {container_id} that is not stopped: {status}")
        try:
            config = st.load_config(root, container_id)
        except (OSError, ValueError):
            config = {}
        return _remove(root, s, config, manager)


def _remove(root: str, s: st.State, config: dict[str, Any], manager: Manager) -> list[str]:
    """Kill what is left of the container ``s``, remove its cgroup, mounts and state; poststop's failures.

    Called under the container's lock; ``config`` is its spec, ``manager`` its cgroup's.
    """
    if st.alive(s):
        _kill(s.pid, 9)
        _reap(s.pid)
    _destroy_cgroup(manager)
    if not s.own_mount_ns:
        from pathlib import Path

        from pinnace.mount.ops import unmount_all

        unmount_all(Path(s.rootfs))
    from pinnace.runtime import hooks

    warnings = hooks.run_hooks_warn(config, "poststop", st.oci_state(s, "stopped"))
    _remove_dir(st.container_dir(root, s.id))
    return warnings


def _abandoned_create(root: str, container_id: str) -> None:
    """Clean up after a ``create`` killed before it finished: its processes and cgroup.

    It saved the validated config before forking, so the cgroup path is
    known; whatever runs in that cgroup is the half-made container.
    """
    try:
        config = st.load_config(root, container_id)
    except (OSError, ValueError):
        return
    try:
        _destroy_cgroup(_manager(cgroup_path(config, container_id)))
    except PinnaceError:
        pass


def list_containers(root: str) -> list[dict[str, Any]]:
    """The OCI state of every container under ``root``."""
    out = []
    for container_id in st.ids(root):
        try:
            out.append(state(root, container_id))
        except (NotFound, InvalidArgument):
            continue  # deleted meanwhile
    return out


def pause(root: str, container_id: str) -> None:
    """Freeze every process of a running container."""
    s, status = current(root, container_id)
    if status != "running":
        raise FailedPrecondition(
            f"container not running: {container_id}"
            if status != "paused"
            else f"container already paused: {container_id}"
        )
    _manager(s.cgroup).freeze(True)


def resume(root: str, container_id: str) -> None:
    """Thaw a paused container."""
    s, status = current(root, container_id)
    if status != "paused":
        raise FailedPrecondition(f"container not paused: {container_id}")
    _manager(s.cgroup).freeze(False)


def pids(root: str, container_id: str) -> list[int]:
    """Every process of the container (``runc ps``)."""
    s, _ = current(root, container_id)
    return sorted(_manager(s.cgroup).pids())


def update(root: str, container_id: str, resources: dict[str, Any]) -> None:
    """Change a live container's cgroup limits (an OCI ``linux.resources`` subset)."""
    s, status = current(root, container_id)
    if status == "stopped":
        raise FailedPrecondition(f"container not running: {container_id}")
    _manager(s.cgroup).set(resources)


def stats(root: str, container_id: str) -> dict[str, Any]:
    """The cgroup statistics ``events --stats`` prints."""
    s, _ = current(root, container_id)
    return _manager(s.cgroup).stats()


# -- run and exec: a process we wait for -------------------------------------------------------------------


def wait_for(pid: int) -> int:
    """Wait for ``pid`` (our child), forwarding signals to it; its exit code.

    Other children that end meanwhile (the launcher's warmer, orphans of a
    subreaper) are reaped as they come.
    """
    import _signal  # type: ignore[import-not-found]  # signal without its enum (~4 ms)

    forwarded = (1, 2, 3, 10, 12, 15, 28)  # HUP INT QUIT USR1 USR2 TERM WINCH
    previous = {sig: _signal.signal(sig, lambda signum, _frame: _kill(pid, signum)) for sig in forwarded}
    try:
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255
            if got == pid:
                return exit_code(status)
    finally:
        for sig, handler in previous.items():
            _signal.signal(sig, handler)


def exec_process(
    root: str,
    container_id: str,
    process: dict[str, Any],
    *,
    pid_file: str = "",
    console_socket: str = "",
    console: Any = None,
    preserve_fds: int = 0,
    detach: bool = False,
) -> tuple[int, int]:
    """Run ``process`` in the running container; (its pid, its exit code or 0 when detached)."""
    from pinnace.runtime.linux.init import PROC_NS, Job
    from pinnace.runtime.spec import validate_spec

    s, status = current(root, container_id)
    if status == "stopped":
        raise FailedPrecondition("cannot exec in a stopped container")
    if status == "paused":
        raise FailedPrecondition("cannot exec in a paused container (use resume first)")
    config = st.load_config(root, container_id)
    validate_spec({**config, "process": process})
    ours = None
    if process.get("terminal") and not console_socket and console is None:
        if detach:
            raise InvalidArgument("cannot allocate tty if runc will detach without setting console socket")
        ours, console = _console_pair()
    if console is None and console_socket:
        from pinnace.runtime.linux import console as consoles

        console = consoles.connect(console_socket)
    namespaces = [
        {"type": ns["type"], "path": f"/proc/{s.pid}/ns/{PROC_NS[ns['type']]}"}
        for ns in (config.get("linux") or {}).get("namespaces") or []
    ]
    job = Job(
        spec=config,
        process=process,
        namespaces=namespaces,
        container=False,
        keep_fds=preserve_fds,
        seccomp=_seccomp_program(root, config),
    )
    parent, stage = spawn_stage1(root, job, console)
    pid = 0
    try:
        _manager(s.cgroup).apply(stage)
        _cool_down()  # the lock is warm for what follows: the warming thread may end
        parent.send(sync.Go())
        pid = parent.expect(sync.InitPid, "joining the container's namespaces").pid
        if pid != stage:
            _reap(stage)
        parent.expect(sync.Ready, "process set-up")
    except BaseException:
        for p in (stage, pid):
            if p:
                _kill(p, 9)
                _reap(p)
        raise
    finally:
        parent.close()
    if pid_file:
        write_pid_file(pid_file, pid)
    if detach:
        return pid, 0
    if ours is not None:
        _attach_terminal(ours, pid)
    return pid, wait_for(pid)


def _console_pair() -> tuple[Any, Any]:
    """(our end, the container's end) of a console socket the runtime itself listens on."""
    import _socket

    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)


def _attach_terminal(ours: Any, pid: int) -> None:
    """Receive the pty master on ``ours`` and relay our stdio through it until ``pid`` exits."""
    from pinnace.runtime.linux import console

    try:
        master = console.recv_fd(ours)
    finally:
        ours.close()
    try:
        console.pump(master, pid)
    finally:
        os.close(master)


def run(
    root: str,
    container_id: str,
    bundle: str,
    *,
    pid_file: str = "",
    console_socket: str = "",
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    preserve_fds: int = 0,
    detach: bool = False,
    keep: bool = False,
    warn: Callable[[str], None] | None = None,
) -> int:
    """create + start (+ wait and delete unless ``detach``): the container's exit code.

    In the foreground with a terminal and no console socket, the runtime is
    the terminal's other end and relays its own stdio (as ``runc run`` does).
    """
    from pinnace.runtime.cgroups import warm_up

    warm_up()  # as early as create's cgroup work allows: the grace period overlaps the bundle's loading
    ours = console = None
    bundle = os.path.abspath(bundle)
    loaded = load_bundle(bundle)
    if not detach and not console_socket and loaded[0]["process"].get("terminal"):
        ours, console = _console_pair()
    s = create(
        root,
        container_id,
        bundle,
        loaded=loaded,
        pid_file=pid_file,
        console_socket=console_socket,
        console=console,
        no_pivot=no_pivot,
        no_new_keyring=no_new_keyring,
        preserve_fds=preserve_fds,
    )
    spec = loaded[0]
    manager = _manager(s.cgroup)  # its modules are loaded: ~0.1 ms
    report = warn or (lambda _line: None)
    # What start and delete would read back (state, config) is in hand.
    try:
        with _lock(root, container_id):
            _release(root, s)
        for line in _poststart(spec, s):
            report(line)
    except BaseException:
        delete(root, container_id, force=True)
        raise
    if detach:
        return 0
    try:
        if ours is not None:
            _attach_terminal(ours, s.pid)
        return wait_for(s.pid)
    finally:
        if not keep:
            try:
                lock = _lock(root, container_id)
            except NotFound:
                pass  # deleted meanwhile, by someone else
            else:
                with lock:
                    for line in _remove(root, s, spec, manager):
                        report(line)
