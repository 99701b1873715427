"""The monitor of one container: runs it, holds its stdio, logs it, serves attach, restarts it.

Daemonless means no long-lived engine owns a container's stdio, so each
container gets this small process (conmon's role in podman, the shim's in
containerd).  Monitors are forked by the store's zygote
(:mod:`pinnace.shim.zygote`), a warm process that has the runtime library
and this module loaded already, so a monitor costs no interpreter start on
the path of ``run`` and shares most of its memory with the zygote and the
other monitors.  :func:`spawn` asks the zygote for one; :func:`serve` is its
life, detached from whoever asked (a ``run -d`` container outlives the CLI):

1. it listens on the attach socket (:mod:`pinnace.shim.protocol`) and gives
   the container a pty (``-t``) or pipes (stdout, stderr, stdin with ``-i``);
2. a short-lived child creates the container with the runtime
   (:mod:`pinnace.shim.runtimes`: ours in-process, or runc/crun) and starts
   it, after the first attach client connected when asked to (``run`` and
   ``start -a`` attach before the start, as docker's CLI does, so no output
   is missed); what creation allocates dies with that child;
3. it copies the container's output into the log and to attached clients,
   client input to the container's stdin, applies window sizes, runs the
   healthcheck command every interval, reaps the container, and then
4. restarts it (the restart policy, with docker's back-off) or finishes:
   removes the runtime's container, unmounts the root filesystem, writes
   the exit file, tells the clients, and execs the exit command (``--rm``
   of a detached container).

Files in the container's run directory (``MonitorConfig.run_dir``):
``exit.json`` (how it ended: the engine's record of the exit),
``state.json`` (pid, start time, restart count while it runs or restarts),
``attach`` (the socket).  ``<container dir>/restart.json`` holds the restart
policy (``docker update --restart`` rewrites it while the container runs) and
``<container dir>/stopped`` marks a container stopped by the user (no
restart), as moby's HasBeenManuallyStopped.

Memory: this process lives as long as its container.  Forked from the
zygote after ``gc.freeze()``, it shares the interpreter and the modules'
pages; what it makes private is its own small state (about 0.9 MiB PSS
each with 20 running, against 3.2 MiB for an exec'd lean interpreter).
"""

from __future__ import annotations

import os
from types import MappingProxyType

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, NoReturn

    from pinnace.shim.runtimes import Runtime

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: How long output may still arrive after the container's init exited (a
#: process it left behind may hold the pipes; docker waits for the copiers).
DRAIN_TIMEOUT = 2.0

#: How long the heavy phase waits for the first attach client when asked to.
ATTACH_TIMEOUT = 30.0

#: The monitor's process name (``comm``), by which the engine tells a live monitor from a reused pid.
MONITOR_NAME = "pinnace-mon"

EXIT_FILE = "exit.json"
STATE_FILE = "state.json"
RESTART_FILE = "restart.json"
STOPPED_MARK = "stopped"

#: docker's restart manager: the first delay, its growth, its cap, and how
#: long a run must last for the delay to start over.
BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0


@record
class MonitorConfig:
    """What a monitor needs; it crosses each exec as JSON."""

    container_id: str
    bundle: str
    #: The runtime (:mod:`pinnace.shim.runtimes`: "pinnace" or a runc-like program's path) and its state root.
    runtime: str
    runtime_root: str
    #: ``<runroot>/containers/<id>``: exit/state files and the attach socket.
    run_dir: str
    #: ``<root>/containers/<id>``: the restart policy and the stopped mark, which outlive a reboot.
    container_dir: str
    #: HostConfig.LogConfig ({"Type", "Config"}): the log driver and its options (:mod:`pinnace.logs.drivers`).
    log_config: Mapping[str, Any]
    #: The attributes every log record carries (``--log-opt labels=/env=/tag=``).
    log_attrs: Mapping[str, str] = _EMPTY
    #: The container's root filesystem mount, unmounted once it ended ("" for none).
    rootfs_mount: str = ""
    tty: bool = False
    open_stdin: bool = False
    #: Close the container's stdin when the client that attached it closes its own (``run -i``).
    stdin_once: bool = False
    #: Create, then wait for an attach client before starting (``run`` and ``start -a``).
    wait_attach: bool = False
    #: Run periodically while the container runs (``pinnace healthcheck run ID``).
    health_command: tuple[str, ...] = ()
    #: The healthcheck's Interval, StartInterval and StartPeriod, in seconds (:func:`probe_interval`).
    health_interval: float = 0.0
    health_start_interval: float = 0.0
    health_start_period: float = 0.0
    #: Exec'd once the container ended for good (``--rm`` of a detached container).
    exit_command: tuple[str, ...] = ()
    #: Restarts so far, and the delay before the next one (docker's back-off).
    restart_count: int = 0
    backoff: float = 0.0


