"""docker's healthcheck semantics without a container: the probe command, the state machine, the schedule."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.containers import health

S = 1_000_000_000


def config(**healthcheck: Any) -> dict[str, Any]:
    return {"Healthcheck": {"Test": ["CMD-SHELL", "true"], **healthcheck}}


def result(code: int, output: str = "") -> dict[str, Any]:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": output}


@pytest.mark.parametrize(
    ("test", "shell", "command"),
    [
        (["CMD", "curl", "-f", "http://x"], None, ["curl", "-f", "http://x"]),
        (["CMD-SHELL", "curl -f http://x || exit 1"], None, ["/bin/sh", "-c", "curl -f http://x || exit 1"]),
        (["CMD-SHELL", "echo $0"], ["/bin/bash", "-ec"], ["/bin/bash", "-ec", "echo $0"]),
        (["NONE"], None, None),
        (["CMD"], None, None),
        (["BOGUS", "x"], None, None),
        ([], None, None),
    ],
)
def test_probe_command(test: list[str], shell: list[str] | None, command: list[str] | None) -> None:
    cfg: dict[str, Any] = {"Healthcheck": {"Test": test}}
    if shell:
        cfg["Shell"] = shell
    assert health.probe_command(cfg) == command


def test_no_healthcheck_at_all() -> None:
    assert health.probe_command({}) is None
    assert health.initial_health({}) is None
    assert health.schedule({"Healthcheck": {"Test": ["NONE"]}}) is None


def test_initial_health_is_starting_and_keeps_a_previous_log() -> None:
    assert health.initial_health(config()) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    previous = {"Status": "unhealthy", "FailingStreak": 7, "Log": [result(1)]}
    assert health.initial_health(config(), previous) == {
        "Status": "starting",
        "FailingStreak": 0,
        "Log": [result(1)],
    }


def test_schedule_defaults_and_settings() -> None:
    assert health.schedule(config()) == (30.0, 5.0, 0.0)
    assert health.schedule(config(Interval=2 * S, StartInterval=S // 2)) == (2.0, 0.5, 0.0)


def test_next_interval_follows_dockers_get_interval() -> None:
    cfg = config(Interval=30 * S, StartPeriod=60 * S, StartInterval=2 * S)
    assert health.next_interval(cfg, elapsed=10, status="starting") == 2.0
    assert health.next_interval(cfg, elapsed=10, status="healthy") == 30.0
    assert health.next_interval(cfg, elapsed=45, status="starting") == 15.0  # the start period's rest
    assert health.next_interval(cfg, elapsed=61, status="starting") == 30.0


def apply(
    h: dict[str, Any] | None, code: int, cfg: dict[str, Any], *, since_start: float = 100.0
) -> dict[str, Any]:
    return health.apply_result(
        h, result(code), config=cfg, started_at_ns=0, probe_start_ns=int(since_start * S)
    )


def test_failures_count_up_to_retries_then_unhealthy() -> None:
    cfg = config(Retries=2)
    h = apply(None, 1, cfg)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    h = apply(h, 1, cfg)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    h = apply(h, 0, cfg)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    h = apply(h, 1, cfg)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 1)


def test_default_retries_are_three() -> None:
    h = None
    for _ in range(2):
        h = apply(h, 1, config())
    assert h is not None and h["Status"] == "starting"
    assert apply(h, 1, config())["Status"] == "unhealthy"


def test_start_period_failures_do_not_count_while_starting() -> None:
    cfg = config(Retries=1, StartPeriod=60 * S)
    h = apply(None, 1, cfg, since_start=10)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    assert apply(h, 1, cfg, since_start=61)["Status"] == "unhealthy"
    healthy = apply(h, 0, cfg, since_start=20)
    assert healthy["Status"] == "healthy"
    # once decided, failures count even within the start period
    assert apply(healthy, 1, cfg, since_start=30)["Status"] == "unhealthy"


def test_log_keeps_the_last_five() -> None:
    h = None
    for code in range(8):
        h = health.apply_result(h, result(code), config=config(), started_at_ns=0, probe_start_ns=0)
    assert h is not None
    assert [entry["ExitCode"] for entry in h["Log"]] == [3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (30 * S, "30s"),
        (S + S // 2, "1.5s"),
        (S // 2, "500ms"),
        (1500, "1.5µs"),
        (999, "999ns"),
        (90 * S, "1m30s"),
        (2 * 3600 * S, "2h0m0s"),
        (3661 * S + 1, "1h1m1.000000001s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert health.go_duration(ns) == text
