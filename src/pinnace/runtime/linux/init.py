"""The container's side of ``create`` and ``exec``: what runs in the forked children.

``create`` forks *stage 1*, which enters the container's namespaces.  A pid
namespace only applies to the children of the process that made or joined
it, so stage 1 then forks the container *init* (pid 1 inside) and exits --
with CLONE_PARENT, as runc, so the init is the parent's child;
without a pid namespace stage 1 is the init itself.  The init sets up the
root filesystem, tells the parent when hooks are due and when it is ready,
then blocks opening ``exec.fifo`` until ``start`` opens the other end, and
finally executes the user's process.  ``exec`` is the same minus the rootfs:
its stage 1 joins the init's namespaces instead.  The step order is runc's
(``standard_init_linux.go`` and ``setns_init_linux.go``).

Every function here runs after ``fork()`` in a single-threaded child and
ends in ``execve`` or ``os._exit``, never by returning: an exception must
not unwind into the parent's code.  A failure before ``Ready`` is sent to
the parent as a :class:`~pinnace.runtime.linux.sync.Failure`, so ``create``
reports it and cleans up; after ``Ready`` (the parent is gone) it is written
to the container's stderr and the process exits 127 (not found) or 126.
"""

from __future__ import annotations

import os

from pinnace.errors import NotFound
from pinnace.runtime.linux import sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pinnace.runtime.linux.syscalls import Sys

#: OCI namespace type -> the name of its file under /proc/PID/ns.
PROC_NS = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

#: Signals Python sets to SIG_IGN at start-up; an ignored signal stays ignored across execve.
_PYTHON_IGNORED = (13, 25)  # SIGPIPE, SIGXFSZ