@record
class Started:
    """What :func:`spawn` returns: the monitor's pid and the container init's."""

    monitor_pid: int
    pid: int


def config_json(config: MonitorConfig) -> str:
    """``config`` as the JSON that crosses to the zygote (:mod:`pinnace.shim.zygote`)."""
    fields = {name: getattr(config, name) for name in MonitorConfig.__annotations__}
    return jsonc.dumps({k: dict(v) if hasattr(v, "keys") else v for k, v in fields.items()}, compact=True)


def load_config(text: str | bytes) -> MonitorConfig:
    fields: dict[str, Any] = jsonc.loads(text)
    for name in ("health_command", "exit_command"):
        fields[name] = tuple(fields.get(name) or ())
    return MonitorConfig(**fields)


def spawn(config: MonitorConfig, on_created: Callable[[], None] | None = None, *, runroot: str) -> Started:
    """Have the zygote of ``runroot`` fork a monitor for ``config``; return once its container runs.

    With ``config.wait_attach``, ``on_created`` is called once the container
    exists and the attach socket listens: it must connect (the monitor starts
    the container at the first connection).  Raises the pinnace error the
    monitor met creating or starting the container (nothing of it remains).
    """
    from pinnace.shim import zygote

    reports = zygote.request(runroot, config_json(config))
    try:
        report = reports.next()
        if report.get("created"):
            if on_created is not None:
                on_created()
            report = reports.next()
    finally:
        reports.close()
    if "error" in report:
        from pinnace import errors

        kind = getattr(errors, str(report.get("kind")), Unavailable)
        raise (kind if isinstance(kind, type) and issubclass(kind, PinnaceError) else Unavailable)(
            report["error"]
        )
    return Started(monitor_pid=int(report["monitor_pid"]), pid=int(report["pid"]))


def probe_interval(
    interval: float, start_interval: float, start_period: float, *, elapsed: float, starting: bool
) -> float:
    """Seconds until the next healthcheck probe, ``elapsed`` seconds after the start (moby's getInterval).

    After the start period: ``interval``.  Within it: the rest of the start
    period if that is shorter than ``interval`` (so a probe runs as it ends),
    else ``start_interval`` while still ``starting`` and ``interval`` once a
    probe has passed.
    """
    if elapsed >= start_period:
        return interval
    remaining = start_period - elapsed
    if remaining < interval:
        return remaining
    return start_interval if starting else interval


