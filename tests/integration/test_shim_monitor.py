"""The per-container monitor: runs a busybox container detached, logs its output, records its end.

Each test spawns a real monitor (a detached, sealed interpreter) for a real
container and asserts what the log and the exit file hold, and that nothing
of the container or the monitor remains once it ended.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.errors import NotFound
from pinnace.runtime.linux import sealed
from pinnace.runtime.state import start_time
from pinnace.shim.monitor import EXIT_FILE, MonitorConfig, Started, spawn
from tests.helpers.bundle import make_bundle
from tests.helpers.zygote import stop_zygote

pytestmark = pytest.mark.root


@pytest.fixture
def runtime_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "runroot" / "runtime"
    yield root
    stop_zygote(tmp_path / "runroot")
    sealed.unseal(str(root))


def config(tmp_path: Path, root: Path, args: list[str], **kw: object) -> MonitorConfig:
    bundle = make_bundle(tmp_path / f"bundle-{len(list(tmp_path.iterdir()))}", args)
    container_id = f"pinnace-test-{os.urandom(6).hex()}"
    run_dir = tmp_path / "run" / container_id
    container_dir = tmp_path / "ctr" / container_id
    run_dir.mkdir(parents=True)
    container_dir.mkdir(parents=True)
    return MonitorConfig(
        container_id=container_id,
        bundle=str(bundle),
        runtime="pinnace",
        runtime_root=str(root),
        run_dir=str(run_dir),
        container_dir=str(container_dir),
        log_config={"Type": "json-file", "Config": kw.pop("log_opts", {})},
        **kw,  # type: ignore[arg-type]
    )


def start(cfg: MonitorConfig, root: Path) -> Started:
    return spawn(cfg, runroot=str(root.parent))


def log_file(cfg: MonitorConfig) -> Path:
    return Path(cfg.container_dir) / f"{cfg.container_id}-json.log"


def exit_file(cfg: MonitorConfig) -> str:
    return os.path.join(cfg.run_dir, EXIT_FILE)


def wait_for_file(path: str, timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    result: dict[str, object] = json.loads(Path(path).read_text())
    return result


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def assert_gone(started: Started, cfg: MonitorConfig, root: Path) -> None:
    """The monitor exits after the exit file; then nothing of the container may remain."""
    deadline = time.monotonic() + 10
    while alive(started.monitor_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(started.monitor_pid)
    assert not (root / cfg.container_id).exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cfg.container_id}"))


def test_output_is_logged_and_the_exit_recorded(tmp_path: Path, runtime_root: Path) -> None:
    cfg = config(tmp_path, runtime_root, ["sh", "-c", "echo out1; echo err1 >&2; printf tail; exit 3"])
    started = start(cfg, runtime_root)
    assert started.pid > 0 and started.monitor_pid > 0
    end = wait_for_file(exit_file(cfg))
    assert end["ExitCode"] == 3
    assert end["OOMKilled"] is False
    assert str(end["FinishedAt"]).endswith("Z")
    records = [json.loads(line) for line in log_file(cfg).read_text().splitlines()]
    by_stream = {s: [r["log"] for r in records if r["stream"] == s] for s in ("stdout", "stderr")}
    assert by_stream == {"stdout": ["out1\n", "tail"], "stderr": ["err1\n"]}
    assert all(r["time"].endswith("Z") for r in records)
    assert_gone(started, cfg, runtime_root)


def test_a_detached_container_outlives_its_starter_and_is_killed_by_signal(
    tmp_path: Path, runtime_root: Path
) -> None:
    cfg = config(tmp_path, runtime_root, ["sleep", "60"])
    started = start(cfg, runtime_root)
    assert alive(started.pid) and alive(started.monitor_pid)
    assert os.getsid(started.monitor_pid) != os.getsid(0)  # a session of its own, not ours
    os.kill(started.pid, 9)
    end = wait_for_file(exit_file(cfg))
    assert end["ExitCode"] == 137
    assert not alive(started.pid)
    assert_gone(started, cfg, runtime_root)


def test_an_oom_kill_is_recorded(tmp_path: Path, runtime_root: Path) -> None:
    cfg = config(tmp_path, runtime_root, ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
    spec = json.loads((Path(cfg.bundle) / "config.json").read_text())
    spec["linux"]["resources"] = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}
    (Path(cfg.bundle) / "config.json").write_text(json.dumps(spec))
    started = start(cfg, runtime_root)
    end = wait_for_file(exit_file(cfg))
    assert end["ExitCode"] == 137
    assert end["OOMKilled"] is True
    assert_gone(started, cfg, runtime_root)


def test_a_container_that_cannot_start_reports_the_runtimes_error(tmp_path: Path, runtime_root: Path) -> None:
    cfg = config(tmp_path, runtime_root, ["nosuchcommand"])
    with pytest.raises(NotFound, match='exec: "nosuchcommand": executable file not found in \\$PATH'):
        start(cfg, runtime_root)
    assert not os.path.exists(exit_file(cfg))
    assert not (runtime_root / cfg.container_id).exists()
    assert not Path(f"/sys/fs/cgroup/pids/{cfg.container_id}").exists()


def test_logs_rotate(tmp_path: Path, runtime_root: Path) -> None:
    script = (
        "i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    )
    cfg = config(tmp_path, runtime_root, ["sh", "-c", script], log_opts={"max-size": "4k", "max-file": "3"})
    started = start(cfg, runtime_root)
    wait_for_file(exit_file(cfg))
    assert_gone(started, cfg, runtime_root)
    logs = Path(cfg.container_dir)
    files = sorted(p.name for p in logs.iterdir() if p.name.startswith(f"{cfg.container_id}-json.log"))
    assert files == [
        f"{cfg.container_id}-json.log",
        f"{cfg.container_id}-json.log.1",
        f"{cfg.container_id}-json.log.2",
    ]
    assert all(os.path.getsize(logs / f) <= 4096 for f in files)
    last = json.loads(log_file(cfg).read_text().splitlines()[-1])
    assert last["log"].startswith("line-399-")
