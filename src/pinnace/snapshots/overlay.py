"""The overlay snapshotter: containerd's overlayfs snapshotter over pinnace's SQLite metadata.

Layout (``root`` is ``<--root>/snapshots``)::

    root/<id>/fs          the snapshot's own layer: an overlay lowerdir once
                          committed, the upperdir while active
    root/<id>/work        overlay workdir (active snapshots only)
    root/_removing-*      directories on their way out (see remove())

Records live in the ``snapshots`` table; a snapshot's directory is named by
its integer ``id``, never by its key, so commit (which renames the key) does
not move anything on disk.

Crash safety (a SIGKILL at any instant)
---------------------------------------
The invariant is *no record without its directory*; a directory without a
record is garbage that :meth:`OverlaySnapshotter.cleanup` removes.

- prepare/view create the directory *inside* the write transaction (which
  holds SQLite's write lock and so serialises id allocation between
  processes), fsync it, then insert the record and COMMIT.  Killed before
  COMMIT: an orphan directory.  Killed after: both exist.
- commit syncfs()es the layer before the transaction that marks it
  committed, so a committed record never names a half-written layer, even
  after a power cut.
- remove deletes the record (COMMIT) first, then renames the directory to
  ``_removing-*`` and deletes that.  Killed in between: an orphan.
- cleanup decides what is an orphan while holding the write lock, so a
  directory another process is creating (its record not yet committed) is
  never taken for one.

Ids are ``max(id) + 1``; an id whose directory still exists (an orphan, or a
removal another process has not renamed away yet) is skipped, never reused
while its directory is there.

Overlay options
---------------
Every overlay mount gets ``index=off``, ``redirect_dir=off`` and
``metacopy=off`` when the kernel knows them (its overlay module lists them
under /sys/module/overlay/parameters), so behaviour does not depend on
host-wide module defaults:

- ``index=off``: with the inode index on, a lower layer may be used by one
  overlay only (mounting a second container on a shared image layer fails
  with EBUSY), which is exactly what image layers are for.  containerd and
  Docker pass it too.
- ``redirect_dir=off`` and ``metacopy=off``: with them on, an upperdir holds
  redirect xattrs and metadata-only copies instead of real files, so it no
  longer *is* the layer's diff; pinnace reads upperdirs as diffs (commit,
  ``docker diff``).  The cost: renaming a directory that comes from a lower
  layer fails with EXDEV, and tools fall back to copying (as on Docker
  hosts with the default kernel configuration).

Every ``run`` creates and removes a snapshot, so this module imports no more
than ``os`` at start-up: paths are strings (:attr:`OverlaySnapshotter.root`
hands out a :class:`~pathlib.Path` for callers that want one), labels go
through :mod:`pinnace._util.jsonc`, and trees are removed without shutil.
"""

from __future__ import annotations

import os
import time

from pinnace._util.fs import fsync_dir
from pinnace.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    map_errors,
)
from pinnace.meta.db import Database
from pinnace.mount import Mount, syncfs
from pinnace.snapshots import Info, Kind, Usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator, Mapping
    from pathlib import Path

#: Overlay module parameters whose mount option we pin to "off" when the kernel has them.
_PINNED_OFF = ("index", "redirect_dir", "metacopy")
_OVERLAY_PARAMS = "/sys/module/overlay/parameters"

_REMOVING = "_removing-"

_COLUMNS = "key, id, parent, kind, created, size, labels"


def _dump_labels(labels: Mapping[str, str] | None) -> str:
    """Compact JSON, keys sorted (labels are flat: sorting the top level sorts it all)."""
    if not labels:
        return "{}"
    from pinnace._util import jsonc

    return jsonc.dumps(dict(sorted(labels.items())), compact=True)


def _info(row: sqlite3.Row) -> Info:
    from pinnace._util import jsonc

    return Info(
        key=row["key"],
        kind=Kind(row["kind"]),
        parent=row["parent"] or "",
        created=row["created"],
        labels=jsonc.loads(row["labels"]),
    )


