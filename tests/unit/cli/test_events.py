"""``pinnace events``: docker's timestamps, filters, line and JSON shapes, on events made in memory."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from types import MappingProxyType

import pytest

from pinnace.cli import events as cli
from pinnace.cli.format import Template
from pinnace.errors import InvalidArgument
from pinnace.events import Event, matches

CID = "ab" * 32
NOW_NS = 1_767_225_600 * 10**9 + 123  # 2026-01-01T00:00:00Z


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def event(action: str = "create", *, type_: str = "container", actor: str = CID, **attrs: str) -> Event:
    return Event(1, NOW_NS, type_, action, actor, MappingProxyType(attrs))


def test_since_and_until_are_read_as_dockers(utc: None) -> None:
    since, until = cli._bounds("2026-01-01", "1767225600.5")
    assert (since, until) == (1_767_225_600 * 10**9, 1_767_225_600 * 10**9 + 500_000_000)
    with pytest.raises(InvalidArgument, match='^failed to parse value as time or duration: "yesterday"$'):
        cli._bounds("yesterday", None)
    with pytest.raises(InvalidArgument, match='^parsing time "2026-13-01": month out of range$'):
        cli._bounds(None, "2026-13-01")


def test_filters_as_moby() -> None:
    ev = event("start", image="busybox:latest", name="web", tier="front")
    assert matches(ev, {})
    assert matches(ev, {"container": ["web"]})
    assert matches(ev, {"container": [CID[:6]]})  # an ID prefix
    assert matches(ev, {"container": ["we"]})  # a name prefix too (FuzzyMatch)
    assert not matches(ev, {"container": ["db"]})
    assert matches(ev, {"event": ["start", "die"], "type": ["container"]})
    assert not matches(ev, {"event": ["stop"]})
    assert not matches(ev, {"type": ["image"]})
    assert matches(ev, {"image": ["busybox"]})  # the tag stripped
    assert matches(ev, {"image": ["busybox:latest"]})
    assert not matches(ev, {"image": ["alpine"]})
    assert matches(ev, {"label": ["tier=front"]}) and matches(ev, {"label": ["tier"]})
    assert not matches(ev, {"label": ["tier=back"]})
    assert matches(event("exec_start: sh -c true"), {"event": ["exec_start"]})
    image_event = event("tag", type_="image", actor="sha256:" + "cd" * 32, name="busybox:v2")
    assert matches(image_event, {"image": ["busybox"]})
    assert not matches(image_event, {"container": ["web"]})


def test_default_line_is_dockers(utc: None) -> None:
    line = cli.format_line(event(image="busybox", name="x", b="2"))
    assert line == f"2026-01-01T00:00:00.000000123Z container create {CID} (b=2, image=busybox, name=x)\n"
    assert cli.format_line(event("prune", actor="", reclaimed="0")).endswith(
        "container prune  (reclaimed=0)\n"
    )


def test_json_shape_is_mobys_message() -> None:
    text = Template("{{json .}}").execute(cli.Message(event(image="busybox", name="x")))
    assert text == (
        f'{{"status":"create","id":"{CID}","from":"busybox","Type":"container","Action":"create",'
        f'"Actor":{{"ID":"{CID}","Attributes":{{"image":"busybox","name":"x"}}}},'
        f'"scope":"local","time":1767225600,"timeNano":{NOW_NS}}}'
    )
    image = Template("{{json .}}").execute(
        cli.Message(event("tag", type_="image", actor="sha256:1", name="b"))
    )
    assert image.startswith('{"status":"tag","id":"sha256:1","Type":"image"')


def test_templates_see_go_field_names_and_missing_attributes() -> None:
    msg = cli.Message(event("die", name="x", exitCode="137"))
    template = Template(
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}} {{.Time}}"
    )
    assert template.execute(msg) == "container die x <no value> 1767225600"
    assert Template("{{if .Actor.Attributes.signal}}signal{{else}}none{{end}}").execute(msg) == "none"
    assert cli._template("{{.Actor.Attributes.name}}")  # checked on an empty message, as docker does
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
        cli._template("{{.Nope}}")


def test_since_after_until_is_refused() -> None:
    since, until = cli._bounds("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z")
    assert (since, until) == (
        calendar.timegm((2026, 1, 2, 0, 0, 0)) * 10**9,
        calendar.timegm((2026, 1, 3, 0, 0, 0)) * 10**9,
    )
    with pytest.raises(
        InvalidArgument, match="`since` time \\(1767312000.000000000\\) cannot be after `until` time"
    ):
        cli._bounds("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z")
