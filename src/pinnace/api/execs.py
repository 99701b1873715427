"""Exec: create, start (hijacked or detached, with or without a TTY), inspect and resize; container resize.

dockerd keeps an exec instance from its create to well after it ends (its exit code is what ``docker
exec`` reports), so the instances live in the app (``app["execs"]``, by their 64-hex ID).  The process
itself is the daemonless CLI's (:mod:`pinnace.containers.exec`), started by a helper process of ours
(:func:`helper`, in a new interpreter): the runtime's exec forks, becomes a subreaper and waits with
``waitpid(-1)``, none of which may happen in the service's threads.  The helper's stdio are the
process's stdio (pipes the service relays; /dev/null for what is not attached), and it talks to the
service over a socket of its own:

- the service sends the request (store, container, ExecConfig) as one JSON document, then half-closes;
- the helper answers one JSON line per event: ``{"pid": N}`` once the process runs, then
  ``{"exit_code": N}`` when it ends, or ``{"error": ..., "status": ..., "exit_code": ...}`` when it
  could not start (the exit code dockerd records then: 126, or 127 for a command not found).

With a TTY the runtime sends the pty's master to a second socket of the service (a console socket, as
runc's ``--console-socket``): the service relays the hijacked connection to it and sizes it for
``/exec/{id}/resize``.  As dockerd, the connection ends when the process exits (what it wrote is
copied first); an error starting it is written into the stream, and the exit code is recorded before
the connection closes, so the CLI's inspect that follows sees it.
"""

from __future__ import annotations

import asyncio
import os

from pinnace.api.server import call, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from subprocess import Popen
    from typing import Any

    from aiohttp import web

    from pinnace.api.attach import Hijacked
    from pinnace.api.server import Engines
    from pinnace.containers.exec import ExecConfig
    from pinnace.engine import Engine

#: How long what the process wrote is still copied once it exited (a child it left behind may hold its
#: stdout open: the connection ends anyway, as dockerd's does).
DRAIN_SECONDS = 2.0
#: How long an exec that ended stays inspectable.
KEEP_SECONDS = 600.0
#: The keys that end a terminal session (dockerd's default; an exec's DetachKeys replace them).
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: dockerd's wait for an exec to start before a resize gives up.
RESIZE_WAIT_SECONDS = 10.0


class Exec:
    """An exec instance: what its create asked for, and what became of its process."""

    def __init__(
        self,
        exec_id: str,
        container_id: str,
        options: ExecConfig,
        *,
        attach: tuple[bool, bool, bool],
        detach_keys: str,
        console_size: tuple[int, int] | None,
    ) -> None:
        self.id = exec_id
        self.container_id = container_id
        self.options = options
        self.stdin, self.stdout, self.stderr = attach
        self.detach_keys = detach_keys
        self.size = console_size  # (rows, cols) for the pty, when one comes
        self.started = False  # a start was asked for (a second one is refused)
        self.running = False
        self.pid = 0
        self.exit_code: int | None = None
        self.error: tuple[str, int] | None = None  # the start failed: dockerd's message and status
        self.master = -1  # the pty's master while a TTY exec runs attached
        self.ready = asyncio.Event()  # the process runs, or could not start
        self.ended = asyncio.Event()  # ... and its exit code is recorded
        self.ended_at = 0.0
        self.watcher: asyncio.Task[None] | None = None  # follows the helper (held: tasks are weakly kept)
        self.leftover: asyncio.Task[None] | None = None  # reads what nobody attached reads any more

    def failure(self) -> tuple[str, int] | None:
        """Why the start failed (dockerd's message and status), if it did."""
        return self.error

    def inspect(self) -> dict[str, Any]:
        """``GET /exec/{id}/json``, as dockerd's ExecInspect."""
        cmd = self.options.cmd
        process: dict[str, Any] = {
            "tty": self.options.tty,
            "entrypoint": cmd[0] if cmd else "",
            "arguments": list(cmd[1:]),
            "privileged": self.options.privileged,
        }
        if self.options.user:
            process["user"] = self.options.user
        return {
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "ExitCode": self.exit_code,
            "ID": self.id,
            "OpenStderr": self.stderr,
            "OpenStdin": self.stdin,
            "OpenStdout": self.stdout,
            "ProcessConfig": process,
            "Running": self.running,
            "Pid": self.pid,
        }


