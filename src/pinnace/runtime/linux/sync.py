"""The messages between the runtime (parent) and the container's processes.

``create`` is a conversation across a fork: the parent must write uid/gid
maps the moment the child has its user namespace, must learn the init's pid,
must run hooks while the init waits with its rootfs mounted, and must hear
any failure as the pinnace error it was.  Each step is a named message
(runc's nsexec sync protocol and youki's channel do the same): a typo'd or
out-of-order message is an error, never a silently misread byte.

Messages travel over an ``AF_UNIX``/``SOCK_SEQPACKET`` socketpair, one JSON
object per packet (``{"type": NAME, ...fields}``), so a packet boundary is a
message boundary and a closed peer reads as end-of-file.  ``_socket`` and
:mod:`pinnace._util.jsonc` keep the import cost near zero.
"""

from __future__ import annotations

import _socket
import os as _os
import sys as _sys

from pinnace import errors
from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TypeVar

    M = TypeVar("M")

#: The largest message (a failure's text is cut to fit).
MAX_MESSAGE = 64 * 1024

#: The size of a descriptor number in an SCM_RIGHTS message (a C int).
_FD_SIZE = 4


@record
class Handover:
    """parent -> stage 1 started ahead (:mod:`~pinnace.runtime.linux.standby`): your job.

    The message carries descriptors: a memfd holding the job
    (:meth:`~pinnace.runtime.linux.init.Job.wire`), then, when ``console``
    is true, the console socket.
    """

    console: bool


@record
class Go:
    """parent -> child: you are in the container's cgroup; enter the namespaces."""


@record
class UserNamespaceReady:
    """child -> parent: I unshared a user namespace; write my uid/gid maps."""


@record
class MapsWritten:
    """parent -> child: the maps are written; go on."""


@record
class InitPid:
    """child -> parent: the container init's pid, in the parent's pid namespace."""

    pid: int


@record
class RootfsReady:
    """init -> parent: mounts are done, pivot_root is next; run prestart/createRuntime hooks now."""


@record
class HooksDone:
    """parent -> init: the runtime-namespace hooks ran; ``state`` is the OCI state for the init's hooks."""

    state: dict[str, object]


@record
class Ready:
    """init -> parent: everything but the exec is done; waiting for ``start``."""


@record
class Failure:
    """either way: the sender failed; ``kind`` names the pinnace error class."""

    kind: str
    message: str


MESSAGES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Handover, Go, UserNamespaceReady, MapsWritten, InitPid, RootfsReady, HooksDone, Ready, Failure)
}


def socketpair() -> tuple[Channel, Channel]:
    """A connected pair of channels (close-on-exec): (parent's end, child's end)."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    return Channel(a), Channel(b)


def describe(exc: BaseException) -> str:
    """One line for an exception raised in a child, in the words runc would use.

    A pinnace error is already one; an OSError reads as Go prints one
    (``open /x: no such file or directory``), not as Python's repr.
    """
    if isinstance(exc, PinnaceError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror[:1].lower() + exc.strerror[1:]
        return f"{exc.filename}: {reason}" if exc.filename is not None else reason
    return f"{type(exc).__name__}: {exc}"


def failure(exc: BaseException) -> Failure:
    """The Failure message for an exception raised in a child."""
    if isinstance(exc, PinnaceError):
        kind = type(exc).__name__
    elif isinstance(exc, FileNotFoundError):
        kind = "NotFound"
    elif isinstance(exc, PermissionError):
        kind = "FailedPrecondition"
    else:
        kind = "Unavailable"
    return Failure(kind=kind, message=describe(exc)[: MAX_MESSAGE // 2])


def error_of(message: Failure) -> PinnaceError:
    """The pinnace error a Failure message carries (Unavailable for an unknown kind)."""
    kind = getattr(errors, message.kind, None)
    if not (isinstance(kind, type) and issubclass(kind, PinnaceError)):
        kind = Unavailable
    return kind(message.message)


class Channel:
    """One end of the conversation."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def close(self) -> None:
        self.sock.close()

    def send(self, message: object, fds: Sequence[int] = ()) -> None:
        """Send one message (with copies of ``fds``, SCM_RIGHTS); a peer that is gone is an Unavailable error."""
        fields = {name: getattr(message, name) for name in type(message).__annotations__}
        data = jsonc.dumps({"type": type(message).__name__, **fields}, compact=True).encode()
        try:
            if fds:
                rights = b"".join(fd.to_bytes(_FD_SIZE, _sys.byteorder, signed=True) for fd in fds)
                self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
            else:
                self.sock.send(data)
        except OSError as e:
            raise Unavailable(f"sync with container process: {e.strerror or e}") from None

    def recv(self) -> object | None:
        """The next message, or None when the peer closed its end."""
        return self.recv_fds(0)[0]

    def recv_fds(self, most: int) -> tuple[object | None, list[int]]:
        """The next message (None at end-of-file) and up to ``most`` descriptors it carried (close-on-exec).

        The caller owns the descriptors; those of a malformed message are closed here, before the error.
        """
        try:
            if most:
                data, ancillary, _, _ = self.sock.recvmsg(
                    MAX_MESSAGE, _socket.CMSG_SPACE(most * _FD_SIZE), _socket.MSG_CMSG_CLOEXEC
                )
            else:
                data, ancillary = self.sock.recv(MAX_MESSAGE), []
        except OSError as e:
            raise Unavailable(f"sync with container process: {e.strerror or e}") from None
        fds = [
            int.from_bytes(rights[i : i + _FD_SIZE], _sys.byteorder, signed=True)
            for level, kind, rights in ancillary
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
            for i in range(0, len(rights) - _FD_SIZE + 1, _FD_SIZE)
        ]
        if not data:
            return None, fds
        try:
            return self._decode(data), fds
        except Unavailable:
            for fd in fds:
                _os.close(fd)
            raise

    @staticmethod
    def _decode(data: bytes) -> object:
        try:
            raw = jsonc.loads(data)
            cls = MESSAGES[raw.pop("type")]
            message: object = cls(**raw)
            return message
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise Unavailable(f"sync with container process: malformed message: {e}") from None

    def expect(self, kind: type[M], during: str) -> M:
        """Receive a message that must be ``kind``; a Failure is raised as its error.

        ``during`` names the step, for the error when the peer died instead.
        """
        message = self.recv()
        if isinstance(message, kind):
            return message
        if isinstance(message, Failure):
            raise error_of(message)
        if message is None:
            raise Unavailable(f"container process exited during {during}")
        raise Unavailable(f"sync with container process: expected {kind.__name__}, got {message!r}")