class Job:
    """Everything the children need; it crosses the exec of stage 1 as the Go message."""

    __slots__ = (
        "bundle",
        "channel",
        "console",
        "container",
        "fifo",
        "keep_fds",
        "namespaces",
        "new_keyring",
        "no_pivot",
        "process",
        "seccomp",
        "spec",
        "sys",
    )

    #: The fields that cross an exec of stage 1 (the rest are the child's own objects).
    WIRE = (
        "spec",
        "process",
        "namespaces",
        "bundle",
        "fifo",
        "keep_fds",
        "no_pivot",
        "new_keyring",
        "container",
    )

    def __init__(
        self,
        *,
        spec: dict[str, Any],
        process: dict[str, Any],
        namespaces: list[dict[str, Any]],
        container: bool,
        channel: sync.Channel | None = None,
        sys: Sys | None = None,
        bundle: str = "",
        console: Any = None,
        fifo: str = "",
        keep_fds: int = 0,
        no_pivot: bool = False,
        new_keyring: bool = False,
        seccomp: tuple[bytes, int] | None = None,
    ) -> None:
        self.spec = spec
        self.process = process
        self.namespaces = namespaces
        self.container = container
        self.channel: sync.Channel = channel  # type: ignore[assignment]  # set by bootstrap
        self.sys: Sys = sys  # type: ignore[assignment]
        self.bundle = bundle
        self.console = console
        self.fifo = fifo
        self.keep_fds = keep_fds
        self.no_pivot = no_pivot
        self.new_keyring = new_keyring
        #: The seccomp program (BPF, seccomp(2) flags) the parent prepared, loaded last.
        self.seccomp = seccomp

    def wire(self) -> bytes:
        """The job as JSON, for a stage 1 that is a new interpreter."""
        from pinnace._util import jsonc

        data: dict[str, object] = {name: getattr(self, name) for name in self.WIRE}
        if self.seccomp is not None:
            data["seccomp"] = [self.seccomp[0].hex(), self.seccomp[1]]
        return jsonc.dumps(data, compact=True).encode()

    def memfd(self) -> int:
        """A close-on-exec memfd holding :meth:`wire`, read from its start: the job for another process."""
        fd = os.memfd_create("pinnace-job", os.MFD_CLOEXEC)
        try:
            data = memoryview(self.wire())
            while data:
                data = data[os.write(fd, data) :]
            os.lseek(fd, 0, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @classmethod
    def from_wire(cls, raw: bytes) -> Job:
        from pinnace._util import jsonc

        data: dict[str, Any] = jsonc.loads(raw)
        program = data.get("seccomp")
        return cls(
            **{name: data[name] for name in cls.WIRE},
            seccomp=(bytes.fromhex(program[0]), int(program[1])) if program else None,
        )


def bootstrap(channel_fd: int, console_fd: int, job_fd: int) -> NoReturn:
    """Stage 1's entry point in a new interpreter executed from the sealed path.

    The parent forks and executes this (``container.spawn_stage1``) when it
    does not run sealed itself, passing the sync socket, the console socket
    (or -1) and a memfd holding the job (:meth:`Job.wire`) as inherited fds.
    """
    import _socket

    for fd in (channel_fd, console_fd):
        if fd >= 0:
            os.set_inheritable(fd, False)
    resume(sync.Channel(_socket.socket(fileno=channel_fd)), job_fd, console_fd)


def resume(ch: sync.Channel, job_fd: int, console_fd: int) -> NoReturn:
    """Read the job from the memfd ``job_fd`` (closing it), then :func:`start` it."""
    import _socket

    try:
        chunks = []
        while chunk := os.read(job_fd, 1 << 20):
            chunks.append(chunk)
        os.close(job_fd)
        job = Job.from_wire(b"".join(chunks))
        console = _socket.socket(fileno=console_fd) if console_fd >= 0 else None
    except BaseException as e:
        _fail_early(ch, e)
    start(job, ch, console)


def start(job: Job, channel: sync.Channel, console: Any) -> NoReturn:
    """Stage 1 from its first instruction: wait until it is in the cgroup, then :func:`stage1`."""
    from pinnace.runtime.linux.syscalls import LinuxSys

    job.channel, job.console, job.sys = channel, console, LinuxSys()
    try:
        _restore_signals()
        preload(job)
        channel.expect(sync.Go, "start-up")
    except BaseException as e:
        _fail_early(channel, e)
    stage1(job)


def stage1(job: Job) -> NoReturn:
    """Enter the namespaces, fork the init if a pid namespace needs it, report its pid."""
    ch = job.channel
    try:
        from pinnace.runtime.linux import namespaces

        plan = namespaces.plan(job.namespaces)

        def write_maps() -> None:
            ch.send(sync.UserNamespaceReady())
            ch.expect(sync.MapsWritten, "uid/gid mapping")

        # Opened while we hold the runtime's credentials, as runc's parent opens it: the
        # init may be the root of a new user namespace, unable to walk to a 0700 --root.
        fifo_fd = os.open(job.fifo, os.O_PATH | os.O_CLOEXEC) if job.container else -1
        namespaces.enter(plan, job.sys, on_user_namespace=write_maps)
        if plan.create_flags & namespaces.CLONE_FLAGS["time"]:
            _write_time_offsets((job.spec.get("linux") or {}).get("timeOffsets") or {})
        if plan.create_flags & namespaces.CLONE_FLAGS["user"]:
            # Until now our ids were the overflow ids; become the namespace's root (runc does too).
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        kinds = {ns["type"] for ns in job.namespaces}
        if kinds & {"pid", "time"}:
            # The child waits for end-of-file on this pipe, which we give once
            # InitPid is sent: both write to the channel, and the parent must
            # read InitPid before anything the child says.  (Closing it by
            # hand, not by exiting, spares the child our exit's teardown.)
            hold, release = os.pipe()
            pid = job.sys.fork_sibling()  # the parent's child: it waits for the init directly
            if pid == 0:
                os.close(release)
                os.read(hold, 1)
                os.close(hold)
                _child(job, job.container, fifo_fd)
            os.close(hold)
            ch.send(sync.InitPid(pid=pid))
            os.close(release)
            os._exit(0)
        ch.send(sync.InitPid(pid=os.getpid()))
    except BaseException as e:
        _fail_early(ch, e)
    _child(job, job.container, fifo_fd)


def _write_time_offsets(offsets: dict[str, Any]) -> None:
    """``linux.timeOffsets`` into the new time namespace, before its first process exists.

    The kernel takes them only until a process enters the namespace, which
    is the init forked next.
    """
    from pinnace.errors import InvalidArgument

    lines = []
    for clock in ("monotonic", "boottime"):
        offset = offsets.get(clock)
        if offset is None:
            continue
        try:
            lines.append(f"{clock} {int(offset.get('secs', 0))} {int(offset.get('nanosecs', 0))}\n")
        except (AttributeError, TypeError, ValueError):
            raise InvalidArgument(f"linux.timeOffsets.{clock}: must be {{secs, nanosecs}} integers") from None
    if not lines:
        return
    try:
        fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, "".join(lines).encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise InvalidArgument(
            f"linux.timeOffsets: write /proc/self/timens_offsets: {e.strerror or e}"
        ) from None


def _child(job: Job, container: bool, fifo_fd: int) -> NoReturn:
    try:
        if container:
            init(job, fifo_fd)
        else:
            exec_process(job)
    except BaseException as e:
        _fail_early(job.channel, e)


def init(job: Job, fifo_fd: int) -> NoReturn:
    """The container init: rootfs, hooks, pivot, process set-up, wait for start, exec.

    ``fifo_fd`` is an O_PATH fd of ``exec.fifo`` that stage 1 opened.
    """
    from pinnace.runtime import hooks
    from pinnace.runtime.linux import process, rootfs

    spec, ch, sys = job.spec, job.channel, job.sys
    os.setsid()
    if job.new_keyring:
        # Its own session keyring, as runc gives each container: keys a process
        # adds are not shared with the host's session or other containers.
        sys.join_session_keyring(f"_ses.{os.path.basename(os.path.dirname(job.fifo))}")
    _close_fds(job, ch.fileno(), fifo_fd)
    rootfs.prepare(spec, job.bundle, sys)
    ch.send(sync.RootfsReady())
    state = ch.expect(sync.HooksDone, "prestart and createRuntime hooks").state
    hooks.run_hooks(spec, "createContainer", state)
    rootfs.pivot(spec, job.bundle, sys, no_pivot=job.no_pivot)
    linux = spec.get("linux") or {}
    if any(ns["type"] == "uts" and "path" not in ns for ns in job.namespaces):
        if spec.get("hostname"):
            sys.sethostname(spec["hostname"])
        if spec.get("domainname"):
            sys.setdomainname(spec["domainname"])
    if linux.get("sysctl"):
        process.apply_sysctl(linux["sysctl"])  # before finalize makes /proc/sys read-only
    rootfs.finalize(spec, sys)
    path, env = _prepare_process(job)
    ch.send(sync.Ready())
    ch.close()
    try:
        # Blocks until `start` opens the fifo for reading; the byte tells it we got through.
        fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
        os.close(fifo_fd)
        state = {**state, "status": "running"}
        hooks.run_hooks(spec, "startContainer", state)
        _exec(job, path, env)
    except BaseException as e:
        _fail_late(e)


def exec_process(job: Job) -> NoReturn:
    """A new process in a running container: console, credentials, then exec."""
    ch = job.channel
    os.setsid()
    _close_fds(job, ch.fileno())
    path, env = _prepare_process(job)
    ch.send(sync.Ready())
    ch.close()
    try:
        _exec(job, path, env)
    except BaseException as e:
        _fail_late(e)


def ready_ahead() -> None:
    """What a stage 1 started ahead (:mod:`~pinnace.runtime.linux.standby`) does before its job comes."""
    _restore_signals()
    _preload_common()


def _preload_common() -> None:
    """Import what every container needs (while the parent sets up the cgroup)."""
    import ctypes  # noqa: F401
    import resource  # noqa: F401
    import stat  # noqa: F401

    from pinnace.mount import flags
    from pinnace.runtime import hooks  # noqa: F401
    from pinnace.runtime.linux import capabilities, namespaces, process, rootfs  # noqa: F401

    flags.libc()


def preload(job: Job) -> None:
    """Import now every module the process needs once it is rooted in the container.

    After pivot_root (or after joining the container's mount namespace, for
    exec) the host's filesystem, where the interpreter finds its modules, is
    out of reach: an ``import`` there fails.  So each lazily imported module
    the later steps use is imported here, and only those the spec calls for.
    """
    _preload_common()
    if job.seccomp is not None:
        from pinnace.runtime.linux import seccomp as filters  # noqa: F401
    if job.process.get("terminal"):
        import array  # noqa: F401
        import fcntl  # noqa: F401
        import termios  # noqa: F401

        from pinnace.runtime.linux import console  # noqa: F401
    hooks = job.spec.get("hooks") or {}
    if hooks.get("createContainer") or hooks.get("startContainer"):
        import signal  # noqa: F401
        import subprocess  # noqa: F401

        from pinnace.runtime import hooks as _hooks  # noqa: F401


def _prepare_process(job: Job) -> tuple[str, list[str]]:
    """Terminal, rlimits, executable lookup, credentials and capabilities (steps 8-10)."""
    from pinnace.runtime.linux import process

    proc = job.process
    if proc.get("terminal"):
        from pinnace.runtime.linux import console

        console.setup(job.console)
        job.console = None
    linux = job.spec.get("linux") or {}
    path = process.prepare(proc, personality=linux.get("personality"))
    env = process.env_with_home(proc)
    program = job.seccomp
    load = None
    if program is not None and not proc.get("noNewPrivileges"):

        def load() -> None:
            from pinnace.runtime.linux import seccomp as filters

            filters.install(program)

    process.finalize(proc, job.sys, load_seccomp=load)
    return path, env


def _exec(job: Job, path: str, env: list[str]) -> NoReturn:
    """Load a seccomp filter that needed no_new_privs (as late as possible), then execve."""
    if job.seccomp is not None and job.process.get("noNewPrivileges"):
        from pinnace.runtime.linux import seccomp as filters

        filters.install(job.seccomp)
    try:
        os.execve(path, job.process["args"], _env_dict(env))
    except OSError as e:
        from pinnace.errors import FailedPrecondition

        kind = NotFound if isinstance(e, FileNotFoundError) else FailedPrecondition
        raise kind(f"exec {sync.describe(e)}") from None


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def _restore_signals() -> None:
    """Give the container default dispositions for the signals Python ignores."""
    import _signal  # type: ignore[import-not-found]  # signal without its enum (~4 ms)

    for signum in _PYTHON_IGNORED:
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.signal(2, _signal.SIG_DFL)  # SIGINT: Python's KeyboardInterrupt handler


def _close_fds(job: Job, *keep: int) -> None:
    """Close every fd but stdio, --preserve-fds, the console socket and ``keep`` (CVE-2024-21626).

    A host fd that reaches the container (a directory, above all) is a way
    out of its root; everything the runtime opens is close-on-exec, but
    closing explicitly also covers what the runtime inherited.
    """
    kept = set(range(3 + job.keep_fds)) | set(keep)
    if job.console is not None:
        kept.add(job.console.fileno())
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in kept:
            try:
                os.close(fd)
            except OSError:
                pass  # the fd of the listdir itself, closed by now


def _fail_early(ch: sync.Channel, exc: BaseException) -> NoReturn:
    """Report a failure to the parent (still listening) and exit."""
    try:
        ch.send(sync.failure(exc))
    except BaseException:
        _fail_late(exc)
    os._exit(1)


def _fail_late(exc: BaseException) -> NoReturn:
    """Report a failure on the container's stderr and exit 127 (not found) or 126."""
    text = sync.describe(exc)
    try:
        os.write(2, f"pinnace-runtime: {text}\n".encode())
    except OSError:
        pass
    os._exit(127 if isinstance(exc, NotFound | FileNotFoundError) else 126)
