"""Healthchecks of real containers, driven one probe at a time with ``pinnace healthcheck run``.

Each container gets a long ``--health-interval`` so that its monitor does
not probe on its own during the test: every probe here is ours.  What is
checked is docker's state machine as ``inspect`` (State.Health) and ``ps``
show it, podman's ``healthcheck run`` exit codes, and the events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pinnace.events import read_events
from pinnace.meta.db import Database
from tests.conftest import Pinnace

pytestmark = pytest.mark.root

SLEEP = ("sh", "-c", "sleep 1000")


def start(engine: Pinnace, name: str, *flags: str) -> str:
    return engine.run(
        "run", "-d", "--name", name, "--health-interval", "1h", *flags, "busybox", *SLEEP
    ).stdout.strip()


def health(engine: Pinnace, name: str) -> dict[str, Any]:
    state = json.loads(engine.run("inspect", name).stdout)[0]["State"]
    result: dict[str, Any] = state["Health"]
    return result


def probe(engine: Pinnace, name: str) -> tuple[int, str]:
    proc = engine.run("healthcheck", "run", name, check=False)
    return proc.returncode, proc.stdout


def test_healthy_then_unhealthy_after_retries(engine: Pinnace) -> None:
    start(engine, "web", "--health-cmd", "cat /tmp/ok", "--health-retries", "2")
    assert health(engine, "web") == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert "(health: starting)" in engine.run("ps").stdout

    assert probe(engine, "web") == (1, "unhealthy\n")  # podman's answer for a failed probe
    h = health(engine, "web")
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    entry = h["Log"][0]
    assert list(entry) == ["Start", "End", "ExitCode", "Output"]
    assert entry["ExitCode"] == 1
    assert "No such file or directory" in entry["Output"]

    assert probe(engine, "web") == (1, "unhealthy\n")
    h = health(engine, "web")
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    assert "(unhealthy)" in engine.run("ps").stdout
    assert engine.run("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout == "web\n"

    engine.run("exec", "web", "sh", "-c", "echo fine > /tmp/ok")
    assert probe(engine, "web") == (0, "")
    h = health(engine, "web")
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    assert h["Log"][-1]["Output"] == "fine\n"
    assert "(healthy)" in engine.run("ps").stdout
    assert engine.run("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout == "web\n"

    db = Database(engine.root / "pinnace.db")
    try:
        changes = [e.action for e in read_events(db) if e.action.startswith("health_status")]
    finally:
        db.close()
    assert changes == ["health_status: unhealthy", "health_status: healthy"]


def test_image_healthcheck_exec_form_and_log_of_five(engine: Pinnace, rootfs_tar: Path) -> None:
    engine.run(
        "import", "--change", 'CMD ["sh"]', "--change", 'HEALTHCHECK --interval=1h CMD ["cat", "/etc/group"]',
        str(rootfs_tar), "checked:latest",
    )  # fmt: skip
    engine.run("run", "-d", "--name", "web", "checked", *SLEEP)
    for _ in range(6):
        assert probe(engine, "web") == (0, "")
    h = health(engine, "web")
    assert h["Status"] == "healthy"
    assert len(h["Log"]) == 5
    assert {entry["Output"] for entry in h["Log"]} == {"root:x:0:\n"}
    # --no-healthcheck turns the image's off
    plain = engine.run("run", "-d", "--name", "plain", "--no-healthcheck", "checked", *SLEEP).stdout.strip()
    none = engine.run("healthcheck", "run", "plain", check=False)
    assert (none.returncode, none.stderr) == (125, f"Error: container {plain} has no defined healthcheck\n")
    assert "Health" not in json.loads(engine.run("inspect", "plain").stdout)[0]["State"]


def test_timeout(engine: Pinnace) -> None:
    start(
        engine,
        "slow",
        "--health-cmd",
        "echo started; exec sleep 30",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
    )
    assert probe(engine, "slow") == (1, "unhealthy\n")
    h = health(engine, "slow")
    assert h["Status"] == "unhealthy"
    assert h["Log"][0]["ExitCode"] == -1
    assert h["Log"][0]["Output"] == "Health check exceeded timeout (1s): started\n"
    # the probe was killed: nothing of it is left in the container
    procs = engine.run("exec", "slow", "sh", "-c", "ps -o args").stdout
    assert "sleep 30" not in procs


def test_start_period(engine: Pinnace) -> None:
    start(
        engine,
        "boot",
        "--health-cmd",
        "cat /tmp/ready",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
    )
    for _ in range(3):
        assert probe(engine, "boot") == (1, "unhealthy\n")
    h = health(engine, "boot")
    assert (h["Status"], h["FailingStreak"], len(h["Log"])) == ("starting", 0, 3)
    engine.run("exec", "boot", "sh", "-c", "touch /tmp/ready")
    assert probe(engine, "boot") == (0, "")
    assert health(engine, "boot")["Status"] == "healthy"
    engine.run("exec", "boot", "sh", "-c", "rm /tmp/ready")
    probe(engine, "boot")  # once healthy, a failure counts even within the start period
    assert health(engine, "boot")["Status"] == "unhealthy"


def test_output_is_capped(engine: Pinnace) -> None:
    start(engine, "loud", "--health-cmd", "i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done")
    assert probe(engine, "loud") == (0, "")
    output = health(engine, "loud")["Log"][0]["Output"]
    assert output == ("0123456789\n" * 500)[:4096] + "..."


def test_errors_are_podmans(engine: Pinnace) -> None:
    plain = engine.run("run", "-d", "--name", "plain", "busybox", *SLEEP).stdout.strip()
    none = engine.run("healthcheck", "run", "plain", check=False)
    assert (none.returncode, none.stderr) == (125, f"Error: container {plain} has no defined healthcheck\n")
    missing = engine.run("healthcheck", "run", "nosuch", check=False)
    assert missing.returncode == 125
    assert missing.stderr == (
        'Error: unable to look up nosuch to perform a health check: no container with name or ID "nosuch" found: '
        "no such container\n"
    )
    stopped = engine.run(
        "create", "--name", "stopped", "--health-cmd", "true", "busybox", "true"
    ).stdout.strip()
    refused = engine.run("healthcheck", "run", "stopped", check=False)
    assert (refused.returncode, refused.stderr) == (125, f"Error: container {stopped} is not running\n")


def test_the_monitor_probes_on_its_interval(engine: Pinnace) -> None:
    """No probe of ours: the container's monitor runs the healthcheck every interval."""
    import time

    engine.run(
        "run", "-d", "--name", "probed", "--health-cmd", "test ! -e /tmp/bad", "--health-interval", "1s",
        "--health-retries", "1", "busybox", *SLEEP,
    )  # fmt: skip

    def wait_for(status: str) -> None:
        deadline = time.monotonic() + 15
        while health(engine, "probed")["Status"] != status:
            assert time.monotonic() < deadline, health(engine, "probed")
            time.sleep(0.2)

    wait_for("healthy")
    assert "(healthy)" in engine.run("ps", "--format", "{{.Status}}").stdout
    engine.run("exec", "probed", "sh", "-c", "echo > /tmp/bad")
    wait_for("unhealthy")
    assert health(engine, "probed")["FailingStreak"] >= 1
