"""The registry server's store: one content-addressed blob store for every repository, metadata in SQLite.

Layout under ``--root``::

    blobs/sha256/AB/HEX     every blob and manifest, once, whatever repositories refer to it
    uploads/UUID            an upload session's bytes so far
    registry.db             repositories' links to blobs, manifests (with their subject and
                            artifact type, for the referrers API), tags, upload sessions

A blob becomes visible by rename of a file whose digest was checked, and a
repository sees it only once the link row is committed; a manifest is
stored only after everything it references is linked in its repository.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid

from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class RegistryError(PinnaceError):
    """An error the spec names: its code, HTTP status and message go to the client as they are."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        detail: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.detail = detail
        self.headers = headers or {}  # a challenge's WWW-Authenticate, a 429's Retry-After


def blob_unknown(digest: str) -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", 404, "blob unknown to registry", {"digest": digest})


def upload_unknown(session: str) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry", {"uuid": session})


def digest_invalid(detail: str) -> RegistryError:
    return RegistryError("DIGEST_INVALID", 400, "provided digest did not match uploaded content", detail)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL, digest TEXT NOT NULL, linked REAL NOT NULL DEFAULT 0, PRIMARY KEY (repo, digest));
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    subject TEXT NOT NULL DEFAULT '', artifact_type TEXT NOT NULL DEFAULT '', annotations TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL, PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
CREATE TABLE IF NOT EXISTS tags (repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, repo TEXT NOT NULL, started REAL NOT NULL);
"""

#: How stale a blob's link may be before a HEAD of it renews it (see :meth:`Storage.has_blob`).
TOUCH_EVERY = 600.0
#: Upload sessions idle longer than this are dropped (distribution's default purge age is a week;
#: a day is plenty for a push).
UPLOAD_TTL = 24 * 3600.0


class Storage:
    """Blobs, manifests and tags of every repository, safe for the server's threads."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        self.uploads = os.path.join(root, "uploads")
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.uploads, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # its own transaction (executescript commits first)
        #: Running hashes of upload sessions (their bytes so far), so a finished upload is not read again.
        self._hashes: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    # -- SQLite, a connection per thread

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(os.path.join(self.root, "registry.db"), timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et: object, *_: object) -> None:
            self.db.execute("COMMIT" if et is None else "ROLLBACK")

    def _tx(self) -> Storage._Tx:
        return Storage._Tx(self._db())

    # -- blobs

    def blob_path(self, digest: str) -> str:
        hex_ = digest.partition(":")[2]
        return os.path.join(self.blobs, hex_[:2], hex_)

    def has_blob(self, repo: str, digest: str, *, touch: bool = False) -> bool:
        """Whether the repository has the blob; ``touch`` (a client asking before it pushes a manifest that
        names it) renews the link, so that a garbage collection's grace period covers the push."""
        db = self._db()
        row = db.execute(
            "SELECT linked FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest)
        ).fetchone()
        if row is None or not os.path.exists(self.blob_path(digest)):
            return False
        if touch and time.time() - row[0] > TOUCH_EVERY:
            with self._tx() as tx:
                tx.execute(
                    "UPDATE repo_blobs SET linked = ? WHERE repo = ? AND digest = ?",
                    (time.time(), repo, digest),
                )
        return True

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored at all (for some repository)."""
        return os.path.exists(self.blob_path(digest))

    def blob_size(self, digest: str) -> int:
        return os.stat(self.blob_path(digest)).st_size

    def link(self, repo: str, digest: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)",
                (repo, digest, time.time()),
            )

    def unlink(self, repo: str, digest: str) -> bool:
        with self._tx() as db:
            return (
                db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest)).rowcount
                > 0
            )

    def mount(self, repo: str, digest: str, source: str) -> bool:
        """Link a blob of ``source`` into ``repo`` (cross-repository mount); False when ``source`` has none."""
        if not self.has_blob(source, digest):
            return False
        self.link(repo, digest)
        return True

    def put_bytes(self, repo: str, data: bytes, digest: str) -> None:
        """A small blob (a manifest, a monolithic upload) whose digest the caller checked."""
        path = self.blob_path(digest)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        self.link(repo, digest)

    # -- uploads

    def start_upload(self, repo: str) -> str:
        session = str(uuid.uuid4())
        open(os.path.join(self.uploads, session), "wb").close()
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads (id, repo, started) VALUES (?, ?, ?)", (session, repo, time.time())
            )
        with self._lock:
            self._hashes[session] = (0, hashlib.sha256())
        return session

    def upload_path(self, repo: str, session: str) -> str:
        row = self._db().execute("SELECT repo FROM uploads WHERE id = ?", (session,)).fetchone()
        path = os.path.join(self.uploads, session)
        if row is None or row[0] != repo or not os.path.exists(path):
            raise upload_unknown(session)
        return path

    def upload_offset(self, repo: str, session: str) -> int:
        return os.stat(self.upload_path(repo, session)).st_size

    def append(self, repo: str, session: str, chunks: Iterable[bytes], start: int | None) -> int:
        """Append to the session (at ``start``, which must be its size: else 416); its new size."""
        path = self.upload_path(repo, session)
        size = os.stat(path).st_size
        if start is not None and start != size:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID", 416, "invalid content range", {"offset": size, "start": start}
            )
        with self._lock:
            state = self._hashes.pop(session, None)
        hasher = state[1] if state is not None and state[0] == size else None
        with open(path, "ab") as f:
            for chunk in chunks:
                f.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                size += len(chunk)
        if hasher is not None:
            with self._lock:
                self._hashes[session] = (size, hasher)
        return size

    def finish(self, repo: str, session: str, digest: str) -> int:
        """Close the session as blob ``digest`` (checked); the blob's size."""
        path = self.upload_path(repo, session)
        size = os.stat(path).st_size
        with self._lock:
            hashed, hasher = self._hashes.pop(session, (-1, None))
        if hasher is not None and hashed == size:
            got = "sha256:" + hasher.hexdigest()
        else:
            got = _file_digest(path)
        if not digest.startswith("sha256:") or got != digest:
            self.cancel(repo, session)
            raise digest_invalid(f"expected {digest}, the upload is {got}")
        target = self.blob_path(digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        os.rename(path, target)
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE id = ?", (session,))
            db.execute(
                "INSERT OR REPLACE INTO repo_blobs (repo, digest, linked) VALUES (?, ?, ?)",
                (repo, digest, time.time()),
            )
        return size

    def cancel(self, repo: str, session: str) -> None:
        path = self.upload_path(repo, session)
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE id = ?", (session,))
        with self._lock:
            self._hashes.pop(session, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def expire_uploads(self, now: float | None = None, ttl: float = UPLOAD_TTL) -> int:
        """Drop the sessions idle longer than ``ttl``; how many."""
        cutoff = (now or time.time()) - ttl
        rows = self._db().execute("SELECT id, repo FROM uploads").fetchall()
        dropped = 0
        for session, repo in rows:
            path = os.path.join(self.uploads, session)
            try:
                idle = os.stat(path).st_mtime < cutoff
            except FileNotFoundError:
                idle = True
            if idle:
                try:
                    self.cancel(repo, session)
                except RegistryError:
                    with self._tx() as db:
                        db.execute("DELETE FROM uploads WHERE id = ?", (session,))
                dropped += 1
        return dropped

    # -- manifests and tags

    def put_manifest(
        self, repo: str, data: bytes, digest: str, media_type: str, *, tag: str, subject: str,
        artifact_type: str, annotations: str,
    ) -> None:  # fmt: skip
        self.put_bytes(repo, data, digest)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO manifests (repo, digest, media_type, size, subject, artifact_type, annotations, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (repo, digest, media_type, len(data), subject, artifact_type, annotations, time.time()),
            )
            if tag:
                db.execute(
                    "INSERT OR REPLACE INTO tags (repo, tag, digest) VALUES (?, ?, ?)", (repo, tag, digest)
                )

    def tag(self, repo: str, tag: str, digest: str) -> None:
        """Point ``tag`` at a manifest the repository has."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO tags (repo, tag, digest) VALUES (?, ?, ?)", (repo, tag, digest)
            )

    def resolve(self, repo: str, reference: str) -> tuple[str, str, int] | None:
        """(digest, media type, size) of a manifest by tag or digest, or None."""
        db = self._db()
        if ":" in reference:
            digest = reference
        else:
            row = db.execute(
                "SELECT digest FROM tags WHERE repo = ? AND tag = ?", (repo, reference)
            ).fetchone()
            if row is None:
                return None
            digest = row[0]
        row = db.execute(
            "SELECT media_type, size FROM manifests WHERE repo = ? AND digest = ?", (repo, digest)
        ).fetchone()
        if row is None or not os.path.exists(self.blob_path(digest)):
            return None
        return digest, row[0], row[1]

    def has_manifest(self, repo: str, digest: str) -> bool:
        return (
            self._db()
            .execute("SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
            .fetchone()
            is not None
        )

    def delete_manifest(self, repo: str, digest: str) -> bool:
        with self._tx() as db:
            gone = db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest)).rowcount
            db.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, digest))
        return gone > 0

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag)).rowcount > 0

    def known(self, repo: str) -> bool:
        db = self._db()
        return (
            db.execute("SELECT 1 FROM manifests WHERE repo = ? LIMIT 1", (repo,)).fetchone() is not None
            or db.execute("SELECT 1 FROM repo_blobs WHERE repo = ? LIMIT 1", (repo,)).fetchone() is not None
        )

    def tags(self, repo: str, last: str, n: int) -> list[str]:
        rows = self._db().execute(
            "SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?", (repo, last, n)
        )
        return [r[0] for r in rows]

    def repositories(self, last: str, n: int) -> list[str]:
        rows = self._db().execute(
            "SELECT DISTINCT repo FROM manifests WHERE repo > ? ORDER BY repo LIMIT ?", (last, n)
        )
        return [r[0] for r in rows]

    def referrers(self, repo: str, subject: str) -> list[tuple[str, str, int, str, str]]:
        """(digest, media type, size, artifact type, annotations JSON) of the manifests whose subject it is."""
        rows = self._db().execute(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests"
            " WHERE repo = ? AND subject = ? ORDER BY digest",
            (repo, subject),
        )
        return [tuple(r) for r in rows]


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def collect_garbage(
    storage: Storage, *, grace: float = 3600.0, delete_untagged: bool = False, dry_run: bool = False
) -> list[str]:
    """Remove the blobs no manifest references (and, with ``delete_untagged``, the manifests no tag or
    index reaches first); the digests removed (or that would be, with ``dry_run``).

    Safe while pushes go on: a blob is kept while it was written or linked into a repository less than
    ``grace`` seconds ago (a push uploads its blobs before the manifest that names them), and every
    manifest's references count, whoever wrote it meanwhile (the mark is read in one transaction).
    """
    import json

    now = time.time()
    db = storage._db()
    db.execute("BEGIN")
    try:
        manifests = db.execute("SELECT repo, digest FROM manifests").fetchall()
        tagged = {(r, d) for r, d in db.execute("SELECT repo, digest FROM tags")}
        links = db.execute("SELECT repo, digest, linked FROM repo_blobs").fetchall()
    finally:
        db.execute("COMMIT")

    def references(digest: str) -> tuple[list[str], list[str]]:
        """(the blobs, the child manifests) a stored manifest names."""
        try:
            with open(storage.blob_path(digest), "rb") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return [], []
        blobs = [
            d.get("digest", "")
            for d in [doc.get("config") or {}, *(doc.get("layers") or [])]
            if isinstance(d, dict)
        ]
        children = [d.get("digest", "") for d in doc.get("manifests") or [] if isinstance(d, dict)]
        return [b for b in blobs if b], [c for c in children if c]

    live_manifests = set(manifests)
    if delete_untagged:
        live_manifests = set()
        todo = list(tagged)
        subjects: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for repo, digest in manifests:
            for row in db.execute(
                "SELECT subject FROM manifests WHERE repo = ? AND digest = ?", (repo, digest)
            ):
                if row[0]:
                    subjects.setdefault((repo, row[0]), []).append((repo, digest))
        while todo:
            key = todo.pop()
            if key in live_manifests or key not in set(manifests):
                continue
            live_manifests.add(key)
            _, children = references(key[1])
            todo += [(key[0], c) for c in children]
            todo += subjects.get(key, [])  # an artifact lives as long as its subject
    live_blobs: set[str] = set()
    for _repo, digest in live_manifests:
        blobs, children = references(digest)
        live_blobs.add(digest)
        live_blobs.update(blobs)
        live_blobs.update(children)
    dead_manifests = [(r, d) for r, d in manifests if (r, d) not in live_manifests]
    recent = {d for _, d, linked in links if now - linked < grace}
    on_disk = []
    for shard in os.listdir(storage.blobs):
        for name in os.listdir(os.path.join(storage.blobs, shard)):
            if ".tmp-" in name:
                continue
            digest = "sha256:" + name
            try:
                young = now - os.stat(os.path.join(storage.blobs, shard, name)).st_mtime < grace
            except FileNotFoundError:
                continue
            if digest not in live_blobs and digest not in recent and not young:
                on_disk.append(digest)
    if dry_run:
        return sorted(on_disk)
    with storage._tx() as tx:
        for repo, digest in dead_manifests:
            tx.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
        for digest in on_disk:
            tx.execute("DELETE FROM repo_blobs WHERE digest = ? AND linked < ?", (digest, now - grace))
    removed = []
    started = now
    for _repo, digest, created in storage._db().execute("SELECT repo, digest, created FROM manifests"):
        if created >= started - 1:  # pushed while we marked: what it names stays
            blobs, children = references(digest)
            on_disk = [d for d in on_disk if d not in blobs and d not in children and d != digest]
    for digest in on_disk:
        try:
            os.unlink(storage.blob_path(digest))
            removed.append(digest)
        except FileNotFoundError:
            pass
    return sorted(removed)
