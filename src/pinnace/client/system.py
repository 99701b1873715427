"""System-level calls over the Engine API: ``/system/df`` and the ``/events`` stream.

The local engine has no such service: it builds the same disk usage document itself
(:meth:`pinnace.engine.Engine.disk_usage`, which ``RemoteEngine.disk_usage`` mirrors) and the CLI
follows the event log itself; both ends then print through the same CLI code.
"""

from __future__ import annotations

from types import MappingProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence
    from typing import Any

    from pinnace.client.http import Client
    from pinnace.events import Event


def _seconds(ns: int) -> str:
    """A time as docker's client sends ``since``/``until`` (``seconds.nanoseconds``)."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def event_of(doc: Mapping[str, Any]) -> Event:
    """moby's events.Message back into the event record the CLI prints (the log's ``seq`` is not sent)."""
    from pinnace.events import Event

    actor = doc.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    time_ns = int(doc.get("timeNano") or int(doc.get("time") or 0) * 1_000_000_000)
    return Event(
        seq=0,
        time_ns=time_ns,
        type=str(doc.get("Type") or ""),
        action=str(doc.get("Action") or doc.get("status") or ""),
        actor_id=str(actor.get("ID") or doc.get("id") or ""),
        attributes=MappingProxyType(attributes),
    )


class RemoteSystem:
    """``ctx.engine.system`` of a remote engine."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def disk_usage(self, kinds: Collection[str] = ()) -> dict[str, Any]:
        """dockerd's DiskUsage document (only ``kinds`` filled: ``image``, ``container``, ``volume``,
        ``build-cache``; every one when empty)."""
        doc: dict[str, Any] = self.client.get("/system/df", [("type", kind) for kind in kinds])
        return doc

    def events(
        self, since: int | None, until: int | None, filters: Mapping[str, Sequence[str]]
    ) -> Iterator[Event]:
        """The matching events (``since``/``until`` in unix nanoseconds), as the service streams them:
        without bounds from now on until the caller stops; with ``until`` up to that time."""
        from pinnace.client.remote import filters_query

        query = {
            "since": None if since is None else _seconds(since),
            "until": None if until is None else _seconds(until),
            "filters": filters_query(filters),
        }
        response = self.client.open("GET", "/events", query)
        for doc in self.client.json_lines(response):
            yield event_of(doc)
