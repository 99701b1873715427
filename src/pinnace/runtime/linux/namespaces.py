"""The spec's ``linux.namespaces``: which to create, which to join, and entering them.

:func:`plan` turns the list into a :class:`Plan` (a CLONE_* mask to unshare
and the ``(type, path)`` pairs to setns into); :func:`enter` performs it
through a :class:`~pinnace.runtime.linux.syscalls.Sys`.  Joining and
creating share one path, as in youki's ``unshare_or_setns``.

Order (runc's nsexec and youki's intermediate process do the same):

1. Every namespace file is opened before the first setns.  Joining a mount
   namespace changes what a later path resolves to, so opening lazily could
   open the wrong file.
2. A user namespace is joined first.  setns needs CAP_SYS_ADMIN in the user
   namespace that *owns* the target; the other namespaces of a container
   are owned by its user namespace, where we hold every capability only
   once we are in it.
3. The other paths are joined in the spec's order.
4. A new user namespace is unshared on its own, before the rest, and
   ``on_user_namespace`` runs in between: that is where the parent writes
   the uid/gid maps.  The namespaces unshared next are then owned by the
   new user namespace (so, e.g., its root may mount in the new mount ns).
5. The remaining namespaces are unshared in one call.

A new pid or time namespace (created or joined) applies to the children of
the caller, not to the caller itself: the caller forks the container init
after :func:`enter`.
"""

from __future__ import annotations

import errno
import os

from pinnace._util.record import record
from pinnace.errors import FailedPrecondition, NotFound, PinnaceError
from pinnace.runtime.linux.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    error,
)
from pinnace.runtime.spec import check_linux

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.runtime.linux.syscalls import Sys

#: OCI namespace type -> the CLONE_* flag that creates (unshare) or names (setns) it.
CLONE_FLAGS: dict[str, int] = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}


@record
class Plan:
    """What :func:`enter` does: ``join`` is ``(type, path)`` in join order, user first."""

    create_flags: int = 0
    join: tuple[tuple[str, str], ...] = ()


def time_namespace_supported() -> bool:
    """Whether this kernel has time namespaces (Linux 5.6+)."""
    return os.path.exists("/proc/self/ns/time")


def plan(namespaces: list[dict[str, Any]]) -> Plan:
    """Split the spec's ``linux.namespaces`` into namespaces to create and to join.

    Unknown types, duplicates and non-string paths are refused with the
    same InvalidArgument as :func:`pinnace.runtime.spec.validate_spec`; a
    time namespace on a kernel without one is a FailedPrecondition.
    """
    check_linux({"namespaces": namespaces})
    create = 0
    join: list[tuple[str, str]] = []
    for i, ns in enumerate(namespaces):
        kind: str = ns["type"]
        if kind == "time" and not time_namespace_supported():
            raise FailedPrecondition(
                f'linux.namespaces[{i}].type: namespace type "time" is not supported by this kernel'
            )
        path = ns.get("path")
        if path is None:
            create |= CLONE_FLAGS[kind]
        elif kind == "user":
            join.insert(0, (kind, path))
        else:
            join.append((kind, path))
    return Plan(create_flags=create, join=tuple(join))


def enter(plan: Plan, sys: Sys, *, on_user_namespace: Callable[[], None] | None = None) -> None:
    """Join then create the namespaces of ``plan``, in the order the module docstring gives.

    ``on_user_namespace`` runs right after a new user namespace is created
    (not when one is joined: its maps are already written).
    """
    fds: list[tuple[str, str, int]] = []
    try:
        for kind, path in plan.join:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                err = exc.errno or errno.EIO
                what = f"join {kind} namespace {path}"
                if err == errno.ENOENT:
                    raise NotFound(f"{what}: no such file or directory") from exc
                raise error(what, err) from exc
            fds.append((kind, path, fd))
        for kind, path, fd in fds:
            try:
                sys.setns(fd, CLONE_FLAGS[kind])
            except PinnaceError as exc:
                raise type(exc)(f"join {kind} namespace {path}: {exc}") from exc
    finally:
        for _, _, fd in fds:
            os.close(fd)
    rest = plan.create_flags
    if rest & CLONE_NEWUSER:
        sys.unshare(CLONE_NEWUSER)
        rest &= ~CLONE_NEWUSER
        if on_user_namespace is not None:
            on_user_namespace()
    if rest:
        sys.unshare(rest)
