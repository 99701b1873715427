"""Stop the long-lived processes a test's runroot started: the zygote, the DNS server (by pid file: ours only)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pinnace.network.dns import PID_NAME as DNS_PID_FILE
from pinnace.shim.zygote import PID_FILE, WORKER_PID_FILE


def stop_zygote(runroot: Path) -> None:
    """Kill the zygote, its worker zygote and the DNS server of ``runroot`` if they run, and wait until they are gone."""
    _stop(runroot / PID_FILE, "pinnace-zygote")
    _stop(runroot / WORKER_PID_FILE, "pinnace-worker")
    _stop(runroot / DNS_PID_FILE, "pinnace-dns")


def _stop(pid_file: Path, comm: str) -> None:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != comm:
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
