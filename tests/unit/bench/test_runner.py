"""The bench runner's logic, driven with stand-in tools (sleep, true, false): no root, no peers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# bench/ sits beside src/ at the repository root, which `pytest` (unlike `python -m pytest`)
# does not put on sys.path.
REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import runner  # noqa: E402
from bench.cases import Case, Context, Step, Target, p90  # noqa: E402
from bench.tools import CommandFailed, Session, Tool, docker_tool  # noqa: E402


def fake_tool(name: str, argv: list[str], *, missing: bool = False, closed: list[str] | None = None) -> Tool:
    """A tool whose timed command is argv and whose session state is a plain directory."""

    def open_session(workdir: Path) -> Session:
        workdir.mkdir(parents=True)
        (workdir / "state").write_text(name)
        closer = None if closed is None else (lambda s: closed.append(s.name))
        return Session(name, tuple(argv), {"PATH": "/usr/bin:/bin"}, workdir, f"{name} 1.0", closer)

    return Tool(name, lambda: "not installed" if missing else None, open_session)


def make_case(
    tools: tuple[str, ...],
    setup: Callable[[Context, Session], Step] | None = None,
    target: Target | None = None,
) -> Case:
    return Case("demo", "a demo case", tools, setup or (lambda ctx, s: Step(s.argv())), target)


def run(
    case: Case, tools: dict[str, Tool], tmp_path: Path, rounds: int = 4, warmup: int = 1, quick: bool = False
) -> runner.CaseResult:
    return runner.run_case(
        case,
        tools,
        rounds=rounds,
        warmup=warmup,
        quick=quick,
        scratch=tmp_path / "scratch",
        cache=tmp_path / "cache",
        log=lambda _: None,
    )


def test_rounds_alternate_and_untimed_steps_surround_every_run(tmp_path: Path) -> None:
    events: list[str] = []

    def setup(ctx: Context, s: Session) -> Step:
        events.append(f"setup {s.name}")
        return Step(
            s.argv(),
            prepare=lambda: events.append(f"prepare {s.name}"),
            cleanup=lambda: events.append(f"cleanup {s.name}"),
        )

    tools = {"a": fake_tool("a", ["true"]), "b": fake_tool("b", ["true"])}
    result = run(make_case(("a", "b"), setup), tools, tmp_path)

    runs = [e.split()[1] for e in events if e.startswith("prepare")]
    assert events[:2] == ["setup a", "setup b"]
    assert runs == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]  # warm-up, then 4 rounds
    assert events.count("cleanup a") == events.count("cleanup b") == 5
    assert [len(t.samples) for t in result.tools] == [4, 4]


def test_ratios_against_each_peer_and_the_faster_one(tmp_path: Path) -> None:
    tools = {
        "mine": fake_tool("mine", ["sleep", "0.01"]),
        "slow": fake_tool("slow", ["sleep", "0.2"]),
        "fast": fake_tool("fast", ["sleep", "0.05"]),
    }
    result = run(make_case(("mine", "slow", "fast")), tools, tmp_path, rounds=2, warmup=0)

    ratios = result.ratios()
    assert set(ratios) == {"slow", "fast"}
    assert ratios["slow"] < ratios["fast"] < 1
    assert result.fastest_peer() == ("fast", ratios["fast"])
    assert 0.05 <= result.medians()["fast"] < 0.2


def test_missing_tool_is_skipped_and_failing_tool_reported(tmp_path: Path) -> None:
    def setup(ctx: Context, s: Session) -> Step:
        if s.name == "broken":
            raise CommandFailed(["broken", "import", "/x/rootfs.tar"], 125, "Error: no such thing\n")
        return Step(s.argv())

    tools = {
        "mine": fake_tool("mine", ["true"]),
        "absent": fake_tool("absent", ["true"], missing=True),
        "broken": fake_tool("broken", ["true"]),
        "flaky": fake_tool("flaky", ["false"]),
    }
    result = run(make_case(("mine", "absent", "broken", "flaky", "unheard-of"), setup), tools, tmp_path)

    by_name = {t.tool: t for t in result.tools}
    assert by_name["mine"].status == "ok" and len(by_name["mine"].samples) == 4
    assert (by_name["absent"].status, by_name["absent"].reason) == ("skipped", "not installed")
    assert by_name["broken"].status == "failed"
    assert by_name["broken"].reason == "setup: `broken import rootfs.tar` exited 125: Error: no such thing"
    assert by_name["flaky"].status == "failed" and "`false` exited 1" in by_name["flaky"].reason
    assert by_name["unheard-of"].status == "skipped"
    assert result.ratios() == {}
    text = runner.format_result(result)
    assert "absent    skipped: not installed" in text
    assert "flaky     failed: `false` exited 1" in text


def test_sessions_are_closed_and_scratch_removed(tmp_path: Path) -> None:
    closed: list[str] = []
    tools = {n: fake_tool(n, ["true"], closed=closed) for n in ("a", "b")}
    run(make_case(("a", "b")), tools, tmp_path, rounds=1)

    assert sorted(closed) == ["a", "b"]
    assert not (tmp_path / "scratch" / "demo").exists()


def test_target_uses_reference_median_for_a_peer_that_cannot_run(tmp_path: Path) -> None:
    # No process starts in a microsecond: against this reference the target is never met.
    target = Target("as fast as the faster peer", 1.0, ("gone", "here"), {"gone": 1e-6})
    tools = {
        "mine": fake_tool("mine", ["true"]),
        "here": fake_tool("here", ["sleep", "0.1"]),
        "gone": fake_tool("gone", ["true"], missing=True),
    }
    case = make_case(("mine", "here", "gone"), target=target)

    full = run(case, tools, tmp_path, rounds=1, warmup=0).target_verdict()
    assert full is not None
    assert (full["peer"], full["peer_measured_here"], full["met"]) == ("gone", False, False)

    # Reference medians are for full-size data: a quick run compares with measured peers only.
    quick = run(case, tools, tmp_path, rounds=1, warmup=0, quick=True).target_verdict()
    assert quick is not None
    assert (quick["peer"], quick["peer_measured_here"], quick["met"]) == ("here", True, True)


def test_json_report(tmp_path: Path) -> None:
    tools = {"mine": fake_tool("mine", ["true"]), "peer": fake_tool("peer", ["sleep", "0.2"])}
    case = make_case(("mine", "peer"), target=Target("at most half", 0.5, ("peer",)))
    path = runner.write_json(run(case, tools, tmp_path, rounds=3), tmp_path / "results")

    assert path == tmp_path / "results" / "demo.json"
    doc = json.loads(path.read_text())
    assert doc["case"] == "demo" and doc["rounds"] == 3 and doc["warmup"] == 1
    mine = doc["tools"]["mine"]
    assert mine["status"] == "ok" and mine["version"] == "mine 1.0" and len(mine["samples"]) == 3
    assert mine["median"] <= mine["p90"]
    assert doc["ratios"]["peer"] < 1
    assert doc["vs_fastest_peer"]["peer"] == "peer"
    assert doc["target"]["met"] is True


def test_p90_is_a_measured_sample() -> None:
    assert p90([float(x) for x in range(1, 11)]) == 9.0
    assert p90([3.0]) == 3.0
    assert p90([2.0, 1.0]) == 2.0


def test_list_shows_the_image_cases(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["--list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"import", "save", "load", "images"} <= set(names)


def test_unknown_case_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["no-such-case"]) == 2
    assert "unknown case" in capsys.readouterr().err


def test_reference_stands_in_only_for_a_peer_that_could_not_run() -> None:
    target = Target("as fast as the faster peer", 1.0, ("docker", "podman"), {"docker": 1.0})
    measured = {"pinnace": 2.0, "podman": 3.0}

    # docker skipped (no daemon, no dockerd): its reference from another machine stands in.
    assert target.medians_to_beat(measured, {"pinnace", "podman"}, quick=False) == {
        "podman": (3.0, True),
        "docker": (1.0, False),
    }
    # docker ran here: its own median counts, never the reference.
    both = {**measured, "docker": 2.5}
    assert target.medians_to_beat(both, {"pinnace", "podman", "docker"}, quick=False) == {
        "podman": (3.0, True),
        "docker": (2.5, True),
    }
    # docker ran and failed: no stand-in hides the failure.
    assert target.medians_to_beat(measured, {"pinnace", "podman", "docker"}, quick=False) == {
        "podman": (3.0, True)
    }
    # References are for full-size data: a --quick run uses none.
    assert target.medians_to_beat(measured, {"pinnace", "podman"}, quick=True) == {"podman": (3.0, True)}


def test_a_measured_peer_beats_its_reference_in_the_verdict(tmp_path: Path) -> None:
    target = Target("as fast as the faster peer", 1.0, ("peer",), {"peer": 0.001})
    tools = {"mine": fake_tool("mine", ["true"]), "peer": fake_tool("peer", ["sleep", "0.1"])}
    verdict = run(
        make_case(("mine", "peer"), target=target), tools, tmp_path, rounds=1, warmup=0
    ).target_verdict()

    assert verdict is not None
    assert (verdict["peer"], verdict["peer_measured_here"], verdict["met"]) == ("peer", True, True)
    assert verdict["peer_median"] >= 0.1


def test_docker_that_cannot_run_says_why() -> None:
    tool = docker_tool(unavailable="no daemon reachable, and a private dockerd did not start: boom")
    assert tool.name == "docker"
    assert tool.probe() == "no daemon reachable, and a private dockerd did not start: boom"
