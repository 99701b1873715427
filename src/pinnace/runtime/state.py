"""A container's runtime state on disk: ``<root>/<id>/``, and its OCI status.

The state directory is the only record the runtime keeps (runc keeps the
same: a directory per container under ``--root``, which should be on a
tmpfs so a reboot forgets every container along with its processes):

``state.json``
    the :class:`State` record, written atomically once ``create`` succeeded;
    a directory without it is a create in progress (or one that crashed,
    which ``delete`` cleans up).
``config.json``
    the spec as ``create`` validated it: later verbs (exec, kill --all,
    delete's poststop hooks) must not re-read a bundle the user may have
    edited since.
``exec.fifo``
    exists from ``create`` until ``start``: the init blocks opening it for
    writing, and its presence is what makes the status "created".
``lock``
    an flock serialising the verbs that change the container.

Status follows runtime-spec's lifecycle.  Whether the init still lives is
decided by its pid *and* its start time (field 22 of ``/proc/PID/stat``), so
a recycled pid is never mistaken for the container.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
FIFO = "exec.fifo"
LOCK = "lock"

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


@record
class State:
    """What the runtime remembers of a created container."""

    id: str
    pid: int
    #: The init's start time in clock ticks since boot (``/proc/PID/stat`` field 22).
    pid_start: int
    bundle: str
    rootfs: str
    #: RFC 3339 UTC creation time, as ``runc state`` prints it.
    created: str
    cgroup: str
    annotations: dict[str, str]
    #: Whether the container has its own mount namespace (else delete unmounts the rootfs).
    own_mount_ns: bool = True
    owner: str = ""


def check_id(container_id: str) -> str:
    """Refuse an ID runc would refuse (it becomes a directory name and a cgroup name)."""
    if not container_id or container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise InvalidArgument(f"invalid id format: {container_id}")
    return container_id


def container_dir(root: str, container_id: str) -> str:
    """``<root>/<id>``, with the ID checked."""
    return os.path.join(root, check_id(container_id))


def save(directory: str, state: State) -> None:
    """Write ``state.json`` atomically."""
    from pinnace._util import jsonc
    from pinnace._util.fs import atomic_write

    data = {name: getattr(state, name) for name in State.__annotations__}
    atomic_write(os.path.join(directory, STATE_FILE), jsonc.dumps(data).encode(), durable=False)


def load(root: str, container_id: str) -> State:
    """The state of ``container_id``; NotFound as runc words it when there is none."""
    from pinnace._util import jsonc

    path = os.path.join(container_dir(root, container_id), STATE_FILE)
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = jsonc.loads(f.read())
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"container does not exist: {container_id}") from None
    except ValueError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    known = {k: v for k, v in data.items() if k in State.__annotations__}
    return State(**known)


def load_config(root: str, container_id: str) -> dict[str, Any]:
    """The spec ``create`` validated, as stored in the state directory."""
    from pinnace._util import jsonc

    with open(os.path.join(container_dir(root, container_id), CONFIG_FILE), "rb") as f:
        config: dict[str, Any] = jsonc.loads(f.read())
    return config


def ids(root: str) -> list[str]:
    """Every container ID under ``root`` that has a state (sorted, as runc lists them)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE)))


def start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (None when the process is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(state: State) -> bool:
    """Whether the container's init is still the process ``create`` started."""
    return state.pid > 0 and start_time(state.pid) == state.pid_start


def status(root: str, state: State, frozen: bool = False) -> str:
    """The OCI status: created, running, paused or stopped.

    ``frozen`` is the freezer's answer, asked only by callers that have the
    cgroup manager at hand (a paused container's init is alive).
    """
    if not alive(state):
        return "stopped"
    if os.path.exists(os.path.join(root, state.id, FIFO)):
        return "created"
    return "paused" if frozen else "running"


def oci_state(state: State, status: str) -> dict[str, Any]:
    """The state document of runtime-spec's ``state`` operation, with runc's extra fields."""
    from pinnace.runtime import SPEC_VERSION

    return {
        "ociVersion": SPEC_VERSION,
        "id": state.id,
        "pid": state.pid if status != "stopped" else 0,
        "status": status,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
        **({"annotations": state.annotations} if state.annotations else {}),
    }
