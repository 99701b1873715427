"""Containers under stress and faults: concurrent CLIs, starts that fail, a monitor killed.

Issue 4's reliability contract, checked through the real ``pinnace`` entry
point on real containers: whatever happens, the store stays consistent and
nothing of a removed container remains -- no record, mount, cgroup, process,
runtime state, directory or snapshot.  Every process a test sees (each
container's init and its monitor, found as the init's parent) is tracked by
pid and start time and must be gone afterwards; one that is not is killed by
its pid before the test fails, so a failure leaks nothing either.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinnace.mount.flags import mount_points
from tests.conftest import Pinnace

pytestmark = pytest.mark.root

CGROUP_ROOT = Path("/sys/fs/cgroup")
SLEEP = ("busybox", "busybox", "sleep", "600")
# How long a removed container's processes may take to exit (the monitor writes its exit file last).
GONE_TIMEOUT = 10.0


# -- processes ----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


@dataclass(frozen=True)
class Proc:
    """A process seen in a test, named by pid and start time so that a reused pid is never taken for it."""

    pid: int
    start: str
    what: str

    @classmethod
    def of(cls, pid: int, what: str) -> Proc | None:
        fields = _stat(pid)
        return None if fields is None or fields[0] in ("Z", "X") else cls(pid, fields[19], what)

    def alive(self) -> bool:
        fields = _stat(self.pid)
        return fields is not None and fields[0] not in ("Z", "X") and fields[19] == self.start

    def parent(self) -> int:
        fields = _stat(self.pid)
        return int(fields[1]) if fields is not None else 0

    def kill(self) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def running_container(engine: Pinnace, ref: str) -> tuple[str, Proc, Proc]:
    """(full ID, init, monitor) of a running container; the monitor is the init's parent."""
    out = engine.run("inspect", "--format", "{{.Id}} {{.State.Pid}} {{.State.Status}}", ref).stdout
    container_id, pid, status = out.split()
    assert status == "running", out
    init = Proc.of(int(pid), f"init of {ref}")
    assert init is not None, f"{ref}: its init {pid} is not alive"
    monitor = Proc.of(init.parent(), f"monitor of {ref}")
    assert monitor is not None and monitor.pid > 1, f"{ref}: no monitor above init {pid}"
    return container_id, init, monitor


def _pids() -> set[int]:
    return {int(e) for e in os.listdir("/proc") if e.isdigit()}


def _mentions(pid: int, path: str) -> bool:
    """Whether the process's command line, cwd or root lies in path (a monitor's or a container's)."""
    try:
        if path.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            return True
        return any(os.readlink(f"/proc/{pid}/{link}").startswith(path) for link in ("cwd", "root"))
    except OSError:
        return False


def _zygotes(engine: Pinnace) -> set[int]:
    """The pids of the store's zygotes and their spares (they fork monitors and CLIs, and outlive them)."""
    from tests.helpers.zygote import zygote_processes

    return zygote_processes(engine.runroot)


def reap(procs: Iterable[Proc], timeout: float = GONE_TIMEOUT) -> list[Proc]:
    """Wait until every process has exited; SIGKILL (by pid) and return those that would not."""
    left = [p for p in procs if p.alive()]
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if p.alive()]
    for p in left:
        p.kill()
    return left


# -- what a container may leave behind -----------------------------------------------------------


def cgroups_of(container_ids: Iterable[str]) -> list[Path]:
    """The cgroup directories of these containers, in every hierarchy (pinnace's parent is /pinnace)."""
    ids = set(container_ids)
    return [p for p in CGROUP_ROOT.glob("*/pinnace/*") if p.name in ids and p.is_dir()] + [
        p for p in CGROUP_ROOT.glob("pinnace/*") if p.name in ids and p.is_dir()
    ]


