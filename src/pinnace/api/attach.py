"""``POST /containers/{id}/attach``: the hijacked connection (``Upgrade: tcp``) between a client and
the container's monitor.

The monitor already speaks docker's stream format on its attach socket (:mod:`pinnace.shim.protocol`),
so stdout/stderr frames pass through as they are (a TTY container's payloads go raw, as dockerd sends
them); what the client writes becomes STDIN frames, its half-close a CLOSE_STDIN frame, and the
monitor's EXIT frame ends the connection.  A client attaches before it starts the container (so it
misses no output): the attach then waits, and ``start`` hands it the monitor's socket before the
container runs (:func:`take_waiters`).
"""

from __future__ import annotations

import asyncio

from pinnace.api.server import call

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


class Hijacked(asyncio.Protocol):
    """The connection after the upgrade, ours alone: what the client sends goes to ``inbox`` (b"" at
    its end: a client without stdin half-closes at once, and the connection stays open for its
    output), and :meth:`write` waits while the transport's buffer is full."""

    def __init__(self, inbox: asyncio.Queue[bytes], transport: Any) -> None:
        self.inbox = inbox
        self.transport = transport
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False
        self.gone = asyncio.Event()  # the client closed the connection (or it broke, or we closed it)
        self.closer: asyncio.Task[None] | None = None  # closes it as the service stops

    async def write(self, data: bytes) -> None:
        if not self.lost:
            self.transport.write(data)
            await self.writable.wait()

    def data_received(self, data: bytes) -> None:
        self.inbox.put_nowait(bytes(data))

    def eof_received(self) -> bool:
        self.inbox.put_nowait(b"")
        return True  # keep the transport open: we still write

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.gone.set()
        self.writable.set()
        self.inbox.put_nowait(b"")


async def hijack(
    request: web.Request, *, tty: bool, upgrade: bool = True
) -> tuple[web.StreamResponse, Hijacked | None]:
    """Answer with docker's stream headers (101 ``Upgrade: tcp``, or 200 without ``upgrade``) and take
    the connection over: (the response for the handler to return, the connection; None when the
    client is already gone).  What the client sent past its request is the first of the inbox."""
    from aiohttp import web

    class Raw(web.StreamResponse):
        """A 200 whose body is the raw connection (no length, no chunks): dockerd's answer to a
        client that asks for a hijacked stream without ``Upgrade: tcp``."""

        _length_check = False

    kind = "raw-stream" if tty else "multiplexed-stream"
    content_type = f"application/vnd.docker.{kind}"
    response = (
        web.StreamResponse(
            status=101, headers={"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"}
        )
        if upgrade
        else Raw(status=200, headers={"Content-Type": content_type})
    )
    response.force_close()
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        return response, None
    inbox: asyncio.Queue[bytes] = asyncio.Queue()
    tail = bytes(getattr(request.protocol, "_message_tail", b"") or b"")  # sent before we took over
    if tail:
        inbox.put_nowait(tail)
    client = Hijacked(inbox, transport)
    transport.set_protocol(client)
    client.closer = asyncio.create_task(_close_on_stop(request.app, client))
    return response, client


