"""``pinnace events``: docker's event stream, read from the event log every pinnace process appends to.

Against a remote engine (``-H``) the service's ``GET /events`` stream is read instead, with the
same bounds and filters, and printed the same way.  Locally there is no daemon to subscribe to, so
the command polls the log
(:func:`pinnace.events.read_events`) by sequence number: without
``--since``/``--until`` it starts at the newest event and follows new ones
until interrupted; ``--since`` replays the log from then first; ``--until``
stops at that time (at once when it has passed).  Lines and ``--format``
are docker's (docker/cli ``events.go``, moby's ``events.Message``).
"""

from __future__ import annotations

import time

from pinnace.cli.flags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    from pinnace.cli.format import Template
    from pinnace.cli.main import Context
    from pinnace.events import Event

#: How often a follower looks for new events, in seconds.
POLL_INTERVAL = 0.05


class GoMap(dict[str, str]):
    """A Go ``map[string]string`` for templates: a key it lacks is no value (nil), not an error.

    ``{{.Actor.Attributes.name}}`` is the common events format; an event
    without that attribute prints ``<no value>`` in docker, and ``{{if}}``
    finds it false.
    """

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> None:
        return None


class Actor:
    """moby's events.Actor."""

    __slots__ = ("ID", "Attributes")

    def __init__(self, actor_id: str, attributes: Mapping[str, str]) -> None:
        self.ID = actor_id
        self.Attributes = GoMap(attributes)

    def json_fields(self) -> list[tuple[str, Any]]:
        return [("ID", self.ID), ("Attributes", dict(self.Attributes))]


class Message:
    """moby's events.Message, as ``--format`` templates see it and ``{{json .}}`` prints it.

    The deprecated ``status``/``id``/``from`` fields are filled for
    container and image events only, and left out of the JSON when empty,
    as moby's omitempty tags do.
    """

    __slots__ = ("Status", "ID", "From", "Type", "Action", "Actor", "Scope", "Time", "TimeNano")

    def __init__(self, event: Event | None = None) -> None:
        legacy = event is not None and event.type in ("container", "image")
        self.Type = event.type if event else ""
        self.Action = event.action if event else ""
        self.Actor = Actor(event.actor_id, event.attributes) if event else Actor("", {})
        self.Status = self.Action if legacy else ""
        self.ID = self.Actor.ID if legacy else ""
        self.From = (
            str(event.attributes.get("image", "")) if legacy and event and event.type == "container" else ""
        )
        self.Scope = "local" if event else ""
        self.TimeNano = event.time_ns if event else 0
        self.Time = self.TimeNano // 1_000_000_000

    def json_fields(self) -> list[tuple[str, Any]]:
        fields: list[tuple[str, Any]] = [("status", self.Status), ("id", self.ID), ("from", self.From)]
        out = [(k, v) for k, v in fields if v]
        out += [("Type", self.Type), ("Action", self.Action), ("Actor", self.Actor), ("scope", self.Scope)]
        out += [(k, v) for k, v in (("time", self.Time), ("timeNano", self.TimeNano)) if v]
        return out


def format_line(event: Event) -> str:
    """docker's default line: local time to the nanosecond, type, action, actor, ``(k=v, ...)`` sorted by key."""
    seconds, nanos = divmod(event.time_ns, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff
    zone = (
        "Z"
        if offset == 0
        else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    )
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{nanos:09d}{zone} {event.type} {event.action} {event.actor_id}"
    if event.attributes:
        line += " (" + ", ".join(f"{k}={event.attributes[k]}" for k in sorted(event.attributes)) + ")"
    return line + "\n"


def _template(fmt: str) -> Template:
    """The ``--format`` template, checked on an empty message as docker does; TemplateError if it is bad."""
    from pinnace.cli.format import Template

    template = Template("{{json .}}" if fmt == "json" else fmt)
    template.execute(Message())
    return template


def _seconds(ns: int) -> str:
    """A timestamp as the CLI sends it to the daemon (``seconds.nanoseconds``), for error messages."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def events(ctx: Context, argv: list[str]) -> int:
    p = Flags("events", "Get real time events from the server", "[OPTIONS]")
    p.add_list("filter", "f", help="Filter output based on conditions provided", metavar="filter")
    p.add_string("format", help="Format output using a custom template: 'json' or a Go template")
    p.add_string("since", help="Show all events created since timestamp")
    p.add_string("until", help="Stream events until this timestamp")
    ns = p.parse(argv, max_args=0)
    from pinnace.cli.format import TemplateError
    from pinnace.containers.views import parse_filters
    from pinnace.errors import InvalidArgument, PinnaceError

    template = None
    fmt = ns.value("format")
    if fmt:
        try:
            template = _template(fmt)
        except TemplateError as e:
            ctx.stderr.write(f"Error parsing format: {e.message.removeprefix('template parsing error: ')}\n")
            return 64
    try:
        filters = parse_filters(ns.values("filter"))
        since, until = _bounds(ns.value("since"), ns.value("until"))
    except InvalidArgument as e:
        ctx.stderr.write(f"{e}\n")
        return 1
    try:
        for event in (
            _remote(ctx, since, until, filters) if ctx.remote else _follow(ctx, since, until, filters)
        ):
            if template is None:
                ctx.stdout.write(format_line(event))
            else:
                ctx.stdout.write(template.execute(Message(event)) + "\n")
    except PinnaceError as e:  # the daemon's refusal (a filter it does not know), either side
        ctx.stdout.flush()
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    return 0


def _timestamp(text: str, now_ns: int) -> int:
    """A ``--since``/``--until`` value in unix nanoseconds, read as docker's client then daemon read it."""
    from pinnace._util.gotime import get_timestamp, parse_timestamps
    from pinnace.errors import InvalidArgument

    try:
        return parse_timestamps(get_timestamp(text, now_ns))
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def _bounds(since_text: str | None, until_text: str | None) -> tuple[int | None, int | None]:
    """``--since``/``--until`` in unix nanoseconds (None when not given); docker's error when reversed."""
    from pinnace.errors import InvalidArgument

    now = time.time_ns()
    since = _timestamp(since_text, now) if since_text else None
    until = _timestamp(until_text, now) if until_text else None
    if since is not None and until is not None and until < since:
        raise InvalidArgument(
            f"Error response from daemon: `since` time ({_seconds(since)}) cannot be after "
            f"`until` time ({_seconds(until)})"
        )
    return since, until


def _remote(
    ctx: Context, since: int | None, until: int | None, filters: Mapping[str, list[str]]
) -> Iterator[Event]:
    """The service's ``/events`` stream (it follows the log as :func:`_follow` does), each line
    flushed before the next is waited for."""
    for event in ctx.engine.system.events(since, until, filters):  # type: ignore[attr-defined]
        yield event
        ctx.stdout.flush()


def _follow(
    ctx: Context, since: int | None, until: int | None, filters: Mapping[str, list[str]]
) -> Iterator[Event]:
    """The matching events from ``since`` (or from now) until ``until`` (or forever), flushed as they come."""
    from pinnace.api.system import check_event_filters
    from pinnace.events import last_seq, matches, read_events

    check_event_filters(filters)  # what the service would refuse
    db = ctx.engine.db
    # Without bounds only what happens from now on is shown; with either, the log is replayed first.
    after = last_seq(db) if since is None and until is None else 0
    while True:
        done = until is not None and time.time_ns() > until
        for event in read_events(db, since_ns=since or 0, until_ns=until, after_seq=after):
            after = event.seq
            if matches(event, filters):
                yield event
        ctx.stdout.flush()
        if done:
            return
        time.sleep(POLL_INTERVAL)
