"""Stop the monitor zygote a test's runroot started (by its pid file: only the process we started)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pinnace.shim.zygote import PID_FILE


def stop_zygote(runroot: Path) -> None:
    """Kill the zygote of ``runroot`` if it runs, and wait until it is gone."""
    try:
        pid = int((runroot / PID_FILE).read_text())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != "pinnace-zygote":
                return  # gone, and the pid reused
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return  # dead; PID 1 reaps it in its own time
        except OSError:
            return
        time.sleep(0.01)