def set_name(name: str) -> None:
    """This process's name as ``ps`` and ``/proc/PID/stat`` show it (a forked process keeps its parent's)."""
    try:  # os, not open(): a text file would load a codec in every monitor (~0.7 MiB each)
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, name.encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def is_monitor(pid: int) -> bool:
    """Whether ``pid`` is a live container monitor (not a pid reused since, after a reboot say)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    name, _, rest = stat.partition(b" (")[2].rpartition(b") ")
    return name == MONITOR_NAME.encode() and rest[:1] != b"Z"


def _report(fd: int, message: dict[str, Any], *, last: bool = True) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, jsonc.dumps(message, compact=True).encode() + b"\n")
    except OSError:
        pass  # the caller is gone: the container runs on, detached
    if last:
        os.close(fd)


def _now() -> str:
    import time

    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _write_state(config: MonitorConfig, state: dict[str, object]) -> None:
    from pinnace._util.fs import atomic_write

    atomic_write(
        os.path.join(config.run_dir, STATE_FILE), jsonc.dumps(state, compact=True).encode(), durable=False
    )


class _Stdio:
    """The container's side of its stdio, made before create, and the monitor's ends."""

    def __init__(self, config: MonitorConfig) -> None:
        self.null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.out = self.err = self.stdin = -1
        self.console: tuple[Any, Any] | None = None
        self._theirs: list[int] = []
        if config.tty:
            import _socket

            for fd in (0, 1, 2):  # not the caller's terminal or pipes: the container gets the pty
                os.dup2(self.null, fd)
            self.console = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            return
        self.out, out_w = os.pipe()
        self.err, err_w = os.pipe()
        in_r = self.null
        if config.open_stdin:
            in_r, self.stdin = os.pipe()
            self._theirs.append(in_r)
        self._theirs += [out_w, err_w]
        # The container inherits the runtime's stdio: make it the pipes.
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)

    def close(self) -> None:
        """Close every end (the launch failed)."""
        self.created(receive_console=False)
        for fd in (self.out, self.err, self.stdin, self.null):
            if fd >= 0:
                os.close(fd)
        self.out = self.err = self.stdin = self.null = -1

    def created(self, *, receive_console: bool = True) -> None:
        """Drop our copies of the container's ends (end-of-file then means the container's are closed).

        With a terminal, receive the pty master the container sent (unless
        the creation failed, when none will come).
        """
        for fd in (0, 1, 2):
            os.dup2(self.null, fd)
        for fd in self._theirs:
            os.close(fd)
        self._theirs = []
        if self.console is not None and not receive_console:
            for end in self.console:
                end.close()
            self.console = None
        if self.console is not None:
            from pinnace.runtime.linux import console

            ours, theirs = self.console
            theirs.close()
            try:
                master = console.recv_fd(ours)
            finally:
                ours.close()
            self.console = None
            self.out = master
            self.stdin = os.dup(master)  # its own fd: closing stdin must not close the output


def _launch(config: MonitorConfig, ready: int, listener: Any, stdio: _Stdio) -> tuple[int, Any]:
    """Create and start the container from a short-lived child; (init pid, first attach client or None).

    The child (forked from this monitor, itself forked from the zygote)
    does the runtime's work and exits, so what creating a container
    allocates never becomes this long-lived process's private memory.  The
    init re-parents to us (the subreaper) when the child exits.
    """
    from pinnace.runtime.linux.sync import describe

    reports_r, reports_w = os.pipe()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reports_r)
        os.close(go_w)
        try:
            runtime = _runtime(config)
            console = stdio.console[1] if stdio.console else None
            pid = runtime.create(config.container_id, config.bundle, console=console)
            _report(reports_w, {"pid": pid}, last=False)
            if os.read(go_r, 1) == b"s":
                runtime.start(config.container_id)
                _report(reports_w, {"started": True}, last=False)
        except BaseException as e:
            kind = type(e).__name__ if isinstance(e, PinnaceError) else "Unavailable"
            _report(reports_w, {"error": describe(e), "kind": kind}, last=False)
        os._exit(0)
    os.close(reports_w)
    os.close(go_r)
    client = None
    try:
        with os.fdopen(reports_r, "rb") as reports:
            created = _line(reports)
            stdio.created(receive_console="error" not in created)
            if "error" in created:
                raise _LaunchFailed(created)
            if config.wait_attach:
                _report(ready, {"created": True}, last=False)
                client = _first_client(listener)
            os.write(go_w, b"s")
            started = _line(reports)
            if "error" in started:
                raise _LaunchFailed(started)
    except BaseException:
        if client is not None:
            client.close()
        raise
    finally:
        os.close(go_w)
        os.waitpid(child, 0)
    return int(created["pid"]), client


class _LaunchFailed(Exception):
    """The container could not be created or started: the report (error, kind) to pass on."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(report.get("error"))
        self.report = report


def _line(reports: Any) -> dict[str, Any]:
    """One JSON report line; an error report when the reporter died first."""
    line = reports.readline()
    try:
        report: dict[str, Any] = jsonc.loads(line)
    except ValueError:
        return {"error": "the container's runtime exited before it reported", "kind": "Unavailable"}
    return report


def _first_client(listener: Any) -> Any:
    """The first attach connection, or None when none came in time (the container starts anyway)."""
    import _socket
    import select

    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    if not poller.poll(ATTACH_TIMEOUT * 1000):
        return None
    fd, _ = listener._accept()
    return _socket.socket(fileno=fd)


