"""bench/volumes.py's cases, on the host pseudo-tool and a stand-in engine: no engine, no peers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data, runner, volumes  # noqa: E402
from bench.cases import Context  # noqa: E402
from bench.density import IMAGE  # noqa: E402
from bench.tools import TOOLS, CommandFailed, Session, ToolError  # noqa: E402

needs_busybox = pytest.mark.skipif(not data.BUSYBOX.is_file(), reason="needs busybox-static")


def test_dd_seconds_is_times_last_line_once_every_block_was_copied() -> None:
    assert volumes.dd_seconds("64+0 records in\n64+0 records out\n0.11\n", 64) == 0.11
    with pytest.raises(ToolError, match=r"dd copied 10\+0 records out, not 64 blocks"):
        volumes.dd_seconds("64+0 records in\n10+0 records out\n0.01\n", 64)
    with pytest.raises(ToolError, match=r"dd copied nothing, not 64 blocks"):
        volumes.dd_seconds("0.01\n", 64)
    with pytest.raises(ToolError, match="no run time"):
        volumes.dd_seconds("64+0 records in\n64+0 records out\n", 64)


def test_the_host_tool_runs_the_command_itself(tmp_path: Path) -> None:
    session = TOOLS["host"].open(tmp_path / "host")
    assert TOOLS["host"].probe() is None
    assert session.argv("true") == ["true"]
    assert session.run("echo", "hi") == "hi\n"


def resident_bytes(path: Path) -> int:
    """How much of path is in the page cache (util-linux's fincore)."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip())


@pytest.mark.skipif(shutil.which("fincore") is None, reason="needs util-linux's fincore")
def test_evict_drops_the_files_pages_from_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(4 << 20))
    path.read_bytes()
    if resident_bytes(path) == 0:
        pytest.skip("this filesystem keeps no page cache (e.g. O_DIRECT-only)")
    volumes.evict(path)
    assert resident_bytes(path) == 0


@needs_busybox
@pytest.mark.parametrize("name", ["vol-write", "vol-read"])
def test_io_cases_time_dd_on_the_host(tmp_path: Path, name: str) -> None:
    """The baseline end to end: busybox's dd timed by its own `time`, samples in seconds."""
    cases = runner.load_cases()
    result = runner.run_case(
        cases[name],
        {"host": TOOLS["host"]},  # the engines are unknown here: skipped
        rounds=2,
        warmup=0,
        quick=True,
        scratch=tmp_path / "s",
        cache=tmp_path / "c",
        log=lambda _: None,
    )
    host = next(t for t in result.tools if t.tool == "host")
    assert host.status == "ok", host.reason
    assert len(host.samples) == 2 and all(0 <= x < 30 for x in host.samples)
    assert not (tmp_path / "s" / name).exists()
    verdict = result.target_verdict()
    assert verdict is not None and verdict["met"] is None  # no pinnace: nothing to compare


def fake_engine(tmp_path: Path, fail_create: str = "") -> tuple[Path, Path]:
    """A stand-in engine logging its calls; its volumes are all one directory, and `run` runs
    the container's command with busybox on the host, /vol being that directory."""
    calls, mountpoint = tmp_path / "calls", tmp_path / "mnt"
    tool = tmp_path / "tool"
    tool.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$1 $2" in\n'
        f'"volume create") [ "$3" != "{fail_create}" ] || {{ echo "no room for $3" >&2; exit 1; }}; mkdir -p {mountpoint}; echo "$3" ;;\n'
        f'"volume inspect") echo {mountpoint} ;;\n'
        '"run --rm")\n'
        f'  while [ "$1" != "{IMAGE}" ]; do shift; done; shift\n'
        f'  for a; do shift; set -- "$@" "$(echo "$a" | sed "s#=/vol/#={mountpoint}/#")"; done\n'
        '  exec /bin/busybox "$@" ;;\n'
        'esac\n'
    )  # fmt: skip
    tool.chmod(0o755)
    return tool, calls


