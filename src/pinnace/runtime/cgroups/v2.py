"""The cgroup v2 driver: one directory in the unified hierarchy.

OCI resources are written in v1 terms; this driver converts them as runc's
fs2 does (shares -> ``cpu.weight``, memsw -> ``memory.swap.max``, blkio
weight -> ``io.weight``, device rules -> a BPF program).  The v1-only knobs
(swappiness, the OOM-killer switch, real-time group scheduling, leaf
weights) have no v2 file: asking for them is a FailedPrecondition naming
the field, never a silent no-op.
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
from pinnace.runtime.cgroups.resources import io_weight_from_blkio, parse, swap_for_v2, weight_from_shares

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.runtime.cgroups.devices import DeviceRules
    from pinnace.runtime.cgroups.resources import BlockIO, HugepageLimit, Resources

#: Controllers this driver sets limits through; only these are enabled down the path.
CONTROLLERS = ("cpu", "cpuset", "io", "memory", "hugetlb", "pids")
#: How long freeze waits for cgroup.events to report the new state.
FREEZE_TIMEOUT = 5.0


class V2Manager:
    """The cgroup ``rel`` below the cgroup2 mount ``root``."""

    def __init__(self, root: str, rel: str) -> None:
        self.root = root
        self.rel = rel
        self.path = os.path.join(root, rel)

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def apply(self, pid: int) -> None:
        self.join(pid, CONTROLLERS)

    def join(self, pid: int, controllers: tuple[str, ...]) -> None:
        """Create the cgroup with those of ``controllers`` the host offers, and move ``pid`` into it."""
        self.create(controllers)
        write_file(self._file("cgroup.procs"), str(pid))

    def create(self, controllers: tuple[str, ...]) -> None:
        """Create the path level by level, delegating ``controllers`` down to it as runc does.

        Only the ones available and not yet enabled are written, so a host
        that offers none of them (a hybrid host's cgroup2 mount) is left as is.
        """
        parent = self.root
        for part in self.rel.split("/"):
            available = set(read_file(os.path.join(parent, "cgroup.controllers")).split())
            enabled = set(read_file(os.path.join(parent, "cgroup.subtree_control")).split())
            wanted = [c for c in controllers if c in available and c not in enabled]
            if wanted:
                line = " ".join(f"+{c}" for c in wanted)
                write_file(os.path.join(parent, "cgroup.subtree_control"), line, "cgroup.subtree_control")
            make_dirs(parent, part)
            parent = os.path.join(parent, part)

    def offers(self, controller: str) -> bool:
        """Whether the hierarchy has ``controller`` to give (listed at its root)."""
        return controller in read_file(os.path.join(self.root, "cgroup.controllers")).split()

    def set(self, resources: dict[str, object]) -> None:
        """Apply in runc's fs2 order: cpuset, devices, memory, cpu, pids, io, hugetlb."""
        r = parse(resources)
        if r.cpu_cpus is not None:
            self._write("cpuset.cpus", r.cpu_cpus, "cpu.cpus")
        if r.cpu_mems is not None:
            self._write("cpuset.mems", r.cpu_mems, "cpu.mems")
        if r.devices is not None:
            self.set_devices(r.devices)
        self._set_memory(r)
        self._set_cpu(r)
        if r.pids_limit is not None:
            # OCI: 0 means unlimited here, as in runc.
            self._write("pids.max", -1 if r.pids_limit == 0 else r.pids_limit, "pids.limit")
        if r.block_io is not None:
            self._set_io(r.block_io)
        if r.hugepage_limits:
            self.set_hugetlb(r.hugepage_limits)

    def set_devices(self, rules: DeviceRules) -> None:
        """Make ``rules`` the cgroup's device filter (a BPF program; see :mod:`.ebpf`)."""
        from pinnace.runtime.cgroups import ebpf

        ebpf.install(self.path, rules)

    def set_hugetlb(self, limits: tuple[HugepageLimit, ...]) -> None:
        set_hugetlb(self.path, limits, ".max")

    def _write(self, name: str, value: int | str, setting: str) -> None:
        write_file(self._file(name), "max" if value == -1 else str(value), setting)

    def _set_memory(self, r: Resources) -> None:
        if r.memory_swap is not None:
            swap = swap_for_v2(r.memory_limit, r.memory_swap)
            # Limit first: the swap value is derived from it.
            if r.memory_limit is not None:
                self._write("memory.max", r.memory_limit, "memory.limit")
            self._write("memory.swap.max", swap, "memory.swap")
        elif r.memory_limit is not None:
            self._write("memory.max", r.memory_limit, "memory.limit")
        if r.memory_reservation is not None:
            self._write("memory.low", r.memory_reservation, "memory.reservation")
        if r.memory_swappiness is not None:
            raise FailedPrecondition(
                "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness"
            )
        if r.memory_disable_oom_killer:
            raise FailedPrecondition(
                "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer"
            )

    def _set_cpu(self, r: Resources) -> None:
        if r.cpu_realtime_runtime or r.cpu_realtime_period:
            raise FailedPrecondition(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no real-time group scheduling"
            )
        if r.cpu_idle is not None:
            self._write("cpu.idle", r.cpu_idle, "cpu.idle")
        if r.cpu_shares is not None:
            self._write("cpu.weight", weight_from_shares(r.cpu_shares), "cpu.shares")
        burst, burst_later = r.cpu_burst, False
        if burst is not None:  # burst may not exceed quota: see the v1 driver
            try:
                self._write("cpu.max.burst", burst, "cpu.burst")
            except InvalidArgument:
                if r.cpu_quota is None:
                    raise
                burst_later = True
        if r.cpu_quota is not None or r.cpu_period is not None:
            quota, period = read_file(self._file("cpu.max")).split()
            if r.cpu_quota is not None:
                quota = "max" if r.cpu_quota in (-1, 0) else str(r.cpu_quota)
            if r.cpu_period is not None:
                period = str(r.cpu_period)
            write_file(self._file("cpu.max"), f"{quota} {period}", "cpu.quota/cpu.period")
        if burst is not None and burst_later:
            self._write("cpu.max.burst", burst, "cpu.burst")

    def _set_io(self, b: BlockIO) -> None:
        """runc's fs2 io: BFQ's weights where the scheduler offers them, else ``io.weight`` converted."""
        if b.leaf_weight is not None or any(wd.leaf_weight is not None for wd in b.weight_device):
            raise FailedPrecondition("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights")
        bfq = self._file("io.bfq.weight")
        has_bfq = (b.weight is not None or bool(b.weight_device)) and os.path.exists(bfq)
        if b.weight is not None:
            if has_bfq:
                write_file(bfq, str(b.weight), "blockIO.weight")
            else:
                self._write("io.weight", f"default {io_weight_from_blkio(b.weight)}", "blockIO.weight")
        # Per-device BFQ weights came with Linux 5.4: io.bfq.weight then reads "default N" lines.
        bfq_devices = has_bfq and not read_file(bfq).isdigit()
        for i, wd in enumerate(b.weight_device):
            if wd.weight is None:
                continue
            setting = f"blockIO.weightDevice[{i}]"
            if bfq_devices:
                write_file(bfq, f"{wd.major}:{wd.minor} {wd.weight}", setting)
            else:
                self._write("io.weight", f"{wd.major}:{wd.minor} {io_weight_from_blkio(wd.weight)}", setting)
        for field, key, entries in (
            ("throttleReadBpsDevice", "rbps", b.throttle_read_bps),
            ("throttleWriteBpsDevice", "wbps", b.throttle_write_bps),
            ("throttleReadIOPSDevice", "riops", b.throttle_read_iops),
            ("throttleWriteIOPSDevice", "wiops", b.throttle_write_iops),
        ):
            for i, t in enumerate(entries):
                rate = t.rate or "max"  # 0 lifts the limit, as writing 0 does on v1
                self._write("io.max", f"{t.major}:{t.minor} {key}={rate}", f"blockIO.{field}[{i}]")

    def freeze(self, frozen: bool) -> None:
        write_file(self._file("cgroup.freeze"), "1" if frozen else "0", "cgroup.freeze")
        want = f"frozen {int(frozen)}"
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while want not in read_file(self._file("cgroup.events")).splitlines():
            if time.monotonic() > deadline:
                raise Unavailable(f"cgroup {self.rel}: timed out waiting for {want!r} in cgroup.events")
            time.sleep(0.01)

    def frozen(self) -> bool:
        try:
            return "frozen 1" in read_file(self._file("cgroup.events")).splitlines()
        except PinnaceError:
            return False

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if os.path.exists(self._file("memory.current")):
            memory = out["memory"] = {
                "usage": read_int(self._file("memory.current")),
                "limit": read_int(self._file("memory.max")),
            }
            if os.path.exists(self._file("memory.peak")):  # Linux 5.19
                memory["max_usage"] = read_int(self._file("memory.peak"))
            memory.update(self._memory_events())
            for line in read_file(self._file("memory.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "inactive_file":  # what docker stats leaves out of the usage
                    memory["inactive_file"] = int(value)
                if value.isdigit():
                    out.setdefault("memory_stat", {})[key] = int(value)  # the API's memory_stats.stats
        if os.path.exists(self._file("io.stat")):
            io = out["blkio"] = {"read": 0, "write": 0}
            for line in read_file(self._file("io.stat")).splitlines():  # MAJ:MIN rbytes=N wbytes=N ...
                for item in line.split()[1:]:
                    key, _, value = item.partition("=")
                    if key in ("rbytes", "wbytes"):
                        io["read" if key == "rbytes" else "write"] += int(value)
        if os.path.exists(self._file("pids.current")):
            out["pids"] = {
                "current": read_int(self._file("pids.current")),
                "limit": read_int(self._file("pids.max")),
            }
        for line in read_file(self._file("cpu.stat")).splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                out.setdefault("cpu", {})["usage_ns"] = int(value) * 1000
            elif key in ("user_usec", "system_usec", "throttled_usec"):
                out.setdefault("cpu", {})[key[: -len("usec")] + "ns"] = int(value) * 1000
            elif key in ("nr_periods", "nr_throttled"):
                out.setdefault("cpu", {})[key] = int(value)
        return out

    def oom_kills(self) -> int:
        try:
            return self._memory_events().get("oom_kill", 0)
        except PinnaceError:
            return 0

    def _memory_events(self) -> dict[str, int]:
        """``oom`` and ``oom_kill`` from ``memory.events``: counted in this cgroup and below it."""
        out = {}
        for line in read_file(self._file("memory.events")).splitlines():
            key, _, value = line.partition(" ")
            if key in ("oom", "oom_kill"):
                out[key] = int(value)
        return out

    def pids(self) -> list[int]:
        return procs_under(self.path)

    def destroy(self) -> None:
        remove_all([self.path])
