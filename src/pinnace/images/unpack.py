"""Unpack layer blobs into committed snapshots keyed by chain ID.

Layers shared by images are unpacked once: a snapshot named by the chain ID
that already exists is reused.  Two processes unpacking the same chain at
once both extract, one commit wins, the other's snapshot is dropped.
Every failure removes the half-extracted snapshot before it propagates.

:func:`commit` and :func:`has_snapshot` are on the path of every ``run``
(the container's init layer), so the unpacking machinery (archive,
threads, pathlib) is imported by the functions that unpack.
"""

from __future__ import annotations

from pinnace.errors import AlreadyExists, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import BinaryIO

    from pinnace.archive import ApplyResult
    from pinnace.content import BlobInfo, ContentStore
    from pinnace.oci.digest import Digest
    from pinnace.snapshots import Snapshotter


def extract(
    snapshots: Snapshotter, parent: str, apply: Callable[[Path], ApplyResult]
) -> tuple[str, ApplyResult]:
    """Prepare an active snapshot on ``parent`` and fill it with ``apply``.

    Returns the active key (to commit) and what apply returned.  On any
    error the snapshot is removed, so nothing of the layer stays on disk.
    """
    from pinnace.images.stores import unique_ref
    from pinnace.mount import writable_dir

    key = unique_ref("extract")
    mounts = snapshots.prepare(key, parent)
    try:
        return key, apply(writable_dir(mounts))
    except BaseException:
        snapshots.remove(key)
        raise


def extract_and_store(
    content: ContentStore,
    snapshots: Snapshotter,
    stream: BinaryIO,
    *,
    expected: Digest | None = None,
    size: int | None = None,
) -> tuple[str, ApplyResult, BlobInfo]:
    """Unpack ``stream`` into a new parentless snapshot while storing it as one blob.

    One read, two consumers: the unpacker here, the blob writer (sha256 and
    write) on its own thread.  Returns the active snapshot's key (to commit),
    what the unpacking found (diff ID) and the stored blob.  On any failure
    neither the snapshot nor the partial blob is left behind.
    """
    from pinnace._util.background import BackgroundSink
    from pinnace.archive import apply_layer
    from pinnace.images.stores import unique_ref

    with (
        content.writer(unique_ref("layer"), expected=expected, total=size) as writer,
        BackgroundSink(writer.write) as sink,
    ):
        key, result = extract(snapshots, "", lambda dest: apply_layer(stream, dest, tee=sink))
        try:
            sink.close()
            info = writer.commit(size, expected)
        except BaseException:
            snapshots.remove(key)
            raise
    return key, result, info


def commit(snapshots: Snapshotter, key: str, chain_id: str) -> None:
    """Commit ``key`` as ``chain_id``; if another process got there first, keep theirs."""
    try:
        snapshots.commit(chain_id, key)
    except AlreadyExists:
        snapshots.remove(key)
    except BaseException:
        snapshots.remove(key)
        raise


def has_snapshot(snapshots: Snapshotter, name: str) -> bool:
    try:
        snapshots.stat(name)
    except NotFound:
        return False
    return True


if TYPE_CHECKING:
    #: ``place(blob, diff_id, chain_id, parent) -> bool``: commit an already unpacked
    #: layer as ``chain_id``; False when there is none for that blob.
    Placer = Callable[[Digest, Digest, Digest, str], bool]


def unpack(
    content: ContentStore,
    snapshots: Snapshotter,
    blobs: Sequence[Digest],
    diff_ids: Sequence[Digest],
    place: Placer | None = None,
) -> list[Digest]:
    """Make sure every layer's snapshot exists; return the chain IDs.

    Each blob is verified against its config diff_id while it is applied.
    ``place`` offers layers unpacked earlier (while an archive streamed in).
    """
    from pinnace.archive import apply_layer
    from pinnace.errors import DigestMismatch
    from pinnace.oci.config import chain_ids

    chains = chain_ids(diff_ids)
    parent = ""
    for blob, diff_id, chain in zip(blobs, diff_ids, chains, strict=True):
        if not has_snapshot(snapshots, chain) and not (place and place(blob, diff_id, chain, parent)):

            def apply(dest: Path, blob: Digest = blob) -> ApplyResult:
                with content.open(blob) as stream:
                    return apply_layer(stream, dest)

            key, result = extract(snapshots, parent, apply)
            if result.diff_id != diff_id:
                snapshots.remove(key)
                raise DigestMismatch(
                    f"layer {blob}: unpacked diff ID {result.diff_id} does not match {diff_id} in the image config"
                )
            commit(snapshots, key, chain)
        parent = chain
    return chains
