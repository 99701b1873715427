"""pinnace.runtime.cgroups against the host's real hierarchies, with a real child process."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from pinnace.errors import Conflict, FailedPrecondition, InvalidArgument, NotImplementedYet
from pinnace.runtime.cgroups import Manager, devices, ebpf, hierarchies, manager_for, normalize
from pinnace.runtime.cgroups.resources import parse
from pinnace.runtime.cgroups.v1 import V1Manager
from pinnace.runtime.cgroups.v2 import V2Manager
from pinnace.runtime.defaults import DEVICE_RULES

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


def subtree_control(root: str | None) -> set[str]:
    if root is None:
        return set()
    with open(os.path.join(root, "cgroup.subtree_control")) as f:
        return set(f.read().split())


@pytest.fixture
def rel() -> Iterator[str]:
    """A unique cgroupsPath; every directory it names is removed at the end, whatever happened.

    Controllers the test had the cgroup2 root delegate (a v2 manager enables
    them, as runc does) are switched off again, best effort: the host's
    cgroup2 root is left as it was found.
    """
    name = f"pinnace-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    v2 = hierarchies()[1]
    before = subtree_control(v2)
    try:
        yield name
    finally:
        for d in all_dirs(name):
            if os.path.isdir(d):
                for top, _dirs, _files in os.walk(d, topdown=False):
                    os.rmdir(top)
        for controller in subtree_control(v2) - before:
            try:
                with open(os.path.join(str(v2), "cgroup.subtree_control"), "w") as f:
                    f.write(f"-{controller}")
            except OSError:
                pass  # another cgroup uses it meanwhile: not ours to take away


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


#: A child that, for each "PATH MODE" line on stdin (MODE r or rw), opens PATH and answers "ok" or the errno.
PROBE = """
import os, sys
for line in sys.stdin:
    path, mode = line.split()
    try:
        os.close(os.open(path, os.O_RDWR if mode == "rw" else os.O_RDONLY))
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""
EPERM = str(errno.EPERM)
ALLOW_ALL = [{"allow": True, "access": "rwm"}]
DENY_NULL = [*ALLOW_ALL, {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]


@pytest.fixture
def prober() -> Iterator[subprocess.Popen[str]]:
    """A PROBE child; only its pid is put in test cgroups."""
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def try_open(proc: subprocess.Popen[str], path: str = "/dev/null", mode: str = "rw") -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{path} {mode}\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
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
    with pytest.raises(NotImplementedYet, match=r"linux\.resources\.rdma"):
        parse({"rdma": {}})
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
def test_destroy_removes_child_cgroups_too(rel: str, child: subprocess.Popen[bytes]) -> None:
    """A cgroup made below the container's (by a process inside, or by hand) goes with it."""
    mgr = manager_for(rel)
    mgr.apply(child.pid)
    stop(child)
    for d in all_dirs(rel):
        os.makedirs(os.path.join(d, "inner", "deeper"))
    mgr.destroy()
    assert not any(os.path.exists(d) for d in all_dirs(rel))


@root
def test_a_process_left_in_one_hierarchy_keeps_its_cgroup_there(rel: str, child: subprocess.Popen[bytes]) -> None:
    """destroy removes what is empty and refuses, naming it, the cgroup that still holds a process.

    The child is moved back to the root everywhere but the pids hierarchy, so
    only its cgroup there is busy: that one, and what comes after it, stay.
    """
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    busy = mgr.dir("pids")
    for d in all_dirs(rel):
        if d != busy:
            with open(os.path.join(os.path.dirname(d), "cgroup.procs"), "w") as f:
                f.write(str(child.pid))
    with pytest.raises(Conflict, match=f"cannot remove cgroup {busy}: 1 process"):
        mgr.destroy()
    assert os.path.isdir(busy)
    assert child.pid in mgr.pids()
    stop(child)
    mgr.destroy()
    assert not any(os.path.exists(d) for d in all_dirs(rel))


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
    with pytest.raises(
        InvalidArgument, match=r"devices\[0\]\.access: device access at 0 field cannot be empty"
    ):
        mgr.set({"devices": [{"allow": False}]})
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
def test_v1_devices(rel: str, prober: subprocess.Popen[str]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(prober.pid)
    assert try_open(prober) == "ok"
    mgr.set({"devices": DENY_NULL})
    assert try_open(prober) == EPERM
    assert try_open(prober, "/dev/zero") == "ok"
    mgr.set({"devices": ALLOW_ALL})
    assert try_open(prober) == "ok"

    rules = [dict(rule) for rule in DEVICE_RULES]
    mgr.set({"devices": rules})
    assert try_open(prober) == "ok"
    assert try_open(prober, "/dev/kmsg", "r") == EPERM  # not in Docker's allowlist
    listing = os.path.join(mgr.dir("devices"), "devices.list")
    with open(listing) as f:
        current = devices.from_list(f.read())
    target = parse({"devices": rules}).devices
    assert current == target
    assert target is not None and devices.transition(current, target) == []  # re-applying writes nothing

    mgr.set({"devices": []})  # an empty list leaves the rules as they are
    assert try_open(prober, "/dev/kmsg", "r") == EPERM
    stop(prober)
    mgr.destroy()


@root
def test_v2_devices_through_bpf(rel: str, prober: subprocess.Popen[str]) -> None:
    """A BPF device filter on the cgroup2 mount (the unified twin on a hybrid host works too)."""
    _v1, v2 = hierarchies()
    if v2 is None:
        pytest.skip("no cgroup2 mount on this host")
    mgr = V2Manager(v2, rel)
    mgr.apply(prober.pid)
    mgr.set({"devices": DENY_NULL})
    assert try_open(prober) == EPERM
    assert try_open(prober, "/dev/zero") == "ok"
    mgr.set({"devices": ALLOW_ALL})
    assert try_open(prober) == "ok"
    # A deny exception matches any overlap, as on v1: write denied, so read-write fails, read works.
    mgr.set({"devices": [*ALLOW_ALL, {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]})
    assert try_open(prober) == EPERM
    assert try_open(prober, mode="r") == "ok"
    mgr.set({"devices": [dict(rule) for rule in DEVICE_RULES]})
    assert try_open(prober) == "ok"
    assert try_open(prober, "/dev/kmsg", "r") == EPERM

    assert len(ebpf.attached(mgr.path)) == 1  # each set replaced the program before it
    stop(prober)
    mgr.destroy()


@root
def test_v1_swappiness_and_oom_killer_switch(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    mgr.set({"memory": {"swappiness": 10, "disableOOMKiller": True}})
    d = mgr.dir("memory")
    with open(os.path.join(d, "memory.swappiness")) as f:
        assert f.read().strip() == "10"
    with open(os.path.join(d, "memory.oom_control")) as f:
        assert "oom_kill_disable 1" in f.read().splitlines()
    mgr.set({"memory": {"disableOOMKiller": False}})
    with open(os.path.join(d, "memory.oom_control")) as f:
        assert "oom_kill_disable 0" in f.read().splitlines()
    stop(child)
    mgr.destroy()


@root
def test_oom_kill_shows_in_stats(rel: str) -> None:
    """A child allocating 200 MiB under a 32 MiB limit is OOM-killed, and stats and oom_kills count it."""
    mgr = manager_for(rel)
    hog = subprocess.Popen(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys; sys.stdin.readline(); b = b'x' * (200 << 20); print(len(b))",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        mgr.apply(hog.pid)
        limits: dict[str, object] = {"limit": 32 * MiB}
        if isinstance(mgr, V1Manager) and os.path.exists(
            os.path.join(mgr.dir("memory"), "memory.memsw.limit_in_bytes")
        ):
            limits["swap"] = 32 * MiB  # no swapping out of it either
        try:
            mgr.set({"memory": limits})
        except FailedPrecondition:
            pytest.skip("no memory controller for this cgroup")
        out, _ = hog.communicate(b"go\n", timeout=60)
        assert hog.returncode == -signal.SIGKILL and out == b""
        assert mgr.stats()["memory"]["oom_kill"] >= 1
        assert mgr.oom_kills() == mgr.stats()["memory"]["oom_kill"]  # what a monitor reads at the exit
    finally:
        if hog.poll() is None:
            os.kill(hog.pid, signal.SIGKILL)
        hog.wait()
    mgr.destroy()


def first_block_device() -> tuple[int, int]:
    with open("/proc/partitions") as f:
        for line in f.read().splitlines()[2:]:
            fields = line.split()
            if fields:
                return int(fields[0]), int(fields[1])
    pytest.skip("no block device on this host")


@root
def test_v1_blkio(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    if "blkio" not in mgr.mounts:
        pytest.skip("no v1 blkio hierarchy")
    mgr.apply(child.pid)
    major, minor = first_block_device()
    mgr.set(
        {
            "blockIO": {
                "weight": 300,
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": MiB}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
            }
        }
    )
    d = mgr.dir("blkio")
    weight = "blkio.weight" if os.path.exists(os.path.join(d, "blkio.weight")) else "blkio.bfq.weight"
    with open(os.path.join(d, weight)) as f:
        assert f.read().split()[-1] == "300"  # "300", or BFQ's "default 300"
    with open(os.path.join(d, "blkio.throttle.read_bps_device")) as f:
        assert f.read().split() == [f"{major}:{minor}", str(MiB)]
    with open(os.path.join(d, "blkio.throttle.write_iops_device")) as f:
        assert f.read().split() == [f"{major}:{minor}", "100"]
    with pytest.raises(InvalidArgument, match=r"no such device: blockIO\.throttleReadBpsDevice\[0\]"):
        mgr.set({"blockIO": {"throttleReadBpsDevice": [{"major": 4095, "minor": 1048575, "rate": 1}]}})
    if not os.path.exists(os.path.join(d, "blkio.leaf_weight")):  # CFQ left in Linux 5.0
        with pytest.raises(FailedPrecondition, match=r"blockIO\.leafWeight: .*blkio\.leaf_weight"):
            mgr.set({"blockIO": {"leafWeight": 300}})
    stop(child)
    mgr.destroy()


@root
def test_hugetlb_limits(rel: str, child: subprocess.Popen[bytes]) -> None:
    """hugetlb.2MB.* in v1's hierarchy, or on a hybrid host without it, in the cgroup2 twin."""
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2MB huge pages on this host")
    mgr = manager_for(rel)
    mgr.apply(child.pid)
    try:
        mgr.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    except FailedPrecondition:
        pytest.skip("no hugetlb controller for this cgroup")
    if isinstance(mgr, V1Manager) and "hugetlb" in mgr.mounts:
        path = os.path.join(mgr.dir("hugetlb"), "hugetlb.2MB.limit_in_bytes")
    else:
        v2 = mgr.twin if isinstance(mgr, V1Manager) else mgr
        assert isinstance(v2, V2Manager)
        path = os.path.join(v2.path, "hugetlb.2MB.max")
    with open(path) as f:
        assert f.read().strip() == str(4 * MiB)
    with pytest.raises(
        InvalidArgument,
        match=r"hugepageLimits\[0\]\.pageSize: invalid hugepage size '3MB' \(this host has .*2MB",
    ):
        mgr.set({"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]})
    stop(child)
    mgr.destroy()


@root
def test_v1_cpu_burst_idle_and_realtime(rel: str, child: subprocess.Popen[bytes]) -> None:
    mgr = v1_or_skip(rel)
    mgr.apply(child.pid)
    d = mgr.dir("cpu")

    def read(name: str) -> str:
        with open(os.path.join(d, name)) as f:
            return f.read().strip()

    if not os.path.exists(os.path.join(d, "cpu.cfs_burst_us")):
        with pytest.raises(FailedPrecondition, match=r"cpu\.burst"):
            mgr.set({"cpu": {"burst": 1000}})
    else:
        mgr.set({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}})
        assert (read("cpu.cfs_quota_us"), read("cpu.cfs_burst_us")) == ("50000", "20000")
        # A burst above the old quota is written after the new quota.
        mgr.set({"cpu": {"quota": 200000, "burst": 150000}})
        assert (read("cpu.cfs_quota_us"), read("cpu.cfs_burst_us")) == ("200000", "150000")
    if os.path.exists(os.path.join(d, "cpu.idle")):
        mgr.set({"cpu": {"idle": 1}})
        assert read("cpu.idle") == "1"
        mgr.set({"cpu": {"idle": 0}})
    if os.path.exists(os.path.join(d, "cpu.rt_runtime_us")):
        mgr.set({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}})
        assert (read("cpu.rt_period_us"), read("cpu.rt_runtime_us")) == ("1000000", "10000")
    stop(child)
    mgr.destroy()


@root
def test_nothing_left_behind() -> None:
    """Runs last in this file: no pinnace-test-<this pid>-* cgroup remains anywhere."""
    assert leftovers() == []
