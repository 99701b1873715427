"""pinnace.runtime.cgroups against the host's real hierarchies, with a real child process."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from pinnace.errors import Conflict, InvalidArgument, NotImplementedYet
from pinnace.runtime.cgroups import Manager, hierarchies, manager_for, normalize
from pinnace.runtime.cgroups.resources import parse
from pinnace.runtime.cgroups.v1 import V1Manager
from pinnace.runtime.cgroups.v2 import V2Manager

root = pytest.mark.root
MiB = 1 << 20


def all_dirs(rel: str) -> list[str]:
    """Where ``rel`` would live in every hierarchy of this host, v1 and cgroup2."""
    v1, v2 = hierarchies()
    points = set(v1.values()) | ({v2} if v2 else set())
    return [os.path.join(p, rel) for p in sorted(points)]


def leftovers() -> list[str]:
    out = subprocess.run(
        ["find", "/sys/fs/cgroup", "-maxdepth", "3", "-name", f"pinnace-test-{os.getpid()}-*"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.fixture
def rel() -> Iterator[str]:
    """A unique cgroupsPath; every directory it names is removed at the end, whatever happened."""
    name = f"pinnace-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        for d in all_dirs(name):
            if os.path.isdir(d):
                for top, _dirs, _files in os.walk(d, topdown=False):
                    os.rmdir(top)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping child of this test (the only process the tests ever kill)."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def proc_cgroups(pid: int) -> dict[str, str]:
    """/proc/PID/cgroup as {controller list: path}."""
    with open(f"/proc/{pid}/cgroup") as f:
        return {line.split(":")[1]: line.split(":", 2)[2].strip() for line in f}


def v1_or_skip(rel: str) -> V1Manager:
    mgr = manager_for(rel)
    if not isinstance(mgr, V1Manager):
        pytest.skip("host cgroups are unified (v2); the v1 driver cannot run here")
    return mgr


def test_normalize_paths() -> None:
    assert normalize("pinnace/abc") == "pinnace/abc"
    assert normalize("/pinnace/abc") == "pinnace/abc"
    with pytest.raises(NotImplementedYet, match="systemd cgroup driver is not supported"):
        normalize("system.slice:pinnace:abc")
    with pytest.raises(InvalidArgument, match=r"\.\."):
        normalize("pinnace/../../etc")
    with pytest.raises(InvalidArgument):
        normalize("/")


def test_parse_refuses_bad_resources() -> None:
    with pytest.raises(InvalidArgument, match=r"memory\.limit: invalid value -5"):
        parse({"memory": {"limit": -5}})
    with pytest.raises(InvalidArgument, match=r"cpu\.shares: must be an integer"):
        parse({"cpu": {"shares": "lots"}})
    with pytest.raises(InvalidArgument, match=r"memory\.bogus: unknown field"):
        parse({"memory": {"bogus": 1}})
    with pytest.raises(NotImplementedYet, match=r"linux\.resources\.blockIO"):
        parse({"blockIO": {"weight": 10}})
    with pytest.raises(NotImplementedYet, match=r"memory\.kernel"):
        parse({"memory": {"kernel": 1}})
    assert parse({"memory": {"limit": -1}, "pids": {"limit": 5}}).pids_limit == 5


@root
def test_v1_lifecycle(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    assert child.pid in mgr.pids()
    with open(os.path.join(mgr.dir("pids"), "cgroup.procs")) as f:
        assert str(child.pid) in f.read().split()
    seen = proc_cgroups(child.pid)
    assert seen["memory"] == f"/{rel}"
    assert seen["freezer"] == f"/{rel}"
    if mgr.unified is not None:  # hybrid: tracked in the cgroup2 twin too
        assert seen[""] == f"/{rel}"

    mgr.set(
        {
            "memory": {"limit": 64 * MiB, "reservation": 32 * MiB},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 42},
        }
    )

    def read(controller: str, name: str) -> str:
        with open(os.path.join(mgr.dir(controller), name)) as f:
            return f.read().strip()

    assert read("memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert read("memory", "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert read("cpu", "cpu.shares") == "512"
    assert read("cpu", "cpu.cfs_quota_us") == "50000"
    assert read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("cpuset", "cpuset.mems")  # inherited from the parent, not left empty
    assert read("pids", "pids.max") == "42"

    mgr.freeze(True)
    assert read("freezer", "freezer.state") == "FROZEN"
    mgr.freeze(False)
    assert read("freezer", "freezer.state") == "THAWED"

    stats = mgr.stats()
    assert stats["memory"]["usage"] >= 0  # v1 charges pages where they faulted, before the move
    assert stats["memory"]["limit"] == 64 * MiB
    assert stats["pids"] == {"current": 1, "limit": 42}
    assert stats["cpu"]["usage_ns"] >= 0

    with pytest.raises(Conflict, match="still in it"):
        mgr.destroy()
    assert all(os.path.isdir(d) for d in all_dirs(rel))

    stop(child)
    assert mgr.pids() == []
    mgr.destroy()
    assert not any(os.path.exists(d) for d in all_dirs(rel))
    mgr.destroy()  # idempotent once gone


@root
def test_v1_memory_and_swap_order(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    memsw = os.path.join(mgr.dir("memory"), "memory.memsw.limit_in_bytes")
    if not os.path.exists(memsw):
        pytest.skip("swap accounting (memory.memsw.*) is off on this kernel")
    mgr.set({"memory": {"limit": 64 * MiB, "swap": 128 * MiB}})
    # Lowering both needs limit first, raising needs memsw first: both must work.
    mgr.set({"memory": {"limit": 32 * MiB, "swap": 48 * MiB}})
    with open(memsw) as f:
        assert f.read().strip() == str(48 * MiB)
    mgr.set({"memory": {"limit": -1}})
    assert mgr.stats()["memory"]["limit"] > 1 << 40
    stop(child)
    mgr.destroy()


@root
def test_v1_invalid_limits(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    with pytest.raises(InvalidArgument, match=r"memory\.limit"):
        mgr.set({"memory": {"limit": -64 * MiB}})
    # The kernel's own refusal (period below 1 ms) names the setting and the file.
    with pytest.raises(InvalidArgument, match=r"cpu\.period: .*cpu\.cfs_period_us"):
        mgr.set({"cpu": {"period": 10}})
    with pytest.raises(NotImplementedYet, match="devices"):
        mgr.set({"devices": [{"allow": False, "access": "rwm"}]})
    stop(child)
    mgr.destroy()


@root
def test_v2_driver_on_cgroup2_mount(rel: str, child: subprocess.Popen[bytes]) -> None:
    """The v2 driver on whatever cgroup2 mount exists (the unified twin on a hybrid host)."""
    _v1, v2 = hierarchies()
    if v2 is None:
        pytest.skip("no cgroup2 mount on this host")
    mgr: Manager = V2Manager(v2, rel)
    mgr.apply(child.pid)
    assert mgr.pids() == [child.pid]
    assert proc_cgroups(child.pid)[""] == f"/{rel}"

    with open(os.path.join(v2, "cgroup.controllers")) as f:
        available = f.read().split()
    if "memory" in available and "pids" in available:
        mgr.set({"memory": {"limit": 64 * MiB}, "pids": {"limit": 42}})
        with open(os.path.join(v2, rel, "memory.max")) as f:
            assert f.read().strip() == str(64 * MiB)
        with open(os.path.join(v2, rel, "pids.max")) as f:
            assert f.read().strip() == "42"
    with pytest.raises(InvalidArgument, match=r"memory\.limit"):
        mgr.set({"memory": {"limit": -2}})

    if os.path.exists(os.path.join(v2, rel, "cgroup.freeze")):
        mgr.freeze(True)
        with open(os.path.join(v2, rel, "cgroup.events")) as f:
            assert "frozen 1" in f.read().splitlines()
        mgr.freeze(False)
        with open(os.path.join(v2, rel, "cgroup.events")) as f:
            assert "frozen 0" in f.read().splitlines()

    assert mgr.stats()["cpu"]["usage_ns"] >= 0
    with pytest.raises(Conflict):
        mgr.destroy()
    stop(child)
    mgr.destroy()
    assert not os.path.exists(os.path.join(v2, rel))


@root
def test_nothing_left_behind() -> None:
    """Runs last in this file: no pinnace-test-<this pid>-* cgroup remains anywhere."""
    assert leftovers() == []
