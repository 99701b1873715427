"""The cgroup v1 driver: one directory per mounted hierarchy, plus the unified twin on hybrid hosts."""

from __future__ import annotations

import os
import time

from pinnace.errors import FailedPrecondition, Unavailable
from pinnace.runtime.cgroups import (
    make_dirs,
    procs_under,
    read_file,
    read_int,
    refuse_if_busy,
    remove_tree,
    write_file,
)
from pinnace.runtime.cgroups.resources import parse

#: How long freeze waits for freezer.state to settle before giving up.
FREEZE_TIMEOUT = 5.0


class V1Manager:
    """The cgroup ``rel`` in each v1 hierarchy (and in the cgroup2 mount ``unified``, if any)."""

    def __init__(self, mounts: dict[str, str], rel: str, unified: str | None = None) -> None:
        self.mounts = mounts
        self.rel = rel
        self.unified_root = unified
        self.unified = os.path.join(unified, rel) if unified else None

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
        if self.unified_root is not None and self.unified is not None:
            make_dirs(self.unified_root, self.rel)
            write_file(os.path.join(self.unified, "cgroup.procs"), str(pid))

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
        r = parse(resources)
        if r.memory_limit is not None or r.memory_swap is not None:
            self._set_memory(r.memory_limit, r.memory_swap)
        if r.memory_reservation is not None:
            self._write("memory", "memory.soft_limit_in_bytes", r.memory_reservation, "memory.reservation")
        if r.cpu_shares is not None:
            self._write("cpu", "cpu.shares", r.cpu_shares, "cpu.shares")
        if r.cpu_period is not None:
            self._write("cpu", "cpu.cfs_period_us", r.cpu_period, "cpu.period")
        if r.cpu_quota is not None:
            self._write("cpu", "cpu.cfs_quota_us", r.cpu_quota, "cpu.quota")
        if r.cpu_cpus is not None:
            self._write("cpuset", "cpuset.cpus", r.cpu_cpus, "cpu.cpus")
        if r.cpu_mems is not None:
            self._write("cpuset", "cpuset.mems", r.cpu_mems, "cpu.mems")
        if r.pids_limit is not None:
            limit = "max" if r.pids_limit in (-1, 0) else r.pids_limit
            self._write("pids", "pids.max", limit, "pids.limit")

    def _write(self, controller: str, name: str, value: int | str, setting: str) -> None:
        write_file(os.path.join(self.dir(controller), name), str(value), setting)

    def _set_memory(self, limit: int | None, swap: int | None) -> None:
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

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if "memory" in self.mounts:
            d = self.dir("memory")
            out["memory"] = {
                "usage": read_int(os.path.join(d, "memory.usage_in_bytes")),
                "max_usage": read_int(os.path.join(d, "memory.max_usage_in_bytes")),
                "limit": read_int(os.path.join(d, "memory.limit_in_bytes")),
            }
        if "pids" in self.mounts:
            d = self.dir("pids")
            out["pids"] = {
                "current": read_int(os.path.join(d, "pids.current")),
                "limit": read_int(os.path.join(d, "pids.max")),
            }
        if "cpuacct" in self.mounts:
            out["cpu"] = {"usage_ns": read_int(os.path.join(self.dir("cpuacct"), "cpuacct.usage"))}
        return out

    def pids(self) -> list[int]:
        for controller in ("pids", "freezer", "memory"):
            if controller in self.mounts:
                return procs_under(self.dir(controller))
        return procs_under(os.path.join(self._points()[0], self.rel))

    def destroy(self) -> None:
        dirs = [os.path.join(point, self.rel) for point in self._points()]
        if self.unified is not None:
            dirs.append(self.unified)
        for d in dirs:
            if os.path.isdir(d):
                refuse_if_busy(d, procs_under(d))
        for d in dirs:
            remove_tree(d)
