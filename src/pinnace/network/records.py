"""Network and endpoint records in pinnace.db.

This store is the only code that reads or writes the ``networks`` and
``endpoints`` tables.  An endpoint is a container's place on a network: its
address, MAC and aliases, held from connect to disconnect, running or not
(docker keeps a stopped container's endpoint configuration too).  Every
change is one ``BEGIN IMMEDIATE`` transaction, inside which the caller's
``build`` callback decides from what the transaction sees (the networks
and addresses taken), so concurrent processes never hand out one subnet,
bridge name or address twice; the UNIQUE constraints are the backstop.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace._util import jsonc
from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Mapping, Sequence

    from pinnace.meta.db import Database

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: docker's predefined networks (daemon/network IsPredefined): made by the engine, never removable.
PREDEFINED = ("bridge", "host", "none")


@record
class NetworkRecord:
    id: str  # 64 hex digits
    name: str
    created: str  # RFC 3339 with nanoseconds (Go's RFC3339Nano), UTC
    driver: str = "bridge"  # bridge, host or null
    subnet: str = ""  # "10.210.3.0/24"; "" for host and none
    gateway: str = ""  # "10.210.3.1"
    ip_range: str = ""  # where dynamic addresses come from ("" : the whole subnet)
    internal: bool = False
    bridge: str = ""  # the Linux bridge ("" for host and none)
    labels: Mapping[str, str] = _EMPTY
    options: Mapping[str, str] = _EMPTY  # driver options (-o), as given
    ipv6: bool = False
    subnet6: str = ""
    gateway6: str = ""

    @property
    def predefined(self) -> bool:
        """One of docker's predefined networks (bridge, host, none): not removable, not user-defined."""
        return self.name in PREDEFINED

    @property
    def prefixlen(self) -> int:
        """The IPv4 prefix length (0 without a subnet): an endpoint's address is ``ip/prefixlen``."""
        return int(self.subnet.rpartition("/")[2]) if self.subnet else 0

    @property
    def prefixlen6(self) -> int:
        return int(self.subnet6.rpartition("/")[2]) if self.subnet6 else 0


@record
class Endpoint:
    network: str  # network id
    container: str  # container id
    ip: str  # "10.210.3.2"
    mac: str  # "02:42:0a:d2:03:02"
    aliases: tuple[str, ...] = ()
    ip6: str = ""  # on an IPv6 network, else ""

    @property
    def id(self) -> str:
        """docker's EndpointID: 64 hex digits, stable for a container on a network."""
        import hashlib

        return hashlib.sha256(f"endpoint/{self.network}/{self.container}".encode()).hexdigest()


class NetworkRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads -------------------------------------------------------------
    def by_id(self, network_id: str) -> NetworkRecord | None:
        row = self.db.conn.execute("SELECT * FROM networks WHERE id = ?", (network_id,)).fetchone()
        return None if row is None else _network(row)

    def by_name(self, name: str) -> NetworkRecord | None:
        row = self.db.conn.execute("SELECT * FROM networks WHERE name = ?", (name,)).fetchone()
        return None if row is None else _network(row)

    def find(self, ref: str) -> NetworkRecord:
        """docker's FindNetwork: the full ID, else the name, else a unique ID prefix.

        NotFound ("network X not found") or InvalidArgument when a prefix is ambiguous.
        """
        found = self.by_id(ref) or self.by_name(ref)
        if found is not None:
            return found
        rows = self.db.conn.execute(
            "SELECT * FROM networks WHERE substr(id, 1, ?) = ? ORDER BY id", (len(ref), ref)
        ).fetchall()
        if len(rows) == 1:
            return _network(rows[0])
        if rows:
            raise InvalidArgument(
                f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)"
            )
        raise NotFound(f"network {ref} not found")

    def all(self) -> list[NetworkRecord]:
        """Every network, by name."""
        return [_network(row) for row in self.db.conn.execute("SELECT * FROM networks ORDER BY name")]

    def names(self, names: Sequence[str]) -> list[str]:
        """Which of ``names`` exist."""
        marks = ",".join("?" * len(names))
        rows = self.db.conn.execute(f"SELECT name FROM networks WHERE name IN ({marks})", tuple(names))
        return [row[0] for row in rows]

    def endpoints(self, network_id: str) -> list[Endpoint]:
        """The endpoints on network ``network_id``, by container ID."""
        rows = self.db.conn.execute(
            "SELECT * FROM endpoints WHERE network = ? ORDER BY container", (network_id,)
        )
        return [_endpoint(row) for row in rows]

    def endpoints_of(self, container_id: str) -> list[Endpoint]:
        """The endpoints of container ``container_id``, in the order it was connected."""
        rows = self.db.conn.execute(
            "SELECT * FROM endpoints WHERE container = ? ORDER BY rowid", (container_id,)
        )
        return [_endpoint(row) for row in rows]

    def endpoint(self, network_id: str, container_id: str) -> Endpoint | None:
        row = self.db.conn.execute(
            "SELECT * FROM endpoints WHERE network = ? AND container = ?", (network_id, container_id)
        ).fetchone()
        return None if row is None else _endpoint(row)

    def endpoint_counts(self) -> dict[str, int]:
        """How many endpoints each network in use has (``network ls -f dangling``, prune)."""
        rows = self.db.conn.execute("SELECT network, COUNT(*) FROM endpoints GROUP BY network")
        return {row[0]: int(row[1]) for row in rows}

    # -- writes ------------------------------------------------------------
    def create(self, build: Callable[[list[NetworkRecord]], Sequence[NetworkRecord]]) -> list[NetworkRecord]:
        """Record the networks ``build`` returns from every network as the transaction sees them.

        ``build`` raises to refuse (a name, bridge or subnet taken) or
        returns what to add: nothing when the predefined networks another
        process made meanwhile are all there.
        """
        with self.db.tx() as conn:
            existing = [_network(row) for row in conn.execute("SELECT * FROM networks ORDER BY name")]
            recs = list(build(existing))
            for rec in recs:
                self.insert(conn, rec)
            return recs

    @staticmethod
    def insert(conn: sqlite3.Connection, rec: NetworkRecord) -> None:
        """Inside the caller's transaction: store ``rec`` (a taken name or bridge is docker's conflict)."""
        import _sqlite3

        try:
            conn.execute(
                "INSERT INTO networks (id, name, driver, created, subnet, gateway, ip_range, internal, bridge,"
                " labels, options, ipv6, subnet6, gateway6) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    rec.name,
                    rec.driver,
                    rec.created,
                    rec.subnet,
                    rec.gateway,
                    rec.ip_range,
                    int(rec.internal),
                    rec.bridge or None,  # NULL, not '', for host and none: the column is UNIQUE
                    jsonc.dumps(dict(rec.labels)),
                    jsonc.dumps(dict(rec.options)),
                    int(rec.ipv6),
                    rec.subnet6,
                    rec.gateway6,
                ),
            )
        except _sqlite3.IntegrityError as e:
            if "networks.name" in str(e):
                raise Conflict(f"network with name {rec.name} already exists") from None
            raise Conflict(f"create network {rec.name}: {e}") from None

    def delete(self, network_id: str, before_commit: Callable[[NetworkRecord], None]) -> NetworkRecord:
        """Forget network ``network_id`` unless it has endpoints, calling ``before_commit`` inside the transaction.

        ``before_commit`` removes what the network made on the host (bridge,
        rules); if it raises, the record stays.  Under the transaction's
        lock no ``connect`` can start using the network in between.
        """
        with self.db.tx() as conn:
            row = conn.execute("SELECT * FROM networks WHERE id = ?", (network_id,)).fetchone()
            if row is None:
                raise NotFound(f"network {network_id} not found")
            rec = _network(row)
            used = conn.execute("SELECT 1 FROM endpoints WHERE network = ? LIMIT 1", (network_id,)).fetchone()
            if used is not None:
                raise Conflict(
                    f"error while removing network: network {rec.name} id {rec.id} has active endpoints"
                )
            before_commit(rec)
            conn.execute("DELETE FROM networks WHERE id = ?", (network_id,))
        return rec

    def add_endpoint(
        self,
        network_id: str,
        container_id: str,
        build: Callable[[NetworkRecord, list[Endpoint]], Endpoint],
    ) -> tuple[NetworkRecord, Endpoint]:
        """Record the endpoint ``build`` returns from the network and its endpoints as the transaction sees them."""
        with self.db.tx() as conn:
            return self.add_endpoint_in(conn, network_id, container_id, build)

    def add_endpoint_in(
        self,
        conn: sqlite3.Connection,
        network_id: str,
        container_id: str,
        build: Callable[[NetworkRecord, list[Endpoint]], Endpoint],
    ) -> tuple[NetworkRecord, Endpoint]:
        """:meth:`add_endpoint` inside the caller's transaction (a container's create)."""
        import _sqlite3

        row = conn.execute("SELECT * FROM networks WHERE id = ?", (network_id,)).fetchone()
        if row is None:
            raise NotFound(f"network {network_id} not found")
        rec = _network(row)
        others = [
            _endpoint(r) for r in conn.execute("SELECT * FROM endpoints WHERE network = ?", (network_id,))
        ]
        ep = build(rec, others)
        try:
            conn.execute(
                "INSERT INTO endpoints (network, container, ip, mac, aliases, ip6) VALUES (?, ?, ?, ?, ?, ?)",
                (ep.network, ep.container, ep.ip, ep.mac, jsonc.dumps(list(ep.aliases)), ep.ip6),
            )
        except _sqlite3.IntegrityError as e:
            raise Conflict(f"connect {container_id} to network {rec.name}: {e}") from None
        return rec, ep

    def remove_endpoint(self, network_id: str, container_id: str) -> Endpoint | None:
        """Release the container's endpoint on the network; None if it had none."""
        with self.db.tx() as conn:
            return self.remove_endpoint_in(conn, network_id, container_id)

    @staticmethod
    def remove_endpoint_in(conn: sqlite3.Connection, network_id: str, container_id: str) -> Endpoint | None:
        row = conn.execute(
            "SELECT * FROM endpoints WHERE network = ? AND container = ?", (network_id, container_id)
        ).fetchone()
        if row is None:
            return None
        conn.execute("DELETE FROM endpoints WHERE network = ? AND container = ?", (network_id, container_id))
        return _endpoint(row)

    def remove_endpoints(self, container_id: str) -> list[Endpoint]:
        """Release every endpoint of the container (its removal); the ones released."""
        with self.db.tx() as conn:
            return self.remove_endpoints_in(conn, container_id)

    @staticmethod
    def remove_endpoints_in(conn: sqlite3.Connection, container_id: str) -> list[Endpoint]:
        rows = conn.execute(
            "SELECT * FROM endpoints WHERE container = ? ORDER BY rowid", (container_id,)
        ).fetchall()
        conn.execute("DELETE FROM endpoints WHERE container = ?", (container_id,))
        return [_endpoint(row) for row in rows]


def _network(row: sqlite3.Row) -> NetworkRecord:
    return NetworkRecord(
        id=row["id"],
        name=row["name"],
        created=row["created"],
        driver=row["driver"],
        subnet=row["subnet"],
        gateway=row["gateway"],
        ip_range=row["ip_range"],
        internal=bool(row["internal"]),
        bridge=row["bridge"] or "",
        labels=jsonc.frozen_object(row["labels"]),
        options=jsonc.frozen_object(row["options"]),
        ipv6=bool(row["ipv6"]),
        subnet6=row["subnet6"],
        gateway6=row["gateway6"],
    )


def _endpoint(row: sqlite3.Row) -> Endpoint:
    aliases = row["aliases"]
    return Endpoint(
        network=row["network"],
        container=row["container"],
        ip=row["ip"],
        mac=row["mac"],
        aliases=tuple(jsonc.loads(aliases)) if aliases and aliases != "[]" else (),
        ip6=row["ip6"],
    )
