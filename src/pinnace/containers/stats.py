"""``docker stats``: a container's resource use from its cgroup, computed as docker computes it.

A :class:`Sample` is one reading of a container's cgroup (through
:func:`pinnace.runtime.container.stats`) plus the host's CPU time, taken
at one instant; :func:`entry` turns two consecutive samples into docker's
figures (docker/cli ``stats_helpers.go``):

- CPU % is the container's share of all CPU time spent on the host between
  the samples, times the number of online CPUs (so one busy thread reads
  100 % whatever the host size);
- memory is the usage minus the inactive page cache (``total_inactive_file``
  on cgroup v1, ``inactive_file`` on v2), which the kernel can reclaim at
  any time; the limit is the host's memory when the cgroup has none (as
  moby clamps it to the machine's memory);
- block I/O is bytes read and written, summed over devices.

:func:`row` formats an entry as docker's table placeholders (``{{.CPUPerc}}``
...), so the CLI and the API server show the same strings.
"""

from __future__ import annotations

import os
import time
from types import MappingProxyType

from pinnace._util.record import record
from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pinnace.runtime.cgroups import Manager

_EMPTY: Mapping[str, Mapping[str, int]] = MappingProxyType({})

#: The counters of /proc/PID/net/dev, in its column order, as docker's NetworkStats names them.
_NET_FIELDS = (
    "rx_bytes", "rx_packets", "rx_errors", "rx_dropped", None, None, None, None,
    "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
)  # fmt: skip

#: USER_HZ: the unit of /proc/stat's CPU times (100 on every Linux docker supports).
_CLOCK_TICKS = 100


@record
class Sample:
    """One reading of a running container's cgroup, with the host's CPU time at that moment."""

    cpu_ns: int  # CPU time the container used since it started
    system_ns: int  # CPU time the whole host used since boot
    online_cpus: int
    memory: int  # usage minus the inactive page cache
    memory_limit: int  # the cgroup's limit, or the host's memory
    block_read: int
    block_write: int
    pids: int
    #: The cgroup's reading as :meth:`Manager.stats` gives it, for the Engine API's full stats document.
    raw: Mapping[str, Mapping[str, int]] = _EMPTY
    #: Interface (not ``lo``) -> docker's NetworkStats counters, from the container's network namespace.
    networks: Mapping[str, Mapping[str, int]] = _EMPTY
    read_ns: int = 0  # when the reading was taken (ns since the epoch)


@record
class Entry:
    """docker's StatsEntry: what one row of ``docker stats`` shows."""

    cpu_percent: float = 0.0
    memory: int = 0
    memory_limit: int = 0
    memory_percent: float = 0.0
    network_rx: int = 0
    network_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0


def system_cpu_ns() -> int:
    """The host's total CPU time in nanoseconds (moby getSystemCPUUsage: the first 7 fields of /proc/stat's ``cpu``)."""
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * (1_000_000_000 // _CLOCK_TICKS)
    raise OSError("/proc/stat: no cpu line")


def host_memory() -> int:
    """The host's memory in bytes (MemTotal), the limit docker shows for a container without one."""
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            if line.startswith(b"MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def sample(cgroup: Manager, *, machine_memory: int | None = None) -> Sample | None:
    """A reading of the container's cgroup now; None when it has none any more (it stopped)."""
    try:
        raw: dict[str, Any] = cgroup.stats()
    except (PinnaceError, OSError):
        return None
    memory = raw.get("memory") or {}
    usage = int(memory.get("usage") or 0)
    inactive = int(memory.get("inactive_file") or 0)
    if inactive < usage:
        usage -= inactive
    limit = int(memory.get("limit") or 0)
    machine = host_memory() if machine_memory is None else machine_memory
    if limit < 0 or (machine > 0 and limit > machine):
        limit = machine
    blkio = raw.get("blkio") or {}
    try:
        pids = cgroup.pids()
    except (PinnaceError, OSError):
        pids = []
    return Sample(
        cpu_ns=int((raw.get("cpu") or {}).get("usage_ns") or 0),
        system_ns=system_cpu_ns(),
        online_cpus=os.sysconf("SC_NPROCESSORS_ONLN"),
        memory=usage,
        memory_limit=limit,
        block_read=int(blkio.get("read") or 0),
        block_write=int(blkio.get("write") or 0),
        pids=int((raw.get("pids") or {}).get("current") or 0),
        raw=MappingProxyType(raw),
        networks=network_counters(min(pids)) if pids else _EMPTY,
        read_ns=time.time_ns(),
    )


def network_counters(pid: int) -> Mapping[str, Mapping[str, int]]:
    """The counters of every interface but ``lo`` in ``pid``'s network namespace (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/net/dev", "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()[2:]
    except OSError:
        return _EMPTY
    out: dict[str, Mapping[str, int]] = {}
    for line in lines:
        name, _, counters = line.partition(":")
        name = name.strip()
        values = counters.split()
        if name == "lo" or len(values) < len(_NET_FIELDS):
            continue
        out[name] = {k: int(v) for k, v in zip(_NET_FIELDS, values, strict=False) if k is not None}
    return MappingProxyType(out)


def entry(previous: Sample | None, current: Sample | None) -> Entry:
    """docker's figures from two consecutive samples (no previous one: CPU % is 0, as docker's first)."""
    if current is None:
        return Entry()
    cpu_percent = 0.0
    if previous is not None:
        cpu_delta = current.cpu_ns - previous.cpu_ns
        system_delta = current.system_ns - previous.system_ns
        if cpu_delta > 0 and system_delta > 0:
            cpu_percent = cpu_delta / system_delta * current.online_cpus * 100.0
    memory_percent = current.memory / current.memory_limit * 100.0 if current.memory_limit else 0.0
    return Entry(
        cpu_percent=cpu_percent,
        memory=current.memory,
        memory_limit=current.memory_limit,
        memory_percent=memory_percent,
        network_rx=sum(n.get("rx_bytes", 0) for n in current.networks.values()),
        network_tx=sum(n.get("tx_bytes", 0) for n in current.networks.values()),
        block_read=current.block_read,
        block_write=current.block_write,
        pids=current.pids,
    )


def row(
    container: str, container_id: str, name: str, stats: Entry | None, *, trunc: bool = True
) -> dict[str, str]:
    """The ``docker stats`` placeholders of one container (``stats`` None: it could not be read, "--").

    ``container`` is the name or ID as the user gave it (``{{.Container}}``).
    """
    from pinnace._util.units import bytes_size, human_size

    out = {
        "Container": container,
        "Name": name or "--",
        "ID": container_id[:12] if trunc else container_id,
    }
    if stats is None:
        return {
            **out,
            "CPUPerc": "--",
            "MemUsage": "-- / --",
            "MemPerc": "--",
            "NetIO": "--",
            "BlockIO": "--",
            "PIDs": "--",
        }
    return {
        **out,
        "CPUPerc": f"{stats.cpu_percent:.2f}%",
        "MemUsage": f"{bytes_size(stats.memory)} / {bytes_size(stats.memory_limit)}",
        "MemPerc": f"{stats.memory_percent:.2f}%",
        "NetIO": f"{human_size(stats.network_rx)} / {human_size(stats.network_tx)}",
        "BlockIO": f"{human_size(stats.block_read)} / {human_size(stats.block_write)}",
        "PIDs": str(stats.pids),
    }
