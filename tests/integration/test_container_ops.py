"""``pause/unpause/restart/top/stats/rename/update/container prune/events`` end to end, with real containers.

Each test runs containers through the real ``pinnace`` entry point on a
private store (the ``engine`` fixture) and checks what docker users see:
output, exit codes, and the host side of it (the freezer state and a
counter that stops for pause, the cgroup files for update).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root

CGROUP = Path("/sys/fs/cgroup")
#: A shell loop that bumps a counter file ten times a second: it stops exactly when the container is frozen.
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done"


def cgroup_file(controller: str, container_id: str, name: str) -> str:
    return (CGROUP / controller / "pinnace" / container_id / name).read_text().strip()


def inspect(engine: Pinnace, ref: str) -> dict[str, object]:
    doc = json.loads(engine.run("inspect", ref).stdout)[0]
    assert isinstance(doc, dict)
    return doc


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def now() -> str:
    """``--until`` for "everything so far" (``0s`` would cut at the start of this second, as docker's)."""
    return f"{time.time() + 0.01:.9f}"


def actions(engine: Pinnace, since: float, *filters: str) -> list[str]:
    """``{{.Action}}`` of the events since ``since`` (unix time) until now."""
    args = [f"--filter={f}" for f in filters]
    out = engine.run("events", "--since", f"{since:.9f}", "--until", now(), *args, "--format", "{{.Action}}")
    return out.stdout.split()


def test_pause_freezes_the_container_and_unpause_thaws_it(engine: Pinnace) -> None:
    started = time.time()
    container_id = engine.run("run", "-d", "--name", "frozen", "busybox", "sh", "-c", COUNTER).stdout.strip()
    counter = engine.root / "containers" / container_id / "rootfs" / "tmp" / "count"
    wait_for(lambda: counter.exists() and counter.read_text().strip() not in ("", "1"))

    assert engine.run("pause", "frozen").stdout == "frozen\n"
    assert cgroup_file("freezer", container_id, "freezer.state") == "FROZEN"
    state = inspect(engine, "frozen")["State"]
    assert isinstance(state, dict)
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    assert re.search(r"Up .* \(Paused\)", engine.run("ps").stdout)
    assert engine.run("ps", "--filter", "status=paused", "--format", "{{.Names}}").stdout == "frozen\n"
    before = counter.read_text()
    time.sleep(0.6)
    assert counter.read_text() == before  # not one tick while frozen

    again = engine.run("pause", "frozen", check=False)
    assert again.returncode == 1
    assert again.stderr == f"Error response from daemon: Container {container_id} is already paused\n"

    assert engine.run("unpause", "frozen").stdout == "frozen\n"
    assert cgroup_file("freezer", container_id, "freezer.state") == "THAWED"
    wait_for(lambda: counter.read_text() != before)
    assert inspect(engine, "frozen")["State"]["Status"] == "running"  # type: ignore[index]
    not_paused = engine.run("unpause", "frozen", check=False)
    assert not_paused.returncode == 1
    assert not_paused.stderr == f"Error response from daemon: Container {container_id} is not paused\n"
    assert actions(engine, started, "container=frozen", "event=pause", "event=unpause") == [
        "pause",
        "unpause",
    ]

    engine.run("kill", "frozen")
    engine.run("wait", "frozen")
    stopped = engine.run("pause", "frozen", "nosuch", check=False)
    assert (stopped.returncode, stopped.stdout) == (1, "")
    assert stopped.stderr == (
        f"Error response from daemon: Container {container_id} is not running\n"
        "Error response from daemon: No such container: nosuch\n"
    )


def test_a_paused_container_can_be_removed(engine: Pinnace) -> None:
    container_id = engine.run("run", "-d", "busybox", "sh", "-c", COUNTER).stdout.strip()
    engine.run("pause", container_id[:12])
    assert engine.run("rm", "-f", container_id).returncode == 0
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_restart_stops_then_starts(engine: Pinnace) -> None:
    started = time.time()
    container_id = engine.run(
        "run",
        "-d",
        "--name",
        "again",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'exit 3' TERM; sleep 60 & wait",
    ).stdout.strip()
    wait_for(lambda: engine.run("logs", "again").stdout == "started\n")
    first = inspect(engine, "again")["State"]
    assert engine.run("restart", "-t", "5", "again").stdout == "again\n"
    second = inspect(engine, "again")["State"]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert second["Status"] == "running"
    assert second["Pid"] != first["Pid"]
    assert second["StartedAt"] > first["StartedAt"]
    wait_for(lambda: engine.run("logs", "again").stdout == "started\nstarted\n")
    assert actions(engine, started, f"container={container_id}")[-2:] == ["start", "restart"]

    engine.run("kill", "again")
    engine.run("wait", "again")
    assert engine.run("restart", "again").stdout == "again\n"  # a stopped container is started
    assert inspect(engine, "again")["State"]["Running"] is True  # type: ignore[index]

    bad = engine.run("restart", "-t", "x", "again", check=False)
    assert bad.returncode == 125
    assert 'invalid argument "x" for "-t, --timeout" flag' in bad.stderr
    missing = engine.run("restart", "nosuch", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )


def test_top_shows_the_containers_processes(engine: Pinnace) -> None:
    container_id = engine.run(
        "run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 60 & sleep 61"
    ).stdout.strip()
    wait_for(lambda: len(cgroup_file("pids", container_id, "cgroup.procs").split()) >= 2)
    time.sleep(0.2)
    procs = {int(p) for p in cgroup_file("pids", container_id, "cgroup.procs").split()}

    lines = engine.run("top", "busy").stdout.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[0].startswith("UID                 PID")  # docker's columns: at least 20 wide
    shown = {int(line.split()[1]) for line in lines[1:]}
    assert shown == procs
    commands = {line.split(None, 7)[7] for line in lines[1:]}
    assert {"sleep 60", "sleep 61"} <= commands

    custom = engine.run("top", "busy", "-o", "pid,comm").stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert {int(line.split()[0]) for line in custom[1:]} == procs

    refused = engine.run("top", "busy", "-o", "user=PID", check=False)
    assert refused.returncode == 1
    assert refused.stderr == 'Error response from daemon: specifying "user=PID" is not allowed\n'
    engine.run("kill", "busy")
    engine.run("wait", "busy")
    stopped = engine.run("top", "busy", check=False)
    assert (stopped.returncode, stopped.stderr) == (
        1,
        f"Error response from daemon: Container {container_id} is not running\n",
    )


def test_stats_no_stream(engine: Pinnace) -> None:
    busy = engine.run(
        "run", "-d", "--name", "spin", "-m", "64m", "busybox", "sh", "-c", "while :; do :; done"
    ).stdout.strip()
    idle = engine.run("create", "--name", "idle", "busybox", "true").stdout.strip()

    table = engine.run("stats", "--no-stream").stdout.splitlines()
    assert re.split(r"\s{2,}", table[0]) == [
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS",
    ]  # fmt: skip
    assert len(table) == 2
    row = re.split(r"\s{2,}", table[1])
    assert row[:2] == [busy[:12], "spin"]
    assert float(row[2].rstrip("%")) > 20.0  # a busy loop keeps about one CPU busy
    usage, limit = row[3].split(" / ")
    assert limit == "64MiB"
    assert re.fullmatch(r"[\d.]+(B|KiB|MiB)", usage)
    assert re.fullmatch(r"\d+\.\d\d%", row[4])
    assert row[5] == "0B / 0B"
    assert re.fullmatch(r"[\d.]+[kMG]?B / [\d.]+[kMG]?B", row[6])
    assert row[7] == "1"

    everything = engine.run(
        "stats", "-a", "--no-stream", "--format", "{{.Name}}: {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}"
    )
    lines = sorted(everything.stdout.splitlines())
    assert lines[0] == "idle: 0.00% 0B / 0B 0"
    assert lines[1].startswith("spin: ")

    named = engine.run(
        "stats", "--no-stream", "--no-trunc", "--format", "json", "spin", idle[:12]
    ).stdout.splitlines()
    docs = [json.loads(line) for line in named]
    assert [d["Container"] for d in docs] == ["spin", idle[:12]]
    assert [d["ID"] for d in docs] == [busy, idle]
    assert sorted(docs[0]) == [
        "BlockIO",
        "CPUPerc",
        "Container",
        "ID",
        "MemPerc",
        "MemUsage",
        "Name",
        "NetIO",
        "PIDs",
    ]
    not_running = engine.run("stats", "--no-stream", "--format", "{{.MemUsage}} {{.CPUPerc}}", "idle").stdout
    assert not_running == "0B / 0B 0.00%\n"

    missing = engine.run("stats", "--no-stream", "spin", "nosuch", check=False)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "Error response from daemon: No such container: nosuch\n"


def test_rename(engine: Pinnace) -> None:
    started = time.time()
    container_id = engine.run(
        "create", "--name", "old", "--label", "team=a", "busybox", "true"
    ).stdout.strip()
    engine.run("create", "--name", "taken", "busybox", "true")
    assert engine.run("rename", "old", "new").stdout == ""
    assert inspect(engine, container_id)["Name"] == "/new"
    window = ("--since", str(started), "--until", now())
    out = engine.run("events", *window, "--filter", "event=rename", "--format", "{{json .Actor}}").stdout
    assert json.loads(out) == {
        "ID": container_id,
        "Attributes": {"image": "busybox", "name": "new", "oldName": "/old", "team": "a"},
    }

    conflict = engine.run("rename", "new", "taken", check=False)
    assert conflict.returncode == 1
    assert conflict.stderr.splitlines() == [
        'Error response from daemon: Error when allocating new name: Conflict. The container name "/taken" is '
        f'already in use by container "{inspect(engine, "taken")["Id"]}". You have to remove (or rename) that '
        "container to be able to reuse that name.",
        "Error: failed to rename container named new",
    ]
    same = engine.run("rename", "new", "new", check=False)
    assert "Renaming a container with the same name as its current name" in same.stderr
    bad = engine.run("rename", "new", "no/slash", check=False)
    assert "Invalid container name (" in bad.stderr
    empty = engine.run("rename", "new", " ", check=False)
    assert (empty.returncode, empty.stderr) == (1, "Error: Neither old nor new names may be empty\n")
    usage = engine.run("rename", "new", check=False)
    assert usage.returncode == 125
    assert '"pinnace rename" requires exactly 2 arguments.' in usage.stderr


def test_update_applies_limits_to_the_running_cgroup(engine: Pinnace) -> None:
    started = time.time()
    container_id = engine.run(
        "run", "-d", "--name", "lim", "-m", "64m", "busybox", "sh", "-c", "sleep 60"
    ).stdout.strip()
    assert cgroup_file("memory", container_id, "memory.limit_in_bytes") == str(64 << 20)
    out = engine.run(
        "update", "--memory", "96m", "--memory-swap", "192m", "--memory-reservation", "32m", "--cpus", "0.5",
        "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--restart", "on-failure:3", "lim",
    )  # fmt: skip
    assert (out.stdout, out.stderr) == ("lim\n", "")
    assert cgroup_file("memory", container_id, "memory.limit_in_bytes") == str(96 << 20)
    assert cgroup_file("memory", container_id, "memory.memsw.limit_in_bytes") == str(192 << 20)
    assert cgroup_file("memory", container_id, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert cgroup_file("cpu", container_id, "cpu.cfs_period_us") == "100000"
    assert cgroup_file("cpu", container_id, "cpu.cfs_quota_us") == "50000"
    assert cgroup_file("cpu", container_id, "cpu.shares") == "512"
    assert cgroup_file("cpuset", container_id, "cpuset.cpus") == "0"
    assert cgroup_file("pids", container_id, "pids.max") == "50"
    hc = inspect(engine, "lim")["HostConfig"]
    assert isinstance(hc, dict)
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (96 << 20, 192 << 20, 32 << 20)
    assert (hc["NanoCpus"], hc["CpuShares"], hc["CpusetCpus"], hc["PidsLimit"]) == (500_000_000, 512, "0", 50)
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert actions(engine, started, "container=lim", "event=update") == ["update"]

    engine.run("update", "--pids-limit", "-1", "lim")
    assert cgroup_file("pids", container_id, "pids.max") == "max"
    assert inspect(engine, "lim")["HostConfig"]["PidsLimit"] == 0  # type: ignore[index]


def test_update_of_a_stopped_container_applies_at_start(engine: Pinnace) -> None:
    container_id = engine.run("create", "--name", "later", "busybox", "sh", "-c", "sleep 60").stdout.strip()
    engine.run("update", "--memory", "48m", "--memory-swap", "-1", "--cpu-shares", "256", "later")
    engine.run("start", "later")
    assert cgroup_file("memory", container_id, "memory.limit_in_bytes") == str(48 << 20)
    assert cgroup_file("cpu", container_id, "cpu.shares") == "256"


def test_update_errors_are_dockers(engine: Pinnace) -> None:
    container_id = engine.run("run", "-d", "--name", "upd", "busybox", "sh", "-c", "sleep 60").stdout.strip()

    def fails(*args: str) -> tuple[int, str]:
        proc = engine.run("update", *[("upd" if a == "u" else a) for a in args], check=False)
        return proc.returncode, proc.stderr

    assert fails("u") == (1, "you must provide one or more flags when using this command\n")
    assert fails("--memory", "64m", "u") == (
        1,
        f"Error response from daemon: Cannot update container {container_id}: Memory limit should be smaller "
        "than already set memoryswap limit, update the memoryswap at the same time\n",
    )
    assert fails("--memory", "1m", "--memory-swap", "2m", "u") == (
        1,
        "Error response from daemon: Minimum memory limit allowed is 6MB\n",
    )
    assert fails("--restart", "sometimes", "u")[1] == (
        "Error response from daemon: invalid restart policy: unknown policy 'sometimes'; "
        "use one of 'no', 'always', 'on-failure', or 'unless-stopped'\n"
    )
    code, err = fails("--memory", "5x", "u")
    assert code == 125
    assert err.startswith('invalid argument "5x" for "-m, --memory" flag: ')
    code, err = fails("--cpu-shares", "512", "u", "nosuch")
    assert (code, err) == (1, "Error response from daemon: No such container: nosuch\n")
    assert cgroup_file("cpu", container_id, "cpu.shares") == "512"  # the one that exists was updated


def test_container_prune(engine: Pinnace) -> None:
    started = time.time()
    running = engine.run("run", "-d", "busybox", "sh", "-c", "sleep 60").stdout.strip()
    kept = engine.run("create", "--label", "keep=yes", "busybox", "true").stdout.strip()
    gone = engine.run("create", "busybox", "true").stdout.strip()
    exited = engine.run("run", "-d", "busybox", "sh", "-c", "echo data > /written").stdout.strip()
    engine.run("wait", exited)

    declined = engine.run("container", "prune", input=b"n\n")
    assert declined.stdout == (
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        "Total reclaimed space: 0B\n"
    )
    assert len(engine.run("ps", "-aq").stdout.split()) == 4

    out = engine.run("container", "prune", "-f", "--filter", "label!=keep").stdout
    head, _, total = out.partition("\n\n")
    assert head.splitlines()[0] == "Deleted Containers:"
    assert sorted(head.splitlines()[1:]) == sorted([gone, exited])
    assert re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?k?B\n", total)
    assert total != "Total reclaimed space: 0B\n"  # the exited one wrote a file
    assert sorted(engine.run("ps", "-aq", "--no-trunc").stdout.split()) == sorted([running, kept])
    assert "prune" in actions(engine, started, "type=container")

    assert engine.run("container", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z").stdout == (
        "Total reclaimed space: 0B\n"
    )
    bad = engine.run("container", "prune", "-f", "--filter", "name=x", check=False)
    assert (bad.returncode, bad.stderr) == (1, "Error response from daemon: invalid filter 'name'\n")
    confirmed = engine.run("container", "prune", input=b"y\n").stdout.splitlines()
    assert confirmed[1:4] == ["Are you sure you want to continue? [y/N] Deleted Containers:", kept, ""]
    assert confirmed[4].startswith("Total reclaimed space: ")


def test_events_lines_filters_and_json(engine: Pinnace) -> None:
    since = time.time()
    container_id = engine.run("run", "-d", "--name", "ev", "busybox", "true").stdout.strip()
    engine.run("wait", "ev")
    engine.run("rm", "ev")

    window = ("--since", f"{since:.3f}", "--until", now())
    lines = engine.run("events", *window, "--filter", f"container={container_id[:10]}").stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["create", "start", "die", "destroy"]
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{9}}(Z|[+-]\d\d:\d\d) container create {container_id} \(.*\)",
        lines[0],
    )
    assert "image=busybox" in lines[0] and "name=ev" in lines[0]

    created = engine.run("events", *window, "--filter", "event=create", "--format", "{{json .}}").stdout
    doc = json.loads(created)
    assert list(doc) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert (doc["status"], doc["id"], doc["from"], doc["Type"], doc["Action"], doc["scope"]) == (
        "create", container_id, "busybox", "container", "create", "local",
    )  # fmt: skip
    assert doc["time"] == doc["timeNano"] // 10**9
    assert engine.run("events", *window, "--filter", "event=create", "--format", "json").stdout == created

    assert engine.run("events", *window, "--filter", "type=image", "--filter", "container=ev").stdout == ""
    assert engine.run("events", "--since", "1h", "--until", str(int(since) - 5)).stdout == ""

    bad_time = engine.run("events", "--since", "yesterday", check=False)
    assert (bad_time.returncode, bad_time.stderr) == (
        1,
        'failed to parse value as time or duration: "yesterday"\n',
    )
    bad_format = engine.run("events", "--format", "{{.Nope}}", check=False)
    assert bad_format.returncode == 64
    assert bad_format.stderr.startswith("Error parsing format: ")


