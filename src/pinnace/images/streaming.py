"""Unpack layers while an archive streams in: ``load`` in one pass.

An archive names its layers' order only in manifests that may come after the
layers themselves, and a snapshot needs its parent when it is prepared.  On a
snapshotter that can :meth:`rebase` an active snapshot (overlay: an upper dir
is a pure diff, independent of what lies below), each layer-looking blob is
unpacked into a parentless active snapshot as its bytes go to the content
store, and put on its parent once the manifests are read.  Anything not used
that way is removed; a snapshotter without ``rebase`` gets the two-pass path.
"""

from __future__ import annotations

from typing import IO, BinaryIO, Protocol, cast, runtime_checkable

from pinnace.archive.compression import Replay
from pinnace.content import ContentStore
from pinnace.errors import AlreadyExists, DigestMismatch, NotFound
from pinnace.images.stores import unique_ref
from pinnace.images.unpack import commit, extract_and_store
from pinnace.oci.digest import Digest
from pinnace.snapshots import Snapshotter

#: Enough of a blob to tell a layer (tar, gzip, zstd) from a JSON document.
_HEAD = 512


@runtime_checkable
class Rebaser(Protocol):
    def rebase(self, key: str, parent: str) -> None: ...


def looks_like_layer(head: bytes) -> bool:
    return head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd")) or head[257:262] == b"ustar"


class StreamingUnpacker:
    """Takes blobs as they stream in; unpacks the ones that look like layers."""

    def __init__(self, content: ContentStore, snapshots: Snapshotter) -> None:
        self.content = content
        self.snapshots = snapshots
        self.enabled = isinstance(snapshots, Rebaser)
        self._unpacked: dict[Digest, tuple[str, Digest]] = {}  # blob -> (active key, diff_id)

    def ingest(self, src: IO[bytes], *, expected: Digest | None, size: int) -> Digest:
        """Store one blob (and unpack it, if it is a layer); return its digest."""
        head = src.read(_HEAD) if self.enabled else b""
        stream = cast(BinaryIO, Replay(head, src))  # reads like one: all apply/ingest use
        if not looks_like_layer(head):
            return self.content.ingest(stream, unique_ref("load"), expected=expected, size=size).digest
        try:
            key, result, info = extract_and_store(
                self.content, self.snapshots, stream, expected=expected, size=size
            )
        except AlreadyExists:  # written meanwhile by another process
            assert expected is not None
            return expected
        if info.digest in self._unpacked:  # the same layer twice in one archive
            self.snapshots.remove(key)
        else:
            self._unpacked[info.digest] = (key, result.diff_id)
        return info.digest

    def place(self, blob: Digest, diff_id: Digest, chain_id: Digest, parent: str) -> bool:
        """Commit the layer unpacked from ``blob`` as ``chain_id`` on ``parent``."""
        entry = self._unpacked.pop(blob, None)
        if entry is None:
            return False
        key, got = entry
        if got != diff_id:
            self.snapshots.remove(key)
            raise DigestMismatch(
                f"layer {blob}: unpacked diff ID {got} does not match {diff_id} in the image config"
            )
        if parent:
            assert isinstance(self.snapshots, Rebaser)
            try:
                self.snapshots.rebase(key, parent)
            except BaseException:
                self.snapshots.remove(key)
                raise
        commit(self.snapshots, key, chain_id)
        return True

    def discard(self) -> None:
        """Remove what was unpacked but not used (layers no manifest named, shared ones)."""
        for key, _ in self._unpacked.values():
            try:
                self.snapshots.remove(key)
            except NotFound:
                pass
        self._unpacked.clear()
