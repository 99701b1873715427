"""The zygote: one warm process per runroot that forks container monitors.

A monitor (:mod:`pinnace.shim.monitor`) lives as long as its container, one
per container, so what it costs is paid per container: ~3 MiB PSS and ~20 ms
of interpreter start-up for a freshly exec'd Python.  Forked from a process
that has the interpreter, the runtime library and the monitor loaded
already (and ``gc.freeze()``-d, so the collector does not touch, and copy,
their pages), a monitor starts at once and shares those pages with the
zygote and every other monitor: ~0.9 MiB PSS each.  Android's zygote and
CPython's forkserver are the same idea.

The zygote is not a daemon in docker's sense: it owns no container and
holds no state.  A monitor is forked off it and detached (its own
session; the zygote only reaps it when it ends), so killing the zygote
leaves every running container and its monitor as they are (they are
re-parented to init); the next ``run`` starts a new zygote.  It is started on
demand by :func:`request` (under a lock, so two CLIs start one), listens on
``<runroot>/zygote.sock`` (root only), and exits when that socket is
removed or replaced (checked every :data:`IDLE_CHECK` seconds), or when a
module it loaded changed on disk since (an upgrade): it then answers
``{"stale": true}`` and the requester starts a fresh one.

Protocol: the requester sends one line, the monitor's config as JSON, and
reads JSON lines back (:class:`Reports`): ``{"created": true}`` when the
monitor waits for an attach client, then ``{"monitor_pid", "pid"}`` or
``{"error", "kind"}``.  The monitor writes them on the same connection.

Layers above this one may register more kinds of request in
:data:`HANDLERS` before the zygote starts (the CLI registers ``cli``, to run
``pinnace run`` in a warm process: :mod:`pinnace.cli.client`): a request
line that is a JSON object with that key, sent with file descriptors
(SCM_RIGHTS), is served by the handler in a forked process, and its exit
code goes back as ``{"exit": N}``.  A zygote started without the handler
answers ``{"stale": true}``, and the requester does the work itself.

Handlers load much more than a monitor needs (the CLI, netlink's pyroute2:
~150 ms and ~2 MiB per process that imports it), and every page the zygote
has loaded is a page each monitor maps.  So the zygote keeps lean and forks
one *worker zygote* (``pinnace-worker``, on ``worker.sock``), which loads
the handlers' ``PRELOAD`` on top and forks the handlers' processes: warm
CLIs, lean monitors.  The zygote forks a new worker zygote when its own
ends, and the worker zygote dies with the zygote (PR_SET_PDEATHSIG).

Neither forks on the path of a request: each keeps a spare process forked
ahead of it (:class:`_Spare`, ``pinnace-spare``), which takes the request.
"""

from __future__ import annotations

import os

from pinnace.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, ClassVar, NoReturn

SOCKET_NAME = "zygote.sock"
#: The zygote's name in ``ps``.
ZYGOTE_NAME = "pinnace-zygote"
PID_FILE = "zygote.pid"
LOCK_FILE = "zygote.lock"
#: Where the worker zygote, which serves the registered handlers warm, listens and records its pid.
WORKER_SOCKET_NAME = "worker.sock"
WORKER_PID_FILE = "worker.pid"
#: The worker zygote's name in ``ps`` (and its request processes', forked or spare).
WORKER_NAME = "pinnace-worker"

#: How often an idle zygote reaps its ended children and checks that its socket is still its own.
IDLE_CHECK = 1.0

#: More kinds of request: key -> "module:function(request, fds, conn) -> exit code", registered by
#: higher layers before the zygote starts (passed to it on its command line).  The module's
#: ``PRELOAD`` names, if any, are loaded with it.
HANDLERS: dict[str, str] = {}

#: The most descriptors a request may carry (a CLI's stdin, stdout and stderr).
MAX_FDS = 3

