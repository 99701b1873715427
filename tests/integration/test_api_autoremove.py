"""``--rm`` containers started through the API are removed by the service as they end, as dockerd does
(pinnace.shim.remover): their monitor leaves the removal to the live service, takes it over when the
service is gone, and a container that ended while a frozen service could not remove it goes when the
next service starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.api_service import service_process
from tests.integration.test_api_service import docker, needs_docker

pytestmark = [pytest.mark.root, needs_docker]


def _eventually(check: Callable[[], bool], within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _gone(engine: Pinnace, name: str) -> bool:
    return _eventually(lambda: name not in engine.run("ps", "-a", "--format", "{{.Names}}").stdout.split())


def _sleeper(url: str, name: str, seconds: int) -> None:
    """``docker run -d --rm`` of a container that sleeps ``seconds``, through the service at ``url``."""
    docker(
        url,
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "--network",
        "none",
        "busybox",
        "busybox",
        "sleep",
        str(seconds),
    )


def _state(engine: Pinnace, name: str) -> str:
    return engine.run("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()


def test_the_service_removes_and_reports_the_exit(engine: Pinnace, tmp_path: Path) -> None:
    for _, url in service_process(engine, tmp_path / "api"):
        ran = docker(
            url,
            "run",
            "--rm",
            "--name",
            "once",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo out; exit 7",
            check=False,
        )
        assert (ran.returncode, ran.stdout) == (7, "out\n")
        assert engine.run("ps", "-a", "-q").stdout == ""  # gone before the CLI returned (condition=removed)
        _sleeper(url, "later", 1)
        assert _gone(engine, "later")
        assert not (engine.root / "containers").exists() or not any((engine.root / "containers").iterdir())


def test_the_monitor_removes_when_the_service_is_gone(engine: Pinnace, tmp_path: Path) -> None:
    for proc, url in service_process(engine, tmp_path / "api"):
        _sleeper(url, "outlives", 2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert _gone(engine, "outlives")


def test_an_orphan_left_by_a_frozen_service_goes_at_the_next_start(engine: Pinnace, tmp_path: Path) -> None:
    for proc, url in service_process(engine, tmp_path / "api"):
        _sleeper(url, "orphan", 1)
        os.kill(proc.pid, signal.SIGSTOP)  # alive, so the monitor leaves the removal to it; frozen, it cannot
        try:
            assert _eventually(lambda: _state(engine, "orphan") == "exited")
            time.sleep(0.5)  # the monitor has recorded the exit and left; nothing removes the container now
            assert engine.run("inspect", "--format", "{{.State.Status}}", "orphan").stdout == "exited\n"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            os.kill(proc.pid, signal.SIGCONT)
            proc.wait(15)
    for _ in service_process(engine, tmp_path / "api2"):
        assert _gone(engine, "orphan")


def test_a_foreground_cli_run_that_detached_leaves_the_removal_to_the_monitor(engine: Pinnace) -> None:
    """``run --rm -i`` whose CLI went away mid-run (a detach, a closed terminal): removed at the end anyway."""
    cli = subprocess.Popen(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), "run", "--rm", "-i", "--name", "fg", "--network", "none", "busybox", "busybox", "sleep", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _eventually(lambda: _state(engine, "fg") == "running"), "the container did not start"
    finally:
        cli.kill()
        cli.wait()
    assert _gone(engine, "fg")


def test_start_attached_removes_an_rm_container(engine: Pinnace) -> None:
    engine.run("create", "--rm", "--name", "startme", "--network", "none", "busybox", "echo", "started")
    out = engine.run("start", "-a", "startme")
    assert out.stdout == "started\n"
    assert "startme" not in engine.run("ps", "-a", "--format", "{{.Names}}").stdout
