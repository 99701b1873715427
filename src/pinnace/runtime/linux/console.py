"""The container's terminal: a pty made inside the container, its master sent out.

runc's protocol, which podman's conmon and containerd's shim speak: the
engine listens on a unix socket (``--console-socket``); the runtime connects
to it before the container is set up, and the container process, once its
``/dev/pts`` is mounted and it is rooted in the container, opens a new pty
there and sends the master over that connection with SCM_RIGHTS.  The slave
becomes the process's controlling terminal and its stdin/stdout/stderr.
Making the pty inside the container (not on the host) keeps the host's
devpts out of the container's reach.
"""

from __future__ import annotations

import os

from pinnace.errors import FailedPrecondition, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def connect(path: str) -> Any:
    """A connected ``_socket.socket`` to the engine's console socket at ``path``."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise Unavailable(f"connect to console socket {path}: {e.strerror or e}") from None
    return sock


def send_fd(sock: Any, fd: int, name: str) -> None:
    """Send ``fd`` over a connected unix socket with SCM_RIGHTS, ``name`` as the payload (as runc)."""
    import _socket
    import array

    try:
        sock.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [fd]))])
    except OSError as e:
        raise Unavailable(f"send console to the console socket: {e.strerror or e}") from None


def recv_fd(sock: Any) -> int:
    """Receive one fd sent with :func:`send_fd` (for ``run``, which is its own console socket)."""
    import _socket
    import array

    fds = array.array("i")
    _, ancdata, _, _ = sock.recvmsg(4096, _socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise Unavailable("console socket: no file descriptor received")
    return fds[0]


def setup(sock: Any) -> None:
    """In the container process (rooted in the container): new pty, master out, slave as stdio."""
    import fcntl
    import termios

    try:
        master, slave = os.openpty()
    except OSError as e:
        raise FailedPrecondition(
            f"create a terminal in the container (is devpts mounted at /dev/pts?): {e.strerror or e}"
        ) from None
    try:
        send_fd(sock, master, "/dev/ptmx")
    finally:
        os.close(master)
        sock.close()
    try:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    except OSError as e:
        raise FailedPrecondition(f"make the terminal the controlling terminal: {e.strerror or e}") from None
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


def pump(master: int, pid: int) -> None:
    """Copy our stdin to the pty ``master`` and its output to our stdout until the process exits.

    This is ``run`` in the foreground with a terminal and no console socket:
    the runtime is the terminal's other end, as runc is.  Our stdin is put
    in raw mode (when it is a terminal) so keys reach the container as typed,
    and restored at the end.
    """
    import select
    import termios
    import tty

    saved = None
    previous = None
    if os.isatty(0):
        import signal

        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_size(master)
        # Our terminal resized: the container's follows (docker's exec -t and run -t do the same).
        previous = signal.signal(signal.SIGWINCH, lambda _n, _f: _copy_size(master))
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(master, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    stdin_open = True
    try:
        poller.register(0, select.POLLIN)
    except (OSError, ValueError):
        stdin_open = False
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: every slave fd is closed
                        data = b""
                    if not data:
                        return
                    os.write(1, data)
                elif fd == 0 and stdin_open:
                    data = os.read(0, 65536)
                    if data:
                        os.write(master, data)
                    else:
                        poller.unregister(0)
                        stdin_open = False
                        os.write(master, b"\x04")  # EOF for the container's line discipline
                elif fd == pidfd:
                    _drain(master)
                    return
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if previous is not None:
            import signal

            signal.signal(signal.SIGWINCH, previous)


def _copy_size(master: int) -> None:
    """Our terminal's window size onto the container's pty."""
    import fcntl
    import struct
    import termios

    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _drain(master: int) -> None:
    """Copy what the exited process left in the pty."""
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        os.write(1, data)