def _entries(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def snapshots(engine: Pinnace) -> list[tuple[str, int, str]]:
    """(key, id, kind) of every snapshot record, read straight from the metadata DB."""
    db = sqlite3.connect(f"file:{engine.root / 'pinnace.db'}?mode=ro", uri=True, timeout=30)
    try:
        return [tuple(row) for row in db.execute("SELECT key, id, kind FROM snapshots ORDER BY id")]
    finally:
        db.close()


def image_chain_ids(engine: Pinnace) -> set[str]:
    db = sqlite3.connect(f"file:{engine.root / 'pinnace.db'}?mode=ro", uri=True, timeout=30)
    try:
        return {row[0] for row in db.execute("SELECT chain_id FROM image_layers")}
    finally:
        db.close()


def leftovers(engine: Pinnace, container_ids: Iterable[str]) -> dict[str, list[str]]:
    """Everything of these (removed) containers still around; an empty dict when all went."""
    ids = set(container_ids)
    store = str(engine.root.parent)
    found = {
        "containers listed": engine.run("ps", "-a", "-q", "--no-trunc").stdout.split(),
        "mounts": [m for m in mount_points() if m.startswith(store)],
        "cgroups": [str(p) for p in cgroups_of(ids)],
        "container dirs": _entries(engine.root / "containers"),
        "run dirs": _entries(engine.runroot / "containers"),
        "runtime state": [n for n in _entries(engine.runroot / "runtime") if n in ids],
    }
    records = snapshots(engine)
    image = image_chain_ids(engine)
    # What may stay: the image's layers, and its init layer (shared by the image's containers; GC's).
    found["snapshots"] = [
        f"{key} ({kind})"
        for key, _, kind in records
        if kind != "committed" or not (key in image or key.startswith("init-"))
    ]
    owned = {str(ident) for _, ident, _ in records}
    found["snapshot dirs"] = [n for n in _entries(engine.root / "snapshots") if n not in owned]
    df = engine.run("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout
    found["system df"] = [
        line for line in df.splitlines() if line.startswith("Containers") and line != "Containers 0"
    ]
    return {what: items for what, items in found.items() if items}


def assert_nothing_left(engine: Pinnace, container_ids: Iterable[str], procs: Iterable[Proc]) -> None:
    ids = list(container_ids)
    survivors = reap(procs)
    left = leftovers(engine, ids)
    if survivors:
        left["processes (killed by pid)"] = [f"{p.what} pid {p.pid}" for p in survivors]
    assert left == {}


@pytest.fixture
def tracked(engine: Pinnace) -> Iterator[list[Proc]]:
    """Processes a test saw; whatever of them outlives the test (and the engine's cleanup) is killed."""
    procs: list[Proc] = []
    yield procs
    reap(procs, timeout=2.0)


# -- two CLIs at once ----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_clis_run_and_remove_20_containers_each_at_once(engine: Pinnace, tracked: list[Proc]) -> None:
    """Two streams of CLI processes, 20 `run -d` and 20 `rm -f` each, at the same time.

    One stream starts its 20 containers and then removes them; the other
    removes each one right after starting it, so runs meet runs, runs meet
    removals, and removals meet removals.
    """

    def stream(tag: str, interleave: bool) -> list[str]:
        names = [f"{tag}-{i}" for i in range(20)]
        ids = []

        def remove(name: str) -> None:
            container_id, init, monitor = running_container(engine, name)
            tracked.extend((init, monitor))
            ids.append(container_id)
            assert engine.run("rm", "-f", name).stdout == f"{name}\n"

        for name in names:
            engine.run("run", "-d", "--name", name, *SLEEP)
            if interleave:
                remove(name)
        if not interleave:
            for name in names:
                remove(name)
        return ids

    with ThreadPoolExecutor(2) as pool:
        batches = [pool.submit(stream, "one", False), pool.submit(stream, "two", True)]
        ids = [cid for batch in batches for cid in batch.result()]
    assert len(set(ids)) == 40
    assert engine.run("ps", "-a", "-q").stdout == ""
    assert_nothing_left(engine, ids, tracked)
    # The store is still usable: the names are free again.
    engine.run("run", "--rm", "--name", "one-0", "busybox", "true")


@pytest.mark.slow
def test_two_clis_contending_for_the_same_names(engine: Pinnace, tracked: list[Proc]) -> None:
    """Both streams `run -d --name X` and then `rm -f X` for the same 10 names at once.

    Exactly one run per name wins; the loser gets docker's name conflict
    (exit 125) and leaves nothing.  Of two `rm -f` at once, each succeeds
    (`rm -f` of a container the other just removed is no error) or, as
    dockerd answers the second while the first is under way, fails with
    "removal of container X is already in progress"; nothing is left.
    """
    names = [f"same-{i}" for i in range(10)]
    seen: list[str] = []

    def stream(_: int) -> list[tuple[str, int, str]]:
        results = []
        for name in names:
            proc = engine.run("run", "-d", "--name", name, *SLEEP, check=False)
            results.append((name, proc.returncode, proc.stderr))
            if proc.returncode == 0:
                seen.append(proc.stdout.strip())
        return results

    with ThreadPoolExecutor(2) as pool:
        runs = [r for batch in pool.map(stream, range(2)) for r in batch]
    for name in names:
        mine = [r for r in runs if r[0] == name]
        assert sorted(code == 0 for _, code, _ in mine) == [False, True], mine
        loser = next(err for _, code, err in mine if code != 0)
        assert f'The container name "/{name}" is already in use by container' in loser
    for name in names:
        _, init, monitor = running_container(engine, name)
        tracked.extend((init, monitor))

    def remove(_: int) -> list[tuple[str, int, str]]:
        return [(n, *_code_and_err(engine.run("rm", "-f", n, check=False))) for n in names]

    with ThreadPoolExecutor(2) as pool:
        removals = [r for batch in pool.map(remove, range(2)) for r in batch]
    assert_nothing_left(engine, seen, tracked)
    assert all(any(n == name and code == 0 for n, code, _ in removals) for name in names), removals
    # Last, as they are no matter of leaks: docker's exit code for a name conflict, and its
    # words for a removal already under way.
    assert sorted({code for _, code, _ in runs}) == [0, 125]
    refused = [r for r in removals if r[1] != 0]
    assert [r for r in refused if f"removal of container {r[0]} is already in progress" not in r[2]] == []


def _code_and_err(proc: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return proc.returncode, proc.stderr


def test_the_leak_check_sees_a_running_container(engine: Pinnace, tracked: list[Proc]) -> None:
    """The checker's own test: everything it looks for is there while a container runs."""
    engine.run("run", "-d", "--name", "alive", *SLEEP)
    container_id, init, monitor = running_container(engine, "alive")
    tracked.extend((init, monitor))
    found = leftovers(engine, [container_id])
    expected = {
        "containers listed",
        "mounts",
        "cgroups",
        "container dirs",
        "run dirs",
        "snapshots",
    }
    assert expected <= set(found), found
    assert any(container_id in key for key in found["snapshots"])
    engine.run("rm", "-f", "alive")
    assert_nothing_left(engine, [container_id], [init, monitor])


def test_system_df_counts_containers(engine: Pinnace, tracked: list[Proc]) -> None:
    """docker's `system df` counts containers (TOTAL) and running ones (ACTIVE)."""
    engine.run("create", "--name", "idle", "busybox", "true")
    engine.run("run", "-d", "--name", "busy", *SLEEP)
    _, init, monitor = running_container(engine, "busy")
    tracked.extend((init, monitor))
    df = engine.run("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").stdout
    assert "Containers 2 1" in df.splitlines()
    engine.run("rm", "-f", "idle", "busy")
    df = engine.run("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").stdout
    assert "Containers 0 0" in df.splitlines()


# -- a start that fails --------------------------------------------------------------------------


DENY_ALL = '{"defaultAction": "SCMP_ACT_ERRNO"}'


@pytest.mark.parametrize(
    ("args", "code", "message", "kept"),
    [
        # The init's exec fails: after the cgroup, the namespaces and the mounts were made.
        (
            ("busybox", "/nonexistent"),
            127,
            'exec: "/nonexistent": stat /nonexistent: no such file or directory',
            True,
        ),
        (("busybox", "/etc/passwd"), 126, "permission denied", True),
        (("busybox", "/tmp"), 126, "", True),
        # The kernel refuses the init everything: it dies before it can exec.
        (("--security-opt", "seccomp=DENY_ALL", "busybox", "true"), 125, "", True),
        # The engine refuses once the root filesystem is there; docker finds this one at create.
        (
            ("-w", "/etc/passwd", "busybox", "true"),
            125,
            "Cannot mkdir: /etc/passwd is not a directory",
            False,
        ),
        (
            ("-u", "nobody", "busybox", "true"),
            125,
            "unable to find user nobody: no matching entries in passwd file",
            True,
        ),
    ],
    ids=[
        "not-found",
        "not-executable",
        "directory",
        "seccomp-denies-all",
        "workdir-is-a-file",
        "unknown-user",
    ],
)
def test_a_start_that_fails_leaves_nothing_behind(
    engine: Pinnace, tmp_path: Path, args: tuple[str, ...], code: int, message: str, kept: bool
) -> None:
    """docker's exit code and message; the container stays "Created" where docker keeps it, and
    nothing of the attempt remains (mount, cgroup, runtime state, process); `rm` then works."""
    profile = tmp_path / "deny-all.json"
    profile.write_text(DENY_ALL)
    args = tuple(a.replace("DENY_ALL", str(profile)) for a in args)
    before = _pids()
    proc = engine.run("run", "-d", "--name", "broken", *args, check=False)
    assert proc.returncode != 0
    listed = engine.run("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout
    assert listed in ("broken created\n", "")
    container_id = engine.run("inspect", "--format", "{{.Id}}", "broken", check=False).stdout.strip()
    store = str(engine.root.parent)
    assert [m for m in mount_points() if m.startswith(store)] == []
    assert cgroups_of([container_id]) == []
    assert [n for n in _entries(engine.runroot / "runtime") if n == container_id] == []
    # No process of the attempt (a monitor, an init) lives on; the store's zygotes may.
    assert [pid for pid in _pids() - before - _zygotes(engine) if _mentions(pid, store)] == []
    if listed:
        assert engine.run("rm", "broken").stdout == "broken\n"
    assert_nothing_left(engine, [container_id], [])
    # Last, as they are no matter of leaks: docker's exit code, message, and whether it keeps the container.
    assert (proc.returncode, message in proc.stderr) == (code, True), proc.stderr
    assert listed == ("broken created\n" if kept else "")


def test_a_failed_start_can_be_retried_and_removed(engine: Pinnace) -> None:
    """`start` after a failed `run` fails the same way and leaves nothing either."""
    assert (
        engine.run("run", "-d", "--name", "again", "busybox", "/nonexistent", check=False).returncode == 127
    )
    container_id = engine.run("inspect", "--format", "{{.Id}}", "again").stdout.strip()
    for _ in range(2):
        retried = engine.run("start", "again", check=False)
        assert retried.returncode != 0
        assert "no such file or directory" in retried.stderr
        assert [m for m in mount_points() if m.startswith(str(engine.root.parent))] == []
        assert cgroups_of([container_id]) == []
    engine.run("rm", "again")
    assert_nothing_left(engine, [container_id], [])


# -- a monitor killed ----------------------------------------------------------------------------


def _state(engine: Pinnace, ref: str) -> dict[str, object]:
    state: dict[str, object] = json.loads(engine.run("inspect", "--format", "{{json .State}}", ref).stdout)
    return state


def test_a_monitor_killed_with_sigkill_leaves_a_recoverable_container(
    engine: Pinnace, tracked: list[Proc]
) -> None:
    engine.run("run", "-d", "--name", "orphan", *SLEEP)
    container_id, init, monitor = running_container(engine, "orphan")
    tracked.extend((init, monitor))
    os.kill(monitor.pid, signal.SIGKILL)
    assert reap([monitor], timeout=5.0) == []
    # Not stuck "running": the next command that looks sees the monitor gone.
    listed = engine.run("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout
    assert listed == "orphan exited\n"
    assert engine.run("ps", "-q").stdout == ""
    state = _state(engine, "orphan")
    assert (state["Running"], state["Pid"]) == (False, 0)
    assert state["ExitCode"] != 0
    # The container's own process does not outlive its monitor (docker's containerd kills a
    # task whose shim died); nor do its mounts or its cgroup, once the engine has looked.
    survivors = reap([init], timeout=5.0)
    assert survivors == [], f"the container's init {init.pid} outlived its monitor (now killed)"
    assert cgroups_of([container_id]) == []
    engine.run("rm", "-f", "orphan")
    assert_nothing_left(engine, [container_id], [init, monitor])
    # docker: containerd kills the task of a dead shim and reports it SIGKILLed (128 + 9), no error.
    assert (state["ExitCode"], state["Error"]) == (137, ""), state


def test_a_container_whose_monitor_died_starts_again(engine: Pinnace, tracked: list[Proc]) -> None:
    engine.run("run", "-d", "--name", "phoenix", *SLEEP)
    container_id, init, monitor = running_container(engine, "phoenix")
    tracked.extend((init, monitor))
    os.kill(monitor.pid, signal.SIGKILL)
    reap([monitor], timeout=5.0)
    assert engine.run("ps", "-a", "--format", "{{.State}}").stdout == "exited\n"
    reap([init], timeout=5.0)
    engine.run("start", "phoenix")
    _, init2, monitor2 = running_container(engine, "phoenix")
    tracked.extend((init2, monitor2))
    assert init2.pid != init.pid
    engine.run("rm", "-f", "phoenix")
    assert_nothing_left(engine, [container_id], [init, monitor, init2, monitor2])
