"""Stop the long-lived processes a test's runroot started: the zygote, the DNS server (by pid file: ours only)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from pinnace.network.dns import PID_NAME as DNS_PID_FILE
from pinnace.shim.zygote import PID_FILE, SPARE_NAME, WORKER_PID_FILE


def stop_zygote(runroot: Path) -> None:
    """Kill the zygote, its worker zygote, their spares and the DNS server of ``runroot`` if they run,
    and wait until they are gone."""
    spares = _spares(runroot / PID_FILE, runroot / WORKER_PID_FILE)
    _stop(runroot / PID_FILE, "pinnace-zygote")
    _stop(runroot / WORKER_PID_FILE, "pinnace-worker")
    for pid in spares:
        _kill(pid, SPARE_NAME)  # they die with their zygote (PR_SET_PDEATHSIG); wait for it
    _stop(runroot / DNS_PID_FILE, "pinnace-dns")


def zygote_processes(runroot: Path) -> set[int]:
    """The pids of the long-lived processes of ``runroot``'s zygotes: the zygote, its worker zygote
    and their spares (they fork monitors and CLIs, and outlive them)."""
    pids = set(_spares(runroot / PID_FILE, runroot / WORKER_PID_FILE))
    for pid_file in (runroot / PID_FILE, runroot / WORKER_PID_FILE):
        try:
            pids.add(int(pid_file.read_text()))
        except (OSError, ValueError):
            pass
    return pids


def _spares(*pid_files: Path) -> list[int]:
    """The spare processes (pinnace.shim.zygote._Spare) of the zygotes named by ``pid_files``."""
    parents = set()
    for pid_file in pid_files:
        try:
            parents.add(int(pid_file.read_text()))
        except (OSError, ValueError):
            pass
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                comm, _, rest = f.read().rpartition(")")
            if comm.partition("(")[2] == SPARE_NAME and int(rest.split()[1]) in parents:
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _stop(pid_file: Path, comm: str) -> None:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    _kill(pid, comm)


def _kill(pid: int, comm: str) -> None:
    """SIGKILL ``pid`` if it is still ``comm`` (not a reused pid), and wait until it is dead."""
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
