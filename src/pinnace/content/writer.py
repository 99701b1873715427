"""Writer: one blob on its way into the store, hashed while it streams.

A writer owns its ref's ingest (see :mod:`pinnace.content.ingest`) through an
flock, so two processes can never interleave bytes of one ref, and a writer
killed mid-stream leaves an ingest the next writer of that ref resumes: it
re-hashes what is on disk (cheaper than fetching it again) and continues at
its end.  Nothing is visible in ``blobs/`` until :meth:`Writer.commit` has
checked size and digest, fsynced the bytes and renamed them into place.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pinnace._util.fs import fsync_dir
from pinnace.content import ingest
from pinnace.content.info import BlobInfo
from pinnace.errors import DigestMismatch, FailedPrecondition, InvalidArgument, Unavailable
from pinnace.oci.digest import Digest, digest_hex, parse_digest

if TYPE_CHECKING:
    from hashlib import _Hash

#: Read and hash in chunks of this size (resume, ingest from a stream).
CHUNK = 1 << 20


class Writer:
    """Writes one ref's bytes; file-like enough for ``shutil.copyfileobj`` and tarfile.

    Get one from :meth:`pinnace.content.ContentStore.writer`.  End it with
    exactly one of :meth:`commit`, :meth:`close` (keep the partial data, to
    resume) or :meth:`abort` (drop it).  As a context manager, leaving the
    block normally closes it and leaving it by an exception aborts it.
    """

    def __init__(
        self,
        *,
        ref: str,
        directory: Path,
        blobs: Path,
        lock_fd: int,
        data_fd: int,
        expected: Digest | None,
        total: int | None,
    ) -> None:
        self.ref = ref
        self._dir = directory
        self._blobs = blobs
        self._lock_fd: int | None = lock_fd
        self._data_fd = data_fd
        self._expected = expected
        self._total = total
        self._hash: _Hash = hashlib.sha256()
        self.offset = 0
        self._rehash(os.fstat(data_fd).st_size)

    @classmethod
    def open(
        cls, ingest_root: Path, blobs: Path, ref: str, *, expected: Digest | None, total: int | None
    ) -> Writer:
        """Start the ingest of ``ref``, or resume it if one is on disk."""
        directory = ingest.ingest_dir(ingest_root, ref)
        try:
            lock_fd = ingest.lock(directory, ref, create=True)
        except OSError as exc:
            raise Unavailable(f"ingest ref {ref}: {exc.strerror}") from exc
        data_fd = -1
        try:
            recorded = ingest.read_text(directory / ingest.REF)
            if recorded is None:  # new, or its creator died before it was initialised
                data_fd = os.open(
                    directory / ingest.DATA, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644
                )
                if total is not None:
                    ingest.write_text(directory / ingest.TOTAL, str(total))
                else:
                    (directory / ingest.TOTAL).unlink(missing_ok=True)
                ingest.write_text(directory / ingest.STARTED, repr(time.time()))
                ingest.write_text(directory / ingest.REF, ref)
            else:
                recorded_total = ingest.read_total(directory)
                if total is not None and recorded_total is not None and total != recorded_total:
                    raise FailedPrecondition(
                        f"provided total differs from status: {total} != {recorded_total}"
                    )
                if total is None:
                    total = recorded_total
                elif recorded_total is None:
                    ingest.write_text(directory / ingest.TOTAL, str(total))
                data_fd = os.open(directory / ingest.DATA, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            return cls(
                ref=ref,
                directory=directory,
                blobs=blobs,
                lock_fd=lock_fd,
                data_fd=data_fd,
                expected=expected,
                total=total,
            )
        except BaseException as exc:
            if data_fd >= 0:
                os.close(data_fd)
            os.close(lock_fd)
            if isinstance(exc, OSError):
                raise Unavailable(f"ingest ref {ref}: {exc.strerror}") from exc
            raise

    def _rehash(self, size: int) -> None:
        """Hash the first ``size`` bytes on disk and continue writing after them."""
        self._hash = hashlib.sha256()
        os.lseek(self._data_fd, 0, os.SEEK_SET)
        done = 0
        while done < size:
            chunk = os.read(self._data_fd, min(CHUNK, size - done))
            if not chunk:
                break
            self._hash.update(chunk)
            done += len(chunk)
        self.offset = done
        os.lseek(self._data_fd, done, os.SEEK_SET)

    # -- file-like -------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; on an I/O error the writer is closed (its ingest stays resumable)."""
        self._check_open()
        view = memoryview(data).cast("B")
        size = len(view)
        try:
            while view:
                view = view[os.write(self._data_fd, view) :]
        except OSError as exc:
            self.close()  # the bytes on disk may now be ahead of the hash; a resume re-hashes them
            raise Unavailable(f"write ingest ref {self.ref}: {exc.strerror}") from exc
        self._hash.update(data)
        self.offset += size
        return size

    def truncate(self, size: int = 0) -> int:
        """Forget everything after ``size`` bytes (0: start over), e.g. to re-send a stream."""
        self._check_open()
        if not 0 <= size <= self.offset:
            raise InvalidArgument(f"cannot truncate ingest ref {self.ref} to {size} of {self.offset} bytes")
        os.ftruncate(self._data_fd, size)
        self._rehash(size)
        return size

    def tell(self) -> int:
        return self.offset

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Nothing to do: writes go straight to the file; durability is commit's job."""

    @property
    def closed(self) -> bool:
        return self._lock_fd is None

    # -- outcome ---------------------------------------------------------

    def digest(self) -> Digest:
        """The digest of the bytes written so far."""
        return Digest("sha256:" + self._hash.hexdigest())

    def commit(self, size: int | None = None, expected: Digest | None = None) -> BlobInfo:
        """Verify, make durable and publish the blob; the writer is done afterwards.

        ``size`` and ``expected`` default to what the writer was opened with.
        On a mismatch the ingest is removed (its bytes are wrong, resuming
        them would only fail again) and DigestMismatch raised.  If the blob
        already exists (a concurrent writer won), the ingest is dropped and
        the existing blob's info returned.
        """
        self._check_open()
        expected = parse_digest(expected) if expected is not None else self._expected
        size = size if size is not None else self._total
        if size is not None and size != self.offset:
            self.abort()
            raise DigestMismatch(f"unexpected commit size {self.offset}, expected {size}")
        digest = self.digest()
        if expected is not None and digest != expected:
            self.abort()
            raise DigestMismatch(f"unexpected commit digest {digest}, expected {expected}")
        target = self._blobs / digest_hex(digest)
        try:
            if target.exists():
                self.abort()
                return BlobInfo(digest, os.stat(target).st_size)
            os.fsync(self._data_fd)
            os.fchmod(self._data_fd, 0o444)
            if not self._blobs.is_dir():
                self._blobs.mkdir(parents=True, exist_ok=True)
                fsync_dir(self._blobs.parent)
            os.rename(self._dir / ingest.DATA, target)
            fsync_dir(self._blobs)
        except OSError as exc:
            self.close()
            raise Unavailable(f"commit ingest ref {self.ref}: {exc.strerror}") from exc
        self.abort()  # the data is in blobs/ now; what is left of the ingest goes
        return BlobInfo(digest, self.offset)

    def close(self) -> None:
        """Release the ingest, keeping its data for a later writer to resume."""
        if self._lock_fd is None:
            return
        os.close(self._data_fd)
        lock_fd, self._lock_fd = self._lock_fd, None
        os.close(lock_fd)

    def abort(self) -> None:
        """Remove the ingest and release it."""
        if self._lock_fd is None:
            return
        ingest.remove(self._dir)  # still under our lock
        self.close()

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise FailedPrecondition(f"writer of ingest ref {self.ref} is closed")

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abort()