# --------------------------------------------------------------------------- request parsing


async def _body(request: web.Request) -> dict[str, Any]:
    from pinnace.errors import InvalidArgument

    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidArgument("invalid JSON body") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid JSON body: an object expected")
    return doc


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    from pinnace.errors import InvalidArgument

    value = body.get(key)
    if value is None:
        return ()
    if isinstance(value, str):  # Go's strslice takes a lone string too
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid {key}: a list of strings expected")
    return tuple(value)


def _console_size(value: Any) -> tuple[int, int] | None:
    """``ConsoleSize`` ([height, width], or null) as (rows, cols)."""
    from pinnace.errors import InvalidArgument

    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and v >= 0 for v in value)
    ):
        raise InvalidArgument("invalid ConsoleSize: [height, width] expected")
    return (value[0], value[1]) if value[0] or value[1] else None


def _query_size(request: web.Request) -> tuple[int, int]:
    """``h`` and ``w`` as dockerd parses them (strconv.Atoi, its error as the message)."""
    from pinnace.errors import InvalidArgument

    sizes = []
    for name in ("h", "w"):
        text = request.query.get(name, "")
        try:
            value = int(text, 10)
        except ValueError:
            raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax') from None
        if not 0 <= value <= 0xFFFF:
            raise InvalidArgument(f'strconv.Atoi: parsing "{text}": value out of range')
        sizes.append(value)
    return sizes[0], sizes[1]


def _find(app: web.Application, exec_id: str) -> Exec:
    from pinnace.errors import NotFound

    execs: dict[str, Exec] = app["execs"]
    found = execs.get(exec_id)
    if found is not None and not _container_exists(app, found.container_id):
        del execs[exec_id]  # dockerd forgets a container's execs with it
        found = None
    if found is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return found


def _container_exists(app: web.Application, container_id: str) -> bool:
    """Whether the container is still in the store (one indexed read, on the loop's thread)."""
    from pinnace.errors import NotFound

    try:
        app["engines"].get().containers.records.get(container_id)
    except NotFound:
        return False
    return True


def _prune(app: web.Application) -> None:
    """Forget the execs that ended long ago (dockerd forgets them with their container)."""
    import time

    execs: dict[str, Exec] = app["execs"]
    now = time.monotonic()
    for exec_id in [i for i, e in execs.items() if e.ended_at and now - e.ended_at > KEEP_SECONDS]:
        del execs[exec_id]


# --------------------------------------------------------------------------- the handlers


async def create_exec(request: web.Request) -> web.StreamResponse:
    from pinnace.containers.exec import ExecConfig
    from pinnace.errors import InvalidArgument

    ref = request.match_info["id"]
    body = await _body(request)
    cmd = _strings(body, "Cmd")
    if not cmd:
        raise InvalidArgument("No exec command specified")
    options = ExecConfig(
        cmd=cmd,
        env=_strings(body, "Env"),
        user=str(body.get("User") or ""),
        workdir=str(body.get("WorkingDir") or ""),
        tty=bool(body.get("Tty")),
        privileged=bool(body.get("Privileged")),
    )
    attach = (bool(body.get("AttachStdin")), bool(body.get("AttachStdout")), bool(body.get("AttachStderr")))
    detach_keys = str(body.get("DetachKeys") or "")
    size = _console_size(body.get("ConsoleSize"))

    def work(engine: Engine) -> tuple[str, str]:
        from pinnace.containers import exec as execs
        from pinnace.containers import names
        from pinnace.containers.options import parse_detach_keys

        service = engine.containers
        rec = execs.active(service, ref)
        if detach_keys:
            try:
                parse_detach_keys(detach_keys)
            except InvalidArgument:
                raise InvalidArgument(f"Invalid escape keys ({detach_keys}) provided") from None
        exec_id = names.new_id()
        execs.log_create(service, rec, exec_id, cmd)
        return rec.id, exec_id

    container_id, exec_id = await call(request, work)
    _prune(request.app)
    request.app["execs"][exec_id] = Exec(
        exec_id, container_id, options, attach=attach, detach_keys=detach_keys, console_size=size
    )
    return json_response({"Id": exec_id}, 201)