async def _close_on_stop(app: web.Application, client: Hijacked) -> None:
    """Close the connection when the service stops (its session then ends: see ``Hijacked.gone``)."""
    stopping = asyncio.create_task(app["stopping"].wait())
    gone = asyncio.create_task(client.gone.wait())
    try:
        await asyncio.wait([stopping, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        gone.cancel()
    client.transport.close()


def take_waiters(app: web.Application, container_id: str) -> list[asyncio.Future[Any]]:
    """The attach requests waiting for ``container_id`` to start (removed from the app)."""
    waiting: dict[str, list[asyncio.Future[Any]]] = app["attach_waiters"]
    return waiting.pop(container_id, [])


def handing_over(loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[Any]]) -> Any:
    """The ``attach`` callback of :meth:`ContainerService.start`: connect each waiting client to the
    monitor (in the worker thread, before the container starts)."""
    from pinnace.shim import protocol

    def attach(run_dir: str) -> None:
        for future in waiters:
            sock = protocol.connect(run_dir)
            loop.call_soon_threadsafe(settle, future, sock)

    return attach


def settle(future: asyncio.Future[Any], sock: Any) -> None:
    """Hand ``sock`` (the monitor's attach socket) to a waiting attach; closed if nobody waits now."""
    if future.done():
        sock.close()
    else:
        future.set_result(sock)


class Claim:
    """An attach's claim on a container's monitor socket.  It is registered before the client hears
    back (:meth:`make`), because the client's start may come at once: ``start`` then hands the
    socket over (:func:`take_waiters`); a running container's monitor is connected to directly."""

    def __init__(
        self, app: web.Application, container_id: str, tty: bool, running: bool, run_dir: str
    ) -> None:
        self.tty, self.running, self.run_dir = tty, running, run_dir
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting: list[asyncio.Future[Any]] = app["attach_waiters"].setdefault(container_id, [])
        if not running:
            self.waiting.append(self.future)

    @classmethod
    async def make(cls, request: web.Request, ref: str) -> Claim:
        def look(engine: Engine) -> tuple[str, bool, bool, str]:
            record = engine.containers.get(ref)
            running = record.status in ("running", "paused", "restarting")
            return record.id, bool(record.config.get("Tty")), running, engine.containers.run_dir(record.id)

        container_id, tty, running, run_dir = await call(request, look)
        return cls(request.app, container_id, tty, running, run_dir)

    async def socket(self, gone: asyncio.Event) -> Any:
        """The monitor's socket; None when ``gone`` is set first (the client left before the start)."""
        try:
            if self.running:
                from pinnace.shim import protocol

                return await asyncio.get_running_loop().run_in_executor(None, protocol.connect, self.run_dir)
            gone_first = asyncio.create_task(gone.wait())
            await asyncio.wait([self.future, gone_first], return_when=asyncio.FIRST_COMPLETED)
            gone_first.cancel()
            if not self.future.done():
                self.future.cancel()
                return None
            return self.future.result()
        finally:
            self.drop()

    def drop(self) -> None:
        if self.future in self.waiting:
            self.waiting.remove(self.future)


async def attach_container(request: web.Request) -> web.StreamResponse:
    from pinnace.api.server import query_bool

    ref = request.match_info["id"]
    want_stdin = query_bool(request, "stdin")
    want = {1: query_bool(request, "stdout"), 2: query_bool(request, "stderr")}

    claim = await Claim.make(request, ref)
    response, client = await hijack(request, tty=claim.tty)
    if client is None:
        claim.drop()
        return response
    sock = await claim.socket(client.gone)
    if sock is None:  # the client left before the container started
        client.transport.close()
        return response
    tty = claim.tty
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    pump_in = asyncio.create_task(_stdin(client.inbox, writer)) if want_stdin else None
    pump_out = asyncio.create_task(_output(reader, client, want, tty))
    gone = asyncio.create_task(client.gone.wait())
    try:
        await asyncio.wait([pump_out, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump_in, pump_out, gone):
            if task is not None:
                task.cancel()
        writer.close()
        client.transport.close()
    return response


async def _output(reader: asyncio.StreamReader, client: Hijacked, want: dict[int, bool], tty: bool) -> None:
    """The monitor's frames to the client (payloads alone for a TTY) until the EXIT frame."""
    from pinnace.shim import protocol

    while not client.lost:
        try:
            header = await reader.readexactly(8)
            payload = await reader.readexactly(int.from_bytes(header[4:8], "big"))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        stream = header[0]
        if stream == protocol.EXIT:
            return
        if want.get(stream):
            await client.write(payload if tty else header + payload)


async def _stdin(inbox: asyncio.Queue[bytes], writer: asyncio.StreamWriter) -> None:
    from pinnace.shim import protocol

    while True:
        data = await inbox.get()
        if not data:
            writer.write(protocol.frame(protocol.CLOSE_STDIN))
            await writer.drain()
            return
        writer.write(protocol.frame(protocol.STDIN, data))
        await writer.drain()
