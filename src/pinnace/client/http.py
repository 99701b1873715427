"""HTTP/1.1 to the Engine API over whatever :class:`~pinnace.client.transport.Endpoint` dials.

The stdlib's :mod:`http.client` does the protocol (chunked bodies, keep-alive); we only hand it our
socket.  Plain calls share one kept-alive connection; a stream (logs -f, pull progress, wait) gets a
connection of its own, as does a hijacked attach (``Upgrade: tcp``), which then belongs to the caller.
Errors come back as pinnace's own kinds, from dockerd's status codes, with the service's message.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlencode

from pinnace import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO, TypeAlias

    from pinnace.client.transport import Endpoint

    #: A query: a mapping, or (key, value) pairs where a key repeats (``?filter=a&filter=b``).
    Query: TypeAlias = Mapping[str, Any] | Sequence[tuple[str, Any]]

#: The API version we speak (what pinnace's service serves).
API_VERSION = "1.45"

_KINDS: dict[int, type[errors.PinnaceError]] = {
    400: errors.InvalidArgument,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    501: errors.NotImplementedYet,
    503: errors.Unavailable,
}


class _Connection(http.client.HTTPConnection):
    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint.host or "localhost", endpoint.port or None)
        self.endpoint = endpoint

    def connect(self) -> None:
        self.sock = self.endpoint.dial()


def error_of(status: int, body: bytes) -> errors.PinnaceError:
    """The pinnace error for a non-2xx answer (its ``{"message": ...}``, else the body as text)."""
    try:
        message = str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        message = body.decode(errors="replace").strip()
    return _KINDS.get(status, errors.PinnaceError)(message or f"HTTP status {status}")


def path_of(path: str, query: Query | None = None) -> str:
    """``/v1.45/...`` with the query's non-None values (True/False as 1/0, as docker's client sends)."""
    url = f"/v{API_VERSION}{path}"
    if query:
        pairs = []
        items = query.items() if hasattr(query, "items") else query
        for key, value in items:
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            pairs.append((key, str(value)))
        if pairs:
            url += "?" + urlencode(pairs)
    return url


def name(text: str) -> str:
    """A name or reference as one path segment."""
    return quote(text, safe=":@")


class Hijacked:
    """An attach connection after ``101 Switching Protocols``: ``read1`` what the service sends (bytes it
    sent with the headers come first), ``send`` to it, ``close_write`` for our end of input."""

    def __init__(self, sock: socket.socket, response: http.client.HTTPResponse) -> None:
        self.sock = sock
        self._response = response  # holds the buffered reader; closing it would close the socket
        self._reader: BinaryIO = response.fp

    def read1(self, size: int = 65536) -> bytes:
        try:
            return self._reader.read1(size)  # type: ignore[attr-defined,no-any-return]
        except (OSError, ValueError):
            return b""

    def read(self, size: int) -> bytes:
        try:
            return self._reader.read(size)
        except (OSError, ValueError):
            return b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the container's stdin ends (over TLS a close_notify, :mod:`pinnace.client.tls`)."""
        import socket

        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self._reader.close()
        except OSError:
            pass
        self.sock.close()