def serve(config: MonitorConfig, ready: int) -> NoReturn:
    """The monitor's life, in a process the zygote forked: launch, serve, restart or finish.

    ``ready`` is the requester's connection, where the launch is reported
    (then closed: the container runs on, detached from whoever asked).
    """
    import time

    from pinnace._util.record import replace
    from pinnace.runtime import container
    from pinnace.runtime.signals import exit_code
    from pinnace.shim import protocol

    container.set_subreaper()
    set_name(MONITOR_NAME)
    while True:
        listener = protocol.listen(config.run_dir)
        stdio = _Stdio(config)
        try:
            pid, client = _launch(config, ready, listener, stdio)
        except BaseException as e:
            report: dict[str, Any] = (
                e.report if isinstance(e, _LaunchFailed) else {"error": str(e), "kind": "Unavailable"}
            )
            _report(ready, report)
            listener.close()
            stdio.close()
            _delete_quietly(config)
            if config.restart_count:  # a restart that failed: the container ends here
                _finish(config, 128, error=str(report.get("error")))
            os._exit(1)
        _write_state(
            config,
            {"Status": "running", "Pid": pid, "StartedAt": _now(), "RestartCount": config.restart_count},
        )
        _report(ready, {"monitor_pid": os.getpid(), "pid": pid})
        ready = -1
        w = _Watch(config, pid, stdio, listener, client)
        code = exit_code(w.pump())
        ran_for = time.monotonic() - w.started
        if not _should_restart(config, code):
            break
        backoff = _next_backoff(config.backoff, ran_for)
        _write_state(
            config,
            {
                "Status": "restarting",
                "Pid": 0,
                "ExitCode": code,
                "FinishedAt": _now(),
                "RestartCount": config.restart_count,
            },
        )
        w.close_clients(code)
        _delete_quietly(config)  # the rootfs stays mounted for the next run
        if not _sleep_unless_stopped(config, backoff):
            break
        config = replace(config, restart_count=config.restart_count + 1, backoff=backoff)
    _finish(config, code)
    w.close_clients(code)
    from pinnace.shim import remover

    if config.exit_command and not remover.alive(config.container_dir):  # else that process removes it
        try:
            os.execv(config.exit_command[0], list(config.exit_command))
        except OSError:
            pass
    os._exit(0)


class _Client:
    """One attached client: its socket and the frames it is sending."""

    def __init__(self, sock: Any) -> None:
        from pinnace.shim.protocol import Frames

        self.sock = sock
        self.frames = Frames()


