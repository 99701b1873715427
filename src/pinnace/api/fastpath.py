"""``/_ping`` answered before aiohttp: the request every docker client sends first, and again and again.

A docker CLI pings before each command, health checkers and orchestrators ping in loops, and the
Engine API's reference names it the cheap liveness check.  Through aiohttp a ping costs a request
object, the router, two middlewares and a response object: about 30 µs of Python, where dockerd's Go
answers in half that.  So each connection starts behind :class:`PingFirst`: while the client has sent
nothing but bare pings -- a whole ``GET``/``HEAD /_ping`` (or ``/vX.Y/_ping``) request in HTTP/1.1,
no body and no ``Connection``, ``Upgrade`` or ``Expect`` header -- it answers from a prepared reply,
byte for byte what the aiohttp route answers.  The first byte of anything else (another path, a
partial request, pipelining that mixes in something else) hands the connection, from that byte on, to
aiohttp's protocol for good: nothing is parsed twice and nothing else changes behaviour.
"""

from __future__ import annotations

import asyncio
import re
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: A bare ping's request line; the version prefix is what a negotiating client adds.
_REQUEST_LINE = re.compile(rb"(GET|HEAD) (?:/v[0-9]+\.[0-9]+)?/_ping HTTP/1\.1\r\n")
#: Headers that change how a request must be handled: those requests go to aiohttp.
_SPECIAL = re.compile(
    rb"\r\n(?:connection|upgrade|expect|content-length|transfer-encoding)\s*:", re.IGNORECASE
)
#: Past this much without a whole request, it is no bare ping.
_LIMIT = 8192


class PingReplies:
    """The prepared answers, with a Date header remade at most once a second (as aiohttp's is)."""

    def __init__(self, api_version: str, server: str) -> None:
        self._head = (
            "HTTP/1.1 200 OK\r\n"
            f"Api-Version: {api_version}\r\n"
            "Builder-Version: 1\r\n"
            "Docker-Experimental: false\r\n"
            "Ostype: linux\r\n"
            "Swarm: inactive\r\n"
            "Cache-Control: no-cache, no-store, must-revalidate\r\n"
            "Pragma: no-cache\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Server: {server}\r\n"
        ).encode()
        self._second = -1
        self._get = self._head_only = b""

    def reply(self, method: bytes) -> bytes:
        now = int(time.time())
        if now != self._second:
            date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
            self._get = self._head + b"Content-Length: 2\r\nDate: " + date + b"\r\n\r\nOK"
            self._head_only = self._head + b"Date: " + date + b"\r\n\r\n"
            self._second = now
        return self._get if method == b"GET" else self._head_only


class PingFirst(asyncio.Protocol):
    """One connection: bare pings answered here; everything from the first other byte on, aiohttp's."""

    def __init__(
        self,
        replies: PingReplies,
        inner: Callable[[], asyncio.BaseProtocol],
        live: set[PingFirst],
        touched: Callable[[], None],
    ) -> None:
        self._replies = replies
        self._inner_factory = inner
        self._live = live
        self._touched = touched
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._live.add(self)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer + data if self._buffer else data
        answered = []
        while buffer:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            request = buffer[: end + 4]
            line = _REQUEST_LINE.match(request)
            if line is None or _SPECIAL.search(request, line.end() - 2) is not None:
                break
            answered.append(self._replies.reply(line.group(1)))
            buffer = buffer[end + 4 :]
        if answered:
            self._touched()
            self._transport.write(b"".join(answered))
        if not buffer:
            self._buffer = b""
        elif buffer.find(b"\r\n\r\n") < 0 and len(buffer) < _LIMIT and _could_be_ping(buffer):
            self._buffer = buffer  # the rest of a ping is on its way
        else:
            self._hand_over(buffer)

    def _hand_over(self, pending: bytes) -> None:
        """aiohttp's protocol takes the transport, and the bytes not answered here, for good."""
        assert self._transport is not None
        self._live.discard(self)
        inner = self._inner_factory()
        self._transport.set_protocol(inner)
        inner.connection_made(self._transport)
        if pending:
            assert isinstance(inner, asyncio.Protocol)
            inner.data_received(pending)

    def eof_received(self) -> bool | None:
        return False  # the client is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self)

    def close(self) -> None:
        """The service stops: a connection still here has nothing in flight."""
        if self._transport is not None:
            self._transport.close()


def _could_be_ping(partial: bytes) -> bool:
    """Whether a request's first bytes may still become a bare ping (else aiohttp takes them now)."""
    return any(partial.startswith((method[: len(partial)], method)) for method in (b"GET ", b"HEAD "))


class PingFirstServer:
    """The protocol factory for ``loop.create_server``: each connection behind :class:`PingFirst`."""

    def __init__(
        self, replies: PingReplies, inner: Callable[[], asyncio.BaseProtocol], touched: Callable[[], None]
    ) -> None:
        self._replies = replies
        self._inner = inner
        self._touched = touched
        self.live: set[PingFirst] = set()

    def __call__(self) -> PingFirst:
        return PingFirst(self._replies, self._inner, self.live, self._touched)

    def close_idle(self) -> None:
        """Close the connections that only ever pinged (aiohttp closes its own)."""
        for connection in list(self.live):
            connection.close()