async def inspect_exec(request: web.Request) -> web.StreamResponse:
    return json_response(_find(request.app, request.match_info["id"]).inspect())


async def start_exec(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    from pinnace.api.attach import hijack
    from pinnace.errors import Conflict

    found = _find(request.app, request.match_info["id"])
    body = await _body(request)
    detach = bool(body.get("Detach"))
    size = _console_size(body.get("ConsoleSize"))
    if found.exit_code is not None or found.error is not None:
        raise Conflict(f"Error: Exec command {found.id} has already run")
    if found.started:
        raise Conflict(f"Error: Exec command {found.id} is already running")
    found.started = True
    if size is not None:
        found.size = size
    engines: Engines = request.app["engines"]
    if detach:
        await _launch(found, engines, detach=True, stdio=None, console=None)
        await found.ready.wait()
        failed = found.failure()
        if failed is not None:
            return json_response({"message": failed[0]}, failed[1])
        return web.Response(status=200)
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    response, client = await hijack(request, tty=found.options.tty, upgrade=upgrade)
    if client is None:  # gone before its stream began: the exec runs on, as a detached one
        await _launch(found, engines, detach=True, stdio=None, console=None)
        return response
    try:
        await _attached(found, engines, client)
    finally:
        client.transport.close()
    return response


async def resize_exec(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    from pinnace.errors import InvalidArgument, PinnaceError

    found = _find(request.app, request.match_info["id"])
    rows, cols = _query_size(request)
    try:
        await asyncio.wait_for(found.ready.wait(), RESIZE_WAIT_SECONDS)
    except TimeoutError:
        raise PinnaceError("timeout waiting for exec session ready") from None
    if found.error is not None:
        raise InvalidArgument("exec process is not started")
    found.size = (rows, cols)
    if found.master >= 0:
        _set_size(found.master, rows, cols)
    return web.Response(status=200)


async def resize_container(request: web.Request) -> web.StreamResponse:
    """The container's pty (its monitor holds the master) takes the size, as ``pinnace attach`` sends it."""
    from aiohttp import web

    ref = request.match_info["id"]
    rows, cols = _query_size(request)

    def work(engine: Engine) -> None:
        from pinnace.errors import Conflict
        from pinnace.shim import protocol

        service = engine.containers
        rec = service.get(ref)
        if rec.status not in ("running", "paused", "restarting"):
            raise Conflict(f"Container {rec.id} is not running")
        if not rec.config.get("Tty"):
            return  # no terminal to size: nothing to do, as containerd does
        try:
            sock = protocol.connect(service.run_dir(rec.id))
        except OSError:
            raise Conflict(f"Container {rec.id} is not running") from None
        try:
            sock.sendall(protocol.resize_frame(rows, cols))
        finally:
            sock.close()

    await call(request, work)
    return web.Response(status=200)


# --------------------------------------------------------------------------- running it


async def _launch(
    found: Exec, engines: Engines, *, detach: bool, stdio: tuple[int, int, int] | None, console: Any
) -> None:
    """Start the helper (see the module's docstring) and the task that follows it; returns at once.

    ``stdio`` are the process's fds (None: /dev/null for all three); ``console`` the helper's end of
    the console socket (TTY, attached), whose other end the caller reads the master from.
    """
    from pinnace._util.record import replace

    options = replace(found.options, detach=detach)
    request = {
        "root": engines.root,
        "runroot": engines.runroot,
        "container": found.container_id,
        "exec": found.id,
        "cmd": list(options.cmd),
        "env": list(options.env),
        "user": options.user,
        "workdir": options.workdir,
        "tty": options.tty,
        "privileged": options.privileged,
        "detach": options.detach,
    }
    loop = asyncio.get_running_loop()
    try:
        proc, control = await loop.run_in_executor(None, _spawn, request, stdio, console)
    except OSError as e:
        found.error = (f"cannot start the exec: {e.strerror or e}", 500)
        found.exit_code = 126
        _ended(found)
        return
    found.watcher = asyncio.create_task(_watch(found, proc, control))


def _spawn(
    request: dict[str, Any], stdio: tuple[int, int, int] | None, console: Any
) -> tuple[Popen[bytes], Any]:
    """The helper, started on ``stdio`` with ``request`` sent: (it, our end of its control socket).

    A new session of its own: a signal meant for the service (its terminal's ^C) is not the exec's.
    Popen forks and execs without running Python in the child, so nothing of the service's loop
    (its signal wakeup fd, its handlers) is left in the helper.
    """
    import json
    import socket
    import subprocess
    import sys

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        fds = [theirs.fileno()] + ([console.fileno()] if console is not None else [])
        null = subprocess.DEVNULL
        stdin, stdout, stderr = stdio if stdio is not None else (null, null, null)
        # The service's interpreter, isolated as ours may be (the entry point runs ``python -IS``), on
        # our import path.
        boot = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); from pinnace.api import execs; execs.helper(sys.argv[2:])"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", boot, json.dumps(sys.path), *map(str, fds)],
            stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=fds, start_new_session=True,
        )  # fmt: skip
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    try:
        ours.sendall(json.dumps(request).encode())
        ours.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # it died at once: its end of the socket says so
    ours.setblocking(False)
    return proc, ours


