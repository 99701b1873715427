"""``pinnace-runtime`` create/start/state/kill/delete/run/exec/list/ps/pause/resume, end to end.

Each test runs busybox containers through the real launcher and asserts what
the container printed, its exit status, and what remains on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pinnace.runtime.state import start_time
from tests.integration.runtime_fixture import RUNTIME, Runtime

pytestmark = pytest.mark.root


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: this machine's pid 1 is slow to reap orphans)."""
    return start_time(pid) is not None


def wait_status(rt: Runtime, container_id: str, want: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        proc = rt("state", container_id)
        if proc.returncode != 0:
            time.sleep(0.02)
            continue
        state: dict[str, Any] = json.loads(proc.stdout)
        if state["status"] == want or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def test_run_sees_its_own_namespaces(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sh", "-c", "echo pid=$$; hostname; id -u; ls /proc | grep -c '^[0-9]'"])
    proc = runtime("run", "--bundle", str(bundle), runtime.new_id())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "pid=1"
    assert lines[1] == "pinnace"
    assert lines[2] == "0"
    assert int(lines[3]) <= 3  # sh, ls, grep: no host process is visible


def test_run_exit_status_and_signal(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sh", "-c", "exit 3"])
    assert runtime("run", "-b", str(bundle), runtime.new_id()).returncode == 3
    container_id = runtime.new_id()
    bundle = runtime.bundle(["sleep", "60"])
    foreground = subprocess.Popen(
        [str(RUNTIME), "--root", str(runtime.root), "run", "-b", str(bundle), container_id],
        stdin=subprocess.DEVNULL,
    )
    try:
        assert wait_status(runtime, container_id, "running")["status"] == "running"
        runtime("kill", container_id, "9", check=True)
        assert foreground.wait(timeout=30) == 137
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait()
    assert not (runtime.root / container_id).exists()  # run deletes what it ran


def test_run_missing_executable_is_127_with_runc_words(runtime: Runtime) -> None:
    bundle = runtime.bundle(["nosuchcommand"])
    container_id = runtime.new_id()
    proc = runtime("run", "-b", str(bundle), container_id)
    assert proc.returncode != 0
    assert 'exec: "nosuchcommand": executable file not found in $PATH' in proc.stderr
    assert not (runtime.root / container_id).exists()


def test_lifecycle_create_start_kill_delete(runtime: Runtime, tmp_path: Path) -> None:
    bundle = runtime.bundle(["sleep", "60"])
    container_id = runtime.new_id()
    pid_file = tmp_path / "pid"
    runtime("create", "--bundle", str(bundle), "--pid-file", str(pid_file), container_id, check=True)
    state = runtime.state(container_id)
    assert state["status"] == "created"
    assert state["id"] == container_id
    assert state["bundle"] == str(bundle)
    assert state["pid"] == int(pid_file.read_text())
    assert alive(state["pid"])
    assert Path(f"/sys/fs/cgroup/pids/{container_id}").is_dir()

    runtime("start", container_id, check=True)
    assert runtime.state(container_id)["status"] == "running"
    assert "sleep" in Path(f"/proc/{state['pid']}/cmdline").read_text()
    again = runtime("start", container_id)
    assert again.returncode == 1
    assert "cannot start an already running container" in again.stderr

    refused = runtime("delete", container_id)
    assert refused.returncode == 1
    assert "that is not stopped: running" in refused.stderr

    runtime("kill", container_id, "KILL", check=True)
    assert wait_status(runtime, container_id, "stopped")["status"] == "stopped"
    runtime("delete", container_id, check=True)
    assert not (runtime.root / container_id).exists()
    assert not Path(f"/sys/fs/cgroup/pids/{container_id}").exists()
    assert not alive(state["pid"])
    gone = runtime("state", container_id)
    assert gone.returncode == 1
    assert f"container does not exist: {container_id}" in gone.stderr


def test_delete_force_kills_a_running_container(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sleep", "60"])
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(bundle), container_id, check=True)
    pid = runtime.state(container_id)["pid"]
    runtime("delete", "-f", container_id, check=True)
    assert not alive(pid)
    assert runtime("delete", "--force", "nosuch-container").returncode == 0


def test_delete_of_a_created_container_kills_the_init(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    runtime("create", "-b", str(runtime.bundle(["true"])), container_id, check=True)
    pid = runtime.state(container_id)["pid"]
    runtime("delete", container_id, check=True)
    assert not alive(pid)


def test_exec_joins_the_container(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sleep", "60"])
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(bundle), container_id, check=True)
    proc = runtime("exec", container_id, "sh", "-c", "hostname; ps -o pid,comm | grep -c sleep; exit 4")
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout.splitlines() == ["pinnace", "1"]
    env = runtime(
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "-u",
        "1000:1000",
        container_id,
        "sh",
        "-c",
        'echo "$FOO $(pwd) $(id -u):$(id -g)"',
    )
    assert env.stdout.strip() == "bar /tmp 1000:1000", env.stderr
    missing = runtime("exec", container_id, "nosuch")
    assert missing.returncode != 0
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr


def test_exec_with_a_process_file(runtime: Runtime, tmp_path: Path) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    process = {
        "args": ["sh", "-c", "echo $X; pwd"],
        "env": ["X=1", "PATH=/bin"],
        "cwd": "/etc",
        "user": {"uid": 0, "gid": 0},
    }
    (tmp_path / "process.json").write_text(json.dumps(process))
    proc = runtime("exec", "--process", str(tmp_path / "process.json"), container_id)
    assert proc.stdout.splitlines() == ["1", "/etc"], proc.stderr


def test_pause_resume_ps_list(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    pid = runtime.state(container_id)["pid"]
    runtime("pause", container_id, check=True)
    assert runtime.state(container_id)["status"] == "paused"
    assert (
        "refrigerator" in Path(f"/proc/{pid}/wchan").read_text()
        or Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "DS"
    )
    runtime("resume", container_id, check=True)
    assert runtime.state(container_id)["status"] == "running"
    assert json.loads(runtime("ps", "--format", "json", container_id, check=True).stdout) == [pid]
    table = runtime("ps", container_id, check=True).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert str(pid) in table[1].split()
    listed = runtime("list", "--format", "json", check=True).stdout
    assert [(s["id"], s["status"]) for s in json.loads(listed)] == [(container_id, "running")]
    assert runtime("list", "-q", check=True).stdout == container_id + "\n"
    header = runtime("list", check=True).stdout.splitlines()[0].split()
    assert header == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


def test_bad_bundles_fail_create_and_leave_nothing(runtime: Runtime, tmp_path: Path) -> None:
    cases: list[tuple[Any, str]] = [
        (lambda s: s["root"].update(path="nope"), "does not exist"),
        (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[6].type"),
        (
            lambda s: s["mounts"].append({"destination": "relative", "type": "tmpfs", "source": "tmpfs"}),
            "mounts[7].destination",
        ),
    ]
    for edit, words in cases:
        container_id = runtime.new_id()
        proc = runtime("create", "-b", str(runtime.bundle(["true"], edit=edit)), container_id)
        assert proc.returncode == 1
        assert words in proc.stderr
        assert not (runtime.root / container_id).exists()
        assert not Path(f"/sys/fs/cgroup/pids/{container_id}").exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    proc = runtime("create", "-b", str(broken), runtime.new_id())
    assert proc.returncode == 1
    assert "invalid JSON" in proc.stderr


def test_duplicate_id_is_refused(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    bundle = runtime.bundle(["true"])
    runtime("create", "-b", str(bundle), container_id, check=True)
    proc = runtime("create", "-b", str(bundle), container_id)
    assert proc.returncode == 1
    assert f"container with id exists: {container_id}" in proc.stderr
    assert runtime.state(container_id)["status"] == "created"


def test_hooks_see_the_state(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "hooks"
    out.mkdir()

    def hook(phase: str) -> dict[str, Any]:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{phase}"]}

    def edit(spec: dict[str, Any]) -> None:
        spec["hooks"] = {p: [hook(p)] for p in ("prestart", "createRuntime", "poststart", "poststop")}

    container_id = runtime.new_id()
    proc = runtime("run", "-b", str(runtime.bundle(["true"], edit=edit)), container_id)
    assert proc.returncode == 0, proc.stderr
    states = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
    assert set(states) == {"prestart", "createRuntime", "poststart", "poststop"}
    assert states["createRuntime"]["id"] == container_id
    assert states["createRuntime"]["pid"] > 0
    assert states["poststop"]["status"] == "stopped"


def test_a_failing_hook_fails_create(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}

    container_id = runtime.new_id()
    proc = runtime("create", "-b", str(runtime.bundle(["true"], edit=edit)), container_id)
    assert proc.returncode == 1
    assert "createRuntime hook #0: exit status 3" in proc.stderr
    assert not (runtime.root / container_id).exists()


def test_each_container_gets_its_own_session_keyring(runtime: Runtime) -> None:
    """runc's default, and --no-new-keyring to keep the caller's (seen from the host in /proc/keys)."""
    bundle = str(runtime.bundle(["true"]))
    own, shared = runtime.new_id(), runtime.new_id()
    runtime("create", "-b", bundle, own, check=True)
    runtime("create", "--no-new-keyring", "-b", bundle, shared, check=True)
    keys = Path("/proc/keys").read_text()
    assert f"_ses.{own}" in keys
    assert f"_ses.{shared}" not in keys


def test_time_namespace_offsets(runtime: Runtime) -> None:
    """A boottime offset of 10 days shows in the container's /proc/uptime, not the host's."""

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "time"})
        spec["linux"]["timeOffsets"] = {"boottime": {"secs": 864000, "nanosecs": 0}}

    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("no time namespaces in this kernel")
    proc = runtime("run", "-b", str(runtime.bundle(["cat", "/proc/uptime"], edit=edit)), runtime.new_id())
    assert proc.returncode == 0, proc.stderr
    inside = float(proc.stdout.split()[0])
    host = float(Path("/proc/uptime").read_text().split()[0])
    assert 864000 - 60 < inside - host < 864000 + 60


def test_delete_cleans_up_after_a_killed_create(runtime: Runtime) -> None:
    """SIGKILL the runtime while its init waits for hooks; delete --force removes the half-made container."""
    marker = runtime.tmp / "hook-started"

    def edit(spec: dict[str, Any]) -> None:
        spec["hooks"] = {
            "createRuntime": [
                {
                    "path": "/bin/sh",
                    "args": ["sh", "-c", f"echo $$ > {marker}.tmp; mv {marker}.tmp {marker}; exec sleep 60"],
                }
            ]
        }

    container_id = runtime.new_id()
    bundle = runtime.bundle(["true"], edit=edit)
    proc = subprocess.Popen(
        [str(RUNTIME), "--root", str(runtime.root), "create", "-b", str(bundle), container_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists()
        cgroup = Path(f"/sys/fs/cgroup/pids/{container_id}")
        pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        assert pids  # the half-made container's init
    finally:
        proc.kill()
        proc.wait()
        if marker.exists():  # the hook (a runtime-namespace process the kill orphaned): ours to stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(marker.read_text()), 9)
    runtime("delete", "--force", container_id, check=True)
    assert not (runtime.root / container_id).exists()
    assert not cgroup.exists()
    assert not any(alive(pid) for pid in pids)


def test_create_and_state_import_nothing_heavy(runtime: Runtime) -> None:
    """The runtime starts once per container: create/start/state/delete must not pull json, re, typing..."""
    src = Path(__file__).resolve().parents[2] / "src"
    container_id = runtime.new_id()
    bundle = runtime.bundle(["true"])
    code = (
        f"import sys; sys.path[:0] = [{str(src)!r}]\n"
        "from pinnace.runtime.cli import run\n"
        f"root = {str(runtime.root)!r}\n"
        f"for argv in (['create', '-b', {str(bundle)!r}, {container_id!r}], ['state', {container_id!r}],\n"
        f"             ['start', {container_id!r}], ['delete', '-f', {container_id!r}]):\n"
        "    assert run(['--root', root, *argv]) == 0, argv\n"
        "heavy = ('json', 're', 'typing', 'dataclasses', 'pathlib', 'shutil', 'subprocess', 'enum', 'signal')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"
