"""The OCI ``linux.resources`` the cgroup drivers apply, checked once for both.

Validation lives here, not in the drivers, so v1 and v2 refuse the same
specs with the same messages: a field the spec defines but pinnace does not
apply yet is NotImplementedYet, a field the spec does not define or a value
out of its range is InvalidArgument naming the field.  What a driver cannot
do on its kernel (a v1-only knob on v2, a file this kernel lacks) is its
own FailedPrecondition, raised only when the spec asks for it.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.runtime.cgroups import devices

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    #: A field check: (field name for messages, JSON value) -> checked value, or None for "leave as is".
    Check: TypeAlias = Callable[[str, Any], Any]


@record
class WeightDevice:
    """A ``blockIO.weightDevice`` entry: per-device weights, None where not given."""

    major: int
    minor: int
    weight: int | None
    leaf_weight: int | None


@record
class Throttle:
    """A ``blockIO.throttle*Device`` entry: ``rate`` bytes or operations per second (0: no limit)."""

    major: int
    minor: int
    rate: int


@record
class BlockIO:
    """``linux.resources.blockIO``; None and () mean "leave as is"."""

    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    throttle_read_bps: tuple[Throttle, ...] = ()
    throttle_write_bps: tuple[Throttle, ...] = ()
    throttle_read_iops: tuple[Throttle, ...] = ()
    throttle_write_iops: tuple[Throttle, ...] = ()


@record
class HugepageLimit:
    """A ``hugepageLimits`` entry: at most ``limit`` bytes of ``page_size`` pages (``2MB``, ``1GB``)."""

    page_size: str
    limit: int


@record
class Resources:
    """Checked settings; None means "leave as is", -1 means unlimited (OCI's convention)."""

    memory_limit: int | None = None
    memory_reservation: int | None = None
    memory_swap: int | None = None
    memory_swappiness: int | None = None
    memory_disable_oom_killer: bool | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_burst: int | None = None
    cpu_cpus: str | None = None
    cpu_mems: str | None = None
    cpu_realtime_runtime: int | None = None
    cpu_realtime_period: int | None = None
    cpu_idle: int | None = None
    pids_limit: int | None = None
    devices: devices.DeviceRules | None = None
    block_io: BlockIO | None = None
    hugepage_limits: tuple[HugepageLimit, ...] = ()


def parse(resources: dict[str, object]) -> Resources:
    """Check ``resources`` (an OCI ``linux.resources`` object) and return what it asks for."""
    if not isinstance(resources, dict):
        raise InvalidArgument("linux.resources: must be an object")
    values: dict[str, object] = {}
    for section, body in resources.items():
        name = f"linux.resources.{section}"
        if section in _PENDING_SECTIONS:
            raise NotImplementedYet(f"{name}: not supported by the pinnace cgroup manager")
        if section in _SECTIONS:
            field, check = _SECTIONS[section]
            checked = None if body is None else check(name, body)
            if checked is not None:
                values[field] = checked
            continue
        if section not in _FIELDS:
            raise InvalidArgument(f"{name}: unknown field")
        if body is None:
            continue
        for key, value in _object(name, body).items():
            if key in _PENDING[section]:
                raise NotImplementedYet(f"{name}.{key}: not supported by the pinnace cgroup manager")
            if key not in _FIELDS[section]:
                raise InvalidArgument(f"{name}.{key}: unknown field")
            field, check = _FIELDS[section][key]
            checked = None if value is None else check(f"{name}.{key}", value)
            if checked is not None:
                values[field] = checked
    return Resources(**values)  # type: ignore[arg-type]


# -- field checks ------------------------------------------------------------------------------------


def _object(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{name}: must be an object")
    return value


def _list(name: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{name}: must be an array")
    return value


def _int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name}: must be an integer, not {value!r}")
    return value


def _limit(name: str, value: object) -> int:
    """A size or count where -1 means unlimited."""
    n = _int(name, value)
    if n < -1:
        raise InvalidArgument(f"{name}: invalid value {n} (must be positive, or -1 for unlimited)")
    return n


def _uint(name: str, value: object) -> int:
    n = _int(name, value)
    if n < 0:
        raise InvalidArgument(f"{name}: invalid value {n} (must not be negative)")
    return n


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: must be a string like '0-3,5'")
    return value


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}: must be true or false, not {value!r}")
    return value


def _swappiness(name: str, value: object) -> int | None:
    """0..100; -1 (Docker's "unset", uint64 max in runc) leaves the kernel's value."""
    n = _int(name, value)
    if n in (-1, (1 << 64) - 1):
        return None
    if not 0 <= n <= 100:
        raise InvalidArgument(f"{name}: invalid memory swappiness value: {n} (valid range is 0-100)")
    return n


def _idle(name: str, value: object) -> int:
    n = _int(name, value)
    if n not in (0, 1):
        raise InvalidArgument(f"{name}: invalid value {n} (must be 0, or 1 for SCHED_IDLE)")
    return n


def _weight(name: str, value: object) -> int | None:
    """A blkio weight, 10..1000 (Docker's range, which v1 CFQ and BFQ accept); 0 means "unset" as in runc."""
    n = _int(name, value)
    if n == 0:
        return None
    if not 10 <= n <= 1000:
        raise InvalidArgument(f"{name}: invalid value {n} (must be between 10 and 1000)")
    return n


def _entry(name: str, value: object, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    """A list entry object with ``required`` keys and no keys outside ``required + optional``."""
    body = _object(name, value)
    for key in body:
        if key not in required and key not in optional:
            raise InvalidArgument(f"{name}.{key}: unknown field")
    for key in required:
        if body.get(key) is None:
            raise InvalidArgument(f"{name}.{key}: is required")
    return body


def _device_number(name: str, value: object) -> int:
    n = _uint(name, value)
    if n > 0xFFFFFFFF:
        raise InvalidArgument(f"{name}: invalid value {n} (device numbers are 32-bit)")
    return n


def _weight_devices(name: str, value: object) -> tuple[WeightDevice, ...]:
    out = []
    for i, item in enumerate(_list(name, value)):
        where = f"{name}[{i}]"
        body = _entry(where, item, ("major", "minor"), ("weight", "leafWeight"))
        out.append(
            WeightDevice(
                _device_number(f"{where}.major", body["major"]),
                _device_number(f"{where}.minor", body["minor"]),
                None if body.get("weight") is None else _weight(f"{where}.weight", body["weight"]),
                None
                if body.get("leafWeight") is None
                else _weight(f"{where}.leafWeight", body["leafWeight"]),
            )
        )
    return tuple(out)


def _throttles(name: str, value: object) -> tuple[Throttle, ...]:
    out = []
    for i, item in enumerate(_list(name, value)):
        where = f"{name}[{i}]"
        body = _entry(where, item, ("major", "minor", "rate"), ())
        out.append(
            Throttle(
                _device_number(f"{where}.major", body["major"]),
                _device_number(f"{where}.minor", body["minor"]),
                _uint(f"{where}.rate", body["rate"]),
            )
        )
    return tuple(out)


_BLOCK_IO: dict[str, tuple[str, Check]] = {
    "weight": ("weight", _weight),
    "leafWeight": ("leaf_weight", _weight),
    "weightDevice": ("weight_device", _weight_devices),
    "throttleReadBpsDevice": ("throttle_read_bps", _throttles),
    "throttleWriteBpsDevice": ("throttle_write_bps", _throttles),
    "throttleReadIOPSDevice": ("throttle_read_iops", _throttles),
    "throttleWriteIOPSDevice": ("throttle_write_iops", _throttles),
}


def _block_io(name: str, value: object) -> BlockIO | None:
    values: dict[str, Any] = {}
    for key, item in _object(name, value).items():
        if key not in _BLOCK_IO:
            raise InvalidArgument(f"{name}.{key}: unknown field")
        field, check = _BLOCK_IO[key]
        checked = None if item is None else check(f"{name}.{key}", item)
        if checked is not None and checked != ():
            values[field] = checked
    return BlockIO(**values) if values else None


def _hugepages(name: str, value: object) -> tuple[HugepageLimit, ...]:
    out = []
    for i, item in enumerate(_list(name, value)):
        where = f"{name}[{i}]"
        body = _entry(where, item, ("pageSize", "limit"), ())
        size = body["pageSize"]
        if not isinstance(size, str) or not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")):
            raise InvalidArgument(f"{where}.pageSize: invalid hugepage size {size!r} (like '2MB' or '1GB')")
        out.append(HugepageLimit(size, _uint(f"{where}.limit", body["limit"])))
    return tuple(out)


def _devices(name: str, value: object) -> devices.DeviceRules | None:
    """The allowlist state the rules lead to; None for an empty list, which leaves the cgroup as is."""
    rules = []
    for i, item in enumerate(_list(name, value)):
        where = f"{name}[{i}]"
        body = _entry(where, item, ("allow",), ("type", "major", "minor", "access"))
        kind = body.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"{where}.type: invalid cgroup device type {kind!r}")
        access = body.get("access")
        if not access:
            raise InvalidArgument(f"{where}.access: device access at {i} field cannot be empty")
        if not isinstance(access, str) or any(letter not in devices.ACCESS_BITS for letter in access):
            raise InvalidArgument(f"{where}.access: invalid device access {access!r} (letters of 'rwm')")
        bits = 0
        for letter in access:
            bits |= devices.ACCESS_BITS[letter]
        numbers = []
        for key in ("major", "minor"):
            n = body.get(key)
            numbers.append(devices.ANY if n is None or n == -1 else _device_number(f"{where}.{key}", n))
        rules.append(devices.Rule(_bool(f"{where}.allow", body["allow"]), kind, numbers[0], numbers[1], bits))
    return devices.emulate(rules, name) if rules else None


#: Scalar fields of the flat sections: spec key -> (Resources field, check).
_FIELDS: dict[str, dict[str, tuple[str, Check]]] = {
    "memory": {
        "limit": ("memory_limit", _limit),
        "reservation": ("memory_reservation", _limit),
        "swap": ("memory_swap", _limit),
        "swappiness": ("memory_swappiness", _swappiness),
        "disableOOMKiller": ("memory_disable_oom_killer", _bool),
    },
    "cpu": {
        "shares": ("cpu_shares", _uint),
        "quota": ("cpu_quota", _limit),
        "period": ("cpu_period", _uint),
        "burst": ("cpu_burst", _uint),
        "cpus": ("cpu_cpus", _string),
        "mems": ("cpu_mems", _string),
        "realtimeRuntime": ("cpu_realtime_runtime", _limit),
        "realtimePeriod": ("cpu_realtime_period", _uint),
        "idle": ("cpu_idle", _idle),
    },
    "pids": {"limit": ("pids_limit", _limit)},
}
#: Sections checked as a whole.
_SECTIONS: dict[str, tuple[str, Check]] = {
    "devices": ("devices", _devices),
    "blockIO": ("block_io", _block_io),
    "hugepageLimits": ("hugepage_limits", _hugepages),
}
#: What the spec defines that pinnace does not apply yet.
_PENDING = {
    "memory": {"kernel", "kernelTCP", "useHierarchy", "checkBeforeUpdate"},
    "cpu": set(),
    "pids": set(),
}
_PENDING_SECTIONS = {"network", "rdma", "unified"}


# -- v1 -> v2 conversions ----------------------------------------------------------------------------


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


def io_weight_from_blkio(weight: int) -> int:
    """v1 ``blkio.weight`` (10..1000) mapped linearly onto v2 ``io.weight`` (1..10000) as runc does."""
    return 1 + (weight - 10) * 9999 // 990
