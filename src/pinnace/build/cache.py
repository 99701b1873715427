"""The build cache: what a layer-making step (RUN, COPY, ADD) produced, found again by its cache key.

A step's key is the sha256 of its parent's key, the instruction and its inputs (the expanded command
and environment for RUN, the content checksums of what COPY and ADD take, never a file's mtime), so a
key is the same on a fresh clone of the same sources.  Metadata steps (ENV, LABEL, ...) have keys but
no rows: their result is recomputed from the parent.  A row holds the one layer its step added; the
blob and the snapshot are GC roots while the row exists (:data:`pinnace.meta.gc.CONTENT_ROOTS`), and
``builder prune`` drops rows, then collects garbage.

Why a step missed: the rows with the same parent are the step's earlier builds; the inputs that
differ from the nearest one say what changed (``--progress plain`` prints it).
"""

from __future__ import annotations

import hashlib
import json
import time

from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pinnace.meta.db import Database


def step_key(parent: str, inputs: Mapping[str, Any]) -> str:
    """The key of a step on ``parent`` with these inputs (a JSON-able mapping, keys sorted)."""
    data = json.dumps({"parent": parent, **inputs}, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@record
class Entry:
    key: str
    media_type: str  # "" when the step changed nothing (no layer)
    digest: str
    size: int
    diff_id: str
    chain_id: str
    created: str


@record
class Usage:
    entries: int
    size: int  # bytes of the layers only the cache holds (what pruning would free, roughly)
    total: int  # bytes of every cached layer


@record
class CachedStep:
    """One row as ``system df -v`` lists it (the Engine API's ``BuildCache`` entries)."""

    key: str
    parent: str
    description: str  # what went into the key, shortened
    size: int
    created: str
    last_used: float  # unix seconds
    shared: bool  # an image holds its layer too (removing the row frees nothing)


class BuildCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> Entry | None:
        row = self.db.conn.execute(
            "SELECT key, media_type, digest, size, diff_id, chain_id, created FROM build_cache WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        with self.db.tx() as conn:
            conn.execute("UPDATE build_cache SET last_used = ? WHERE key = ?", (time.time(), key))
        return Entry(*row)

    def put(self, key: str, parent: str, inputs: Mapping[str, Any], entry: Entry) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO build_cache (key, parent, inputs, media_type, digest, size, diff_id,"
                " chain_id, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key, parent, json.dumps(dict(inputs), sort_keys=True), entry.media_type, entry.digest,
                    entry.size, entry.diff_id, entry.chain_id, entry.created, time.time(),
                ),
            )  # fmt: skip

    def forget(self, key: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM build_cache WHERE key = ?", (key,))

    def why_missed(self, parent: str, inputs: Mapping[str, Any]) -> str:
        """A line on what differs from this step's last build on the same parent."""
        rows = self.db.conn.execute(
            "SELECT inputs FROM build_cache WHERE parent = ? ORDER BY last_used DESC LIMIT 1", (parent,)
        ).fetchall()
        if not rows:
            return "no earlier build of this step on the same parent (a step before it changed or it is new)"
        before = json.loads(rows[0][0])
        changed = sorted(k for k in set(before) | set(inputs) if before.get(k) != inputs.get(k))
        return "changed since the last build: " + ", ".join(
            f"{k} (was {_short(before.get(k))}, now {_short(inputs.get(k))})" for k in changed
        )

    def usage(self) -> Usage:
        """Rows and their layers' bytes; ``size`` counts the layers no image holds."""
        conn = self.db.conn
        entries, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM build_cache").fetchone()
        (only,) = conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM build_cache WHERE digest != ''"
            " AND digest NOT IN (SELECT digest FROM image_blobs)"
        ).fetchone()
        return Usage(int(entries), int(only), int(total))

    def entries(self) -> list[CachedStep]:
        """Every row, most recently used first, with whether an image shares its layer."""
        rows = self.db.conn.execute(
            "SELECT key, parent, inputs, size, created, last_used,"
            " digest != '' AND digest IN (SELECT digest FROM image_blobs) FROM build_cache ORDER BY last_used DESC"
        ).fetchall()
        return [
            CachedStep(key, parent, _short(inputs), int(size), created, float(used), bool(shared))
            for key, parent, inputs, size, created, used, shared in rows
        ]

    def prune(self, *, keep_bytes: int = 0, older_than: float = 0.0, spare_shared: bool = False) -> int:
        """:meth:`prune_keys`, saying how many went."""
        return len(self.prune_keys(keep_bytes=keep_bytes, older_than=older_than, spare_shared=spare_shared))

    def prune_keys(
        self, *, keep_bytes: int = 0, older_than: float = 0.0, spare_shared: bool = False
    ) -> list[str]:
        """Drop rows, least recently used first, until at most ``keep_bytes`` of layers stay (0: drop
        all), sparing those used within ``older_than`` seconds when given, and with ``spare_shared``
        those whose layer an image holds (what docker's ``builder prune`` keeps without ``--all``:
        only the "dangling" cache goes); the keys that went.  The caller collects garbage afterwards."""
        conn = self.db.conn
        rows = conn.execute(
            "SELECT key, size, last_used, digest != '' AND digest IN (SELECT digest FROM image_blobs)"
            " FROM build_cache ORDER BY last_used DESC"
        ).fetchall()
        now = time.time()
        kept = 0
        drop = []
        for key, size, used, shared in rows:
            young = older_than and now - used < older_than
            if young or (spare_shared and shared) or (keep_bytes and kept + size <= keep_bytes):
                kept += size
                continue
            drop.append(key)
        with self.db.tx() as tx:
            tx.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in drop])
        return drop


@record
class PruneReport:
    """What ``builder prune`` removed: the cache's keys, and the bytes that freed."""

    deleted: tuple[str, ...]
    reclaimed: int


def cache_id(key: str) -> str:
    """A row's ID as the Engine API shows it (``system df``'s BuildCache, ``build/prune``'s
    CachesDeleted): BuildKit's IDs are 25 characters."""
    return key.removeprefix("sha256:")[:25]


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
