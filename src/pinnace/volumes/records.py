"""Volume records in pinnace.db, and which containers use each volume.

This store is the only code that reads or writes the ``volumes`` and
``volume_users`` tables.  A container refers to its volumes from its
create to its removal, running or not (moby's reference counting, kept in
the database because every pinnace command is its own process): the
container store writes those rows inside its own create and delete
transactions (:meth:`VolumeRecords.add_users`, :meth:`VolumeRecords.drop_users`),
so a container never exists without its references nor the other way
round, and :meth:`VolumeRecords.delete` sees every user a concurrent
``create`` could add.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import Conflict, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Mapping

    from pinnace.meta.db import Database

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: The label docker (23.0+) puts on anonymous volumes; ``volume prune`` without ``-a`` removes only those.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@record
class VolumeRecord:
    name: str
    created: str  # RFC 3339 in seconds, as docker's CreatedAt
    driver: str = "local"
    labels: Mapping[str, str] = _EMPTY
    options: Mapping[str, str] = _EMPTY  # the driver's options (volume create -o)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels


class VolumeRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads -------------------------------------------------------------
    def get(self, name: str) -> VolumeRecord:
        row = self.db.conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return _from_row(row)

    def all(self) -> list[VolumeRecord]:
        """Every volume, by name (``volume ls`` order)."""
        return [_from_row(row) for row in self.db.conn.execute("SELECT * FROM volumes ORDER BY name")]

    def users(self, name: str) -> list[str]:
        """The IDs of the containers that refer to volume ``name``."""
        rows = self.db.conn.execute(
            "SELECT container FROM volume_users WHERE volume = ? ORDER BY container", (name,)
        )
        return [row[0] for row in rows]

    def user_counts(self) -> dict[str, int]:
        """How many containers refer to each volume in use (``volume ls -f dangling``, ``system df``)."""
        rows = self.db.conn.execute("SELECT volume, COUNT(*) FROM volume_users GROUP BY volume")
        return {row[0]: int(row[1]) for row in rows}

    def used_by(self, container_id: str) -> list[str]:
        """The volumes container ``container_id`` refers to."""
        rows = self.db.conn.execute(
            "SELECT volume FROM volume_users WHERE container = ? ORDER BY volume", (container_id,)
        )
        return [row[0] for row in rows]

    # -- writes ------------------------------------------------------------
    def create(self, rec: VolumeRecord) -> tuple[VolumeRecord, bool]:
        """Record ``rec`` unless a volume of that name exists: ``(the volume as stored, created)``.

        An existing volume is returned as it is (docker's create is
        idempotent), unless it has another driver: docker's conflict.
        """
        with self.db.tx() as conn:
            return self._create_in(conn, rec)

    def _create_in(self, conn: sqlite3.Connection, rec: VolumeRecord) -> tuple[VolumeRecord, bool]:
        row = conn.execute("SELECT * FROM volumes WHERE name = ?", (rec.name,)).fetchone()
        if row is not None:
            found = _from_row(row)
            if found.driver != rec.driver:
                raise Conflict(
                    f"create {rec.name}: volume name must be unique: a volume named {rec.name} "
                    f'already exists with the "{found.driver}" driver. Choose a different volume name'
                )
            return found, False
        conn.execute(
            "INSERT INTO volumes (name, driver, created, labels, options) VALUES (?, ?, ?, ?, ?)",
            (
                rec.name,
                rec.driver,
                rec.created,
                jsonc.dumps(dict(rec.labels)),
                jsonc.dumps(dict(rec.options)),
            ),
        )
        return rec, True

    def add_users(
        self, conn: sqlite3.Connection, container_id: str, volumes: Iterable[VolumeRecord]
    ) -> list[VolumeRecord]:
        """Inside the caller's transaction: create the missing volumes and make the container their user.

        Returns the volumes created here (for their ``create`` events).
        """
        created = []
        for rec in volumes:
            _, new = self._create_in(conn, rec)
            if new:
                created.append(rec)
            conn.execute(
                "INSERT OR IGNORE INTO volume_users (volume, container) VALUES (?, ?)",
                (rec.name, container_id),
            )
        return created

    @staticmethod
    def drop_users(conn: sqlite3.Connection, container_id: str) -> None:
        """Inside the caller's transaction: the container no longer refers to any volume."""
        conn.execute("DELETE FROM volume_users WHERE container = ?", (container_id,))

    def delete(self, name: str, before_commit: Callable[[VolumeRecord], None]) -> VolumeRecord:
        """Forget volume ``name`` if no container uses it, calling ``before_commit`` inside the transaction.

        ``before_commit`` moves the data out of the volume's place; if it
        raises, the record stays.  Doing it under the transaction's lock
        means no ``create`` can start using the volume in between.
        """
        with self.db.tx() as conn:
            row = conn.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"get {name}: no such volume")
            users = [
                r[0]
                for r in conn.execute(
                    "SELECT container FROM volume_users WHERE volume = ? ORDER BY container", (name,)
                )
            ]
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            rec = _from_row(row)
            before_commit(rec)
            conn.execute("DELETE FROM volumes WHERE name = ?", (name,))
        return rec


def _from_row(row: sqlite3.Row) -> VolumeRecord:
    return VolumeRecord(
        name=row["name"],
        created=row["created"],
        driver=row["driver"],
        labels=jsonc.frozen_object(row["labels"]),
        options=jsonc.frozen_object(row["options"]),
    )
