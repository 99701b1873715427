"""On-disk ingests: the directory an uncommitted blob is written in, and its lock.

An ingest for ``ref`` lives in ``ingest/<sha256(ref) hex>/``::

    lock        flock'ed by the one writer of this ref (across processes)
    data        the bytes written so far (a resumed writer continues at its end)
    total       the size announced when the ingest started, if any
    startedat   unix time the ingest started
    ref         the ref itself, written last: an ingest without it is not
                initialised and is garbage once nobody holds the lock

The metadata files are not fsynced: an ingest is only ever resumed or thrown
away, and commit verifies every byte against the digest, so a torn ingest
costs a retry, never a bad blob.

A directory is removed by renaming it to a ``.rm-*`` name first and deleting
that: a process racing to open the lock file then finds no file (and makes a
fresh ingest) instead of re-creating a lock file inside a half-deleted tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

from pinnace.content.info import IngestStatus
from pinnace.errors import NotFound, Unavailable

DATA = "data"
REF = "ref"
TOTAL = "total"
STARTED = "startedat"
LOCK = "lock"

#: Prefix of directories being deleted; never an ingest, always garbage.
TRASH_PREFIX = ".rm-"


def ingest_dir(ingest_root: Path, ref: str) -> Path:
    """The directory of ``ref``'s ingest: named by a hash so any ref is a safe file name."""
    return ingest_root / hashlib.sha256(ref.encode("utf-8", "surrogateescape")).hexdigest()


def lock(directory: Path, ref: str, *, create: bool) -> int:
    """Take the ingest's lock without waiting; return the locked descriptor.

    With ``create`` the directory is made if missing; without, a missing
    ingest is NotFound.  Unavailable if another writer holds the lock.  The
    descriptor is checked to still be the directory's lock file after
    locking, because the holder we raced with may have removed the ingest
    between our open and our flock.
    """
    while True:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            if not create:
                raise NotFound(f"ingest ref {ref} not found") from None
            continue  # removed between our mkdir and open: make it again
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Unavailable(f"ref {ref} locked") from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, directory / LOCK):
            return fd
        os.close(fd)
        if not create:
            raise NotFound(f"ingest ref {ref} not found")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def read_text(path: Path) -> str | None:
    """A small metadata file's text; None if missing or empty (never written, or torn)."""
    try:
        text = path.read_text("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None
    return text or None


def write_text(path: Path, text: str) -> None:
    """Replace a metadata file by rename, so readers see the old or the new text."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, "utf-8", "surrogateescape")
    os.replace(tmp, path)


def read_total(directory: Path) -> int | None:
    text = read_text(directory / TOTAL)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def status(directory: Path) -> IngestStatus | None:
    """The status of the ingest in ``directory``; None if it is not (or no longer) an ingest."""
    ref = read_text(directory / REF)
    if ref is None:
        return None
    started_text = read_text(directory / STARTED)
    try:
        started = float(started_text) if started_text is not None else 0.0
    except ValueError:
        started = 0.0
    try:
        st = os.stat(directory / DATA)
    except FileNotFoundError:
        offset, updated = 0, started
    else:
        offset, updated = st.st_size, st.st_mtime
    return IngestStatus(ref=ref, offset=offset, total=read_total(directory), started=started, updated=updated)


def remove(directory: Path) -> int:
    """Delete an ingest directory (or a trash one); return the bytes its files held."""
    import shutil

    if directory.name.startswith(TRASH_PREFIX):
        trash = directory
    else:
        trash = directory.with_name(f"{TRASH_PREFIX}{directory.name}-{os.urandom(4).hex()}")
        try:
            os.rename(directory, trash)
        except FileNotFoundError:
            return 0
    freed = tree_size(trash)
    shutil.rmtree(trash, ignore_errors=True)
    return freed


def tree_size(directory: Path) -> int:
    size = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                size += entry.stat(follow_symlinks=False).st_size
    return size