#: What a monitor and the container creation it forks need, loaded before the first fork.
PRELOAD = (
    "pinnace.shim.monitor",
    "pinnace.shim.protocol",
    "pinnace.shim.runtimes",
    "pinnace.logs.drivers",
    "pinnace.logs.jsonfile",
    "pinnace.logs.local",
    "pinnace.runtime.container",
    "pinnace.runtime.signals",
    "pinnace.runtime.spec",
    "pinnace.runtime.hooks",
    "pinnace.runtime.state",
    "pinnace.runtime.defaults",
    "pinnace.runtime.cgroups",
    "pinnace.runtime.cgroups.devices",
    "pinnace.runtime.cgroups.resources",
    "pinnace.runtime.cgroups.v1",
    "pinnace.runtime.cgroups.v2",
    "pinnace.runtime.linux.capabilities",
    "pinnace.runtime.linux.console",
    "pinnace.runtime.linux.init",
    "pinnace.runtime.linux.namespaces",
    "pinnace.runtime.linux.process",
    "pinnace.runtime.linux.rootfs",
    "pinnace.runtime.linux.sealed",
    "pinnace.runtime.linux.seccomp",
    "pinnace.runtime.linux.sync",
    "pinnace.runtime.linux.syscalls",
    "pinnace.mount.ops",
    "pinnace._util.fs",
    "pinnace._util.lock",
    "pinnace._util.record",
    # What those import lazily, inside functions: loaded once here, not once per monitor.
    "_socket",
    "array",
    "select",
    "time",
    "fcntl",
    "termios",
    "importlib",
    "pathlib",
    "re",
    "enum",
    "fnmatch",
    "urllib.parse",
    "ipaddress",
    "resource",
    "seccomp",  # libseccomp's binding (python3-seccomp), which the init loads to build its filter
)


class Reports:
    """The JSON lines a monitor reports on a requester's connection."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._buffer = b""

    def next(self) -> dict[str, Any]:
        from pinnace._util import jsonc

        while b"\n" not in self._buffer:
            data = self.sock.recv(65536)
            if not data:
                raise Unavailable("the container monitor exited before it reported")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        report: dict[str, Any] = jsonc.loads(line)
        return report

    def close(self) -> None:
        self.sock.close()


def request(runroot: str, config_json: str) -> Reports:
    """Send a monitor's config to the zygote of ``runroot`` (started if need be); its reports.

    The first report is read here when the zygote is stale, to start a fresh one and ask again.
    """
    for _ in range(2):
        sock = _connect_or_start(runroot)
        sock.sendall(config_json.encode() + b"\n")
        reports = Reports(sock)
        first = reports.next()
        if not first.get("stale"):
            return _Replay(reports, first)
        reports.close()
        _wait_gone(runroot)
    raise Unavailable("the monitor zygote keeps reporting stale code")


class _Replay(Reports):
    """Reports with the first one, already read, given back first."""

    def __init__(self, reports: Reports, first: dict[str, Any]) -> None:
        super().__init__(reports.sock)
        self._buffer = reports._buffer
        self._first: dict[str, Any] | None = first

    def next(self) -> dict[str, Any]:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return super().next()


def _connect(runroot: str) -> Any:
    from pinnace.shim import protocol

    try:
        return protocol.connect(runroot, SOCKET_NAME)
    except OSError:
        return None


def _connect_or_start(runroot: str) -> Any:
    sock = _connect(runroot)
    if sock is not None:
        return sock
    from pinnace._util.lock import FileLock

    os.makedirs(runroot, 0o711, exist_ok=True)
    with FileLock(os.path.join(runroot, LOCK_FILE)):
        sock = _connect(runroot)  # another requester started one meanwhile
        if sock is None:
            _start(runroot)
            sock = _connect(runroot)
    if sock is None:
        raise Unavailable(f"cannot reach the monitor zygote at {os.path.join(runroot, SOCKET_NAME)}")
    return sock


def _wait_gone(runroot: str, timeout: float = 5.0) -> None:
    """Wait until a stale zygote has given up its socket."""
    import time

    deadline = time.monotonic() + timeout
    while os.path.exists(os.path.join(runroot, SOCKET_NAME)) and time.monotonic() < deadline:
        time.sleep(0.005)


def _start(runroot: str) -> None:
    """Start a detached zygote (from the sealed interpreter) and wait until it listens."""
    from pinnace._util import jsonc
    from pinnace._util.daemon import start_detached
    from pinnace.runtime.linux import sealed

    python = sealed.interpreter(os.path.join(runroot, "runtime"))
    handlers = jsonc.dumps(HANDLERS, compact=True)
    message = start_detached(
        python, "pinnace.shim.zygote:main", lambda ready: [runroot, str(ready), handlers]
    )
    if message != "ready":
        raise Unavailable(f"the monitor zygote did not start: {message or 'it exited'}")


def main() -> NoReturn:
    """The zygote's life: ``-c ... RUNROOT READY_FD [HANDLERS]``."""
    import sys

    from pinnace._util import jsonc

    runroot, ready = sys.argv[1], int(sys.argv[2])
    handlers: dict[str, str] = jsonc.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    os.set_inheritable(ready, False)
    try:
        server = _prepare(runroot, handlers)
    except BaseException as e:
        os.write(ready, f"{type(e).__name__}: {e}".encode())
        os._exit(1)
    os.write(ready, b"ready")
    os.close(ready)
    _serve_with_worker(server)


