"""``docker update``: new resource limits and restart policy for an existing container.

:class:`UpdateConfig` is docker's UpdateConfig (the API body of
``POST /containers/{id}/update``): a field left at its zero value is not
changed.  The steps are moby's, each here as a pure function so the CLI and
the API server share them and tests need no container:

1. :func:`verify` checks the request alone (``verifyContainerSettings`` with
   ``update=true``), before the container is even looked up;
2. :func:`merge` folds it into the stored HostConfig (``UpdateContainer``),
   refusing what conflicts with settings already there;
3. :func:`resources` is the OCI ``linux.resources`` of what the request sets
   (``toContainerdResources``), applied to a running container's cgroup.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace._util.record import record
from pinnace.errors import Conflict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: docker's restart policy names (RestartPolicyMode).
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")

_NO_POLICY: Mapping[str, Any] = MappingProxyType({})


@record
class UpdateConfig:
    """What ``docker update`` asks for; zero values leave a setting as it is (``pids_limit`` None too)."""

    memory: int = 0
    memory_swap: int = 0  # -1: unlimited swap
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None  # 0 or -1: unlimited
    restart_policy: Mapping[str, Any] = _NO_POLICY  # {"Name", "MaximumRetryCount"}; empty: unchanged


#: UpdateConfig field -> HostConfig key, for the resources copied when set.
_FIELDS = (
    ("cpu_shares", "CpuShares"),
    ("nano_cpus", "NanoCpus"),
    ("cpu_period", "CpuPeriod"),
    ("cpu_quota", "CpuQuota"),
    ("cpuset_cpus", "CpusetCpus"),
    ("cpuset_mems", "CpusetMems"),
    ("memory", "Memory"),
    ("memory_swap", "MemorySwap"),
    ("memory_reservation", "MemoryReservation"),
)


def parse_restart_policy(text: str) -> dict[str, Any]:
    """``--restart`` as HostConfig.RestartPolicy, parsed as ``run``'s flag is (:func:`options.parse_restart_policy`)."""
    from pinnace.containers.options import parse_restart_policy as parse

    policy = parse(text)
    return {"Name": policy.name, "MaximumRetryCount": policy.maximum_retry_count}


def validate_restart_policy(policy: Mapping[str, Any]) -> None:
    """The daemon's check of a restart policy (:func:`options.check_restart_policy`, moby's ValidateRestartPolicy)."""
    from pinnace.containers.options import RestartPolicy, check_restart_policy

    check_restart_policy(
        RestartPolicy(
            name=str(policy.get("Name") or ""), maximum_retry_count=int(policy.get("MaximumRetryCount") or 0)
        )
    )


def verify(update: UpdateConfig, *, ncpu: int | None = None) -> list[str]:
    """The request's own limits checked as ``docker run``'s are (minimums, CPU range...); docker's warnings.

    Unlike ``run``, a swap limit without a memory limit is allowed: the
    container may have one already.
    """
    from pinnace.containers.options import RunOptions
    from pinnace.containers.spec import verify_options

    _, warnings = verify_options(
        RunOptions(
            memory=update.memory,
            memory_swap=update.memory_swap if update.memory else 0,
            memory_reservation=update.memory_reservation,
            nano_cpus=update.nano_cpus,
            cpu_shares=update.cpu_shares,
            cpu_period=update.cpu_period,
            cpu_quota=update.cpu_quota,
            cpuset_cpus=update.cpuset_cpus,
            cpuset_mems=update.cpuset_mems,
        ),
        ncpu=ncpu,
    )
    if update.restart_policy:
        validate_restart_policy(update.restart_policy)
    return warnings


def merge(host_config: Mapping[str, Any], update: UpdateConfig) -> dict[str, Any]:
    """The HostConfig after ``update`` (moby Container.UpdateContainer); Conflict in docker's words."""
    hc = dict(host_config)

    def had(key: str) -> int:
        return int(hc.get(key) or 0)

    if update.nano_cpus > 0 and had("CpuPeriod") > 0:
        raise Conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if update.nano_cpus > 0 and had("CpuQuota") > 0:
        raise Conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if update.cpu_period > 0 and had("NanoCpus") > 0:
        raise Conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if update.cpu_quota > 0 and had("NanoCpus") > 0:
        raise Conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    if update.memory and update.memory > had("MemorySwap") and not update.memory_swap:
        raise Conflict(
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time"
        )
    for attr, key in _FIELDS:
        value = getattr(update, attr)
        if value:
            hc[key] = value
    if update.pids_limit is not None:  # 0 and -1 alike are "unlimited", stored as 0 (moby's API router)
        hc["PidsLimit"] = max(update.pids_limit, 0)
    if update.restart_policy.get("Name"):
        if hc.get("AutoRemove") and update.restart_policy["Name"] != "no":
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        hc["RestartPolicy"] = dict(update.restart_policy)
    return hc


def resources(update: UpdateConfig) -> dict[str, Any]:
    """The OCI ``linux.resources`` the request sets, for a running container's cgroup (moby toContainerdResources)."""
    from pinnace.containers.spec import cpu_and_pids

    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if update.memory:
        memory["limit"] = update.memory
    if update.memory_swap:
        memory["swap"] = update.memory_swap
    if update.memory_reservation:
        memory["reservation"] = update.memory_reservation
    if memory:
        out["memory"] = memory
    out.update(cpu_and_pids(update))
    return out
