"""The cgroup v1 driver: one directory per mounted hierarchy, plus the unified twin on hybrid hosts.

On a hybrid host the cgroup2 mount (``/sys/fs/cgroup/unified``) holds the
same path, driven by a :class:`~.v2.V2Manager` (the *twin*): the process is
tracked there too, as runc does, and a controller no v1 hierarchy has but
cgroup2 offers (hugetlb on some hosts; devices, through BPF) is applied
there rather than refused.
"""

from __future__ import annotations

import os
import time

from pinnace.errors import FailedPrecondition, InvalidArgument, PinnaceError, Unavailable
from pinnace.runtime.cgroups import (
    make_dirs,
    procs_under,
    read_file,
    read_int,
    remove_all,
    set_hugetlb,
    write_file,
)
from pinnace.runtime.cgroups.devices import apply_v1
from pinnace.runtime.cgroups.resources import parse
from pinnace.runtime.cgroups.v2 import V2Manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.runtime.cgroups.resources import BlockIO, Resources

#: How long freeze waits for freezer.state to settle before giving up.
FREEZE_TIMEOUT = 5.0


class V1Manager:
    """The cgroup ``rel`` in each v1 hierarchy (and in the cgroup2 mount ``unified``, if any)."""

    def __init__(self, mounts: dict[str, str], rel: str, unified: str | None = None) -> None:
        self.mounts = mounts
        self.rel = rel
        self.twin = V2Manager(unified, rel) if unified else None
        self.unified = self.twin.path if self.twin else None

    def dir(self, controller: str) -> str:
        """This cgroup's directory in ``controller``'s hierarchy; FailedPrecondition if not mounted."""
        point = self.mounts.get(controller)
        if point is None:
            raise FailedPrecondition(f"cgroup v1 controller {controller!r} is not mounted on this host")
        return os.path.join(point, self.rel)

    def _points(self) -> list[str]:
        """Each hierarchy's mount point once (co-mounted controllers share one)."""
        return sorted(set(self.mounts.values()))

    def apply(self, pid: int) -> None:
        for point in self._points():
            make_dirs(point, self.rel)
            if point == self.mounts.get("cpuset"):
                self._inherit_cpuset(point)
            write_file(os.path.join(point, self.rel, "cgroup.procs"), str(pid))
        if self.twin is not None:  # tracked there only: controllers are delegated when a limit needs one
            self.twin.join(pid, ())

    def _inherit_cpuset(self, point: str) -> None:
        """Copy the parent's cpus/mems into each level that has none, as runc does.

        A new v1 cpuset starts empty, and the kernel refuses to attach a task
        to an empty cpuset (ENOSPC).
        """
        parent = point
        for part in self.rel.split("/"):
            current = os.path.join(parent, part)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read_file(os.path.join(current, name)):
                    write_file(os.path.join(current, name), read_file(os.path.join(parent, name)), name)
            parent = current

    def set(self, resources: dict[str, object]) -> None:
        """Apply in runc's subsystem order: cpuset, devices, memory, cpu, pids, blkio, hugetlb."""
        r = parse(resources)
        if r.cpu_cpus is not None:
            self._write("cpuset", "cpuset.cpus", r.cpu_cpus, "cpu.cpus")
        if r.cpu_mems is not None:
            self._write("cpuset", "cpuset.mems", r.cpu_mems, "cpu.mems")
        if r.devices is not None:
            if "devices" in self.mounts or self.twin is None:
                apply_v1(self.dir("devices"), r.devices)
            else:  # no v1 devices hierarchy: the cgroup2 twin filters with BPF
                self.twin.set_devices(r.devices)
        self._set_memory(r)
        self._set_cpu(r)
        if r.pids_limit is not None:
            limit = "max" if r.pids_limit in (-1, 0) else r.pids_limit
            self._write("pids", "pids.max", limit, "pids.limit")
        if r.block_io is not None:
            self._set_blkio(r.block_io)
        if r.hugepage_limits:
            if "hugetlb" in self.mounts or self.twin is None or not self.twin.offers("hugetlb"):
                set_hugetlb(self.dir("hugetlb"), r.hugepage_limits, ".limit_in_bytes")
            else:  # no v1 hugetlb hierarchy, but cgroup2 has the controller
                self.twin.create(("hugetlb",))
                self.twin.set_hugetlb(r.hugepage_limits)

    def _write(self, controller: str, name: str, value: int | str, setting: str) -> None:
        write_file(os.path.join(self.dir(controller), name), str(value), setting)

    def _set_memory(self, r: Resources) -> None:
        limit, swap = r.memory_limit, r.memory_swap
        if limit is not None or swap is not None:
            self._set_limits(limit, swap)
        if r.memory_reservation is not None:
            self._write("memory", "memory.soft_limit_in_bytes", r.memory_reservation, "memory.reservation")
        if r.memory_swappiness is not None:
            self._write("memory", "memory.swappiness", r.memory_swappiness, "memory.swappiness")
        if r.memory_disable_oom_killer is not None:
            # Written both ways (runc writes only "1") so that update can give the OOM killer back.
            value = int(r.memory_disable_oom_killer)
            self._write("memory", "memory.oom_control", value, "memory.disableOOMKiller")

    def _set_limits(self, limit: int | None, swap: int | None) -> None:
        """Write limit and memory+swap in the order the kernel accepts (memsw >= limit at all times)."""
        if limit == -1 and swap is None:
            swap = -1  # lifting the limit lifts memsw too, or the old memsw would cap it
        if limit is not None and swap is not None:
            current = read_int(os.path.join(self.dir("memory"), "memory.limit_in_bytes"))
            if swap == -1 or current < swap:
                self._write("memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
                self._write("memory", "memory.limit_in_bytes", limit, "memory.limit")
            else:
                self._write("memory", "memory.limit_in_bytes", limit, "memory.limit")
                self._write("memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")
        elif limit is not None:
            self._write("memory", "memory.limit_in_bytes", limit, "memory.limit")
        elif swap is not None:
            self._write("memory", "memory.memsw.limit_in_bytes", swap, "memory.swap")

    def _set_cpu(self, r: Resources) -> None:
        if r.cpu_shares is not None:
            self._write("cpu", "cpu.shares", r.cpu_shares, "cpu.shares")
        # Burst may not exceed quota: written first when that works (quota going down), after otherwise.
        burst, burst_later = r.cpu_burst, False
        if burst is not None:
            try:
                self._write("cpu", "cpu.cfs_burst_us", burst, "cpu.burst")
            except InvalidArgument:
                if r.cpu_quota is None:
                    raise
                burst_later = True
        if r.cpu_period is not None:
            self._write("cpu", "cpu.cfs_period_us", r.cpu_period, "cpu.period")
        if r.cpu_quota is not None:
            self._write("cpu", "cpu.cfs_quota_us", r.cpu_quota, "cpu.quota")
        if burst is not None and burst_later:
            self._write("cpu", "cpu.cfs_burst_us", burst, "cpu.burst")
        if r.cpu_realtime_period is not None:
            self._write("cpu", "cpu.rt_period_us", r.cpu_realtime_period, "cpu.realtimePeriod")
        if r.cpu_realtime_runtime is not None:
            self._write("cpu", "cpu.rt_runtime_us", r.cpu_realtime_runtime, "cpu.realtimeRuntime")
        if r.cpu_idle is not None:
            self._write("cpu", "cpu.idle", r.cpu_idle, "cpu.idle")

    def _set_blkio(self, b: BlockIO) -> None:
        """runc's blkio: CFQ's ``blkio.weight`` files where they exist, else BFQ's ``blkio.bfq.weight``."""
        d = self.dir("blkio")
        weight = "blkio.weight" if os.path.exists(os.path.join(d, "blkio.weight")) else "blkio.bfq.weight"
        if b.weight is not None:
            self._write("blkio", weight, b.weight, "blockIO.weight")
        if b.leaf_weight is not None:
            self._write("blkio", "blkio.leaf_weight", b.leaf_weight, "blockIO.leafWeight")
        for i, wd in enumerate(b.weight_device):
            if wd.weight is not None:
                line = f"{wd.major}:{wd.minor} {wd.weight}"
                self._write("blkio", weight + "_device", line, f"blockIO.weightDevice[{i}]")
            if wd.leaf_weight is not None:
                line = f"{wd.major}:{wd.minor} {wd.leaf_weight}"
                self._write("blkio", "blkio.leaf_weight_device", line, f"blockIO.weightDevice[{i}]")
        for field, name, entries in (
            ("throttleReadBpsDevice", "read_bps_device", b.throttle_read_bps),
            ("throttleWriteBpsDevice", "write_bps_device", b.throttle_write_bps),
            ("throttleReadIOPSDevice", "read_iops_device", b.throttle_read_iops),
            ("throttleWriteIOPSDevice", "write_iops_device", b.throttle_write_iops),
        ):
            for i, t in enumerate(entries):
                line = f"{t.major}:{t.minor} {t.rate}"
                self._write("blkio", f"blkio.throttle.{name}", line, f"blockIO.{field}[{i}]")

    def freeze(self, frozen: bool) -> None:
        state = os.path.join(self.dir("freezer"), "freezer.state")
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while True:
            # Rewritten each round: a task forking while FREEZING can leave it stuck (runc does the same).
            write_file(state, want, "freezer.state")
            if read_file(state) == want:
                return
            if time.monotonic() > deadline:
                if frozen:
                    write_file(state, "THAWED", "freezer.state")
                raise Unavailable(f"cgroup {self.rel}: timed out waiting for freezer.state {want}")
            time.sleep(0.01)

    def frozen(self) -> bool:
        try:
            return read_file(os.path.join(self.dir("freezer"), "freezer.state")) == "FROZEN"
        except PinnaceError:
            return False

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if "memory" in self.mounts:
            d = self.dir("memory")
            out["memory"] = {
                "usage": read_int(os.path.join(d, "memory.usage_in_bytes")),
                "max_usage": read_int(os.path.join(d, "memory.max_usage_in_bytes")),
                "limit": read_int(os.path.join(d, "memory.limit_in_bytes")),
                "failcnt": read_int(os.path.join(d, "memory.failcnt")),
            }
            out["memory"].update(_oom_control(d))
            for line in read_file(os.path.join(d, "memory.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "total_inactive_file":  # what docker stats leaves out of the usage
                    out["memory"]["inactive_file"] = int(value)
                if value.isdigit():
                    out.setdefault("memory_stat", {})[key] = int(value)  # the API's memory_stats.stats
        if "blkio" in self.mounts:
            out["blkio"] = _blkio_bytes(read_file(os.path.join(self.dir("blkio"), _BLKIO_BYTES)))
        if "pids" in self.mounts:
            d = self.dir("pids")
            out["pids"] = {
                "current": read_int(os.path.join(d, "pids.current")),
                "limit": read_int(os.path.join(d, "pids.max")),
            }
        if "cpuacct" in self.mounts:
            d = self.dir("cpuacct")
            cpu = out["cpu"] = {"usage_ns": read_int(os.path.join(d, "cpuacct.usage"))}
            _cpu_extras(cpu, out, d, self.dir("cpu") if "cpu" in self.mounts else "")
        return out

    def oom_kills(self) -> int:
        if "memory" not in self.mounts:
            return 0
        try:
            return _oom_control(self.dir("memory")).get("oom_kill", 0)
        except PinnaceError:
            return 0

    def pids(self) -> list[int]:
        for controller in ("pids", "freezer", "memory"):
            if controller in self.mounts:
                return procs_under(self.dir(controller))
        return procs_under(os.path.join(self._points()[0], self.rel))

    def destroy(self) -> None:
        dirs = [os.path.join(point, self.rel) for point in self._points()]
        if self.unified is not None:
            dirs.append(self.unified)
        remove_all(dirs)


def _cpu_extras(cpu: dict[str, int], out: dict[str, dict[str, int]], cpuacct: str, cpu_dir: str) -> None:
    """User and system time, per-CPU time (``out["percpu"]``: CPU number -> ns) and CFS throttling,
    as docker's stats report them; what the kernel does not offer is left out."""
    ns_per_tick = 1_000_000_000 // 100  # cpuacct.stat counts USER_HZ ticks
    try:
        for line in read_file(os.path.join(cpuacct, "cpuacct.stat")).splitlines():
            key, _, value = line.partition(" ")
            if key in ("user", "system") and value.isdigit():
                cpu[f"{key}_ns"] = int(value) * ns_per_tick
        percpu = read_file(os.path.join(cpuacct, "cpuacct.usage_percpu")).split()
        out["percpu"] = {str(i): int(v) for i, v in enumerate(percpu) if v.isdigit()}
        if cpu_dir:
            for line in read_file(os.path.join(cpu_dir, "cpu.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key in ("nr_periods", "nr_throttled") and value.isdigit():
                    cpu[key] = int(value)
                elif key == "throttled_time" and value.isdigit():
                    cpu["throttled_ns"] = int(value)
    except PinnaceError:
        pass  # an older kernel's cgroup without these files


#: Bytes read and written by the cgroup and its descendants (the file runc and containerd read).
_BLKIO_BYTES = "blkio.throttle.io_service_bytes_recursive"


def _blkio_bytes(text: str) -> dict[str, int]:
    """``{"read", "write"}`` summed over devices from ``MAJ:MIN Op bytes`` lines."""
    out = {"read": 0, "write": 0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("Read", "Write"):
            out[parts[1].lower()] += int(parts[2])
    return out


def _oom_control(directory: str) -> dict[str, int]:
    """``oom_kill`` (Linux 4.13) and ``under_oom`` from ``memory.oom_control``."""
    out = {}
    for line in read_file(os.path.join(directory, "memory.oom_control")).splitlines():
        key, _, value = line.partition(" ")
        if key in ("oom_kill", "under_oom"):
            out[key] = int(value)
    return out
