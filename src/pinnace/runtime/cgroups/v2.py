"""The cgroup v2 driver: one directory in the unified hierarchy."""

from __future__ import annotations

import os
import time

from pinnace.errors import Unavailable
from pinnace.runtime.cgroups import (
    make_dirs,
    procs_under,
    read_file,
    read_int,
    refuse_if_busy,
    remove_tree,
    write_file,
)
from pinnace.runtime.cgroups.resources import parse, swap_for_v2, weight_from_shares

#: Controllers this driver sets limits through; only these are enabled down the path.
CONTROLLERS = ("cpu", "cpuset", "memory", "pids")
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
        self._create()
        write_file(self._file("cgroup.procs"), str(pid))

    def _create(self) -> None:
        """Create the path level by level, delegating our controllers down to it as runc does.

        Only the ones available and not yet enabled are written, so a host
        that offers none of them (a hybrid host's cgroup2 mount) is left as is.
        """
        parent = self.root
        for part in self.rel.split("/"):
            available = set(read_file(os.path.join(parent, "cgroup.controllers")).split())
            enabled = set(read_file(os.path.join(parent, "cgroup.subtree_control")).split())
            wanted = [c for c in CONTROLLERS if c in available and c not in enabled]
            if wanted:
                line = " ".join(f"+{c}" for c in wanted)
                write_file(os.path.join(parent, "cgroup.subtree_control"), line, "cgroup.subtree_control")
            make_dirs(parent, part)
            parent = os.path.join(parent, part)

    def set(self, resources: dict[str, object]) -> None:
        r = parse(resources)
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
        if r.cpu_shares is not None:
            self._write("cpu.weight", weight_from_shares(r.cpu_shares), "cpu.shares")
        if r.cpu_quota is not None or r.cpu_period is not None:
            quota, period = read_file(self._file("cpu.max")).split()
            if r.cpu_quota is not None:
                quota = "max" if r.cpu_quota in (-1, 0) else str(r.cpu_quota)
            if r.cpu_period is not None:
                period = str(r.cpu_period)
            write_file(self._file("cpu.max"), f"{quota} {period}", "cpu.quota/cpu.period")
        if r.cpu_cpus is not None:
            self._write("cpuset.cpus", r.cpu_cpus, "cpu.cpus")
        if r.cpu_mems is not None:
            self._write("cpuset.mems", r.cpu_mems, "cpu.mems")
        if r.pids_limit is not None:
            # OCI: 0 means unlimited here, as in runc.
            self._write("pids.max", -1 if r.pids_limit == 0 else r.pids_limit, "pids.limit")

    def _write(self, name: str, value: int | str, setting: str) -> None:
        write_file(self._file(name), "max" if value == -1 else str(value), setting)

    def freeze(self, frozen: bool) -> None:
        write_file(self._file("cgroup.freeze"), "1" if frozen else "0", "cgroup.freeze")
        want = f"frozen {int(frozen)}"
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while want not in read_file(self._file("cgroup.events")).splitlines():
            if time.monotonic() > deadline:
                raise Unavailable(f"cgroup {self.rel}: timed out waiting for {want!r} in cgroup.events")
            time.sleep(0.01)

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        if os.path.exists(self._file("memory.current")):
            out["memory"] = {
                "usage": read_int(self._file("memory.current")),
                "limit": read_int(self._file("memory.max")),
            }
        if os.path.exists(self._file("pids.current")):
            out["pids"] = {
                "current": read_int(self._file("pids.current")),
                "limit": read_int(self._file("pids.max")),
            }
        for line in read_file(self._file("cpu.stat")).splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                out["cpu"] = {"usage_ns": int(value) * 1000}
        return out

    def pids(self) -> list[int]:
        return procs_under(self.path)

    def destroy(self) -> None:
        if os.path.isdir(self.path):
            refuse_if_busy(self.path, procs_under(self.path))
        remove_tree(self.path)
