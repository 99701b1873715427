"""ContentStore: containerd's local content store, addressed by sha256 digest.

Layout under ``root`` (``<--root>/content``)::

    blobs/sha256/<HEX>     committed blobs, read-only (0o444), never changed
    ingest/<sha256(ref)>/  uncommitted writes (see pinnace.content.ingest)

A blob is only ever created by renaming a verified, fsynced ingest file into
``blobs/``, so a blob that exists is complete and matches its name.  Deciding
which blobs are still needed is not this module's business: GC
(:mod:`pinnace.meta.gc`) marks from the metadata database and calls
:meth:`ContentStore.delete`.

Reading a blob is on the path of every ``run`` (the image config), so the
read side imports only ``os``: paths are strings, and the write side
(:mod:`.writer`, :mod:`.ingest`, with hashlib and pathlib) is imported by
the methods that write.
"""

from __future__ import annotations

import os

from pinnace.content.info import BlobInfo
from pinnace.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from pinnace.oci.digest import Digest, digest_hex, is_digest, parse_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import IO, BinaryIO

    from pinnace.content.info import IngestStatus
    from pinnace.content.writer import Writer


class ContentStore:
    """Blobs by digest plus resumable ingests.  Constructing one does no I/O."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = os.fspath(root)
        self._blobs = os.path.join(self._root, "blobs", "sha256")
        self._ingest = os.path.join(self._root, "ingest")

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self._root)

    def _blob_path(self, digest: str) -> tuple[Digest, str]:
        """Validate first: the hex becomes a file name, so a crafted digest must never reach a path."""
        checked = parse_digest(digest)
        return checked, os.path.join(self._blobs, digest_hex(checked))

    # -- reading ---------------------------------------------------------

    def info(self, digest: Digest) -> BlobInfo:
        checked, path = self._blob_path(digest)
        try:
            return BlobInfo(checked, os.stat(path).st_size)
        except FileNotFoundError:
            raise NotFound(f"content digest {checked} not found") from None
        except OSError as exc:
            raise Unavailable(f"stat content {checked}: {exc.strerror}") from exc

    def exists(self, digest: Digest) -> bool:
        return os.path.exists(self._blob_path(digest)[1])

    def path(self, digest: Digest) -> Path:
        """The blob's file, for sendfile/copy_file_range; open it read-only."""
        from pathlib import Path

        self.info(digest)
        return Path(self._blob_path(digest)[1])

    def open(self, digest: Digest) -> BinaryIO:
        checked, path = self._blob_path(digest)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"content digest {checked} not found") from None
        except OSError as exc:
            raise Unavailable(f"open content {checked}: {exc.strerror}") from exc

    def read_bytes(self, digest: Digest, max_size: int) -> bytes:
        """The whole blob, refused if larger than ``max_size`` (manifests and configs are small)."""
        with self.open(digest) as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_size:
                raise InvalidArgument(f"content {digest} is {size} bytes, more than the {max_size} allowed")
            return f.read()

    def walk(self) -> Iterator[BlobInfo]:
        """Every committed blob, in no particular order."""
        try:
            entries = os.scandir(self._blobs)
        except FileNotFoundError:
            return
        with entries:
            for entry in entries:
                digest = "sha256:" + entry.name
                if not is_digest(digest):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walked
                yield BlobInfo(Digest(digest), st.st_size)

    # -- removing --------------------------------------------------------

    def delete(self, digest: Digest) -> None:
        checked, path = self._blob_path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            raise NotFound(f"content digest {checked} not found") from None
        except OSError as exc:
            raise Unavailable(f"delete content {checked}: {exc.strerror}") from exc

    # -- ingests ---------------------------------------------------------

    def writer(self, ref: str, *, expected: Digest | None = None, total: int | None = None) -> Writer:
        """A writer for ``ref``, resuming its ingest if one exists.

        AlreadyExists if ``expected`` is already in the store (nothing to
        write); Unavailable if another writer holds ``ref``.
        """
        if not ref:
            raise InvalidArgument("ingest ref must not be empty")
        if total is not None and total < 0:
            raise InvalidArgument(f"invalid total size {total} for ingest ref {ref}")
        if expected is not None:
            expected = parse_digest(expected)
            if self.exists(expected):
                raise AlreadyExists(f"content {expected}: already exists")
        from pathlib import Path

        from pinnace.content.writer import Writer

        return Writer.open(Path(self._ingest), Path(self._blobs), ref, expected=expected, total=total)

    def ingest(
        self, src: IO[bytes], ref: str, *, expected: Digest | None = None, size: int | None = None
    ) -> BlobInfo:
        """Stream ``src`` into the store and commit it; a blob already present is not read again.

        A resumed ingest skips the bytes it already has when ``expected`` will
        check them at commit; without ``expected`` it starts over, since
        nothing could tell a stale partial write from this stream's bytes.
        """
        from pinnace.content.writer import CHUNK

        if expected is not None:
            expected = parse_digest(expected)
            try:
                return self.info(expected)
            except NotFound:
                pass
        try:
            writer = self.writer(ref, expected=expected, total=size)
        except AlreadyExists:  # committed by someone else since we looked
            assert expected is not None
            return self.info(expected)
        with writer:
            if writer.offset and (expected is None or not _skip(src, writer.offset)):
                writer.truncate(0)
            while chunk := src.read(CHUNK):
                writer.write(chunk)
            return writer.commit(size, expected)

    def ingests(self) -> list[IngestStatus]:
        """Every ingest on disk that has not been committed or aborted."""
        from pathlib import Path

        from pinnace.content import ingest as ingests

        found: list[IngestStatus] = []
        try:
            entries = os.scandir(self._ingest)
        except FileNotFoundError:
            return found
        with entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                status = ingests.status(Path(entry.path))
                if status is not None:
                    found.append(status)
        return found

    def abort(self, ref: str) -> None:
        """Remove ``ref``'s ingest; NotFound if there is none, Unavailable if a writer holds it."""
        from pathlib import Path

        from pinnace.content import ingest as ingests

        directory = ingests.ingest_dir(Path(self._ingest), ref)
        fd = ingests.lock(directory, ref, create=False)
        try:
            ingests.remove(directory)
        finally:
            os.close(fd)

    def cleanup(self) -> int:
        """Remove ingest directories that are no ingest (never initialised, or half-deleted).

        Their creator died before writing ``ref`` or while deleting, so
        :meth:`ingests` cannot name them.  Returns the bytes freed.  Meant
        for GC, while no operation is in flight: a directory whose lock is
        held is left alone, but a writer starting at that very instant may
        find its ref locked.
        """
        from pathlib import Path

        from pinnace.content import ingest as ingests

        freed = 0
        try:
            entries = os.scandir(self._ingest)
        except FileNotFoundError:
            return 0
        with entries:
            for entry in entries:
                path = Path(entry.path)
                if entry.name.startswith(ingests.TRASH_PREFIX):
                    freed += ingests.remove(path)
                    continue
                if entry.name.startswith(".") or ingests.status(path) is not None:
                    continue
                try:
                    fd = ingests.lock(path, entry.name, create=False)
                except (NotFound, Unavailable):
                    continue
                try:
                    if ingests.status(path) is None:  # re-check: it may have been initialised meanwhile
                        freed += ingests.remove(path)
                finally:
                    os.close(fd)
        return freed


def _skip(src: IO[bytes], count: int) -> bool:
    """Move ``src`` past ``count`` bytes the ingest already has; False if it is shorter."""
    from pinnace.content.writer import CHUNK

    if src.seekable():
        start = src.tell()
        end = src.seek(0, os.SEEK_END)
        if end - start < count:
            src.seek(start)
            return False
        src.seek(start + count)
        return True
    while count:
        chunk = src.read(min(CHUNK, count))
        if not chunk:
            return False
        count -= len(chunk)
    return True