async def _watch(found: Exec, proc: Popen[bytes], control: Any) -> None:
    """Follow the helper's reports into ``found`` until it ends, then reap it."""
    import json

    reader, writer = await asyncio.open_unix_connection(sock=control)
    try:
        while line := await reader.readline():
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if "pid" in report:
                found.pid = int(report["pid"])
                found.running = True
                found.ready.set()
            elif "error" in report:
                found.error = (str(report["error"]), int(report.get("status") or 500))
                found.exit_code = int(report.get("exit_code") or 126)
            elif "exit_code" in report:
                found.exit_code = int(report["exit_code"])
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()
        if found.error is None and found.exit_code is None and not found.running:
            found.error = ("cannot start the exec: its helper ended", 500)
            found.exit_code = 126
        _ended(found)
        await asyncio.get_running_loop().run_in_executor(None, proc.wait)


def _ended(found: Exec) -> None:
    import time

    found.running = False
    found.ended_at = time.monotonic()
    found.ready.set()
    found.ended.set()


async def _attached(found: Exec, engines: Engines, client: Hijacked) -> None:
    """The attached exec: its stdio relayed over ``client`` until it exits (or the client goes)."""
    import socket

    from pinnace.shim import protocol

    loop = asyncio.get_running_loop()
    tty = found.options.tty
    ours: list[int] = []  # our ends, closed at the end
    theirs: list[int] = []  # the process's ends, closed once the helper has them
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    theirs.append(null)
    console = console_ours = None
    stdin_w = -1
    outputs: list[tuple[int, int]] = []  # (fd, docker's stream number)
    try:
        if tty:
            console_ours, console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stdio = (null, null, null)
        else:
            fds = []
            if found.stdin:
                r, stdin_w = os.pipe()
                ours.append(stdin_w)
                theirs.append(r)
                fds.append(r)
            else:
                fds.append(null)
            for stream, wanted in ((protocol.STDOUT, found.stdout), (protocol.STDERR, found.stderr)):
                if wanted:
                    r, w = os.pipe()
                    ours.append(r)
                    theirs.append(w)
                    fds.append(w)
                    outputs.append((r, stream))
                else:
                    fds.append(null)
            stdio = (fds[0], fds[1], fds[2])
        await _launch(found, engines, detach=False, stdio=stdio, console=console)
    finally:
        for fd in theirs:
            os.close(fd)
        if console is not None:
            console.close()
    master_task = None
    if console_ours is not None:
        master_task = loop.run_in_executor(None, _receive_master, console_ours)
    await found.ready.wait()
    if master_task is not None and console_ours is not None:
        try:  # sent before the process runs; or none, once the helper that failed is gone
            master = await master_task
        except OSError:
            master = -1
        finally:
            console_ours.close()
        if master >= 0:
            ours.append(master)
            if found.error is None:
                found.master = master
                outputs.append((master, protocol.STDOUT))
                if found.stdin:
                    stdin_w = master
                if found.size is not None:
                    _set_size(master, *found.size)
    tasks: list[asyncio.Task[Any]] = []
    try:
        if found.error is not None:
            message = (found.error[0] + "\r\n").encode()
            await client.write(message if tty else protocol.frame(protocol.STDOUT, message))
            return
        for fd, stream in outputs:
            os.set_blocking(fd, False)
            tasks.append(asyncio.create_task(_copy_out(fd, stream, client, tty)))
        pumps = list(tasks)
        ending: list[asyncio.Task[Any]] = [
            asyncio.create_task(found.ended.wait()),
            asyncio.create_task(client.gone.wait()),
        ]
        if stdin_w >= 0:
            from pinnace.containers.options import parse_detach_keys

            os.set_blocking(stdin_w, False)
            # dockerd watches a terminal's input for the detach keys: the session ends, the process runs on
            escape = _Escape(parse_detach_keys(found.detach_keys or DEFAULT_DETACH_KEYS)) if tty else None
            ending.append(asyncio.create_task(_copy_in(client, stdin_w, ours, escape)))
        ended = ending[0]
        tasks += ending
        await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
        if ended.done() and pumps:
            await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # off the loop's fds before they close
        kept = [] if found.ended.is_set() else [fd for fd, _ in outputs if fd in ours]
        for fd in ours:
            if fd not in kept:
                os.close(fd)
        if kept:  # detached, or the client went: the process runs on, its output read and dropped
            found.leftover = asyncio.create_task(_discard(found, kept))
        else:
            found.master = -1


