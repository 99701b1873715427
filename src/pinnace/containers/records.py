"""Container records in pinnace.db.

This store is the only code that reads or writes the ``containers``
table (the event log is :mod:`pinnace.events`).  Every change is one ``BEGIN IMMEDIATE`` transaction, so
two pinnace processes creating, renaming or removing containers at once see
one another's names (a name is taken or free, never both) and a state
update is never half applied.

Names are stored without docker's leading "/"; lookups accept both forms.
Config and HostConfig are docker's JSON documents, kept as they will be
shown by ``inspect``; the few fields the engine filters on (status, image,
labels) have columns of their own.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.containers import names
from pinnace.errors import AlreadyExists, Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    from pinnace.meta.db import Database

#: Go's zero time.Time as docker prints StartedAt/FinishedAt of a container never started.
ZERO_TIME = "0001-01-01T00:00:00Z"

#: Docker's container states (State.Status).
STATUSES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@record
class ContainerRecord:
    id: str  # 64 hex digits
    name: str  # without the leading "/"; "" asks create() to generate one
    image_id: str  # config digest, "sha256:..."
    image_name: str  # as the user typed it
    snapshot_key: str  # the writable layer's active snapshot
    created: str  # RFC 3339 with nanoseconds
    config: Mapping[str, Any] = _EMPTY  # docker's Config
    host_config: Mapping[str, Any] = _EMPTY  # docker's HostConfig
    spec_path: str = ""
    runtime: str = ""
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    health: Mapping[str, Any] | None = None  # State.Health; None without a healthcheck
    monitor_pid: int = 0
    labels: Mapping[str, str] = _EMPTY  # Config.Labels (create() takes them from config when empty)
    mounts: tuple[Mapping[str, Any], ...] = ()  # resolved mount points (containers.mounts.MountPoint JSON)


@record
class ContainerUsage:
    """``system df``'s container row: how many, how many run, their writable layers' size, and what prune frees."""

    total: int
    active: int
    size: int
    reclaimable: int
    #: The image IDs containers use (``system df`` counts those images active).
    images: frozenset[str]
    #: The containers counted, and each one's writable layer in bytes by ID (the Engine API's ``/system/df``).
    records: tuple[ContainerRecord, ...] = ()
    sizes: Mapping[str, int] = _EMPTY


#: The table's columns are the record's fields, in order.
_COLUMNS: tuple[str, ...] = ContainerRecord.__record_fields__  # type: ignore[attr-defined]

#: What update_state may change: the state, and HostConfig (``docker update``).
MUTABLE = frozenset(
    (
        "status",
        "pid",
        "exit_code",
        "oom_killed",
        "error",
        "started_at",
        "finished_at",
        "restart_count",
        "health",
        "monitor_pid",
        "host_config",
    )
)


class ContainerRecords:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._all: tuple[tuple[int, int], list[ContainerRecord]] | None = None  # (generation, rows)

    # -- reads -------------------------------------------------------------
    def get(self, container_id: str) -> ContainerRecord:
        row = self.db.conn.execute("SELECT * FROM containers WHERE id = ?", (container_id,)).fetchone()
        if row is None:
            raise NotFound(f"No such container: {container_id}")
        return _from_row(row)

    def all(self) -> list[ContainerRecord]:
        """Every container, newest first (``docker ps -a`` order: rows are appended as containers are created)."""
        generation = self.db.generation()
        if self._all is None or self._all[0] != generation:  # records are immutable: the list is shared
            rows = self.db.conn.execute("SELECT * FROM containers ORDER BY rowid DESC")
            self._all = (generation, [_from_row(row) for row in rows])
        return list(self._all[1])

    def using_image(self, image_id: str) -> list[tuple[str, str]]:
        """(ID, status) of the containers made from ``image_id``, oldest first (``rmi``'s conflict): one
        indexed query, no record parsed."""
        sql = "SELECT id, status FROM containers WHERE image_id = ? ORDER BY rowid"
        return [(str(row[0]), str(row[1])) for row in self.db.conn.execute(sql, (image_id,))]

    def image_ids(self) -> frozenset[str]:
        """The images containers use, in any state (``image prune`` keeps them)."""
        rows = self.db.conn.execute("SELECT DISTINCT image_id FROM containers")
        return frozenset(str(row[0]) for row in rows)

    def resolve(self, ref: str) -> ContainerRecord:
        """Find a container as docker does: full ID, then exact name (with or without "/"), then unique ID prefix."""
        if not ref:
            raise InvalidArgument('invalid name or ID supplied: ""')
        conn = self.db.conn
        row = conn.execute("SELECT * FROM containers WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = conn.execute("SELECT * FROM containers WHERE name = ?", (_bare(ref),)).fetchone()
        if row is not None:
            return _from_row(row)
        found = conn.execute(
            "SELECT id FROM containers WHERE id >= ? AND id < ? LIMIT 2", (ref, ref + "\uffff")
        ).fetchall()
        if not found:
            raise NotFound(f"No such container: {ref}")
        if len(found) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        return self.get(found[0][0])

    # -- writes ------------------------------------------------------------
    def create(
        self, rec: ContainerRecord, *, also: Callable[[sqlite3.Connection], object] | None = None
    ) -> ContainerRecord:
        """Record a new container; an empty name gets a generated one, chosen inside the transaction.

        Raises InvalidArgument for a name docker would refuse and Conflict, in
        docker's words, for a name another container has.  ``also`` runs in
        the same transaction (the container's volume references).
        """
        if len(rec.id) != 64 or not _is_hex(rec.id):
            raise InvalidArgument(f"invalid container ID {rec.id!r}: need 64 hex digits")
        if rec.status not in STATUSES:
            raise InvalidArgument(f"invalid container status {rec.status!r}")
        name = names.validate(rec.name) if rec.name else ""
        labels = rec.labels or rec.config.get("Labels") or _EMPTY
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM containers WHERE id = ?", (rec.id,)).fetchone() is not None:
                raise AlreadyExists(f"container {rec.id} already exists")
            if name:
                _check_name_free(conn, name)
            else:
                name = names.generate(lambda n: _holder(conn, n) is not None, fallback=rec.id)
            values = _to_values({**{c: getattr(rec, c) for c in _COLUMNS}, "name": name, "labels": labels})
            conn.execute(
                f"INSERT INTO containers ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [values[c] for c in _COLUMNS],
            )
            if also is not None:
                also(conn)
        return self.get(rec.id)

    def update_state(
        self, container_id: str, *, expect: Iterable[str] | None = None, **fields: Any
    ) -> ContainerRecord:
        """Change state fields (and HostConfig) in one transaction; return the record as written.

        ``expect`` is an optimistic check: the statuses the container may be
        in for the change to apply; in any other it raises Conflict and
        changes nothing (another process moved it on first).
        """
        unknown = set(fields) - MUTABLE
        if unknown:
            raise TypeError(f"update_state: cannot change {', '.join(sorted(unknown))}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise InvalidArgument(f"invalid container status {fields['status']!r}")
        values = _to_values(fields)
        allowed = None if expect is None else (expect,) if isinstance(expect, str) else tuple(expect)
        with self.db.tx() as conn:
            row = conn.execute("SELECT status FROM containers WHERE id = ?", (container_id,)).fetchone()
            if row is None:
                raise NotFound(f"No such container: {container_id}")
            if allowed is not None and row[0] not in allowed:
                raise Conflict(f"container {container_id} is {row[0]}, not {' or '.join(allowed)}")
            if values:
                assignments = ", ".join(f"{c} = ?" for c in values)
                conn.execute(
                    f"UPDATE containers SET {assignments} WHERE id = ?", [*values.values(), container_id]
                )
        return self.get(container_id)

    def rename(self, container_id: str, new_name: str) -> ContainerRecord:
        """Give a container a new name, with docker's checks and words."""
        if not container_id or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        shown = new_name if new_name.startswith("/") else "/" + new_name
        with self.db.tx() as conn:
            row = conn.execute("SELECT name FROM containers WHERE id = ?", (container_id,)).fetchone()
            if row is None:
                raise NotFound(f"No such container: {container_id}")
            if "/" + row[0] == shown:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            try:
                bare = names.validate(shown)
                _check_name_free(conn, bare)
            except (InvalidArgument, Conflict) as exc:
                raise type(exc)(f"Error when allocating new name: {exc}") from None
            conn.execute("UPDATE containers SET name = ? WHERE id = ?", (bare, container_id))
        return self.get(container_id)

    def delete(
        self, container_id: str, *, also: Callable[[sqlite3.Connection], object] | None = None
    ) -> None:
        """Forget the container; ``also`` runs in the same transaction (dropping its volume references)."""
        with self.db.tx() as conn:
            if conn.execute("DELETE FROM containers WHERE id = ?", (container_id,)).rowcount == 0:
                raise NotFound(f"No such container: {container_id}")
            if also is not None:
                also(conn)


# -- helpers ------------------------------------------------------------------
def _bare(name: str) -> str:
    return name[1:] if name.startswith("/") else name


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _holder(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _check_name_free(conn: sqlite3.Connection, name: str) -> None:
    holder = _holder(conn, name)
    if holder is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container "{holder}".'
            " You have to remove (or rename) that container to be able to reuse that name."
        )


def _json(value: Mapping[str, Any]) -> str:
    return jsonc.dumps(_plain(value), compact=True) if value else "{}"


def _plain(value: Any) -> Any:
    """Mappings (MappingProxyType included) as dicts, so the C encoder takes them."""
    if isinstance(value, dict | MappingProxyType):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _to_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Record fields as column values."""
    out = dict(fields)
    for key in ("config", "host_config", "labels"):
        if key in out:
            out[key] = _json(out[key])
    if "health" in out:
        out["health"] = None if out["health"] is None else jsonc.dumps(_plain(out["health"]), compact=True)
    if "oom_killed" in out:
        out["oom_killed"] = int(bool(out["oom_killed"]))
    if "mounts" in out:
        out["mounts"] = jsonc.dumps(_plain(out["mounts"]), compact=True) if out["mounts"] else "[]"
    return out


def _from_row(row: sqlite3.Row) -> ContainerRecord:
    health = row["health"]
    return ContainerRecord(
        id=row["id"],
        name=row["name"],
        image_id=row["image_id"],
        image_name=row["image_name"],
        snapshot_key=row["snapshot_key"],
        created=row["created"],
        config=jsonc.frozen_object(row["config"]),
        host_config=jsonc.frozen_object(row["host_config"]),
        spec_path=row["spec_path"],
        runtime=row["runtime"],
        status=row["status"],
        pid=row["pid"],
        exit_code=row["exit_code"],
        oom_killed=bool(row["oom_killed"]),
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        restart_count=row["restart_count"],
        health=None if health is None else MappingProxyType(jsonc.loads(health)),
        monitor_pid=row["monitor_pid"],
        labels=jsonc.frozen_object(row["labels"]),
        mounts=_mounts(row["mounts"]),
    )


def _mounts(text: str | None) -> tuple[Mapping[str, Any], ...]:
    """Decode the stored mount points; the common empty list costs no parsing."""
    if not text or text == "[]":
        return ()
    return tuple(MappingProxyType(m) for m in jsonc.loads(text))
