"""The OCI ``linux.resources`` subset the cgroup drivers apply, checked once for both.

Validation lives here, not in the drivers, so v1 and v2 refuse the same
specs with the same messages: a field the spec defines but pinnace does not
apply yet is NotImplementedYet, a field the spec does not define or a value
out of its range is InvalidArgument naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinnace.errors import InvalidArgument, NotImplementedYet

#: Fields each section may hold: applied ones, and ones the spec defines that pinnace does not apply yet.
_APPLIED = {
    "memory": {"limit", "reservation", "swap"},
    "cpu": {"shares", "quota", "period", "cpus", "mems"},
    "pids": {"limit"},
}
_PENDING = {
    "memory": {"kernel", "kernelTCP", "swappiness", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate"},
    "cpu": {"realtimeRuntime", "realtimePeriod", "idle", "burst"},
    "pids": set(),
    "": {"devices", "blockIO", "hugepageLimits", "network", "rdma", "unified"},
}


@dataclass(frozen=True)
class Resources:
    """Checked settings; None means "leave as is", -1 means unlimited (OCI's convention)."""

    memory_limit: int | None = None
    memory_reservation: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_cpus: str | None = None
    cpu_mems: str | None = None
    pids_limit: int | None = None


def parse(resources: dict[str, object]) -> Resources:
    """Check ``resources`` (an OCI ``linux.resources`` object) and return its applied subset."""
    if not isinstance(resources, dict):
        raise InvalidArgument("linux.resources: must be an object")
    values: dict[str, object] = {}
    for section, body in resources.items():
        if section in _PENDING[""]:
            raise NotImplementedYet(f"linux.resources.{section}: not supported by the pinnace cgroup manager")
        if section not in _APPLIED:
            raise InvalidArgument(f"linux.resources.{section}: unknown field")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InvalidArgument(f"linux.resources.{section}: must be an object")
        for key, value in body.items():
            name = f"linux.resources.{section}.{key}"
            if key in _PENDING[section]:
                raise NotImplementedYet(f"{name}: not supported by the pinnace cgroup manager")
            if key not in _APPLIED[section]:
                raise InvalidArgument(f"{name}: unknown field")
            if value is not None:
                values[f"{section}_{key}"] = _check(name, value)
    return Resources(**values)  # type: ignore[arg-type]


def _check(name: str, value: object) -> int | str:
    """``value`` if it is in range for field ``name``, else InvalidArgument naming it."""
    if name.endswith((".cpus", ".mems")):
        if not isinstance(value, str):
            raise InvalidArgument(f"{name}: must be a string like '0-3,5'")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name}: must be an integer, not {value!r}")
    unlimited_ok = name.endswith(
        ("memory.limit", "memory.reservation", "memory.swap", "cpu.quota", "pids.limit")
    )
    if value < 0 and not (unlimited_ok and value == -1):
        raise InvalidArgument(f"{name}: invalid value {value} (must be positive, or -1 for unlimited)")
    return value


def swap_for_v2(limit: int | None, swap: int) -> int:
    """OCI ``memory.swap`` (memory+swap, v1's memsw) as v2's swap-only ``memory.swap.max``."""
    if swap == -1:
        return -1
    if limit is None or limit == -1:
        raise InvalidArgument("linux.resources.memory.swap: needs memory.limit on cgroup v2")
    if swap < limit:
        raise InvalidArgument(
            f"linux.resources.memory.swap: {swap} is below memory.limit {limit} (swap counts memory plus swap)"
        )
    return swap - limit


def weight_from_shares(shares: int) -> int:
    """v1 ``cpu.shares`` (2..262144) mapped onto v2 ``cpu.weight`` (1..10000) as runc does."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142
