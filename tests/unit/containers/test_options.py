"""The run/create flag parsers added for restart, health, logging, detach keys, and the Go conversions they use."""

from __future__ import annotations

import json

import pytest

from pinnace._util.golang import parse_duration, parse_int
from pinnace.containers import options as opts
from pinnace.containers.options import RestartPolicy, RunOptions
from pinnace.errors import InvalidArgument

MiB = 1024 * 1024
SECOND = 1_000_000_000


def message(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(InvalidArgument) as exc:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(exc.value)


# --------------------------------------------------------------------------- Go conversions (pflag's ints, durations)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 10),
        ("-5", -5),
        ("+3", 3),
        ("0", 0),
        ("0x1f", 31),
        ("0X1F", 31),
        ("0o17", 15),
        ("017", 15),  # a leading 0 is octal with base 0, as Go reads it
        ("0b101", 5),
        ("1_000", 1000),
        ("0x_1f", 31),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_parse_int_is_go_parse_int_base_0(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["", "x", "1.5", "08", "0x", "_1", "1__0", "1_", " 1", "١"])
def test_parse_int_syntax_errors(text: str) -> None:
    assert message(parse_int, text) == f'strconv.ParseInt: parsing "{text}": invalid syntax'


def test_parse_int_range() -> None:
    assert message(parse_int, "9223372036854775808") == (
        'strconv.ParseInt: parsing "9223372036854775808": value out of range'
    )
    assert message(parse_int, "128", 8) == 'strconv.ParseInt: parsing "128": value out of range'


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("-0", 0),
        ("30s", 30 * SECOND),
        ("1h30m", 5400 * SECOND),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("1.s", SECOND),
        ("-300ms", -300_000_000),
        ("2us", 2000),
        ("2µs", 2000),
        ("7ns", 7),
        ("1m0.5s", 60_500_000_000),
    ],
)
def test_parse_duration_is_go_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", 'time: invalid duration ""'),
        ("x", 'time: invalid duration "x"'),
        (".s", 'time: invalid duration ".s"'),
        ("5", 'time: missing unit in duration "5"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        ("1h5", 'time: missing unit in duration "1h5"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_parse_duration_errors(text: str, error: str) -> None:
    assert message(parse_duration, text) == error


# --------------------------------------------------------------------------- --restart


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("", RestartPolicy("no", 0)),
        ("no", RestartPolicy("no", 0)),
        ("always", RestartPolicy("always", 0)),
        ("unless-stopped", RestartPolicy("unless-stopped", 0)),
        ("on-failure", RestartPolicy("on-failure", 0)),
        ("on-failure:5", RestartPolicy("on-failure", 5)),
        ("on-failure:", RestartPolicy("on-failure", 0)),
        ("bogus:3", RestartPolicy("bogus", 3)),  # names are the engine's check
    ],
)
def test_parse_restart_policy(text: str, policy: RestartPolicy) -> None:
    assert opts.parse_restart_policy(text) == policy


def test_parse_restart_policy_errors() -> None:
    assert message(opts.parse_restart_policy, ":3") == (
        "invalid restart policy format: no policy provided before colon"
    )
    assert message(opts.parse_restart_policy, "on-failure:x") == (
        "invalid restart policy format: maximum retry count must be an integer"
    )


def test_check_restart_policy_as_dockerd() -> None:
    for ok in ("no", "always", "unless-stopped", "on-failure", "on-failure:3", ""):
        opts.check_restart_policy(opts.parse_restart_policy(ok))
    opts.check_restart_policy(RestartPolicy("", 4))  # what old engines stored
    cases = [
        (RestartPolicy("always", 3), "maximum retry count can only be used with 'on-failure'"),
        (
            RestartPolicy("no", -1),
            "maximum retry count can only be used with 'on-failure' and cannot be negative",
        ),
        (RestartPolicy("on-failure", -1), "maximum retry count cannot be negative"),
        (
            RestartPolicy("sometimes", 0),
            "unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
        ),
    ]
    for policy, error in cases:
        assert message(opts.check_restart_policy, policy) == f"invalid restart policy: {error}"


