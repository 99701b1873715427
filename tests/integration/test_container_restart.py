"""Restart policies, ``--rm`` of detached containers, and coming back after a simulated reboot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.lifecycle import simulate_reboot, until

pytestmark = pytest.mark.root


def _state(engine: Pinnace, name: str) -> str:
    return engine.run(
        "inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name
    ).stdout.strip()


def test_on_failure_restarts_at_most_n_times(engine: Pinnace) -> None:
    engine.run(
        "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3"
    )
    assert engine.run("wait", "flaky").stdout == "3\n"
    assert _state(engine, "flaky") == "exited 2 3"
    assert engine.run("logs", "flaky").stdout == "run\n" * 3


def test_on_failure_does_not_restart_a_success(engine: Pinnace) -> None:
    engine.run("run", "-d", "--name", "ok", "--restart", "on-failure", "busybox", "true")
    assert engine.run("wait", "ok").stdout == "0\n"
    assert _state(engine, "ok") == "exited 0 0"


def test_always_restarts_until_stopped(engine: Pinnace) -> None:
    engine.run(
        "run", "-d", "--name", "loop", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1"
    )
    until(lambda: int(_state(engine, "loop").split()[1]) >= 2)
    started = time.monotonic()
    engine.run("stop", "-t", "2", "loop")
    assert time.monotonic() - started < 5
    assert _state(engine, "loop").split()[0] == "exited"
    count = _state(engine, "loop").split()[1]
    time.sleep(0.5)
    assert _state(engine, "loop").split()[:2] == ["exited", count]  # and it stays stopped


def test_detached_rm_removes_the_container_when_it_exits(engine: Pinnace) -> None:
    engine.run("run", "--rm", "busybox", "true")  # the zygote is up: the next run is handed to it
    container_id = engine.run("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.2").stdout.strip()
    until(lambda: engine.run("ps", "-a", "-q", "--no-trunc").stdout == "")
    assert not (engine.root / "containers" / container_id).exists()


def test_after_a_reboot_containers_are_exited_and_restore_brings_back_always(
    engine: Pinnace, tmp_path: Path
) -> None:
    engine.run("run", "-d", "--name", "svc", "--restart", "always", "busybox", "sh", "-c", "sleep 600")
    engine.run("run", "-d", "--name", "plain", "busybox", "sh", "-c", "sleep 600")
    engine.run(
        "run", "-d", "--name", "held", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 600"
    )
    engine.run("stop", "-t", "0", "held")
    simulate_reboot(engine, tmp_path)
    assert _state(engine, "svc").split()[0] == "exited"
    assert _state(engine, "plain") == "exited 0 255"
    assert engine.run("ps", "-q").stdout == ""
    restored = engine.run("system", "restore").stdout.split()
    assert restored == ["svc"]
    assert _state(engine, "svc").split()[0] == "running"
    engine.run("start", "plain")
    assert _state(engine, "plain").split()[0] == "running"