def test_events_label_filter(engine: Pinnace) -> None:
    since = time.time()
    for name, labels in (("labelled", ("--label", "k=v")), ("plain", ())):
        engine.run("run", "-d", "--name", name, *labels, "busybox", "sh", "-c", "sleep 60")
        engine.run("pause", name)
        engine.run("unpause", name)
    out = engine.run(
        "events", "--since", f"{since:.3f}", "--until", now(), "--filter", "label=k=v", "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.k}}",
    ).stdout.splitlines()  # fmt: skip
    assert {"pause labelled v", "unpause labelled v"} <= set(out)
    assert not [line for line in out if "plain" in line]


def test_events_follows_until_interrupted(engine: Pinnace) -> None:
    command = [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), "events"]
    follower = subprocess.Popen(
        [*command, "--filter", "type=container", "--format", "{{.Action}}"], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)  # the follower shows what happens after it starts: let it start first
        container_id = engine.run("run", "-d", "busybox", "true").stdout.strip()
        engine.run("wait", container_id)
        engine.run("rm", container_id)
        assert follower.stdout is not None
        seen = [follower.stdout.readline().strip() for _ in range(4)]
        assert seen == ["create", "start", "die", "destroy"]
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_events_until_in_the_future_stops_then(engine: Pinnace) -> None:
    started = time.monotonic()
    out = engine.run(
        "events", "--until", "-2s", "--filter", "event=nothing"
    )  # two seconds ahead, to the second
    assert out.stdout == ""
    assert 0.9 < time.monotonic() - started < 10
