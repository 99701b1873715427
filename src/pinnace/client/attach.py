"""A remote attach presented as a local monitor's attach socket.

The CLI's attach relay (:func:`pinnace.cli.attach.relay`) speaks the monitor's frame protocol
(:mod:`pinnace.shim.protocol`) on a unix socket it connects to in a container's run directory.  For a
remote container we listen on such a socket in a private temporary directory, hand that directory to
the caller as the "run directory", and translate in two threads:

- the service's hijacked attach stream (docker's stdcopy frames, or raw bytes with a TTY) becomes
  STDOUT/STDERR frames, and its end an EXIT frame with the code of a ``wait`` request made before the
  container started (so a fast exit, or an ``--rm`` removal, is never missed);
- STDIN frames are written to the hijacked connection, CLOSE_STDIN half-closes it (docker's
  CloseWrite), RESIZE becomes ``POST /containers/{id}/resize``.

So ``run``, ``start -a`` and ``attach`` work against a remote engine with the relay unchanged: the
terminal's raw mode, the detach keys and the signal proxy all stay on the client's side, as docker's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import http.client
    from collections.abc import Callable
    from typing import Any

    from pinnace.client.http import Client, Hijacked


class Bridge:
    """One attach session's local endpoint; :attr:`run_dir` is what the CLI connects to."""

    def __init__(
        self,
        client: Client,
        container_id: str,  # the container's ID (an exec's bridge: the exec's)
        hijacked: Hijacked,
        *,
        tty: bool,
        waiter: http.client.HTTPResponse | None = None,
        exit_code: Callable[[], int | None] | None = None,
        resize_path: str = "",
    ) -> None:
        import socket

        from pinnace.shim import protocol

        self.client = client
        self.container_id = container_id
        self.hijacked = hijacked
        self.tty = tty
        self.waiter = waiter
        self._exit_code_of = exit_code
        self.resize_path = resize_path or f"/containers/{container_id}/resize"
        self.run_dir = tempfile.mkdtemp(prefix="pinnace-attach-")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(os.path.join(self.run_dir, protocol.SOCKET_NAME))
        self._listener.listen(1)
        self._accepted = threading.Thread(target=self._serve, daemon=True)
        self._accepted.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        finally:
            self._listener.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)
        threading.Thread(target=self._input, args=(conn,), daemon=True).start()
        self._output(conn)

    def close(self) -> None:
        """Give up on a session nobody connected to (the start failed)."""
        self._listener.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.hijacked.close()
        if self.waiter is not None:
            self.waiter.close()

    def _output(self, conn: Any) -> None:
        from pinnace.client.http import demux
        from pinnace.shim import protocol

        try:
            for stream, payload in demux(self.hijacked, tty=self.tty):
                if stream in (protocol.STDOUT, protocol.STDERR):
                    conn.sendall(protocol.frame(stream, payload))
            code = self._exit_code()
            if code is not None:
                conn.sendall(protocol.frame(protocol.EXIT, str(code).encode()))
        except OSError:
            pass
        finally:
            self.hijacked.close()
            try:
                conn.close()
            except OSError:
                pass

    def _exit_code(self) -> int | None:
        """The container's exit code, from the wait made before its start (or a new one); an exec's
        from its own ``exit_code``."""
        import json

        from pinnace.errors import PinnaceError

        if self._exit_code_of is not None:
            return self._exit_code_of()
        try:
            response = self.waiter or self.client.open("POST", f"/containers/{self.container_id}/wait")
            try:
                doc = json.loads(response.read() or b"{}")
            finally:
                response.close()
        except (PinnaceError, OSError, ValueError):
            return None
        if doc.get("Error") or not isinstance(doc.get("StatusCode"), int) or doc["StatusCode"] < 0:
            return None
        return int(doc["StatusCode"])

    def _input(self, conn: Any) -> None:
        from pinnace.shim import protocol

        frames = protocol.Frames()
        try:
            while data := conn.recv(65536):
                for stream, payload in frames.feed(data):
                    if stream == protocol.STDIN:
                        self.hijacked.send(payload)
                    elif stream == protocol.CLOSE_STDIN:
                        self.hijacked.close_write()
                    elif stream == protocol.RESIZE:
                        self._resize(*protocol.parse_resize(payload))
        except (OSError, ValueError):
            return

    def _resize(self, rows: int, cols: int) -> None:
        from pinnace.errors import PinnaceError

        try:
            self.client.open("POST", self.resize_path, {"h": rows, "w": cols}).close()
        except (PinnaceError, OSError):
            pass  # a service without resize: the terminal keeps its first size
