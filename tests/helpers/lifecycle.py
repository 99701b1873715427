"""Waiting for a condition, and what a reboot does to a store: shared by the integration tests."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from pinnace.mount.flags import mount_points
from tests.conftest import Pinnace


def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for ``predicate`` to hold, polling; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def simulate_reboot(engine: Pinnace, tmp_path: Path) -> None:
    """What a reboot does to pinnace's state: every process gone, mounts gone, cgroups gone, runroot empty."""
    ids = engine.run("ps", "-q", "--no-trunc").stdout.split()
    for container_id in ids:
        pid = int(engine.run("inspect", "-f", "{{.State.Pid}}", container_id).stdout)
        with open(f"/proc/{pid}/stat") as f:
            monitor = int(f.read().rpartition(")")[2].split()[1])
        os.kill(monitor, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        until(
            lambda pid=pid: (
                not Path(f"/proc/{pid}/cmdline").exists() or Path(f"/proc/{pid}/cmdline").read_bytes() == b""
            )
        )
    for point in sorted((m for m in mount_points() if m.startswith(str(tmp_path))), reverse=True):
        os.system(f"umount -l '{point}'")
    for container_id in ids:
        for cgroup in Path("/sys/fs/cgroup").glob(f"*/pinnace/{container_id}"):
            for child in sorted(cgroup.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir()
            cgroup.rmdir()
    shutil.rmtree(engine.runroot)
