"""Image records in pinnace.db: one row per image ID, tags pointing at IDs.

The store is the only code that reads or writes the image tables, and every
change is one transaction, so an image is either wholly recorded (with its
blob and snapshot references, which are GC roots) or absent.
"""

from __future__ import annotations

import time
from types import MappingProxyType

from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, NotFound
from pinnace.meta.db import Database
from pinnace.oci.digest import Digest, digest_hex, is_digest
from pinnace.oci.reference import Reference, parse_normalized, with_default_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Mapping, Sequence

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_NO_LABELS_JSON = "{}"


@record
class Image:
    id: Digest
    manifest_digest: Digest
    manifest_media_type: str
    created: str
    size: int
    added_at: float
    labels: Mapping[str, str] = _NO_LABELS
    tags: tuple[str, ...] = ()  # full names, "docker.io/library/busybox:latest"
    repo_digests: tuple[str, ...] = ()  # "docker.io/library/busybox@sha256:..."
    last_tag_time: float = 0.0


@record
class Layer:
    diff_id: Digest
    chain_id: Digest
    blob: Digest


@record
class NewImage:
    """Everything recorded for an image in one transaction."""

    image: Image
    blobs: Sequence[Digest]
    layers: Sequence[Layer]


class ImageRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads -------------------------------------------------------------
    def all(self) -> list[Image]:
        conn = self.db.conn
        tags: dict[str, list[tuple[str, float]]] = {}
        for row in conn.execute("SELECT name, image_id, tagged_at FROM tags ORDER BY name"):
            tags.setdefault(row["image_id"], []).append((row["name"], row["tagged_at"]))
        digests: dict[str, list[str]] = {}
        for row in conn.execute("SELECT name, image_id FROM repo_digests ORDER BY name"):
            digests.setdefault(row["image_id"], []).append(row["name"])
        return [
            self._image(row, tags.get(row["id"], []), digests.get(row["id"], []))
            for row in conn.execute("SELECT * FROM images ORDER BY added_at DESC")
        ]

    def get(self, image_id: str) -> Image:
        conn = self.db.conn
        row = conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        tags = [
            (r["name"], r["tagged_at"])
            for r in conn.execute(
                "SELECT name, tagged_at FROM tags WHERE image_id = ? ORDER BY name", (image_id,)
            )
        ]
        digests = [
            r["name"]
            for r in conn.execute(
                "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (image_id,)
            )
        ]
        return self._image(row, tags, digests)

    def layers(self, image_id: str) -> list[Layer]:
        rows = self.db.conn.execute(
            "SELECT diff_id, chain_id, blob FROM image_layers WHERE image_id = ? ORDER BY idx", (image_id,)
        )
        return [Layer(Digest(r["diff_id"]), Digest(r["chain_id"]), Digest(r["blob"])) for r in rows]

    def resolve(self, ref: str) -> Image:
        """Find an image as docker does: full ID, ID prefix, name[:tag], name@digest.

        Raises NotFound("No such image: busybox:latest") with the normalised
        familiar form, as docker says it.
        """
        conn = self.db.conn
        if is_digest(ref) or (ref.startswith("sha256:") and len(ref) > 7):
            found = conn.execute("SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2", _prefix_range(ref))
            return self._one_by_prefix(found.fetchall(), ref)
        try:
            parsed = parse_normalized(ref)
        except InvalidArgument:
            parsed = None
        if _looks_like_id_prefix(ref):  # a tag of that name wins over an ID prefix, as in docker
            tagged: sqlite3.Row | None = None
            if parsed is not None:
                tagged = conn.execute(
                    "SELECT image_id FROM tags WHERE name = ?", (str(with_default_tag(parsed)),)
                ).fetchone()
            if tagged is not None:
                return self.get(tagged["image_id"])
            rows = list(
                conn.execute(
                    "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2", _prefix_range("sha256:" + ref)
                )
            )
            if rows:
                return self._one_by_prefix(rows, ref)
        if parsed is None:
            raise NotFound(f"No such image: {ref}")
        if parsed.digest:
            row = conn.execute(
                "SELECT image_id FROM repo_digests WHERE name = ?", (f"{parsed.name}@{parsed.digest}",)
            ).fetchone()
            if row is None:  # an image whose manifest has this digest, under any name of that repo
                row = conn.execute(
                    "SELECT id AS image_id FROM images WHERE manifest_digest = ?", (parsed.digest,)
                ).fetchone()
            if row is None:
                raise NotFound(f"No such image: {parsed.familiar()}")
            return self.get(row["image_id"])
        named = with_default_tag(parsed)
        row = conn.execute("SELECT image_id FROM tags WHERE name = ?", (str(named),)).fetchone()
        if row is None:
            raise NotFound(f"No such image: {named.familiar()}")
        return self.get(row["image_id"])

    def _one_by_prefix(self, rows: list[sqlite3.Row], ref: str) -> Image:
        if not rows:
            raise NotFound(f"No such image: {ref}")
        if len(rows) > 1:
            raise NotFound(f"No such image: {ref} (ambiguous ID prefix)")
        return self.get(rows[0][0])

    def users_of_blob(self, digest: str) -> int:
        row = self.db.conn.execute("SELECT COUNT(*) FROM image_blobs WHERE digest = ?", (digest,)).fetchone()
        return int(row[0])

    # -- writes ------------------------------------------------------------
    def create(self, new: NewImage, tags: Iterable[Reference] = ()) -> Image:
        """Record an image (or, if its ID is known, add only what is new) and tag it."""
        img = new.image
        now = time.time()
        with self.db.tx() as conn:
            exists = conn.execute("SELECT 1 FROM images WHERE id = ?", (img.id,)).fetchone()
            if not exists:
                conn.execute(
                    "INSERT INTO images (id, manifest_digest, manifest_media_type, created, size, added_at, labels)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        img.id,
                        img.manifest_digest,
                        img.manifest_media_type,
                        img.created,
                        img.size,
                        now,
                        _labels_json(img.labels),
                    ),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO image_layers (image_id, idx, diff_id, chain_id, blob) VALUES (?,?,?,?,?)",
                    [(img.id, i, x.diff_id, x.chain_id, x.blob) for i, x in enumerate(new.layers)],
                )
            conn.executemany(
                "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)",
                [(img.id, d) for d in new.blobs],
            )
            for digest in img.repo_digests:
                conn.execute(
                    "INSERT OR IGNORE INTO repo_digests (name, image_id) VALUES (?, ?)", (digest, img.id)
                )
            for ref in tags:
                conn.execute(
                    "INSERT OR REPLACE INTO tags (name, image_id, tagged_at) VALUES (?, ?, ?)",
                    (str(ref), img.id, now),
                )
        return self.get(img.id)

    def tag(self, image_id: str, ref: Reference) -> None:
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
                raise NotFound(f"No such image: {image_id}")
            conn.execute(
                "INSERT OR REPLACE INTO tags (name, image_id, tagged_at) VALUES (?, ?, ?)",
                (str(ref), image_id, time.time()),
            )

    def add_repo_digest(self, image_id: str, repo_digest: str) -> None:
        """Record that the image is ``name@digest`` in a registry (a push: docker's RepoDigests)."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO repo_digests (name, image_id) VALUES (?, ?)", (repo_digest, image_id)
            )

    def repo_digests(self, image_id: str) -> list[str]:
        rows = self.db.conn.execute("SELECT name FROM repo_digests WHERE image_id = ?", (image_id,))
        return [str(row[0]) for row in rows]

    def tags_of(self, repository: str) -> list[str]:
        """The tags of ``repository`` (a canonical name, ``docker.io/library/busybox``), sorted."""
        rows = self.db.conn.execute(
            "SELECT name FROM tags WHERE name > ? AND name < ?", (repository + ":", repository + ";")
        )
        return sorted(str(row[0])[len(repository) + 1 :] for row in rows)

    def untag(self, name: str, image_id: str) -> bool:
        """Remove a tag or repo digest of ``image_id``; False if it was not there (a concurrent change)."""
        with self.db.tx() as conn:
            cur = conn.execute("DELETE FROM tags WHERE name = ? AND image_id = ?", (name, image_id))
            if cur.rowcount == 0:
                cur = conn.execute(
                    "DELETE FROM repo_digests WHERE name = ? AND image_id = ?", (name, image_id)
                )
            return cur.rowcount > 0

    def delete(self, image_id: str, *, only_if_untagged: bool = True) -> None:
        """Delete the image record and its GC references in one transaction."""
        with self.db.tx() as conn:
            if only_if_untagged:
                row = conn.execute("SELECT COUNT(*) FROM tags WHERE image_id = ?", (image_id,)).fetchone()
                if row[0]:
                    raise Conflict(
                        f"conflict: unable to delete {digest_hex(image_id)[:12]} - image was tagged concurrently"
                    )
            conn.execute("DELETE FROM tags WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM repo_digests WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM image_blobs WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM image_layers WHERE image_id = ?", (image_id,))
            cur = conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
            if cur.rowcount == 0:
                raise NotFound(f"No such image: {image_id}")

    @staticmethod
    def _image(row: sqlite3.Row, tags: list[tuple[str, float]], digests: list[str]) -> Image:
        return Image(
            id=Digest(row["id"]),
            manifest_digest=Digest(row["manifest_digest"]),
            manifest_media_type=row["manifest_media_type"],
            created=row["created"],
            size=row["size"],
            added_at=row["added_at"],
            labels=_labels(row["labels"]),
            tags=tuple(t for t, _ in tags),
            repo_digests=tuple(digests),
            last_tag_time=max((at for _, at in tags), default=0.0),
        )


def _looks_like_id_prefix(ref: str) -> bool:
    return 1 <= len(ref) <= 64 and all(c in "0123456789abcdef" for c in ref)


def _prefix_range(prefix: str) -> tuple[str, str]:
    """[prefix, prefix + max) as a range query, so an ID prefix lookup uses the primary key."""
    return prefix, prefix + "\uffff"


def _labels(text: str) -> Mapping[str, str]:
    """Decode stored labels (C-accelerated JSON: ``json`` costs start-up)."""
    if text == _NO_LABELS_JSON:
        return _NO_LABELS
    from pinnace._util import jsonc

    return MappingProxyType(jsonc.loads(text))


def _labels_json(labels: Mapping[str, str]) -> str:
    if not labels:
        return _NO_LABELS_JSON
    import json

    return json.dumps(dict(labels), sort_keys=True)