def measure(path: str | os.PathLike[str]) -> Usage:
    """Apparent bytes of the regular files under ``path`` (hardlinks once) and its inode count.

    This is what Docker reports as a layer's size; it does not depend on
    the filesystem's block size or on sparse holes.
    """
    seen: set[tuple[int, int]] = set()
    size = 0
    inodes = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except FileNotFoundError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                    ident = (st.st_dev, st.st_ino)
                    if ident in seen:
                        continue
                    seen.add(ident)
                inodes += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    size += st.st_size
    return Usage(size=size, inodes=inodes)


def _check_parent(conn: sqlite3.Connection, parent: str) -> None:
    """A snapshot can only sit on a committed one ("" is no parent)."""
    if not parent:
        return
    row = conn.execute("SELECT kind FROM snapshots WHERE key = ?", (parent,)).fetchone()
    if row is None:
        raise NotFound(f"parent snapshot {parent} does not exist")
    if row["kind"] != Kind.COMMITTED.value:
        raise InvalidArgument(f"parent {parent} is not a committed snapshot")


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete a snapshot directory tree, whatever layers put in it.

    Layers hold read-only directories and whiteout devices; root deletes
    those anyway, and for anyone else a directory without write permission
    is made writable and the deletion retried (:func:`pinnace._util.fs.remove_tree`).
    Entries that vanish meanwhile (a concurrent cleanup) are fine.
    """
    from pinnace._util.fs import remove_tree as remove

    with map_errors({OSError: Unavailable}, f"remove {os.fspath(path)}"):
        remove(path)


class OverlaySnapshotter:
    """containerd's overlay snapshotter: committed snapshots are lowerdirs, active ones upperdirs."""

    def __init__(self, root: str | os.PathLike[str], db: Database) -> None:
        self._root = os.fspath(root)
        self.db = db
        self._base_options: tuple[str, ...] | None = None
        with map_errors({OSError: Unavailable}, f"create {self._root}"):
            os.makedirs(self._root, mode=0o700, exist_ok=True)

    @property
    def root(self) -> Path:
        """The snapshots directory (``<--root>/snapshots``)."""
        from pathlib import Path

        return Path(self._root)

    # -- records ---------------------------------------------------------

    def _row(self, conn: sqlite3.Connection, key: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            f"SELECT {_COLUMNS} FROM snapshots WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key} does not exist")
        return row

    def _parent_ids(self, conn: sqlite3.Connection, parent: str) -> list[int]:
        """Ids of ``parent`` and its ancestors, nearest first (the overlay lowerdir order)."""
        if not parent:
            return []
        rows = conn.execute(
            """
            WITH RECURSIVE chain(key, id, parent, depth) AS (
                SELECT key, id, parent, 0 FROM snapshots WHERE key = ?
                UNION ALL
                SELECT s.key, s.id, s.parent, c.depth + 1
                FROM snapshots s JOIN chain c ON s.key = c.parent
            )
            SELECT id FROM chain ORDER BY depth
            """,
            (parent,),
        ).fetchall()
        return [r[0] for r in rows]

    def _dir(self, ident: int | str) -> str:
        return os.path.join(self._root, str(ident))

    def _fs(self, ident: int) -> str:
        return os.path.join(self._root, str(ident), "fs")

    def _work(self, ident: int) -> str:
        return os.path.join(self._root, str(ident), "work")

    # -- mounts ----------------------------------------------------------

    def _overlay_options(self) -> tuple[str, ...]:
        if self._base_options is None:
            self._base_options = tuple(
                f"{p}=off" for p in _PINNED_OFF if os.path.exists(os.path.join(_OVERLAY_PARAMS, p))
            )
        return self._base_options

    def _mounts(self, kind: Kind, ident: int, parents: list[int]) -> list[Mount]:
        if kind is Kind.ACTIVE:
            if not parents:
                return [Mount("bind", self._fs(ident), ("rw", "rbind"))]
            return [
                Mount(
                    "overlay",
                    "overlay",
                    (
                        *self._overlay_options(),
                        f"workdir={self._work(ident)}",
                        f"upperdir={self._fs(ident)}",
                        "lowerdir=" + ":".join(self._fs(p) for p in parents),
                    ),
                )
            ]
        if not parents:
            return [Mount("bind", self._fs(ident), ("ro", "rbind"))]
        if len(parents) == 1:
            return [Mount("bind", self._fs(parents[0]), ("ro", "rbind"))]
        lower = "lowerdir=" + ":".join(self._fs(p) for p in parents)
        return [Mount("overlay", "overlay", (*self._overlay_options(), lower))]

    # -- Snapshotter -----------------------------------------------------

    def stat(self, key: str) -> Info:
        return _info(self._row(self.db.conn, key))

    def update(self, key: str, labels: Mapping[str, str]) -> Info:
        """Replace the labels of ``key`` (containerd's Update with no field paths)."""
        with self.db.tx() as conn:
            self._row(conn, key)
            conn.execute("UPDATE snapshots SET labels = ? WHERE key = ?", (_dump_labels(labels), key))
            return _info(self._row(conn, key))

    def usage(self, key: str) -> Usage:
        """Committed: the size measured at commit (inodes are not recorded: 0). Else measured now."""
        row = self._row(self.db.conn, key)
        if row["kind"] == Kind.COMMITTED.value:
            return Usage(size=row["size"], inodes=0)
        return measure(self._fs(row["id"]))

    def mounts(self, key: str) -> list[Mount]:
        conn = self.db.conn
        row = self._row(conn, key)
        kind = Kind(row["kind"])
        if kind is Kind.COMMITTED:
            raise FailedPrecondition(f"snapshot {key} is committed: only active and view snapshots mount")
        return self._mounts(kind, row["id"], self._parent_ids(conn, row["parent"] or ""))

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def _create(self, kind: Kind, key: str, parent: str, labels: Mapping[str, str] | None) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key}: already exists")
            _check_parent(conn, parent)
            ident = self._make_dir(conn, kind)
            try:
                conn.execute(
                    "INSERT INTO snapshots (key, id, parent, kind, created, size, labels)"
                    " VALUES (?, ?, ?, ?, ?, 0, ?)",
                    (key, ident, parent or None, kind.value, time.time(), _dump_labels(labels)),
                )
            except BaseException:
                remove_tree(self._dir(ident))
                raise
            parents = self._parent_ids(conn, parent)
        return self._mounts(kind, ident, parents)

    def _make_dir(self, conn: sqlite3.Connection, kind: Kind) -> int:
        """Allocate an id and create its directory (called under the write lock)."""
        ident: int = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots").fetchone()[0]
        with map_errors({OSError: Unavailable}, f"create snapshot directory in {self._root}"):
            while True:
                try:
                    os.mkdir(self._dir(ident), 0o700)
                    break
                except FileExistsError:
                    ident += 1  # an orphan or a removal in flight: leave it alone
            fs = self._fs(ident)
            os.mkdir(fs)
            os.chmod(fs, 0o755)  # the container's "/": never subject to the umask
            if kind is Kind.ACTIVE:
                os.mkdir(self._work(ident), 0o700)
            fsync_dir(self._dir(ident))
            fsync_dir(self._root)
        return ident

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        """Turn active ``key`` into committed ``name`` (same directory), with ``labels``."""
        if not name:
            raise InvalidArgument("snapshot name must not be empty")
        row = self._row(self.db.conn, key)
        if row["kind"] != Kind.ACTIVE.value:
            raise FailedPrecondition(f"snapshot {key} is not active")
        if self.db.conn.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
            raise AlreadyExists(f"snapshot {name}: already exists")
        fs = self._fs(row["id"])
        size = measure(fs).size
        syncfs(fs)
        with self.db.tx() as conn:
            if self._row(conn, key)["kind"] != Kind.ACTIVE.value:  # changed meanwhile
                raise FailedPrecondition(f"snapshot {key} is not active")
            if conn.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name}: already exists")
            conn.execute(
                "UPDATE snapshots SET key = ?, kind = ?, created = ?, size = ?, labels = ? WHERE key = ?",
                (name, Kind.COMMITTED.value, time.time(), size, _dump_labels(labels), key),
            )

    def rebase(self, key: str, parent: str) -> None:
        """Put active ``key`` on ``parent`` (a committed snapshot), after the fact.

        Not part of containerd's interface; an overlay capability.  An upper dir
        holds a pure diff (whiteouts as devices, opaque dirs as xattrs), so what
        was unpacked into it does not depend on the layers below, and the parent
        only decides the mounts.  ``load`` uses this to unpack each layer while
        the archive streams in, before it knows the layers' order.
        """
        with self.db.tx() as conn:
            if self._row(conn, key)["kind"] != Kind.ACTIVE.value:
                raise FailedPrecondition(f"snapshot {key} is not active")
            if conn.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone():
                raise FailedPrecondition(f"cannot rebase snapshot {key}: it has children")
            _check_parent(conn, parent)
            conn.execute("UPDATE snapshots SET parent = ? WHERE key = ?", (parent or None, key))

    def remove(self, key: str) -> None:
        """Delete ``key``: the record first (atomic), then its directory."""
        with self.db.tx() as conn:
            ident: int = self._row(conn, key)["id"]
            if conn.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone():
                raise FailedPrecondition(f"cannot remove snapshot {key}: it has children")
            conn.execute("DELETE FROM snapshots WHERE key = ?", (key,))
        self._discard(ident)

    def _discard(self, ident: int) -> None:
        """Move ``root/<id>`` out of the id namespace, then delete it."""
        gone = self._retire(self._dir(ident))
        if gone is not None:
            remove_tree(gone)

    def _retire(self, path: str) -> str | None:
        """Rename ``path`` to a fresh ``_removing-*`` name; None if it is gone already."""
        with map_errors({OSError: Unavailable}, f"remove {path}"):
            while True:  # tempfile.mkdtemp's loop, without importing tempfile (random, shutil)
                dest = os.path.join(self._root, f"{_REMOVING}{os.path.basename(path)}-{os.urandom(6).hex()}")
                try:
                    os.mkdir(dest, 0o700)
                    break
                except FileExistsError:
                    continue
            try:
                os.rename(path, dest)  # replaces the empty placeholder atomically
            except FileNotFoundError:
                os.rmdir(dest)
                return None
        return dest

    def walk(self) -> Iterator[Info]:
        rows = self.db.conn.execute(f"SELECT {_COLUMNS} FROM snapshots ORDER BY id").fetchall()
        for row in rows:
            yield _info(row)

    def close(self) -> None:
        """Nothing to release: the database belongs to the caller. Safe to call twice."""

    def cleanup(self) -> int:
        """Delete directories under root that no record owns (crash leftovers); return bytes freed.

        Orphans are picked and renamed away under the write lock (so an id
        being created by another process is not one), then measured and
        deleted outside it.
        """
        with self.db.tx() as conn:
            owned = {str(r[0]) for r in conn.execute("SELECT id FROM snapshots")}
            with map_errors({OSError: Unavailable}, f"list {self._root}"):
                names = os.listdir(self._root)
            for name in names:
                if name.isdigit() and name not in owned:
                    self._retire(self._dir(name))
        freed = 0
        with map_errors({OSError: Unavailable}, f"list {self._root}"):
            doomed = [self._dir(n) for n in os.listdir(self._root) if n.startswith(_REMOVING)]
        for path in doomed:
            freed += measure(path).size
            remove_tree(path)
        return freed