def engine_session(tool: Path, tmp_path: Path, name: str = "pinnace") -> tuple[Session, Context]:
    session = Session(name, (str(tool),), {"PATH": os.environ["PATH"]}, tmp_path / "w")
    session.workdir.mkdir()
    return session, Context(tmp_path / "shared", tmp_path / "cache", True, {name: session})


@needs_busybox
def test_write_on_a_named_volume_checks_and_removes_the_file_then_the_volume(tmp_path: Path) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path)
    step = volumes.volume_write(ctx, session)
    assert step.measure is not None and step.cleanup is not None
    assert step.measure() >= 0
    dat = tmp_path / "mnt" / volumes.FILE
    assert dat.stat().st_size == volumes.QUICK_SIZE_MIB * volumes.MIB
    step.cleanup()
    assert not dat.exists()
    with pytest.raises(ToolError, match="not in the volume"):
        step.cleanup()  # a run that wrote nothing
    session.close()
    logged = calls.read_text().splitlines()
    assert logged[1:] == [
        f"volume create {volumes.VOLUME}",
        f"volume inspect --format {{{{.Mountpoint}}}} {volumes.VOLUME}",
        f"run --rm --network none -v {volumes.VOLUME}:/vol {IMAGE} time -f %e dd if=/dev/zero of=/vol/bench.dat bs=1M count=64 conv=fsync",
        f"volume rm {volumes.VOLUME}",
    ]
    assert logged[0].startswith("import ")


@needs_busybox
def test_read_writes_the_file_in_setup_and_evicts_it_before_each_run(tmp_path: Path) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path)
    step = volumes.volume_read(ctx, session)
    assert (tmp_path / "mnt" / volumes.FILE).stat().st_size == volumes.QUICK_SIZE_MIB * volumes.MIB
    assert step.prepare is not None and step.measure is not None
    step.prepare()
    assert step.measure() >= 0
    assert step.argv[-3:] == ["if=/vol/bench.dat", "of=/dev/null", "bs=1M"]
    (tmp_path / "mnt" / volumes.FILE).write_bytes(b"short")
    with pytest.raises(ToolError, match="not 64 blocks"):
        step.measure()
    session.close()
    assert calls.read_text().splitlines()[-1] == f"volume rm {volumes.VOLUME}"


@needs_busybox
def test_ten_volumes_are_mounted_and_removed_and_peers_run_without_network(tmp_path: Path) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path, "podman")
    step = volumes.run_many_volumes(ctx, session)
    names = [f"pinnace-bench-v{i}" for i in range(10)]
    mounts = [flag for i, n in enumerate(names) for flag in ("-v", f"{n}:/v{i}")]
    assert step.argv == [str(tool), "run", "--rm", "--network", "none", *mounts, IMAGE, "true"]
    session.close()
    logged = calls.read_text().splitlines()
    assert logged[1:] == [*(f"volume create {n}" for n in names), f"volume rm {' '.join(names)}"]


@needs_busybox
def test_only_the_volumes_created_are_removed(tmp_path: Path) -> None:
    tool, calls = fake_engine(tmp_path, fail_create="pinnace-bench-v3")
    session, ctx = engine_session(tool, tmp_path)
    with pytest.raises(CommandFailed, match="no room for pinnace-bench-v3"):
        volumes.run_many_volumes(ctx, session)
    session.close()
    assert (
        calls.read_text().splitlines()[-1] == "volume rm pinnace-bench-v0 pinnace-bench-v1 pinnace-bench-v2"
    )


def test_cases_podman_runs_have_names_its_runroot_fits() -> None:
    """podman 4.3 refuses a runroot over 50 characters: /tmp/pinnace-bench-XXXXXXXX/CASE/podman/run."""
    for case in runner.load_cases().values():
        if "podman" in case.tools:
            assert len(f"/tmp/pinnace-bench-XXXXXXXX/{case.name}/podman/run") <= 50, case.name
