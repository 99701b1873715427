"""The operation lock: what keeps GC from collecting what an operation is building.

An import, pull or build creates blobs and snapshots before the image record
that makes them reachable is written; to GC they look like garbage until
then.  So every mutation that creates blobs or snapshots runs inside
:func:`operation`, a SHARED flock on ``<root>/gc.lock`` (any number of
operations at once), and GC takes the same lock EXCLUSIVE (:func:`exclusive`):
it waits until no operation is in flight and none starts while it sweeps.

This is pinnace's lease, and flock is what makes it a good one: the kernel
drops a flock when the last descriptor of its holder closes, which includes
the holder dying by SIGKILL or OOM.  A lease bound to process liveness needs
no expiry time, no heartbeat and no guessing whether a recorded pid is still
the same process: a killed operation releases its lock at once, and what it
left behind is garbage the next GC removes.

Never call GC from inside an operation: flock locks belong to open file
descriptions, so the exclusive request would wait for this process's own
shared lock forever.
"""

from __future__ import annotations

import os

from pinnace._util.lock import FileLock
from pinnace.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

LOCK_NAME = "gc.lock"


def _acquire(root: str | os.PathLike[str], *, shared: bool, blocking: bool) -> FileLock | None:
    lock = FileLock(os.path.join(root, LOCK_NAME), shared=shared)
    try:
        try:
            acquired = lock.acquire(blocking=blocking)
        except FileNotFoundError:  # a fresh --root: make it, then lock
            os.makedirs(root, mode=0o711, exist_ok=True)
            acquired = lock.acquire(blocking=blocking)
    except OSError as exc:
        raise Unavailable(f"lock {lock.path}: {exc.strerror}") from exc
    return lock if acquired else None


class operation:  # noqa: N801  (used as a function: ``with operation(root):``)
    """Hold the shared operation lock of ``root`` for the block (waits while GC runs).

    A class rather than ``contextlib.contextmanager``: this is on the path of
    every ``run``, and contextlib costs start-up.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = root
        self._lock: FileLock | None = None

    def __enter__(self) -> None:
        self._lock = _acquire(self._root, shared=True, blocking=True)
        assert self._lock is not None

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


class exclusive:  # noqa: N801  (used as a function: ``with exclusive(root) as held:``)
    """Hold the operation lock of ``root`` exclusively: no operation runs meanwhile.

    Yields True once held.  With ``blocking=False`` it yields False at once
    if an operation is in flight, and the block runs without the lock.
    """

    def __init__(self, root: str | os.PathLike[str], *, blocking: bool = True) -> None:
        self._root = root
        self._blocking = blocking
        self._lock: FileLock | None = None

    def __enter__(self) -> bool:
        self._lock = _acquire(self._root, shared=False, blocking=self._blocking)
        return self._lock is not None

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
