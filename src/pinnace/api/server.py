"""``pinnace system service``: the Docker Engine API on aiohttp, where :mod:`pinnace.api.listen` listens.

The service serves the store the daemonless CLI uses, at the same time as it: every request runs in a
worker thread with an engine of its own (its own SQLite connection; the store's locks, not a single
owner, keep them consistent).  Paths answer with and without a version prefix (``/v1.45/containers/
json`` and ``/containers/json``), as dockerd does.  Errors are ``{"message": ...}`` with dockerd's
status codes: 404 for what does not exist, 409 for conflicts, 400 for bad input, 500 otherwise.
"""

from __future__ import annotations

import json
import os
import threading

from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from aiohttp import web

    from pinnace.api.listen import ListenOptions
    from pinnace.engine import Engine

#: The newest Engine API version served, and the oldest a client may ask for (dockerd's minimum).
API_VERSION = "1.45"
MIN_API_VERSION = "1.24"


def status_of(error: PinnaceError) -> int:
    """dockerd's HTTP status for an error of pinnace's hierarchy."""
    from pinnace import errors

    for kind, status in (
        (errors.NotFound, 404),
        (errors.AlreadyExists, 409),
        (errors.Conflict, 409),
        (errors.InvalidArgument, 400),
        (errors.Unauthenticated, 401),
        (errors.PermissionDenied, 403),
        (errors.FailedPrecondition, 409),
        (errors.NotImplementedYet, 501),
        (errors.Unavailable, 503),
    ):
        if isinstance(error, kind):
            return status
    return 500


class Engines:
    """An engine per worker thread (each has its own database connection), all on one store."""

    def __init__(self, root: str, runroot: str) -> None:
        self.root = root
        self.runroot = runroot
        self._local = threading.local()

    def get(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            from pinnace.engine import Config, Engine

            engine = self._local.engine = Engine(Config(self.root, self.runroot))
        return engine


def json_response(doc: Any, status: int = 200) -> web.Response:
    from aiohttp import web

    return web.Response(status=status, body=json.dumps(doc).encode(), content_type="application/json")


def make_app(engines: Engines) -> web.Application:
    import asyncio

    from aiohttp import web

    from pinnace.api import (
        archive,
        build,
        commit,
        containers,
        execs,
        images,
        networks,
        system,
        volumes,
        websocket,
    )

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except PinnaceError as e:
            response = json_response({"message": e.message}, status_of(e))
        except web.HTTPException as e:
            if e.status == 404:
                response = json_response({"message": "page not found"}, 404)
            else:
                raise
        response.headers["Api-Version"] = API_VERSION
        response.headers["Server"] = f"Pinnace/{_version()} (linux)"
        response.headers["Ostype"] = "linux"
        return response

    app = web.Application(middlewares=[errors], client_max_size=64 << 20)
    app["engines"] = engines
    app["attach_waiters"] = {}  # container ID -> attach requests waiting for its start
    app["execs"] = {}  # exec ID -> the exec instance (pinnace.api.execs), from its create on
    app["stopping"] = asyncio.Event()  # set as the service stops: hijacked connections close then
    app.on_shutdown.append(_stopping)
    for module in (system, images, build, containers, execs, archive, commit, volumes, networks, websocket):
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, r"/{version:v[0-9]+\.[0-9]+}" + path, handler)
    return app


async def _stopping(app: web.Application) -> None:
    """The service stops: a hijacked connection's handler would otherwise hold the stop (aiohttp waits
    for handlers), for as long as its container or exec runs."""
    app["stopping"].set()


async def call(request: web.Request, work: Callable[[Engine], Any]) -> Any:
    """``work(engine)`` in a worker thread, with that thread's engine."""
    import asyncio

    engines: Engines = request.app["engines"]
    return await asyncio.get_running_loop().run_in_executor(None, lambda: work(engines.get()))


async def quick_or_call(
    request: web.Request, quick: Callable[[Engine], Any | None], work: Callable[[Engine], Any]
) -> web.Response:
    """The JSON answer of ``quick(engine)``, run on the loop's own thread, or when it gives None, of
    ``work(engine)`` in a worker thread.  ``quick`` only reads what never blocks (the database in WAL
    mode, small state files): a list a client polls (``docker ps`` in a loop, compose's status checks)
    then costs no hand-over between threads, which under load cost more than the list itself."""
    from aiohttp import web

    engines: Engines = request.app["engines"]
    doc = quick(engines.get())
    if doc is None:
        doc = await call(request, work)
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json")


