"""``GET /containers/{id}/attach/ws``: attach over a websocket, as browsers and some tools use it.

dockerd sends the container's output as binary messages holding the raw bytes (stdout and stderr
alike, never multiplexed, even without a TTY) and writes every message it receives (text or binary)
to the container's stdin; the socket closes when the container ends.  Like the hijacked attach
(:mod:`pinnace.api.attach`) it talks to the container's monitor, and a client that comes before the
container starts waits for ``start`` to hand it the monitor's socket.
"""

from __future__ import annotations

import asyncio

from pinnace.api.attach import Claim
from pinnace.api.server import query_bool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web


async def attach_websocket(request: web.Request) -> web.StreamResponse:
    from aiohttp import WSMsgType, web

    from pinnace.shim import protocol

    ref = request.match_info["id"]
    # dockerd's defaults for the websocket: every stream asked for unless a parameter says otherwise
    want_stdin = query_bool(request, "stdin")
    want = {protocol.STDOUT: query_bool(request, "stdout"), protocol.STDERR: query_bool(request, "stderr")}
    if not request.query.get("stdout") and not request.query.get("stderr"):
        want = {protocol.STDOUT: True, protocol.STDERR: True}

    claim = await Claim.make(request, ref)
    ws = web.WebSocketResponse()
    try:
        await ws.prepare(request)
    except BaseException:
        claim.drop()
        raise
    closed = asyncio.Event()  # never set: nothing reads the websocket before the start, so it waits for it
    sock = await claim.socket(closed)
    if sock is None:
        return ws
    reader, writer = await asyncio.open_unix_connection(sock=sock)

    async def stdin() -> None:
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data = message.data.encode() if message.type is WSMsgType.TEXT else message.data
                if want_stdin and data:
                    writer.write(protocol.frame(protocol.STDIN, data))
                    await writer.drain()
        if want_stdin:  # the client closed its side: the container's stdin ends
            writer.write(protocol.frame(protocol.CLOSE_STDIN))
            await writer.drain()

    pump_in = asyncio.create_task(stdin())
    try:
        while not ws.closed:
            try:
                header = await reader.readexactly(8)
                payload = await reader.readexactly(int.from_bytes(header[4:8], "big"))
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            if header[0] == protocol.EXIT:
                break
            if want.get(header[0]) and payload:
                await ws.send_bytes(payload)
    finally:
        pump_in.cancel()
        writer.close()
        await ws.close()
    return ws


ROUTES = [("GET", "/containers/{id}/attach/ws", attach_websocket)]