class _Watch:
    """The lean phase's state: the container's stdio, the clients, the log, the health timer."""

    def __init__(self, config: MonitorConfig, pid: int, stdio: _Stdio, listener: Any, client: Any) -> None:
        import select
        import time

        from pinnace.logs.drivers import open_writer

        self.config = config
        self.pid = pid
        self.started = time.monotonic()
        self.writer = open_writer(
            config.log_config, config.container_dir, config.container_id, attrs=config.log_attrs
        )
        self.poller = select.poll()
        self.streams: dict[int, str] = {}
        for fd, name in ((stdio.out, "stdout"), (stdio.err, "stderr")):
            if fd >= 0:
                self.streams[fd] = name
        #: The pty master (``-t``): where window sizes go; input reaches it only with ``-i``.
        self.master = stdio.stdin if config.tty else -1
        self.stdin = stdio.stdin if config.open_stdin else -1
        #: Client input the container has not read yet.  A pipe's writes never block the monitor
        #: (the container may be blocked writing output only the monitor reads): what does not fit
        #: waits here, and clients are not read meanwhile, so a fast sender is held back.
        self.stdin_pending = bytearray()
        self.stdin_closing = False
        self.paused: list[int] = []  # clients not read while stdin_pending drains
        if self.stdin >= 0 and self.stdin != self.master:
            os.set_blocking(self.stdin, False)
        os.close(stdio.null)
        self.listener = listener
        self.clients: dict[int, _Client] = {}
        self.pidfd = os.pidfd_open(pid)
        for fd in (*self.streams, listener.fileno(), self.pidfd):
            self.poller.register(fd, select.POLLIN)
        if client is not None:
            self._add_client(client)
        self.health_pid = 0
        #: Until a probe passes, the healthcheck is "starting" (the start interval applies).
        self.health_starting = True
        self.next_health = self._after_probe(self.started) if config.health_command else None

    # -- clients
    def _add_client(self, sock: Any) -> None:
        import select

        self.clients[sock.fileno()] = _Client(sock)
        self.poller.register(sock.fileno(), select.POLLIN)

    def _drop_client(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            if fd in self.paused:
                self.paused.remove(fd)
            else:
                self.poller.unregister(fd)
            client.sock.close()

    def broadcast(self, data: bytes) -> None:
        for fd, client in list(self.clients.items()):
            try:
                client.sock.sendall(data)
            except OSError:
                self._drop_client(fd)

    def _from_client(self, fd: int) -> None:
        from pinnace.shim import protocol

        client = self.clients[fd]
        try:
            data = client.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop_client(fd)
            return
        try:
            for stream, payload in client.frames.feed(data):
                if stream == protocol.STDIN and self.stdin >= 0:
                    if self.stdin == self.master:
                        _write_all(self.stdin, payload)  # a pty takes input as the terminal would
                    else:
                        self.stdin_pending += payload
                elif stream == protocol.CLOSE_STDIN and self.config.stdin_once and not self.config.tty:
                    self.stdin_closing = True
                elif stream == protocol.RESIZE and self.master >= 0:
                    _resize(self.master, *protocol.parse_resize(payload))
        except (ValueError, OSError):
            self._drop_client(fd)
        self._feed_stdin()

    def _feed_stdin(self) -> None:
        """Write what the container's stdin pipe takes now; wait for it (POLLOUT) with the clients
        unread while some is left; close it once drained if a client ended it."""
        import select

        if self.stdin < 0 or self.stdin == self.master:
            self.stdin_pending.clear()
            return
        try:
            while self.stdin_pending:
                del self.stdin_pending[: os.write(self.stdin, self.stdin_pending)]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin: what it would not read is dropped
            self.stdin_pending.clear()
        if self.stdin_pending:
            if not self.paused:
                self.paused = list(self.clients)
                for fd in self.paused:
                    self.poller.unregister(fd)
                self.poller.register(self.stdin, select.POLLOUT)
            return
        self._resume_clients()
        if self.stdin_closing:
            self._close_stdin()

    def _resume_clients(self) -> None:
        """Read the clients again (and stop waiting for the stdin pipe to take more)."""
        import select

        if not self.paused:
            return
        self.poller.unregister(self.stdin)
        for fd in self.paused:
            self.poller.register(fd, select.POLLIN)
        self.paused = []

    def _close_stdin(self) -> None:
        self._resume_clients()
        self.stdin_pending.clear()
        if self.stdin >= 0 and self.stdin != self.master:
            os.close(self.stdin)
        self.stdin = -1

    # -- output
    def _output(self, fd: int) -> None:
        from pinnace.shim import protocol

        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO from a pty master: every slave fd is closed
            data = b""
        stream = self.streams[fd]
        if data:
            self.writer.write(stream, data)
            self.broadcast(protocol.frame(protocol.STDOUT if stream == "stdout" else protocol.STDERR, data))
        else:
            self.writer.flush(stream)
            del self.streams[fd]
            self.poller.unregister(fd)
            os.close(fd)

    # -- health
    def _after_probe(self, now: float) -> float:
        c = self.config
        elapsed = now - self.started
        wait = probe_interval(
            c.health_interval, c.health_start_interval, c.health_start_period,
            elapsed=elapsed, starting=self.health_starting,
        )  # fmt: skip
        return now + max(wait, 0.001)

    def _health_tick(self, now: float) -> None:
        if self.health_pid:
            try:
                done, status = os.waitpid(self.health_pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.health_pid, 1 << 8
            if not done:
                return  # the previous check still runs: checks never overlap
            self.health_pid = 0
            if status == 0:
                self.health_starting = False
        self.health_pid = os.posix_spawn(
            self.config.health_command[0],
            list(self.config.health_command),
            os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)],
            setsid=True,
        )
        self.next_health = self._after_probe(now)

    def _next_timeout(self, status: int | None, deadline: float) -> float | None:
        import time

        now = time.monotonic()
        if status is not None:
            return max(0.0, deadline - now) * 1000
        if self.next_health is None:
            return None
        if now >= self.next_health:
            self._health_tick(now)
        return max(0.0, (self.next_health or now) - now) * 1000

    def pump(self) -> int:
        """Serve until the init exited and its output ended; the init's wait status."""
        import time

        status: int | None = None
        deadline = 0.0
        listener = self.listener.fileno()
        while self.streams or status is None:
            events = self.poller.poll(self._next_timeout(status, deadline))
            if status is not None and not events and time.monotonic() >= deadline:
                break  # something the container left behind still holds its output: stop waiting
            for fd, _ in events:
                if fd == self.pidfd:
                    self.poller.unregister(fd)
                    os.close(fd)
                    status = self._reap()
                    deadline = time.monotonic() + DRAIN_TIMEOUT
                elif fd in self.streams:
                    self._output(fd)
                elif fd == listener:
                    try:
                        conn, _ = self.listener._accept()
                    except OSError:
                        continue
                    import _socket

                    self._add_client(_socket.socket(fileno=conn))
                elif fd in self.clients:
                    self._from_client(fd)
                elif fd == self.stdin:
                    self._feed_stdin()
        for fd in self.streams:
            os.close(fd)
        self._close_stdin()
        if self.master >= 0:
            os.close(self.master)
        self.writer.close()
        assert status is not None
        return status

    def _reap(self) -> int:
        """Wait for the init (our child through the subreaper), reaping other orphans on the way."""
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255 << 8
            if got == self.pid:
                return status
            if got == self.health_pid:
                self.health_pid = 0

    def close_clients(self, exit_code: int) -> None:
        from pinnace.shim import protocol

        self.broadcast(protocol.frame(protocol.EXIT, str(exit_code).encode()))
        for fd in list(self.clients):
            self._drop_client(fd)
        self.listener.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _resize(master: int, rows: int, cols: int) -> None:
    import fcntl
    import termios

    try:
        fcntl.ioctl(
            master, termios.TIOCSWINSZ, rows.to_bytes(2, "little") + cols.to_bytes(2, "little") + bytes(4)
        )
    except OSError:
        pass


