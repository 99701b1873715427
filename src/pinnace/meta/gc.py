"""Garbage collection: remove every blob, snapshot and ingest no root reaches.

Liveness is decided by the metadata database alone (containerd's model):

* mark: content roots are the digests the queries in :data:`CONTENT_ROOTS`
  return (every blob an image needs); snapshot roots are the keys the
  queries in :data:`SNAPSHOT_ROOTS` return (each image layer's chain ID and
  each container's active snapshot), closed over parents through the
  ``snapshots`` table, since a layer is useless without the layers under
  it.  Later features (build cache) add their roots by appending a query
  to these tuples.
* sweep: remove unmarked snapshots children first (a snapshotter refuses to
  remove a snapshot that still has children), let the snapshotter delete
  directories without a record, delete unmarked blobs, and abort every
  ingest.

GC runs under the exclusive operation lock (:mod:`pinnace.meta.operations`),
so no import, pull or build is in flight: their not-yet-recorded blobs and
snapshots cannot be swept, and every ingest and every unrecorded active
snapshot left over is abandoned work of a process that died.

The stores are reached through the small protocols below, which the
content store and the snapshotter (same-layer or higher modules that
meta/ must not import) satisfy; the engine wires them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pinnace.errors import Conflict, FailedPrecondition, NotFound, Unavailable, map_errors
from pinnace.meta.db import Database
from pinnace.meta.operations import exclusive
from pinnace.oci.digest import Digest

#: Queries returning one column of blob digests that must be kept.
CONTENT_ROOTS: tuple[str, ...] = (
    "SELECT digest FROM image_blobs",
    "SELECT digest FROM build_cache WHERE digest != ''",  # the layers cached build steps made
)

#: Queries returning one column of snapshot keys that must be kept (with their parents).
SNAPSHOT_ROOTS: tuple[str, ...] = (
    "SELECT chain_id FROM image_layers",
    # each container's writable layer, and through its parents the image layers under it,
    # even once `rmi -f` has removed the image record
    "SELECT snapshot_key FROM containers",
    "SELECT chain_id FROM build_cache WHERE chain_id != ''",
)


class BlobRecord(Protocol):
    @property
    def digest(self) -> Digest: ...

    @property
    def size(self) -> int: ...


class IngestRecord(Protocol):
    @property
    def ref(self) -> str: ...

    @property
    def offset(self) -> int: ...


class SnapshotRecord(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def parent(self) -> str: ...  # "" for a snapshot on no parent


class BlobSweeper(Protocol):
    """What GC needs of the content store."""

    def walk(self) -> Iterator[BlobRecord]: ...

    def delete(self, digest: Digest) -> None: ...

    def ingests(self) -> Sequence[IngestRecord]: ...

    def abort(self, ref: str) -> None: ...

    def cleanup(self) -> int:
        """Delete ingest leftovers :meth:`ingests` cannot name; return the bytes freed."""
        ...


class SnapshotSweeper(Protocol):
    """What GC needs of the snapshotter.

    ``remove`` deletes a snapshot, record and directory (GC counts the
    ``size`` its record holds); ``cleanup`` deletes directories no record
    owns (crash leftovers) and returns the bytes that freed.
    """

    def walk(self) -> Iterator[SnapshotRecord]: ...

    def remove(self, key: str) -> None: ...

    def cleanup(self) -> int: ...


@dataclass(frozen=True, slots=True)
class GCReport:
    """What one collection removed; ``reclaimed`` is in bytes."""

    blobs: int
    snapshots: int
    ingests: int
    reclaimed: int


def collect(db: Database, root: Path, blobs: BlobSweeper, snapshots: SnapshotSweeper) -> GCReport:
    """Mark from the roots and sweep everything else; waits for in-flight operations.

    Must not be called inside :func:`pinnace.meta.operations.operation` (it
    would wait for itself).
    """
    with exclusive(root):
        live_blobs, live_snapshots, sizes = _mark(db)
        removed_snapshots, reclaimed = _sweep_snapshots(snapshots, live_snapshots, sizes)
        reclaimed += snapshots.cleanup()
        removed_blobs, freed = _sweep_blobs(blobs, live_blobs)
        reclaimed += freed
        aborted, freed = _abort_ingests(blobs)
        reclaimed += freed + blobs.cleanup()
    return GCReport(blobs=removed_blobs, snapshots=removed_snapshots, ingests=aborted, reclaimed=reclaimed)


def _snapshot_closure_sql(roots: Iterable[str]) -> str:
    """Roots plus every ancestor of a root, following ``snapshots.parent``."""
    return (
        "WITH RECURSIVE live(key) AS ("
        f" SELECT * FROM ({' UNION '.join(roots)})"
        " UNION"
        " SELECT s.parent FROM snapshots AS s JOIN live ON s.key = live.key"
        " WHERE s.parent IS NOT NULL AND s.parent != ''"
        ") SELECT key FROM live"
    )


def _mark(db: Database) -> tuple[set[str], set[str], dict[str, int]]:
    """Live blob digests, live snapshot keys and every snapshot's recorded size.

    Read in one transaction, so all roots come from one state of the database.
    """
    conn = db.conn
    with map_errors({sqlite3.Error: Unavailable}, "read GC roots"):
        conn.execute("BEGIN")
        try:
            live_blobs = {row[0] for query in CONTENT_ROOTS for row in conn.execute(query)}
            live_snapshots = {row[0] for row in conn.execute(_snapshot_closure_sql(SNAPSHOT_ROOTS))}
            sizes = {row[0]: row[1] for row in conn.execute("SELECT key, size FROM snapshots")}
        finally:
            conn.execute("COMMIT")
    return live_blobs, live_snapshots, sizes


def _sweep_snapshots(snapshots: SnapshotSweeper, live: set[str], sizes: dict[str, int]) -> tuple[int, int]:
    """Remove every snapshot not in ``live``, children before their parents; count and bytes."""
    parent_of = {info.key: info.parent for info in snapshots.walk()}
    # The snapshotter's own parent links count too: never strand a live snapshot's ancestor.
    live = set(live)
    for key in list(live):
        while key in parent_of and parent_of[key] and parent_of[key] not in live:
            key = parent_of[key]
            live.add(key)
    doomed = [key for key in parent_of if key not in live]
    removed = freed = 0
    for key in sorted(doomed, key=lambda k: _depth(k, parent_of), reverse=True):
        try:
            snapshots.remove(key)
        except NotFound:
            continue  # gone already
        except (FailedPrecondition, Conflict):
            continue  # a child we were not told about, or in use: keep it, the next GC retries
        removed += 1
        freed += sizes.get(key, 0)
    return removed, freed


def _depth(key: str, parent_of: dict[str, str]) -> int:
    """How many ancestors ``key`` has among the walked snapshots (cycles cut)."""
    depth, seen = 0, {key}
    while (parent := parent_of.get(key, "")) and parent in parent_of and parent not in seen:
        seen.add(parent)
        key = parent
        depth += 1
    return depth


def _sweep_blobs(blobs: BlobSweeper, live: set[str]) -> tuple[int, int]:
    removed = freed = 0
    for info in list(blobs.walk()):
        if info.digest in live:
            continue
        try:
            blobs.delete(info.digest)
        except NotFound:
            continue
        removed += 1
        freed += info.size
    return removed, freed


def _abort_ingests(blobs: BlobSweeper) -> tuple[int, int]:
    """Abort every ingest: with no operation in flight, each one is abandoned."""
    aborted = freed = 0
    for status in blobs.ingests():
        try:
            blobs.abort(status.ref)
        except NotFound:
            continue
        except Unavailable:
            continue  # a writer outside any operation still holds it: not ours to take
        aborted += 1
        freed += status.offset
    return aborted, freed