async def _discard(found: Exec, fds: list[int]) -> None:
    """Read and drop what the process writes on ``fds`` until it ends, then close them: it must
    neither block on a full pipe nor, on a terminal, get the SIGHUP of a closed master."""

    async def drop(fd: int) -> None:
        while True:
            try:
                if not os.read(fd, 65536):
                    return
            except BlockingIOError:
                await _wait_fd(fd, write=False)
            except OSError:
                return

    readers = [asyncio.create_task(drop(fd)) for fd in fds]
    try:
        await found.ended.wait()
        await asyncio.wait(readers, timeout=DRAIN_SECONDS)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        found.master = -1
        for fd in fds:
            os.close(fd)


def _receive_master(sock: Any) -> int:
    """The pty master the runtime sends to our end of the console socket (blocks: run in a thread)."""
    from pinnace.errors import PinnaceError
    from pinnace.runtime.linux import console

    try:
        return console.recv_fd(sock)
    except PinnaceError as e:
        raise OSError(str(e)) from None


def _set_size(master: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:
        pass  # the process is gone


async def _wait_fd(fd: int, *, write: bool) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _copy_out(fd: int, stream: int, client: Hijacked, tty: bool) -> None:
    """What the process writes on ``fd``, to the client (framed as ``stream`` without a TTY)."""
    from pinnace.shim import protocol

    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            await _wait_fd(fd, write=False)
            continue
        except OSError:  # EIO: a pty whose every slave is closed
            return
        if not data:
            return
        await client.write(data if tty else protocol.frame(stream, data))


class _Escape:
    """The detach keys in a terminal's input, as moby's escape proxy watches for them: a key that may
    begin the sequence is held back until the next shows whether it does."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(What to pass on, whether the whole sequence was typed)."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            out += self.keys[: self.matched]
            self.matched = 0
            if byte == self.keys[0]:
                self.matched = 1
            else:
                out.append(byte)
        return bytes(out), False


async def _copy_in(client: Hijacked, fd: int, ours: list[int], escape: _Escape | None) -> None:
    """What the client sends, to the process's stdin, until the client's end (which closes a pipe:
    the end of a terminal's input is a key, not a close) or, on a terminal, the detach keys."""
    while data := await client.inbox.get():
        if escape is not None:
            data, detached = escape.feed(data)
            if detached:
                await _write_all(fd, data)
                return
        if not await _write_all(fd, data):
            break
    if escape is None and fd in ours:
        ours.remove(fd)
        os.close(fd)
    await asyncio.Event().wait()  # not the end of the session: the process's is


async def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data`` to non-blocking ``fd``; False when the reader is gone (EPIPE)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _wait_fd(fd, write=True)
        except OSError:  # the process is gone: drop what is left
            return False
    return True


ROUTES: list[tuple[str, str, object]] = [
    ("POST", "/containers/{id}/exec", create_exec),
    ("POST", "/containers/{id}/resize", resize_container),
    ("POST", "/exec/{id}/start", start_exec),
    ("POST", "/exec/{id}/resize", resize_exec),
    ("GET", "/exec/{id}/json", inspect_exec),
]


# --------------------------------------------------------------------------- the helper


def helper(argv: list[str]) -> None:
    """The helper's main (``CONTROL_FD [CONSOLE_FD]``): run one exec, report on CONTROL_FD, exit."""
    code = 0
    try:
        _helper(argv)
    except BaseException:
        import traceback

        traceback.print_exc()  # on the exec's stderr: the only place anyone may see it
        code = 1
    os._exit(code)


def _helper(argv: list[str]) -> None:
    import json
    import socket

    from pinnace.api.server import status_of
    from pinnace.containers import exec as execs
    from pinnace.engine import Config, Engine
    from pinnace.errors import PinnaceError
    from pinnace.runtime.container import set_subreaper, wait_for

    control = socket.socket(fileno=int(argv[0]))
    console = socket.socket(fileno=int(argv[1])) if len(argv) > 1 else None

    def report(**doc: Any) -> None:
        try:
            control.sendall(json.dumps(doc).encode() + b"\n")
        except OSError:
            pass  # the service is gone: the process runs on regardless

    chunks = []
    while chunk := control.recv(65536):
        chunks.append(chunk)
    request = json.loads(b"".join(chunks))
    exec_id = request["exec"]
    options = execs.ExecConfig(
        cmd=tuple(request["cmd"]),
        env=tuple(request["env"]),
        user=request["user"],
        workdir=request["workdir"],
        tty=request["tty"],
        privileged=request["privileged"],
        detach=request["detach"],
    )
    try:
        service = Engine(Config(request["root"], request["runroot"])).containers
        rec = execs.active(service, request["container"])
        process = execs.process_of(service, rec, options)
        set_subreaper()  # the process, once its runtime's stages are gone, is ours to wait for
        pid, _ = execs.start(service, rec, exec_id, process, options.cmd, detach=True, console=console)
    except execs.ExecStartError as e:
        report(error=e.message, status=400, exit_code=e.exit_code)  # dockerd: an invalid config
        return
    except PinnaceError as e:
        report(error=e.message, status=status_of(e), exit_code=126)
        return
    report(pid=pid)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the process's stdio are its own now: their ends close when it is done
        os.dup2(null, fd)
    os.close(null)
    code = wait_for(pid)
    execs.died(service, rec, exec_id, code)
    report(exit_code=code)