def restart_policy(container_dir: str) -> tuple[str, int]:
    """(Name, MaximumRetryCount) of the container's restart policy; ("no", 0) without one."""
    try:
        with open(os.path.join(container_dir, RESTART_FILE), "rb") as f:
            policy = jsonc.loads(f.read())
    except (OSError, ValueError):
        return "no", 0
    return str(policy.get("Name") or "no"), int(policy.get("MaximumRetryCount") or 0)


def _should_restart(config: MonitorConfig, code: int) -> bool:
    """moby's restartmanager.ShouldRestart, for a container that was not stopped by the user."""
    if os.path.exists(os.path.join(config.container_dir, STOPPED_MARK)):
        return False
    name, max_retries = restart_policy(config.container_dir)
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        return code != 0 and (max_retries == 0 or config.restart_count < max_retries)
    return False


def _next_backoff(previous: float, ran_for: float) -> float:
    """docker's delay before a restart: 100 ms, doubling, at most a minute; reset by a 10 s run."""
    if previous == 0 or ran_for >= BACKOFF_RESET_AFTER:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)


def _sleep_unless_stopped(config: MonitorConfig, delay: float) -> bool:
    """Wait ``delay`` seconds; False as soon as the user stops the container meanwhile."""
    import time

    mark = os.path.join(config.container_dir, STOPPED_MARK)
    deadline = time.monotonic() + delay
    while True:
        if os.path.exists(mark):
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))


def _finish(config: MonitorConfig, exit_code: int, *, error: str = "") -> None:
    """Record how the container ended, then remove the runtime's container (mounts die with it)."""
    from pinnace._util.fs import atomic_write

    oom = False
    try:
        oom = _runtime(config).cgroup(config.bundle, config.container_id).oom_kills() > 0
    except (PinnaceError, OSError):
        pass
    end: dict[str, object] = {
        "ExitCode": exit_code,
        "OOMKilled": oom,
        "FinishedAt": _now(),
        "RestartCount": config.restart_count,
    }
    if error:
        end["Error"] = error
    _delete_quietly(config)
    if config.rootfs_mount:
        from pathlib import Path

        from pinnace.mount.ops import unmount_all

        try:
            unmount_all(Path(config.rootfs_mount))
        except PinnaceError:
            pass
    # Last: whoever reads the exit file may remove the container's directories at once.
    # The run directory is volatile state (a tmpfs, emptied by a reboot): atomic, no fsync.
    atomic_write(
        os.path.join(config.run_dir, EXIT_FILE), jsonc.dumps(end, compact=True).encode(), durable=False
    )


def _runtime(config: MonitorConfig) -> Runtime:
    from pinnace.shim.runtimes import runtime_at

    return runtime_at(config.runtime, config.runtime_root)


def _delete_quietly(config: MonitorConfig) -> None:
    try:
        _runtime(config).delete(config.container_id, force=True)
    except PinnaceError:
        pass
