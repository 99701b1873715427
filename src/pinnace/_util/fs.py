"""Durable, atomic file writes.

Every piece of state pinnace keeps outside SQLite is written through
:func:`atomic_write`: a temp file in the same directory, written, fsynced,
renamed over the target, and the directory fsynced, so a process killed at
any instant leaves either the old file or the new one, never half of one.
Only ``os`` is imported: the runtime writes its state through here once per
container, and pathlib alone costs a few milliseconds of start-up.
"""

from __future__ import annotations

import os


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically, and durably unless ``durable`` is False.

    ``durable=False`` skips the fsyncs, for state on a tmpfs (the runtime's
    ``--root``) that a reboot discards anyway: the rename alone keeps it atomic.
    """
    target = os.fspath(path)
    parent, name = os.path.split(target)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, target)
    if durable:
        fsync_dir(parent or ".")
