"""``commit --change`` as docker's BuildFromConfig applies it, and commit's reference rules."""

from __future__ import annotations

import pytest

from pinnace.containers.commit import parse_reference
from pinnace.errors import InvalidArgument
from pinnace.images.changes import apply_changes


def test_entrypoint_drops_the_cmd_unless_these_changes_set_it() -> None:
    base = {"Cmd": ["sh"], "Entrypoint": None}
    assert apply_changes(base, ['ENTRYPOINT ["/bin/echo"]']) == {"Cmd": None, "Entrypoint": ["/bin/echo"]}
    both = apply_changes(base, ['CMD ["hi"]', 'ENTRYPOINT ["/bin/echo"]'])
    assert both == {"Cmd": ["hi"], "Entrypoint": ["/bin/echo"]}
    assert apply_changes(base, ['ENTRYPOINT ["/bin/echo"]', 'CMD ["hi"]'])["Cmd"] == ["hi"]


def test_healthcheck() -> None:
    cfg = apply_changes(
        {}, ["HEALTHCHECK --interval=5s --timeout=1m30s --start-period=100ms --retries=3 CMD wget -q -O- x"]
    )
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q -O- x"],
        "Interval": 5_000_000_000,
        "Timeout": 90_000_000_000,
        "StartPeriod": 100_000_000,
        "Retries": 3,
    }
    assert apply_changes({}, ['HEALTHCHECK CMD ["true"]'])["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert apply_changes(cfg, ["healthcheck none"])["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --every=1s CMD x", "Unknown flag: every"),
        ("HEALTHCHECK --interval CMD x", "Missing a value on flag: --interval"),
        ("HEALTHCHECK --interval=10us CMD x", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --interval=soon CMD x", 'time: invalid duration "soon"'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ],
)
def test_healthcheck_errors(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_changes({}, [change])
    assert caught.value.message == message


def test_commit_reference() -> None:
    assert str(parse_reference("snap")) == "docker.io/library/snap:latest"
    assert parse_reference("me/snap:v1").familiar() == "me/snap:v1"
    with pytest.raises(InvalidArgument, match="refusing to create a tag with a digest reference"):
        parse_reference("snap@sha256:" + "a" * 64)
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        parse_reference("Bad:Name:x")
