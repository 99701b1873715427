"""A TLS client connection that can end its half: ``close_write`` sends close_notify, reading goes on.

``docker run -i ... < file`` over TLS must tell the container that its input ended while the
container's output keeps coming: docker's Go client sends TLS close_notify (``CloseWrite``), and
pinnace's service turns that into the end of the container's stdin.  Python's ``ssl.SSLSocket`` cannot
do it: ``unwrap()`` waits for the peer's close_notify (which comes only when the output has ended)
and may not run beside a reader blocked in the same SSL object.  So the TLS here runs on memory BIOs
(:class:`ssl.SSLObject`) over the plain socket, one lock around the SSL object, and the socket read
outside it: a reader thread and a writer thread (the attach relay) share the connection safely, and
``close_write`` is one more record sent.  It offers what :mod:`http.client` uses of a socket.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading

#: Bytes asked of the socket per read (TLS records are at most 16 KiB of payload).
_CHUNK = 65536


class TLSConnection:
    """A client's TLS over the connected ``sock``, handshaken as it is made."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._lock = threading.Lock()
        self._write_closed = False
        self._handshake()

    def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ssl.SSLEOFError(
                        8, "EOF occurred in violation of protocol (during the handshake)"
                    ) from None
                continue
            self._flush()
            return

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def _fill(self) -> bool:
        """Feed what the socket has to the SSL object; False at the socket's end."""
        data = self._sock.recv(_CHUNK)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    # -- what http.client and the attach relay use of a socket
    def recv(self, size: int) -> bytes:
        while True:
            with self._lock:
                try:
                    data = self._tls.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""  # the peer's close_notify, or its socket's end
                self._flush()  # TLS 1.3 may answer what it read (key updates)
            if data is not None:
                return data
            if not self._fill():
                with self._lock:
                    try:
                        return self._tls.read(size)
                    except ssl.SSLError:
                        return b""

    def recv_into(self, buffer: memoryview | bytearray, size: int = 0) -> int:
        data = self.recv(size or len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        with self._lock:
            while view:
                written = self._tls.write(view[:16384])
                view = view[written:]
                self._flush()

    def close_write(self) -> None:
        """Send close_notify: the service sees the end of our input; its output is still read."""
        with self._lock:
            if self._write_closed:
                return
            self._write_closed = True
            try:
                self._tls.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass  # sent; the peer's close_notify comes with the end of its output
            self._flush()

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.close_write()
        if how in (socket.SHUT_RD, socket.SHUT_RDWR):
            self._sock.shutdown(socket.SHUT_RD)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: object) -> io.BufferedReader:
        assert "b" in mode and "r" in mode
        return io.BufferedReader(_Reader(self), buffering or io.DEFAULT_BUFFER_SIZE)

    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()


class _Reader(io.RawIOBase):
    """The connection's plaintext as a raw stream (under http.client's buffered reader)."""

    def __init__(self, connection: TLSConnection) -> None:
        self._connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        return self._connection.recv_into(buffer)
