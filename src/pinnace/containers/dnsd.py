"""The embedded DNS server's process (:mod:`pinnace.network.dns`), with the container names it answers for.

Started detached by the first container on a user-defined network
(``-IS -c ... main() ROOT RUNROOT READY_FD``): it reads pinnace.db for
every query, so a container that starts, stops or is renamed is seen at
once, by any process's doing.
"""

from __future__ import annotations

import os

from pinnace._util import jsonc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from pinnace.meta.db import Database

#: The networks whose containers get no embedded DNS (docker's: the default bridge and the predefined ones).
_NO_DNS = ("bridge", "host", "none")
_LIVE = ("running", "paused", "restarting")


def addresses(db: Database, container_id: str, name: str) -> list[str]:
    """The addresses (IPv4, and IPv6 on IPv6 networks) ``name`` has for ``container_id``: containers that
    run on its user-defined networks.

    A name is a container's name, its short (12 digit) or full ID, a
    network alias, or ``NAME.NETWORK``, as docker's resolver answers.
    """
    rows = db.conn.execute(
        """
        SELECT other.ip, other.ip6, other.aliases, c.name, c.id, n.name
        FROM endpoints AS mine
        JOIN endpoints AS other ON other.network = mine.network
        JOIN networks AS n ON n.id = mine.network
        JOIN containers AS c ON c.id = other.container
        WHERE mine.container = ? AND n.name NOT IN (?, ?, ?) AND c.status IN (?, ?, ?)
        ORDER BY other.ip
        """,
        (container_id, *_NO_DNS, *_LIVE),
    )
    found: list[str] = []
    for ip, ip6, aliases, container_name, cid, network_name in rows:
        names = {container_name.lower(), cid[:12], cid, f"{container_name}.{network_name}".lower()}
        names.update(a.lower() for a in jsonc.loads(aliases or "[]"))
        if name in names:
            found.extend(address for address in (ip, ip6) if address and address not in found)
    return found


def main() -> NoReturn:
    """The server process: ``ROOT RUNROOT READY_FD`` after ``-c``."""
    import sys

    from pinnace.meta.db import Database
    from pinnace.network import config, dns

    root, runroot, ready = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = Database(os.path.join(root, "pinnace.db"))
    upstreams = dns.upstreams(config.load(root).dns)
    dns.serve(runroot, ready, lambda cid, name: addresses(db, cid, name), upstreams)


def start(root: str, runroot: str) -> None:
    """Start the server of ``runroot`` (the caller found none listening)."""
    from pinnace.network import dns

    dns.start_server(runroot, root, "pinnace.containers.dnsd:main")
