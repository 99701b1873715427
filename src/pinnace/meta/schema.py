"""Versioned schema migrations of pinnace.db.

Append a migration to MIGRATIONS to change the schema; never edit one that
has shipped.  ``PRAGMA user_version`` records how many have been applied.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: images, tags, snapshots.
    """
    CREATE TABLE images (
        id                  TEXT PRIMARY KEY,      -- config digest, "sha256:..."
        manifest_digest     TEXT NOT NULL,         -- manifest blob in the content store
        manifest_media_type TEXT NOT NULL,
        created             TEXT NOT NULL,         -- config "created", RFC 3339
        size                INTEGER NOT NULL,      -- sum of unpacked layer sizes
        added_at            REAL NOT NULL,         -- when it entered this store (unix time)
        labels              TEXT NOT NULL DEFAULT '{}'  -- config Labels, JSON, for filters
    );
    CREATE TABLE tags (
        name      TEXT PRIMARY KEY,                -- "docker.io/library/busybox:latest"
        image_id  TEXT NOT NULL REFERENCES images(id),
        tagged_at REAL NOT NULL
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        name      TEXT NOT NULL,                   -- "docker.io/library/busybox@sha256:..."
        image_id  TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (name, image_id)
    );
    -- every blob an image needs (manifest, config, layers): GC roots for content.
    CREATE TABLE image_blobs (
        image_id  TEXT NOT NULL REFERENCES images(id),
        digest    TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    );
    CREATE INDEX image_blobs_digest ON image_blobs(digest);
    -- the committed snapshot (by chain ID) of each layer: GC roots for snapshots.
    CREATE TABLE image_layers (
        image_id  TEXT NOT NULL REFERENCES images(id),
        idx       INTEGER NOT NULL,
        diff_id   TEXT NOT NULL,
        chain_id  TEXT NOT NULL,
        blob      TEXT NOT NULL,                   -- layer blob digest as stored
        PRIMARY KEY (image_id, idx)
    );
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE TABLE snapshots (
        key      TEXT PRIMARY KEY,                 -- committed name (chain ID) or active key
        id       INTEGER NOT NULL UNIQUE,          -- directory snapshots/<id>/
        parent   TEXT REFERENCES snapshots(key),
        kind     TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),
        created  REAL NOT NULL,
        size     INTEGER NOT NULL DEFAULT 0,       -- bytes, measured at commit
        labels   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX snapshots_parent ON snapshots(parent);
    """,
)
