"""The attach protocol between a container's monitor and its clients.

A client (``pinnace attach``, a foreground ``run``, ``start -a``, later the
Engine API's hijacked connections) connects to the monitor's unix socket
``<runroot>/containers/<id>/attach`` and both sides exchange frames in
docker's stream format (moby's ``stdcopy``): an 8-byte header -- the stream
byte, three zero bytes, the payload length as a big-endian uint32 -- then the
payload.  Streams 0/1/2 are stdin/stdout/stderr, as docker numbers them, so
the Engine API can later pass these frames through as they are.  The
control frames are ours, numbered out of docker's range:

``RESIZE`` (client to monitor)
    the terminal size, ``rows`` and ``cols`` as two big-endian uint16
``CLOSE_STDIN`` (client to monitor)
    the client's stdin ended (the container's stdin is closed when it was
    opened with ``StdinOnce``, as ``docker run -i`` does)
``EXIT`` (monitor to client)
    the container ended: its exit code in ASCII; sent after the exit file is
    written, so a client may read the container's state at once

The socket path can exceed the 108 bytes of ``sun_path`` (a long ``--runroot``
plus a 64-digit ID), so both sides go through ``/proc/self/fd/N`` of the
directory, as conmon does.  Only ``os`` and ``_socket`` are imported: the
monitor lives as long as its container.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
RESIZE = 16
CLOSE_STDIN = 17
EXIT = 18

#: The socket's file name in the container's run directory.
SOCKET_NAME = "attach"

#: The largest frame either side accepts (docker's stdcopy buffers grow to 32 KiB chunks).
MAX_FRAME = 1 << 20


def frame(stream: int, payload: bytes = b"") -> bytes:
    """One frame: docker's 8-byte header, then ``payload``."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, rows.to_bytes(2, "big") + cols.to_bytes(2, "big"))


def parse_resize(payload: bytes) -> tuple[int, int]:
    """(rows, cols) of a RESIZE payload."""
    return int.from_bytes(payload[:2], "big"), int.from_bytes(payload[2:4], "big")


class Frames:
    """Frames cut out of a byte stream as it arrives (partial frames wait for the rest)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """The complete frames ``data`` finishes; raises ValueError on a malformed one."""
        self._buffer += data
        while len(self._buffer) >= 8:
            size = int.from_bytes(self._buffer[4:8], "big")
            if size > MAX_FRAME or any(self._buffer[1:4]):
                raise ValueError("malformed attach frame")
            if len(self._buffer) < 8 + size:
                return
            stream = self._buffer[0]
            payload = bytes(self._buffer[8 : 8 + size])
            del self._buffer[: 8 + size]
            yield stream, payload


def _path_via_fd(directory: str, name: str) -> tuple[int, str]:
    """An O_PATH fd of ``directory`` and the socket's path through it (short whatever the runroot)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}/{name}"


def listen(directory: str, name: str = SOCKET_NAME) -> Any:
    """A listening socket ``name`` in ``directory`` (replacing a stale one), for root only."""
    import _socket

    try:
        os.unlink(os.path.join(directory, name))
    except FileNotFoundError:
        pass
    fd, path = _path_via_fd(directory, name)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(path)
        os.chmod(os.path.join(directory, name), 0o600)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(fd)
    return sock


def connect(directory: str, name: str = SOCKET_NAME) -> Any:
    """A client's socket connected to the monitor of the container whose run directory is ``directory``.

    Raises OSError when no monitor listens (the container is not running).
    """
    import _socket

    fd, path = _path_via_fd(directory, name)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(fd)
    return sock
