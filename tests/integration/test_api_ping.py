"""``/_ping``'s fast path (pinnace.api.fastpath): bare pings answered before aiohttp, byte for byte as
aiohttp's route answers them, and a connection handed to aiohttp intact at its first other byte."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = pytest.mark.root

PING = b"GET /_ping HTTP/1.1\r\nHost: api\r\nUser-Agent: t\r\n\r\n"


@pytest.fixture
def sock_path(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    for url in serving(engine, tmp_path / "api"):
        yield url.removeprefix("unix://")


def _connect(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(10)
    conn.connect(path)
    return conn


def _responses(conn: socket.socket, count: int) -> list[tuple[list[str], bytes]]:
    """``count`` whole responses (their header lines, their body) read from ``conn``."""
    data = b""
    out: list[tuple[list[str], bytes]] = []
    while len(out) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            lines = data[:end].decode().split("\r\n")
            length = next((int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length:")), 0)
            if lines[0].startswith("HEAD"):
                length = 0
            if len(data) >= end + 4 + length:
                out.append((lines, data[end + 4 : end + 4 + length]))
                data = data[end + 4 + length :]
                continue
        chunk = conn.recv(65536)
        assert chunk, f"the service closed the connection after {len(out)} responses"
        data += chunk
    assert data == b""
    return out


def _headers(lines: list[str]) -> dict[str, str]:
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}


def test_pipelined_pings_split_requests_and_a_hand_over_on_one_connection(sock_path: str) -> None:
    with _connect(sock_path) as conn:
        conn.sendall(PING + PING.replace(b"/_ping", b"/v1.41/_ping"))  # two in one read
        conn.sendall(PING[:7])  # a ping arriving in pieces
        conn.sendall(PING[7:])
        first = _responses(conn, 3)
        assert [r[0][0] for r in first] == ["HTTP/1.1 200 OK"] * 3 and [r[1] for r in first] == [b"OK"] * 3
        # a ping and another request in one read: the ping here, the rest through aiohttp
        conn.sendall(PING + b"GET /version HTTP/1.1\r\nHost: api\r\n\r\n" + PING)
        ping, version, again = _responses(conn, 3)
        assert ping[1] == b"OK" and again[1] == b"OK"
        assert b'"ApiVersion": "1.45"' in version[1] and version[0][0] == "HTTP/1.1 200 OK"


def test_the_fast_answer_is_aiohttps_answer(sock_path: str) -> None:
    with _connect(sock_path) as conn:
        conn.sendall(PING)
        fast = _responses(conn, 1)[0]
    with _connect(sock_path) as conn:  # a Connection header: not a bare ping, so aiohttp's route answers
        conn.sendall(PING.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n"))
        routed = _responses(conn, 1)[0]
    fast_headers, routed_headers = _headers(fast[0]), _headers(routed[0])
    fast_headers.pop("date"), routed_headers.pop("date")
    assert fast_headers == routed_headers and fast[1] == routed[1] == b"OK"
    assert fast_headers["api-version"] == "1.45" and fast_headers["ostype"] == "linux"
    with _connect(sock_path) as conn:
        conn.sendall(PING.replace(b"GET", b"HEAD"))
        head = _responses(conn, 1)[0]
    assert head[1] == b"" and _headers(head[0])["builder-version"] == "1"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /_ping HTTP/1.0\r\nHost: api\r\n\r\n",  # HTTP/1.0: aiohttp closes after it
        b"POST /_ping HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n",  # not a ping route: 405
        b"GET /_pingx HTTP/1.1\r\nHost: api\r\n\r\n",  # another path: 404
    ],
)
def test_what_is_no_bare_ping_gets_aiohttps_answer(sock_path: str, request_bytes: bytes) -> None:
    with _connect(sock_path) as conn:
        conn.sendall(request_bytes)
        (lines, body), = _responses(conn, 1)  # fmt: skip
    status = lines[0]
    if b"HTTP/1.0" in request_bytes:
        assert status.endswith("200 OK") and body == b"OK"
    elif request_bytes.startswith(b"POST"):
        assert " 405 " in status
    else:
        assert " 404 " in status and b"page not found" in body
