"""Who removes a ``--rm`` container as it ends: the process named in its remover file, while it lives.

dockerd removes an auto-remove container itself, in the daemon, the moment it ends; a daemonless
engine has no such process, so the container's monitor runs ``pinnace rm`` once it has recorded the
exit -- a new interpreter, some 30 ms after the end.  When a live process will remove the container
anyway (the API service for a ``docker run --rm``, a foreground ``pinnace run --rm`` or ``start -a``
relaying its output), that process names itself here before the start, and the monitor leaves the
removal to it.  Should that process be gone by then (a service stopped, a client that detached), the
monitor removes the container as before, so it is never left behind.

A process is named by its pid and its start time (field 22 of ``/proc/PID/stat``): a pid reused by
another process after a crash or a reboot does not count as alive.  Imported by the monitor: ``os``
only.
"""

from __future__ import annotations

import os

#: In the container's directory (it lives as long as the container).
REMOVER_FILE = "remover"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot; "" when there is no such live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    fields = stat.rpartition(b") ")[2].split()
    if not fields or fields[0] == b"Z":  # a zombie has ended
        return ""
    return fields[19].decode()  # field 22 of the whole line: the command name's two fields come first


def claim(container_dir: str) -> None:
    """Name this process as the container's remover (before its start: the exit may come at once)."""
    path = os.path.join(container_dir, REMOVER_FILE)
    with open(path + ".tmp", "w", encoding="ascii") as f:
        f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
    os.replace(path + ".tmp", path)


def release(container_dir: str) -> None:
    """No process is the remover any more: the monitor removes the container at its end."""
    try:
        os.unlink(os.path.join(container_dir, REMOVER_FILE))
    except OSError:
        pass


def named(container_dir: str) -> bool:
    """Whether a remover was named for the container at all (alive or not)."""
    return os.path.exists(os.path.join(container_dir, REMOVER_FILE))


def alive(container_dir: str) -> bool:
    """Whether the container's named remover still runs (the monitor then leaves the removal to it)."""
    try:
        with open(os.path.join(container_dir, REMOVER_FILE), encoding="ascii") as f:
            pid_text, _, started = f.read().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    return bool(started) and _start_time(pid) == started
