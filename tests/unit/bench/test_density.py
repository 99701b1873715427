"""bench/density.py's parts, on stand-in processes and tools: no root, no engine, no peers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import density, runner  # noqa: E402
from bench.cases import Case, Step  # noqa: E402
from bench.dockerd import _Pid  # noqa: E402
from bench.tools import Session, Tool, ToolError  # noqa: E402

FAKE_ID = "f" * 64


@pytest.fixture
def shim() -> Iterator[tuple[int, int, int]]:
    """A stand-in engine: a "shim" (sh naming the container ID) whose child is the "init",
    which has a child of its own (a process inside the container); (shim, init, grandchild)."""
    script = "sh -c 'sleep 60 & echo $!; exec sleep 60' & echo $!; wait"
    proc = subprocess.Popen(
        ["sh", "-c", script, "shim", FAKE_ID], env={"PATH": os.environ["PATH"]},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first, second = int(proc.stdout.readline()), int(proc.stdout.readline())
    # The init is the shim's direct child; the other one its child.
    init, inner = (first, second) if density.ppid(first) == proc.pid else (second, first)
    try:
        yield proc.pid, init, inner
    finally:
        for pid in (inner, init):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        proc.wait(10)
        proc.stdout.close()


def test_keepers_are_the_inits_parent_and_never_the_container(shim: tuple[int, int, int]) -> None:
    parent, init, inner = shim
    kept = density.keepers({FAKE_ID: init})
    assert parent in kept
    assert init not in kept and inner not in kept


def test_a_process_naming_the_container_counts(shim: tuple[int, int, int]) -> None:
    _, init, _ = shim
    helper = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", FAKE_ID],
        stdout=subprocess.PIPE,
    )
    try:
        # Popen returns once exec began, before the kernel has set the new command line: wait for it.
        assert helper.stdout is not None and helper.stdout.readline() == b"up\n"
        assert helper.pid in density.keepers({FAKE_ID: init})
    finally:
        helper.kill()
        helper.wait()
        assert helper.stdout is not None
        helper.stdout.close()


def test_an_init_without_a_parent_of_its_own_is_refused() -> None:
    # pid 1's children have no per-container parent: nothing to measure.
    orphan = next(pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if density.ppid(pid) == 1)
    with pytest.raises(ToolError, match="no per-container parent"):
        density.keepers({FAKE_ID: orphan})


def test_pss_of_a_live_process_and_of_a_gone_one() -> None:
    assert density.pss_kib(os.getpid()) > 0
    with pytest.raises(ToolError, match="gone"):
        density.pss_kib(2**22 + 1)  # above pid_max's ceiling: never a process


def test_wait_gone_kills_survivors_by_pid() -> None:
    quick = subprocess.Popen(["sleep", "0.1"])
    stubborn = subprocess.Popen(["sleep", "60"])
    procs = [p for p in (_Pid.of(quick.pid), _Pid.of(stubborn.pid)) if p is not None]
    started = time.monotonic()
    # Reap the quick one as it exits, as its parent would (a zombie counts as gone anyway).
    quick.wait()
    left = density.wait_gone(procs, timeout=0.5)
    assert [p.pid for p in left] == [stubborn.pid]
    assert stubborn.wait(5) == -9
    assert time.monotonic() - started < 5


def fake_engine(tmp_path: Path) -> Path:
    """A `TOOL run -d --name NAME IMAGE sleep N` stand-in that logs its name; name x-3 fails."""
    tool = tmp_path / "tool"
    tool.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/calls\n'
        'sleep 0.2\n'
        'case " $* " in *" x-3 "*) echo "no room for x-3" >&2; exit 125;; esac\n'
    )  # fmt: skip
    tool.chmod(0o755)
    return tool


def test_parallel_run_starts_all_at_once_and_fails_if_one_fails(tmp_path: Path) -> None:
    tool = fake_engine(tmp_path)
    session = Session("pinnace", (str(tool),), {"PATH": os.environ["PATH"]}, tmp_path)
    started = time.monotonic()
    proc = subprocess.run(density.parallel_run_argv(session, "x", 8), capture_output=True, text=True)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert "no room for x-3" in proc.stderr
    calls = sorted((tmp_path / "calls").read_text().splitlines())
    assert calls == sorted(
        f"run -d --network none --name x-{i} {density.IMAGE} sleep 3600" for i in range(1, 9)
    )
    assert elapsed < 8 * 0.2  # not one after the other


def test_engines_run_without_a_network(tmp_path: Path) -> None:
    tool = fake_engine(tmp_path)
    session = Session("pinnace", (str(tool),), {"PATH": os.environ["PATH"]}, tmp_path)
    argv = density.parallel_run_argv(session, "y", 1)
    subprocess.run(argv, check=True)
    assert (
        tmp_path / "calls"
    ).read_text() == f"run -d --network none --name y-1 {density.IMAGE} sleep 3600\n"


def test_remove_cgroups_deepest_first_and_reports_the_busy(tmp_path: Path) -> None:
    parent = tmp_path / "pinnace"
    (parent / "a" / "b").mkdir(parents=True)
    (parent / "busy").mkdir()
    (parent / "busy" / "tasks").write_text("1\n")  # a directory rmdir cannot remove, as a busy cgroup
    left = density.remove_cgroups([parent, parent / "a", parent / "a" / "b", parent / "busy"])
    assert set(left) == {parent / "busy", parent}
    assert not (parent / "a").exists()


def test_closing_a_session_runs_every_registered_step_then_the_tools_own(tmp_path: Path) -> None:
    order: list[str] = []
    session = Session("podman", ("podman",), {}, tmp_path / "w", closer=lambda s: order.append("reset"))
    density.on_close(session, lambda: order.append("first"))
    density.on_close(session, lambda: order.append("second"))
    session.close()
    assert order == ["second", "first", "reset"]


def test_a_measured_case_reports_its_unit(tmp_path: Path) -> None:
    """A step with measure() gives its own samples (memory here), and the table shows the unit."""
    samples = iter([3.0, 2.0, 1.0, 4.0, 9.0, 3.5, 2.5, 1.5])

    def open_session(workdir: Path) -> Session:
        workdir.mkdir(parents=True)
        return Session("pinnace", ("false",), {}, workdir, "1.0")

    tools = {"pinnace": Tool("pinnace", lambda: None, open_session)}
    case = Case(
        "mem",
        "memory",
        ("pinnace",),
        lambda ctx, s: Step(["false"], measure=lambda: next(samples)),
        unit="MiB",
    )
    result = runner.run_case(
        case,
        tools,
        rounds=3,
        warmup=1,
        quick=False,
        scratch=tmp_path / "s",
        cache=tmp_path / "c",
        log=lambda _: None,
    )
    assert result.tools[0].samples == [2.0, 1.0, 4.0]  # `false` never ran: the samples are measured
    table = runner.format_result(result)
    assert "2.00 MiB" in table
    assert runner.write_json(result, tmp_path / "out").read_text().count('"unit": "MiB"') == 1
