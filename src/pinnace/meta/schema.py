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
    # 2: containers and the event log.
    """
    CREATE TABLE containers (
        id            TEXT PRIMARY KEY,            -- 64 hex digits
        name          TEXT NOT NULL UNIQUE,        -- without docker's leading "/"
        image_id      TEXT NOT NULL,               -- config digest. No foreign key: rmi -f may remove it
        image_name    TEXT NOT NULL,               -- the image as the user named it (Config.Image)
        snapshot_key  TEXT NOT NULL,               -- the active snapshot (writable layer): a GC root
        created       TEXT NOT NULL,               -- RFC 3339 with nanoseconds
        config        TEXT NOT NULL DEFAULT '{}',  -- docker's Config, JSON
        host_config   TEXT NOT NULL DEFAULT '{}',  -- docker's HostConfig, JSON
        spec_path     TEXT NOT NULL DEFAULT '',    -- the OCI runtime spec written for it, or ''
        runtime       TEXT NOT NULL DEFAULT '',    -- OCI runtime name or path
        status        TEXT NOT NULL DEFAULT 'created' CHECK (status IN
                          ('created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead')),
        pid           INTEGER NOT NULL DEFAULT 0,
        exit_code     INTEGER NOT NULL DEFAULT 0,
        oom_killed    INTEGER NOT NULL DEFAULT 0,
        error         TEXT NOT NULL DEFAULT '',
        started_at    TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
        finished_at   TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
        restart_count INTEGER NOT NULL DEFAULT 0,
        health        TEXT,                        -- State.Health, JSON, or NULL without a healthcheck
        monitor_pid   INTEGER NOT NULL DEFAULT 0,
        labels        TEXT NOT NULL DEFAULT '{}'   -- Config.Labels, JSON, for filters
    );
    CREATE INDEX containers_status ON containers(status);
    CREATE INDEX containers_image ON containers(image_id);
    -- docker's events, appended by every pinnace process. seq orders them and never repeats
    -- (AUTOINCREMENT), so a follower resumes after the last seq it saw.
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        time_ns    INTEGER NOT NULL,               -- unix time in nanoseconds
        type       TEXT NOT NULL,                  -- container, image, volume, network, ...
        action     TEXT NOT NULL,                  -- create, start, die, "exec_start: sh -c x", ...
        actor_id   TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}'      -- Actor.Attributes, JSON
    );
    CREATE INDEX events_time ON events(time_ns);
    """,
    # 3: volumes, which containers use them, and each container's resolved mount points.
    """
    CREATE TABLE volumes (
        name     TEXT PRIMARY KEY,                 -- [a-zA-Z0-9][a-zA-Z0-9_.-]+, or 64 hex digits (anonymous)
        driver   TEXT NOT NULL DEFAULT 'local',
        created  TEXT NOT NULL,                    -- CreatedAt, RFC 3339 in seconds
        labels   TEXT NOT NULL DEFAULT '{}',       -- JSON, anonymous ones carry com.docker.volume.anonymous
        options  TEXT NOT NULL DEFAULT '{}'        -- the driver's options (-o), JSON
    );
    -- a container refers to a volume from its create to its removal, running or not: rm refuses meanwhile.
    -- No foreign key to containers: the row is written in the container's own create transaction.
    CREATE TABLE volume_users (
        volume    TEXT NOT NULL REFERENCES volumes(name),
        container TEXT NOT NULL,
        PRIMARY KEY (volume, container)
    );
    CREATE INDEX volume_users_container ON volume_users(container);
    ALTER TABLE containers ADD COLUMN mounts TEXT NOT NULL DEFAULT '[]';  -- resolved mount points, JSON
    """,
    # 4: networks and the endpoints of containers on them (IPAM state: subnets and addresses taken).
    """
    CREATE TABLE networks (
        id        TEXT PRIMARY KEY,                -- 64 hex digits
        name      TEXT NOT NULL UNIQUE,
        driver    TEXT NOT NULL DEFAULT 'bridge',  -- bridge, or host and null for the predefined ones
        created   TEXT NOT NULL,                   -- RFC 3339 with nanoseconds
        subnet    TEXT NOT NULL DEFAULT '',        -- "10.210.3.0/24", '' for host and none
        gateway   TEXT NOT NULL DEFAULT '',
        ip_range  TEXT NOT NULL DEFAULT '',        -- where dynamic addresses come from, '' for the whole subnet
        internal  INTEGER NOT NULL DEFAULT 0,
        bridge    TEXT UNIQUE,                     -- the Linux bridge, NULL for host and none
        labels    TEXT NOT NULL DEFAULT '{}',      -- JSON
        options   TEXT NOT NULL DEFAULT '{}',      -- driver options (-o), JSON
        ipv6      INTEGER NOT NULL DEFAULT 0,
        subnet6   TEXT NOT NULL DEFAULT '',
        gateway6  TEXT NOT NULL DEFAULT ''
    );
    -- a container's place on a network, from connect to disconnect, running or not.
    -- No foreign key to containers: the row may be written in the container's own create transaction.
    CREATE TABLE endpoints (
        network   TEXT NOT NULL REFERENCES networks(id),
        container TEXT NOT NULL,
        ip        TEXT NOT NULL,                   -- "10.210.3.2"
        mac       TEXT NOT NULL,                   -- "02:42:0a:d2:03:02"
        aliases   TEXT NOT NULL DEFAULT '[]',      -- JSON
        ip6       TEXT NOT NULL DEFAULT '',        -- on an IPv6 network
        PRIMARY KEY (network, container),
        UNIQUE (network, ip)
    );
    CREATE INDEX endpoints_container ON endpoints(container);
    CREATE UNIQUE INDEX endpoints_ip6 ON endpoints(network, ip6) WHERE ip6 != '';
    """,
    # 5: the builder's cache: a step's result by its cache key.
    """
    CREATE TABLE build_cache (
        key         TEXT PRIMARY KEY,              -- sha256 of the parent key, the instruction and its inputs
        parent      TEXT NOT NULL,                 -- the key of the step before (why-miss compares siblings)
        inputs      TEXT NOT NULL,                 -- JSON: what went into the key, readable
        media_type  TEXT NOT NULL DEFAULT '',      -- the layer the step added ('' for none)
        digest      TEXT NOT NULL DEFAULT '',
        size        INTEGER NOT NULL DEFAULT 0,
        diff_id     TEXT NOT NULL DEFAULT '',
        chain_id    TEXT NOT NULL DEFAULT '',      -- the layer's snapshot
        created     TEXT NOT NULL,                 -- the history entry's time (RFC 3339)
        last_used   REAL NOT NULL
    );
    CREATE INDEX build_cache_parent ON build_cache(parent);
    """,
)