class _Server:
    """A listening zygote: its socket (and that socket's identity, to notice a successor), pid file, code."""

    def __init__(self, runroot: str, socket_name: str, pid_file: str, handlers: dict[str, str]) -> None:
        from pinnace._util.fs import atomic_write
        from pinnace.shim import protocol

        self.runroot = runroot
        self.socket_name = socket_name
        self.pid_file = pid_file
        self.handlers = handlers
        self.listener = protocol.listen(runroot, socket_name)
        st = os.stat(os.path.join(runroot, socket_name))
        self.identity = (st.st_dev, st.st_ino)
        atomic_write(os.path.join(runroot, pid_file), str(os.getpid()).encode(), durable=False)
        #: The pinnace modules loaded, with their files' mtimes when they were (to notice an upgrade).
        self.sources = _sources()

    def ours(self) -> bool:
        """Whether our socket is still ours (not removed, not replaced by a successor's)."""
        try:
            st = os.stat(os.path.join(self.runroot, self.socket_name))
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    def leave(self) -> NoReturn:
        if self.ours():
            for name in (self.socket_name, self.pid_file):
                try:
                    os.unlink(os.path.join(self.runroot, name))
                except OSError:
                    pass
        os._exit(0)


def _prepare(runroot: str, handlers: dict[str, str]) -> _Server:
    """Detach from the starter's stdio, load what monitors need, listen."""
    import gc
    import importlib

    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.chdir("/")
    from pinnace.shim.monitor import set_name

    set_name(ZYGOTE_NAME)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional one (seccomp): whoever needs it reports its absence
    from pinnace.runtime.linux.syscalls import warm_up

    warm_up()  # libc's handle and function pointers, made and called once here (~1.7 MiB per monitor else)
    server = _Server(runroot, SOCKET_NAME, PID_FILE, handlers)
    gc.collect()
    gc.freeze()  # the modules' objects stay in the permanent generation: no collection dirties their pages
    return server


def _serve_with_worker(server: _Server) -> NoReturn:
    """The zygote's loop: serve, and keep a worker zygote for the handlers (one fork a second at most)."""
    import time

    worker = 0
    due = 0.0

    def tend(ended: set[int]) -> None:
        nonlocal worker, due
        if not server.handlers or (worker and worker not in ended):
            return
        if _stale(server.sources):
            server.leave()  # upgraded: a fresh zygote (started by the next request) forks a fresh worker
        now = time.monotonic()
        if now >= due:
            due = now + IDLE_CHECK
            worker = _fork_worker(server)
        else:
            worker = 0

    tend(set())
    _serve(server, tend)


def _fork_worker(server: _Server) -> int:
    """Fork the worker zygote: it loads the handlers' modules, listens on its own socket, serves."""
    pid = os.fork()
    if pid:
        return pid
    try:
        import gc
        import importlib

        from pinnace.shim.monitor import set_name

        _die_with_parent()  # not a moment longer than the zygote
        server.listener.close()
        for end in _Spare.ends:  # the zygote's spare is not ours
            os.close(end)
        _Spare.ends.clear()
        set_name(WORKER_NAME)
        from pinnace._util.fs import atomic_write

        # Named at once, before the slow imports: whoever looks for the store's processes knows this one.
        atomic_write(os.path.join(server.runroot, WORKER_PID_FILE), str(os.getpid()).encode(), durable=False)
        for target in server.handlers.values():
            module = importlib.import_module(target.partition(":")[0])
            for name in getattr(module, "PRELOAD", ()):
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass  # optional: whoever needs it reports its absence
        _load_used(server)
        inherited = server.sources
        worker = _Server(server.runroot, WORKER_SOCKET_NAME, WORKER_PID_FILE, server.handlers)
        worker.sources.update(inherited)  # the zygote's modules as they were when it loaded them
        gc.collect()
        gc.freeze()
        _serve(worker, lambda _ended: None, prepare=True)
    finally:
        os._exit(1)