# --------------------------------------------------------------------------- --health-*


def health(
    cmd: str = "", retries: int = 0, *, disable: bool = False, **durations: int
) -> dict[str, object] | None:
    flags = {name.replace("_", "-"): value for name, value in durations.items()}
    return opts.health_config(cmd, flags, retries, disable=disable)


def test_health_config_sets_only_what_is_given() -> None:
    assert health() is None
    assert health("curl -f localhost") == {"Test": ["CMD-SHELL", "curl -f localhost"]}
    assert health(
        "true",
        3,
        health_interval=2 * SECOND,
        health_timeout=SECOND,
        health_start_period=5 * SECOND,
        health_start_interval=SECOND // 2,
    ) == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 2 * SECOND,
        "Timeout": SECOND,
        "StartPeriod": 5 * SECOND,
        "StartInterval": SECOND // 2,
        "Retries": 3,
    }
    assert health(health_interval=SECOND) == {"Interval": SECOND}  # the test comes from the image
    assert health(disable=True) == {"Test": ["NONE"]}


def test_health_config_errors() -> None:
    assert message(health, "true", disable=True) == "--no-healthcheck conflicts with --health-* options"
    assert message(health, retries=2, disable=True) == "--no-healthcheck conflicts with --health-* options"
    for flag in ("health-interval", "health-timeout", "health-start-period", "health-start-interval"):
        assert message(opts.health_config, "", {flag: -1}, 0) == f"--{flag} cannot be negative"
    assert message(health, "x", -1) == "--health-retries cannot be negative"


# --------------------------------------------------------------------------- --detach-keys


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-@", b"\x00"),
        ("ctrl-a", b"\x01"),
        ("ctrl-z", b"\x1a"),
        ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1b\x1c\x1d\x1e\x1f"),
        ("a,b", b"ab"),
        ("ctrl-x,x,DEL", b"\x18x\x7f"),
    ],
)
def test_parse_detach_keys(text: str, keys: bytes) -> None:
    assert opts.parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-1", "ctrl-P", "ctrl-", "ctrl-ab", "ab", "a,,b", ",", "é", "del"])
def test_parse_detach_keys_errors(text: str) -> None:
    assert message(opts.parse_detach_keys, text) == f"Invalid detach keys ({text}) provided"


# --------------------------------------------------------------------------- --log-driver, --log-opt


def test_parse_log_opts() -> None:
    assert opts.parse_log_opts("", ["max-size=1m", "max-file=2", "max-size=2m"]) == {
        "max-size": "2m",
        "max-file": "2",
    }
    assert opts.parse_log_opts("none", []) == {}
    assert message(opts.parse_log_opts, "none", ["max-size=1m"]) == "invalid logging opts for driver none"


# --------------------------------------------------------------------------- HostConfig


def test_host_config_of_the_new_flags_round_trips() -> None:
    options = RunOptions(
        restart_policy=RestartPolicy("on-failure", 3),
        auto_remove=False,
        log_driver="json-file",
        log_opts={"max-size": "1m"},
        runtime="runc",
        cidfile="/tmp/cid",
        network_mode="none",
        init=False,
    )
    hc = opts.host_config(options)
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert (hc["Runtime"], hc["ContainerIDFile"], hc["NetworkMode"], hc["AutoRemove"], hc["Init"]) == (
        "runc",
        "/tmp/cid",
        "none",
        False,
        False,
    )
    back = opts.from_host_config(json.loads(json.dumps(hc)))
    assert back.restart_policy == options.restart_policy
    assert (back.log_driver, dict(back.log_opts), back.runtime, back.cidfile, back.network_mode) == (
        "json-file",
        {"max-size": "1m"},
        "runc",
        "/tmp/cid",
        "none",
    )
    assert back.init is False
    plain = opts.host_config(RunOptions(auto_remove=True))
    assert plain["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0} and plain["AutoRemove"] is True
    assert "LogConfig" not in plain and "Runtime" not in plain and plain["Init"] is None
    assert opts.from_host_config(plain).auto_remove is True
