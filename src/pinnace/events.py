"""The event log in pinnace.db: what ``docker events`` shows, appended to by every pinnace process.

Daemonless means there is no single process to keep events in memory (as
dockerd does), so each CLI, monitor and service process appends its events
to the ``events`` table, and a follower polls it by ``seq``.  It sits at L1
so that images (pull, tag, delete) can log as well as containers.
"""

from __future__ import annotations

import time
from types import MappingProxyType

from pinnace._util import jsonc
from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pinnace.meta.db import Database

#: How many events the log keeps; older ones are dropped as new ones arrive (docker keeps 256 in memory).
EVENTS_KEPT = 1024

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@record
class Event:
    seq: int  # order of appending, never reused
    time_ns: int
    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = _EMPTY


def append_event(
    db: Database,
    type: str,  # noqa: A002 - docker's field name
    action: str,
    actor_id: str,
    attributes: Mapping[str, str] | None = None,
) -> Event:
    """Append one event; its time is read inside the transaction, so seq order is time order."""
    text = jsonc.dumps(dict(attributes), compact=True) if attributes else "{}"
    with db.tx() as conn:
        now = time.time_ns()
        seq = conn.execute(
            "INSERT INTO events (time_ns, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)",
            (now, type, action, actor_id, text),
        ).lastrowid
        assert seq is not None
        conn.execute("DELETE FROM events WHERE seq <= ?", (seq - EVENTS_KEPT,))
    return Event(seq, now, type, action, actor_id, _mapping(text))


def read_events(
    db: Database, since_ns: int = 0, until_ns: int | None = None, after_seq: int = 0
) -> list[Event]:
    """Events with ``since_ns <= time_ns <= until_ns`` (both bounds inclusive, as docker's), oldest first.

    ``after_seq`` skips what a follower has already seen: poll with the last
    ``seq`` returned.
    """
    query = "SELECT * FROM events WHERE seq > ? AND time_ns >= ?"
    args: list[int] = [after_seq, since_ns]
    if until_ns is not None:
        query += " AND time_ns <= ?"
        args.append(until_ns)
    return [
        Event(r["seq"], r["time_ns"], r["type"], r["action"], r["actor_id"], _mapping(r["attributes"]))
        for r in db.conn.execute(query + " ORDER BY seq", args)
    ]


def _mapping(text: str | None) -> Mapping[str, Any]:
    if not text or text == "{}":
        return _EMPTY
    return MappingProxyType(jsonc.loads(text))