def _used_later(handlers: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The handler modules' ``PRELOAD_ONCE_USED``: flag name -> modules loaded once a request needed them."""
    import sys

    out: dict[str, tuple[str, ...]] = {}
    for target in handlers.values():
        module = sys.modules.get(target.partition(":")[0])
        out.update(getattr(module, "PRELOAD_ONCE_USED", None) or {})
    return out


def used_flag(runroot: str, name: str) -> str:
    """The file whose presence says a request on ``runroot`` needed the ``PRELOAD_ONCE_USED`` set ``name``."""
    return os.path.join(runroot, f"uses-{name}")


#: The request a handler's process sends its worker zygote when it had to import ``PRELOAD_ONCE_USED``.
_LOAD = b'{"load": true}\n'


def watch_imports(runroot: str, used: Mapping[str, tuple[str, ...]]) -> None:
    """The first import here of a module of ``used`` (a ``PRELOAD_ONCE_USED``) flags its set for
    ``runroot`` and asks the worker zygote to load it now, for the requests after this one.

    A handler's process does this: a request that needs netlink (a container
    on a bridge) imports it itself, once; meanwhile the worker zygote loads
    it too and forks a new spare with it.  So does a CLI that runs the
    command itself (the store's first, which starts the zygotes): else the
    second command, the first a worker serves, would pay the import again.
    A store that never needs the modules never pays their memory in its
    worker zygote.
    """
    import sys

    wanted = {m: n for n, modules in used.items() for m in modules if m not in sys.modules}
    if not wanted:
        return

    class _Watch:
        """A finder that finds nothing: it only notes that a watched module is being imported."""

        @staticmethod
        def find_spec(name: str, path: object = None, target: object = None) -> None:
            flag = wanted.pop(name, None)
            if flag is not None:
                _ask_to_load(runroot, flag)

    sys.meta_path.insert(0, _Watch)


def _ask_to_load(runroot: str, flag: str) -> None:
    from pinnace.shim import protocol

    try:
        os.close(os.open(used_flag(runroot, flag), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        sock = protocol.connect(runroot, WORKER_SOCKET_NAME)
    except OSError:
        return  # no worker zygote: the next one loads it as it starts
    try:
        sock.setblocking(False)
        sock.send(_LOAD)
    except OSError:
        pass
    finally:
        sock.close()


def _load_used(server: _Server) -> bool:
    """In the worker zygote: load the ``PRELOAD_ONCE_USED`` modules a request has flagged as needed;
    whether it loaded any."""
    import gc
    import importlib
    import sys

    loaded = False
    for name, modules in _used_later(server.handlers).items():
        if os.path.exists(used_flag(server.runroot, name)):
            for module in modules:
                if module not in sys.modules:
                    try:
                        importlib.import_module(module)
                        loaded = True
                    except ImportError:
                        pass  # optional (nftables): whoever needs it reports its absence
    if loaded:
        gc.collect()
        gc.freeze()  # as for the first modules: no collection in a child dirties their pages
    return loaded


def _die_with_parent() -> None:
    """In a fork: be killed (SIGKILL) when the parent dies; exit now if it has died already."""
    from pinnace.mount.flags import libc

    parent = os.getppid()
    libc().prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:
        os._exit(0)


def _sources() -> dict[str, int]:
    """The pinnace modules loaded, with their files' mtimes (to notice an upgrade)."""
    import sys

    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.startswith("pinnace") and path:
            try:
                out[path] = os.stat(path).st_mtime_ns
            except OSError:
                out[path] = -1
    return out


def _stale(sources: dict[str, int]) -> bool:
    for path, mtime in sources.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False


def _serve(server: _Server, tend: Callable[[set[int]], None], *, prepare: bool = False) -> NoReturn:
    """Accept requests, each served by a process of its own; ``tend`` sees the children that ended, at
    least each second.

    Each request goes to a :class:`_Spare` forked ahead of it (or to a fork
    made for it when the spare is gone), and a new spare is forked at once;
    ``prepare`` (the worker zygote) has spares prepare for handler requests,
    and honours a handler process's request to load ``PRELOAD_ONCE_USED``.
    """
    import _socket
    import select

    previous: bytes | None = None  # the last handler request: what a spare prepares for
    spare: _Spare | None = _Spare.fork(server, previous, prepare=prepare)
    poller = select.poll()
    poller.register(server.listener.fileno(), select.POLLIN)
    while True:
        tend(_reap_children())
        if not poller.poll(IDLE_CHECK * 1000):
            if not server.ours():
                os._exit(0)
            continue
        try:
            fd, _ = server.listener._accept()
        except OSError:
            continue
        conn = _socket.socket(fileno=fd)
        received = _read_request(conn)
        if received is None:
            conn.close()
            continue
        line, fds = received
        if prepare and line == _LOAD and not fds:  # a handler's process needed more modules: load them now
            conn.close()
            if _load_used(server) and spare is not None:
                spare.discard()  # it lacks them: the next one has them
                spare = _Spare.fork(server, previous, prepare=prepare)
            continue
        stale = _stale(server.sources)
        handler = _handler_for(line, server.handlers) if fds else None
        if stale or (fds and handler is None):  # upgraded, or started by someone without that handler
            try:
                conn.sendall(b'{"stale": true}\n')
            finally:
                conn.close()
                for passed in fds:
                    os.close(passed)
            server.listener.close()
            server.leave()
        taken = spare is not None and spare.take(conn, line, fds)
        spare = None  # taken, or gone
        if not taken:
            child = os.fork()
            if child == 0:
                if handler is not None:
                    _become_handler(server, conn, line, fds, handler)
                _become_monitor(server.listener, conn, line)
        conn.close()
        for passed in fds:
            os.close(passed)
        if handler is not None:
            previous = line
        spare = _Spare.fork(server, previous, prepare=prepare)


class _Spare:
    """A process forked ahead of a zygote's next request, made ready for it meanwhile.

    Forking a process from the worker zygote and opening the store it runs
    on take ~4 ms of a ~40 ms ``run``, forking a monitor ~1 ms more.  So
    each zygote keeps one spare: a fork that waits on a socket pair, and in
    the worker zygote has already called each handler module's
    ``prepare(previous)`` (:func:`pinnace.cli.client.prepare` opens the
    store the previous request used).  The zygote, having accepted and
    checked a request, passes it on there with the requester's connection
    and descriptors (SCM_RIGHTS), and forks the next spare.  A request that
    arrives while the spare is still preparing waits for it: never longer
    than a fresh fork would take.  A spare dies with its zygote
    (PR_SET_PDEATHSIG) until it takes a request, so an upgrade or a killed
    zygote takes it along; from then on it is what a forked child was.
    """

    #: Our ends of the spares' socket pairs, which a process forked for something else closes.
    ends: ClassVar[set[int]] = set()

    def __init__(self, pid: int, sock: Any) -> None:
        self.pid = pid
        self.sock = sock
        _Spare.ends.add(sock.fileno())

    @classmethod
    def fork(cls, server: _Server, previous: bytes | None, *, prepare: bool) -> _Spare:
        """Fork a spare; ``prepare``: call the handler modules' ``prepare`` (the worker zygote only:
        the zygote stays lean, and its spares become monitors)."""
        import _socket

        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            ours.close()
            _become_spare(server, theirs, previous if prepare else None, prepare)
        theirs.close()
        return cls(pid, ours)

    def discard(self) -> None:
        """Let the spare go unused (it sees the end of its socket, and exits)."""
        _Spare.ends.discard(self.sock.fileno())
        self.sock.close()

    def take(self, conn: Any, line: bytes, fds: list[int]) -> bool:
        """Pass the request on (the connection last); False when the spare is gone (it crashed).

        Once the descriptors went (with the first byte), the request is the
        spare's whatever happens next: serving it a second time from a fork
        would run it twice.
        """
        import _socket
        import array

        passed = array.array("i", [*fds, conn.fileno()])
        try:
            try:
                sent = self.sock.sendmsg([line], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, passed)])
            except OSError:
                return False
            if sent < len(line):  # never a send of b"": EPIPE once the spare has read and closed
                try:
                    self.sock.sendall(line[sent:])
                except OSError:
                    pass  # the spare died: its requester sees the connection close
            return True
        finally:
            _Spare.ends.discard(self.sock.fileno())
            self.sock.close()


#: What a spare is called in ``ps`` until it takes a request (then it is called what a forked child is).
SPARE_NAME = "pinnace-spare"


def _become_spare(server: _Server, sock: Any, previous: bytes | None, prepare: bool) -> NoReturn:
    """In the forked spare: prepare for the next request, wait for it, serve it as a forked child would."""
    import _socket
    import importlib

    try:
        from pinnace.mount.flags import libc
        from pinnace.shim.monitor import set_name

        _die_with_parent()  # an idle spare never outlives its zygote
        server.listener.close()
        set_name(SPARE_NAME)
        hint = _handler_for(previous, server.handlers) if previous else None
        for target in server.handlers.values() if prepare else ():
            ahead = getattr(importlib.import_module(target.partition(":")[0]), "prepare", None)
            if ahead is not None:
                try:
                    ahead(_request(previous) if target == hint else None)
                except Exception:  # noqa: BLE001 - an optimisation: the request is served all the same
                    pass
        received = _read_request(sock, MAX_FDS + 1, timeout=None)
        if received is None:
            os._exit(0)
        libc().prctl(1, 0, 0, 0, 0)  # a request taken outlives the zygotes, as a forked child does
        line, fds = received
        sock.close()
        conn = _socket.socket(fileno=fds.pop())
        handler = _handler_for(line, server.handlers) if fds else None
        if handler is None:
            _become_monitor(None, conn, line)
        set_name(WORKER_NAME if prepare else ZYGOTE_NAME)  # what a child forked for it is called
        _become_handler(server, conn, line, fds, handler)
    finally:
        os._exit(1)


def _request(line: bytes | None) -> Any:
    from pinnace._util import jsonc

    return jsonc.loads(line) if line else None


def _reap_children() -> set[int]:
    """Collect the monitors and workers that ended (ours until then: one fork each, no intermediate)."""
    ended: set[int] = set()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.add(pid)


def _read_request(
    conn: Any, max_fds: int = MAX_FDS, timeout: float | None = 5.0
) -> tuple[bytes, list[int]] | None:
    """The request line and the descriptors sent with it (a requester silent for ``timeout`` s is dropped)."""
    import _socket
    import array

    conn.settimeout(timeout)
    data = b""
    fds: list[int] = []
    space = _socket.CMSG_SPACE(max_fds * array.array("i").itemsize)
    try:
        while not data.endswith(b"\n"):
            chunk, ancillary, _, _ = conn.recvmsg(65536, space)
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                    fds.extend(got)
            if not chunk:
                for fd in fds:
                    os.close(fd)
                return None
            data += chunk
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    conn.settimeout(None)
    return data, fds


def _handler_for(line: bytes, handlers: dict[str, str]) -> str | None:
    """The registered handler a request line asks for (a JSON object with the handler's key)."""
    from pinnace._util import jsonc

    try:
        request = jsonc.loads(line)
    except ValueError:
        return None
    if isinstance(request, dict):
        for key, target in handlers.items():
            if key in request:
                return target
    return None


def _become_handler(server: _Server, conn: Any, line: bytes, fds: list[int], target: str) -> NoReturn:
    """In the forked child (or the spare): serve a registered kind of request, then report its exit code."""
    code = 1
    try:
        server.listener.close()
        import importlib

        from pinnace._util import jsonc

        module, _, function = target.partition(":")
        handler = getattr(importlib.import_module(module), function)
        watch_imports(server.runroot, _used_later(server.handlers))
        code = handler(jsonc.loads(line), fds, conn)
    except BaseException:
        _log_crash("/dev/stderr")
    finally:
        try:
            conn.sendall(f'{{"exit": {int(code)}}}\n'.encode())
        except OSError:
            pass
        os._exit(0)


def _become_monitor(listener: Any | None, conn: Any, line: bytes) -> NoReturn:
    """In the forked child (or the spare): detach (a session of its own) and serve the container."""
    try:
        if listener is not None:
            listener.close()
        os.setsid()
        from pinnace.shim import monitor

        config = monitor.load_config(line)
        try:
            monitor.serve(config, conn.detach())
        except BaseException:
            _log_crash(os.path.join(config.run_dir, "monitor.log"))
    finally:
        os._exit(1)


def _log_crash(path: str) -> None:
    """A monitor's unexpected end, for whoever investigates (its stderr is /dev/null)."""
    import traceback

    try:
        with open(path, "a", encoding="utf-8") as f:
            traceback.print_exc(file=f)
    except OSError:
        pass
