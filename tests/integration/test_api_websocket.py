"""``/containers/{id}/attach/ws``: a websocket client (aiohttp's) attached before and after the start
sends the container's stdin and gets its raw output, stdout and stderr alike, until it exits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = pytest.mark.root


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


async def _session(host: str) -> object:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=host[len("unix://") :]))


async def _collect(ws: object, until: bytes) -> bytes:
    import aiohttp

    assert isinstance(ws, aiohttp.ClientWebSocketResponse)
    got = b""
    async with asyncio.timeout(20):
        async for message in ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                got += message.data
            if until in got or message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
    return got


def test_attach_before_start_sends_stdin_and_gets_both_streams(engine: Pinnace, service: str) -> None:
    script = "read line; echo got:$line; echo oops >&2; exit 4"
    engine.run("create", "-i", "--name", "ws-early", "--network", "none", "busybox", "sh", "-c", script)

    async def scenario() -> tuple[bytes, int, bool]:
        import aiohttp

        session = await _session(service)
        assert isinstance(session, aiohttp.ClientSession)
        async with session:
            url = "http://pinnace/v1.45/containers/ws-early/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
            async with session.ws_connect(url) as ws:
                async with session.post("http://pinnace/containers/ws-early/start") as started:
                    assert started.status == 204
                await ws.send_str("hello\n")
                output = await _collect(ws, b"oops\n")
                async with asyncio.timeout(20):
                    closing = await ws.receive()  # the container ended: the service closes the socket
            async with session.post("http://pinnace/containers/ws-early/wait") as waited:
                code = (await waited.json())["StatusCode"]
            return output, code, closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

    output, code, closed = asyncio.run(scenario())
    assert output == b"got:hello\noops\n"
    assert code == 4 and closed


def test_attach_to_a_running_container_and_missing_ones(engine: Pinnace, service: str) -> None:
    engine.run("run", "-d", "-i", "--name", "ws-cat", "--network", "none", "busybox", "cat")

    async def scenario() -> tuple[bytes, int]:
        import aiohttp

        session = await _session(service)
        assert isinstance(session, aiohttp.ClientSession)
        async with session:
            async with session.ws_connect("http://pinnace/containers/ws-cat/attach/ws?stdin=1&stdout=1") as ws:
                await ws.send_bytes(b"echoed back\n")
                output = await _collect(ws, b"echoed back\n")
            async with session.get("http://pinnace/containers/nothing-here/attach/ws") as missing:
                return output, missing.status

    try:
        output, status = asyncio.run(scenario())
    finally:
        engine.run("rm", "-f", "ws-cat")
    assert output == b"echoed back\n"
    assert status == 404