def query_bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """The ``filters`` parameter: ``{"name": ["a"]}`` or the old ``{"name": {"a": true}}`` form."""
    from pinnace.errors import InvalidArgument

    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidArgument("invalid filter: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filter: not an object")
    out: dict[str, list[str]] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return out


def _version() -> str:
    from pinnace import __version__

    return str(__version__)


def serve(
    engines: Engines,
    listen: ListenOptions | list[str],
    *,
    timeout: float = 0.0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve on every socket of ``listen`` (:mod:`pinnace.api.listen`: ``unix://``, ``tcp://`` with or
    without TLS, systemd's ``fd://``; a plain list of hosts is read with the defaults) until
    SIGTERM/SIGINT, or ``timeout`` seconds without a request (none in flight) when not 0.
    ``ready(url)`` is told of each socket once it listens, and systemd (``Type=notify``) once all do."""
    import asyncio
    import signal
    import time

    from aiohttp import web

    from pinnace.api.fastpath import PingFirstServer, PingReplies
    from pinnace.api.listen import Listeners, ListenOptions, notify, serve_tls

    options = listen if isinstance(listen, ListenOptions) else ListenOptions(tuple(listen))
    notify_socket = os.environ.pop("NOTIFY_SOCKET", "")  # ours alone: not for the containers' monitors
    app = make_app(engines)
    last = [time.monotonic()]
    busy = [0]  # requests in flight: a long one (an attach, a pull) is not idleness

    @web.middleware
    async def activity(request: web.Request, handler: Any) -> web.StreamResponse:
        last[0] = time.monotonic()
        busy[0] += 1
        try:
            response: web.StreamResponse = await handler(request)
        finally:
            busy[0] -= 1
            last[0] = time.monotonic()
        return response

    app.middlewares.append(activity)
    listeners = Listeners(options)

    async def main() -> None:
        from concurrent.futures import ThreadPoolExecutor

        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=16, thread_name_prefix="api"))
        opened = listeners.open()  # every socket bound (or a one-line refusal) before anything is served
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        assert runner.server is not None
        factory = PingFirstServer(
            PingReplies(API_VERSION, f"Pinnace/{_version()} (linux)"),
            runner.server,
            lambda: last.__setitem__(0, time.monotonic()),
        )
        servers: list[asyncio.Server] = []
        try:
            for listener in opened:
                if listener.ssl is None:
                    servers.append(await loop.create_server(factory, sock=listener.sock))
                else:
                    servers.append(await serve_tls(listener.sock, listener.ssl, factory))
                if ready is not None:
                    ready(listener.url)
            notify(notify_socket, "READY=1")
            # --rm containers that ended while no service could remove them (a service stopped early)
            loop.run_in_executor(None, lambda: engines.get().containers.reap_orphans())
            stop = asyncio.Event()

            def stopping(signum: int) -> None:
                import sys

                sys.stderr.write(f"pinnace API stopping on {signal.Signals(signum).name}\n")
                stop.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping, sig)
            os.register_at_fork(after_in_child=_default_signals)
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    if timeout and not busy[0] and time.monotonic() - last[0] > timeout:
                        break
            notify(notify_socket, "STOPPING=1")
            listeners.unlink_ours()
            for server in servers:
                server.close()
            factory.close_idle()
            await runner.cleanup()
        finally:
            listeners.close()

    _run_then_exit(main)


def _default_signals() -> None:
    """In a child forked from the service (pyroute2's helpers fork in a worker thread, then end the child
    with SIGTERM): default SIGTERM/SIGINT and no wakeup fd.  The child shares the loop's wakeup socket, so
    a signal it got would otherwise reach the service's loop as the service's own and stop it."""
    import signal

    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
    except ValueError:  # not the main thread: nothing of the loop's was inherited here
        pass


def _run_then_exit(main: Callable[[], Any]) -> None:
    """Run the server, then end the process at once: a request still blocked in a worker thread (a
    wait for a container that never exits) must not hold the exit, as the executor's join would."""
    import asyncio
    import sys

    code = 0
    try:
        asyncio.new_event_loop().run_until_complete(main())
    except Exception as e:  # the CLI's one-line errors (a socket it cannot listen on) come through here
        from pinnace.errors import PinnaceError

        if not isinstance(e, (PinnaceError, OSError)):
            raise
        message = e.message if isinstance(e, PinnaceError) else f"cannot listen: {e.strerror or e}"
        sys.stderr.write(f"Error: {message}\n")
        code = 125
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
