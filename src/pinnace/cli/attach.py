"""The client side of attach: our terminal on one end, a container's monitor on the other.

Used by ``attach``, a foreground ``run`` and ``start -a``.  :func:`relay`
copies frames from the monitor (:mod:`pinnace.shim.protocol`) to our
stdout/stderr and our stdin to the monitor, as docker's CLI does over its
hijacked connection:

- with ``-t`` and a terminal on stdin, the terminal goes raw for the
  session, its size is sent at the start and on every SIGWINCH;
- the detach keys (docker's default ctrl-p ctrl-q) typed on a terminal end
  the session and leave the container running;
- without ``-t``, the signals we receive are passed on to the container
  (``--sig-proxy``, docker's default), SIGKILL aside;
- end of our stdin is told to the monitor, which closes the container's
  stdin when it was opened with ``StdinOnce`` (``run -i``).
"""

from __future__ import annotations

import os

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.containers.service import ContainerService

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

#: Signals docker's CLI does not proxy (moby's ForwardAllSignals skips these).
_NOT_PROXIED = ("SIGCHLD", "SIGWINCH", "SIGPIPE", "SIGURG", "SIGKILL", "SIGSTOP")


def proxied_signals() -> list[int]:
    """The signals a session without a terminal passes on to the container.

    Taken from :class:`signal.Signals`, not ``dir(signal)``, whose aliases
    (SIGCLD is SIGCHLD) would slip past the names skipped.
    """
    import signal

    return [int(s) for s in signal.Signals if s.name not in _NOT_PROXIED and s < signal.SIGRTMIN]


class Forwarder:
    """A signal handler passing signals on one at a time, in the order they came.

    Passing one on is a request on the engine's connection; a signal landing
    while that request is in flight must wait for it, not start a second
    request on the same connection from inside the first.
    """

    def __init__(self, proxy: Callable[[int], None]) -> None:
        self.proxy = proxy
        self.pending: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.pending.append(signum)
        if len(self.pending) > 1:
            return  # an outer call is forwarding and will take this one too
        try:
            while self.pending:
                self.proxy(self.pending[0])
                del self.pending[0]
        finally:
            self.pending.clear()


class Detached(Exception):
    """The user typed the detach keys: the session ends, the container runs on."""


def parse_detach_keys(text: str) -> bytes:
    """docker's ``--detach-keys`` syntax ("ctrl-p,ctrl-q", "a,ctrl-@") as the bytes to watch for."""
    keys = bytearray()
    for part in text.split(","):
        if len(part) == 1:
            keys.append(ord(part))
            continue
        name = part.lower()
        if name.startswith("ctrl-") and len(name) == 6:
            code = ord(name[5])
            if ord("a") <= code <= ord("z"):
                keys.append(code - ord("a") + 1)
                continue
            if name[5] in "@[\\]^_":
                keys.append(ord(name[5].upper()) - 64 if name[5] != "@" else 0)
                continue
        raise InvalidArgument(f"Unknown character: '{part}'")
    return bytes(keys)


class _Terminal:
    """Our stdin in raw mode for a ``-t`` session (restored on close), and its size."""

    def __init__(self, raw: bool) -> None:
        self.saved: Any = None
        if raw and os.isatty(0):
            import termios
            import tty

            self.saved = termios.tcgetattr(0)
            tty.setraw(0)

    def size(self) -> tuple[int, int] | None:
        """(rows, cols) of our terminal, from stdout or else stdin."""
        for fd in (1, 0):
            try:
                columns, lines = os.get_terminal_size(fd)
            except OSError:
                continue
            return lines, columns
        return None

    def close(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
            self.saved = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def relay(
    sock: Any,
    *,
    stdin: bool,
    stdout: bool = True,
    stderr: bool = True,
    tty: bool = False,
    detach_keys: str = DEFAULT_DETACH_KEYS,
    proxy: Callable[[int], None] | None = None,
) -> int | None:
    """Serve one attach session: the container's exit code, or None when the monitor went away.

    Raises :class:`Detached` when the user typed the detach keys.
    """
    import select
    import signal

    from pinnace.shim import protocol

    keys = parse_detach_keys(detach_keys) if detach_keys else b""
    terminal = _Terminal(raw=tty and stdin)
    watch_keys = bool(keys) and stdin and os.isatty(0)
    matched = 0
    previous: dict[int, Any] = {}

    def resize(*_: object) -> None:
        size = terminal.size()
        if size is not None:
            try:
                sock.sendall(protocol.resize_frame(*size))
            except OSError:
                pass

    try:
        if tty:
            resize()
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
        elif proxy is not None:
            forward = Forwarder(proxy)
            for signum in proxied_signals():
                try:
                    previous[signum] = signal.signal(signum, forward)
                except (OSError, ValueError):
                    pass
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        reading_stdin = stdin
        if reading_stdin:
            try:
                poller.register(0, select.POLLIN)
            except (OSError, ValueError):
                reading_stdin = False
        frames = protocol.Frames()
        while True:
            for fd, _ in poller.poll():
                if fd == 0:
                    data = os.read(0, 65536)
                    if not data:
                        poller.unregister(0)
                        sock.sendall(protocol.frame(protocol.CLOSE_STDIN))
                        continue
                    if watch_keys:
                        for byte in data:
                            matched = matched + 1 if byte == keys[matched] else int(byte == keys[0])
                            if matched == len(keys):
                                raise Detached
                    sock.sendall(protocol.frame(protocol.STDIN, data))
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return None
                for stream, payload in frames.feed(data):
                    if stream == protocol.STDOUT and stdout:
                        _write_all(1, payload)
                    elif stream == protocol.STDERR and stderr:
                        _write_all(2, payload)
                    elif stream == protocol.EXIT:
                        return int(payload)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        terminal.close()
        sock.close()


def session(
    service: ContainerService,
    container_id: str,
    sock: Any,
    config: dict[str, Any] | Any,
    *,
    stdin: bool,
    stdout: bool = True,
    stderr: bool = True,
    detach_keys: str | None = None,
    sig_proxy: bool = True,
) -> int | None:
    """:func:`relay` for ``container_id`` with its Config's terminal and detach keys; None when detached.

    A lost monitor (killed) ends the session with the code the engine then records.
    """
    tty = bool(config.get("Tty"))

    def proxy(signum: int) -> None:
        from pinnace.errors import PinnaceError

        try:
            service.kill(container_id, signum, manual=False)
        except PinnaceError:
            pass

    try:
        code = relay(
            sock,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            tty=tty,
            detach_keys=DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys,
            proxy=proxy if sig_proxy and not tty else None,
        )
    except Detached:
        return None
    return service.wait(container_id) if code is None else code