class Client:
    """The API calls of one CLI command."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._shared: _Connection | None = None

    def fork(self) -> Client:
        """A client of the same endpoint with a connection of its own (for another thread)."""
        return Client(self.endpoint)

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        if self.endpoint.scheme == "ssh":
            from pinnace.client.transport import reap

            reap()

    # -- plain calls -------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body) of a call on the shared connection; raises the pinnace error of a 4xx/5xx."""
        data, sent = _encode(body, headers)
        url = path_of(path, query)
        for attempt in (0, 1):
            if self._shared is None:
                self._shared = _Connection(self.endpoint)
            try:
                self._shared.request(method, url, body=data, headers=sent)
                response = self._shared.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._shared.close()
                self._shared = None
                if attempt:
                    raise self._lost() from None
            except OSError as e:  # TLS refusals (no certificate, unknown CA) come after the handshake
                self._shared.close()
                self._shared = None
                raise self._failed(e) from None
        if response.status >= 400:
            raise error_of(response.status, payload)
        return response.status, payload

    def json(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
    ) -> Any:
        _, payload = self.request(method, path, query, body)
        return json.loads(payload) if payload.strip() else None

    def get(self, path: str, query: Query | None = None) -> Any:
        return self.json("GET", path, query)

    # -- streams -----------------------------------------------------------------
    def open(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """A streamed answer on a connection of its own (closed with the response)."""
        conn = _Connection(self.endpoint)
        data, sent = _encode(body, headers)
        return self._answer(conn, lambda: conn.request(method, path_of(path, query), body=data, headers=sent))

    def send(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Iterable[bytes] | BinaryIO | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """Like :meth:`open`, with a body streamed as it is produced (chunked): a tar of a build
        context, a copy or a load is never held whole in memory."""
        conn = _Connection(self.endpoint)
        sent = {"User-Agent": "pinnace-cli", "Content-Type": "application/x-tar", **(headers or {})}
        chunks: Iterable[bytes] | None = None
        if body is not None:
            chunks = iter(lambda: body.read(1 << 20), b"") if hasattr(body, "read") else body

        def transmit() -> None:
            conn.request(
                method, path_of(path, query), body=chunks, headers=sent, encode_chunked=chunks is not None
            )

        return self._answer(conn, transmit)

    def _answer(self, conn: _Connection, send: Callable[[], None]) -> http.client.HTTPResponse:
        """The response to what ``send`` sent on ``conn``, a connection of the caller's own: closed,
        and the pinnace error raised, when the exchange fails or the service answers 4xx/5xx."""
        try:
            send()
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            raise self._lost() from None
        except OSError as e:
            conn.close()
            raise self._failed(e) from None
        if response.status >= 400:
            payload = response.read()
            conn.close()
            raise error_of(response.status, payload)
        return response

    def json_lines(self, response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
        """The JSON messages of a progress stream (pull), one per line."""
        try:
            while line := response.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()

    def hijack(self, path: str, query: Query | None = None, body: Any = None) -> Hijacked:
        """``POST`` with ``Upgrade: tcp``: the raw connection once the service switches protocols."""
        conn = _Connection(self.endpoint)
        data, sent = _encode(body, None)
        sent_on: list[Any] = []  # the socket, taken before getresponse() (which drops it for a 101)

        def send() -> None:
            conn.putrequest("POST", path_of(path, query), skip_accept_encoding=True)
            conn.putheader("Connection", "Upgrade")
            conn.putheader("Upgrade", "tcp")
            for key, value in sent.items():
                conn.putheader(key, value)
            conn.putheader("Content-Length", str(len(data or b"")))
            conn.endheaders(data)
            sent_on.append(conn.sock)

        response = self._answer(conn, send)
        sock = sent_on[0]
        if response.status != 101 or sock is None:
            conn.close()
            raise errors.PinnaceError(f"attach: the service answered {response.status}, not 101")
        return Hijacked(sock, response)

    def _failed(self, error: OSError) -> errors.PinnaceError:
        return errors.Unavailable(f"error during connect: {self.endpoint.url}: {error.strerror or error}")

    def _lost(self) -> errors.PinnaceError:
        if self.endpoint.scheme == "ssh":
            from pinnace.client.transport import ssh_errors

            said = ssh_errors()
            if said:
                return errors.Unavailable(f"error during connect: {said}")
        return errors.Unavailable(f"the connection to {self.endpoint.url} was closed")


def _encode(body: Any, headers: Mapping[str, str] | None) -> tuple[bytes | None, dict[str, str]]:
    sent = {"User-Agent": "pinnace-cli", **(headers or {})}
    if body is None:
        return None, sent
    if isinstance(body, bytes):
        return body, sent
    sent.setdefault("Content-Type", "application/json")
    return json.dumps(body).encode(), sent


def demux(response: Any, *, tty: bool) -> Iterator[tuple[int, bytes]]:
    """docker's stdcopy: (stream, payload) frames (1 stdout, 2 stderr); with a TTY, all raw stdout."""
    if tty:
        while chunk := response.read1(65536):
            yield 1, chunk
        return
    while True:
        header = _read_exactly(response, 8)
        if len(header) < 8:
            return
        payload = _read_exactly(response, int.from_bytes(header[4:8], "big"))
        yield header[0], payload


def _read_exactly(response: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = response.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data
