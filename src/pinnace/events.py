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
    from collections.abc import Mapping, Sequence
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
    # SQLite integers are 64-bit: a bound past year 2262 (``--until 9999999999``) means "no bound".
    top = (1 << 63) - 1
    query = "SELECT * FROM events WHERE seq > ? AND time_ns >= ?"
    args: list[int] = [after_seq, min(max(since_ns, 0), top)]
    if until_ns is not None and until_ns < top:
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


def last_seq(db: Database) -> int:
    """The ``seq`` of the newest event (0 when there is none): where a follower of new events starts."""
    row = db.conn.execute("SELECT MAX(seq) FROM events").fetchone()
    return int(row[0] or 0)


# -- filters (moby daemon/events/filter.go) ------------------------------------------------------------------

#: ``event=`` values matched by prefix, as moby does (their actions carry a suffix: ``exec_start: sh``).
_FUZZY_ACTIONS = frozenset(("health_status", "exec_create", "exec_start"))


def matches(event: Event, filters: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``event`` passes ``docker events --filter`` (moby's Filter.Include).

    Each key present must match; a key's values are alternatives.  An
    object key (``container``, ``volume`` ...) matches an ID or name prefix
    whatever the event's type, as moby's does.
    """
    attrs = event.attributes
    if "event" in filters:
        values = filters["event"]
        if any(v in _FUZZY_ACTIONS for v in values):
            if not _fuzzy(values, event.action):
                return False
        elif event.action not in values:
            return False
    if "type" in filters and event.type not in filters["type"]:
        return False
    if "scope" in filters and "local" not in filters["scope"]:
        return False
    for key in ("container", "plugin", "volume", "network", "node", "service", "secret", "config"):
        # By ID or name prefix, whatever the event's type (moby's fuzzyMatchName).
        if key in filters and not (
            _fuzzy(filters[key], event.actor_id) or _fuzzy(filters[key], attrs.get("name", ""))
        ):
            return False
    if "daemon" in filters:  # pinnace logs no daemon events
        return False
    if "image" in filters and not _match_image(filters["image"], event):
        return False
    return "label" not in filters or match_kv_list(filters["label"], attrs)


def _fuzzy(values: Sequence[str], source: str) -> bool:
    """moby filters.Args.FuzzyMatch: equal to a value, or starting with one."""
    return any(source == v or (v and source.startswith(v)) for v in values)


def _match_image(values: Sequence[str], event: Event) -> bool:
    """An image's ID or name, with or without its tag: the actor for image events, else the ``image`` attribute."""
    name = event.attributes.get("name" if event.type == "image" else "image", "")
    candidates = {event.actor_id, name, _strip_tag(event.actor_id), _strip_tag(name)}
    return any(v in candidates for v in values)


def _strip_tag(image: str) -> str:
    """moby's stripTag: the familiar name without tag or digest; the text itself if it is no reference."""
    if not image:
        return image
    from pinnace.errors import InvalidArgument
    from pinnace.oci.reference import parse_normalized

    try:
        return parse_normalized(image).familiar_name
    except InvalidArgument:
        return image


def match_kv_list(wanted: Sequence[str], attributes: Mapping[str, str]) -> bool:
    """moby filters.Args.MatchKVList: every ``key`` or ``key=value`` of ``wanted`` holds in ``attributes``.

    ``label=`` filters use it, over an event's attributes (a container's
    labels are among them) or over a container's labels (``prune``).
    """
    if not attributes:
        return False
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in attributes or (sep and attributes[key] != value):
            return False
    return True
