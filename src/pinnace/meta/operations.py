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

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pinnace._util.lock import FileLock
from pinnace.errors import Unavailable

LOCK_NAME = "gc.lock"


def _acquire(root: Path, *, shared: bool, blocking: bool) -> FileLock | None:
    lock = FileLock(root / LOCK_NAME, shared=shared)
    try:
        try:
            acquired = lock.acquire(blocking=blocking)
        except FileNotFoundError:  # a fresh --root: make it, then lock
            root.mkdir(mode=0o711, parents=True, exist_ok=True)
            acquired = lock.acquire(blocking=blocking)
    except OSError as exc:
        raise Unavailable(f"lock {lock.path}: {exc.strerror}") from exc
    return lock if acquired else None


@contextlib.contextmanager
def operation(root: Path) -> Iterator[None]:
    """Hold the shared operation lock of ``root`` for the block (waits while GC runs)."""
    lock = _acquire(root, shared=True, blocking=True)
    assert lock is not None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def exclusive(root: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the operation lock of ``root`` exclusively: no operation runs meanwhile.

    Yields True once held.  With ``blocking=False`` it yields False at once
    if an operation is in flight, and the block runs without the lock.
    """
    lock = _acquire(root, shared=False, blocking=blocking)
    try:
        yield lock is not None
    finally:
        if lock is not None:
            lock.release()
