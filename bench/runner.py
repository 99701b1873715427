"""Time pinnace against its peers in one run, and report medians and ratios.

    python -m bench.runner [CASE ...] [--rounds N] [--quick] [--list]

For each case: every tool is set up untimed on storage of its own, then the
tools take turns for N rounds, pinnace first in even rounds and last in odd
ones (ABAB / BABA), so drift of the machine (page cache, CPU clock, a
neighbour's load) falls on every tool alike. Each timed run is one
subprocess.run under time.perf_counter, with the case's untimed prepare and
cleanup around it, and an untimed sync after it so that no run pays for the
previous one's writeback. A tool that is not installed (or, for docker, that
has no daemon and no dockerd to start one) is reported as skipped, and one
whose commands fail as failed; neither stops the others.

The run happens in a private mount namespace (bench/sandbox.py) so that
nothing the tools write leaks onto the host; it needs root. Where no docker
daemon answers, a private dockerd runs in there for the run (bench/dockerd.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import os
import pkgutil
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench
from bench import dockerd, sandbox
from bench.cases import CASES, Case, Context, Step, median, p90
from bench.tools import REPO, TOOLS, CommandFailed, Session, Tool, ToolError, docker_socket

RESULTS = REPO / "bench" / "results"
# Things that go wrong in a tool's own commands or setup: reported, never fatal.
_TOOL_ERRORS = (ToolError, OSError, subprocess.SubprocessError)


@dataclass
class ToolResult:
    tool: str
    status: str  # "ok", "skipped" or "failed"
    reason: str = ""
    note: str = ""
    version: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.samples)


@dataclass
class CaseResult:
    case: Case
    quick: bool
    rounds: int
    warmup: int
    tools: list[ToolResult]
    notes: list[str] = field(default_factory=list)

    @property
    def subject(self) -> ToolResult:
        """The tool under test: the case's first, pinnace."""
        return self.tools[0]

    def medians(self) -> dict[str, float]:
        return {t.tool: median(t.samples) for t in self.tools if t.ok}

    def ratios(self) -> dict[str, float]:
        """median(pinnace) / median(peer) for every peer measured here."""
        meds = self.medians()
        mine = meds.get(self.subject.tool)
        if mine is None:
            return {}
        return {t: mine / m for t, m in meds.items() if t != self.subject.tool and m > 0}

    def fastest_peer(self) -> tuple[str, float] | None:
        """The measured peer with the lowest median, and pinnace's ratio to it."""
        ratios = self.ratios()
        if not ratios:
            return None
        peer = min(ratios, key=lambda t: self.medians()[t])
        return peer, ratios[peer]

    def target_verdict(self) -> dict[str, Any] | None:
        """Whether pinnace meets the case's target, against the fastest of its target peers.

        A peer that could not run here stands in with its reference median
        (Target.medians_to_beat says when).
        """
        target = self.case.target
        if target is None:
            return None
        meds = self.medians()
        ran = {t.tool for t in self.tools if t.status != "skipped"}
        against = target.medians_to_beat(meds, ran, self.quick)
        verdict: dict[str, Any] = {"text": target.text, "max_ratio": target.max_ratio}
        mine = meds.get(self.subject.tool)
        if mine is None or not against:
            return {**verdict, "met": None}
        peer = min(against, key=lambda p: against[p][0])
        peer_median, measured = against[peer]
        ratio = mine / peer_median
        return {
            **verdict,
            "peer": peer,
            "peer_median": peer_median,
            "peer_measured_here": measured,
            "ratio": ratio,
            "met": ratio <= target.max_ratio,
        }

    def to_json(self) -> dict[str, Any]:
        fastest = self.fastest_peer()
        return {
            "case": self.case.name,
            "summary": self.case.summary,
            "unit": self.case.unit,
            "quick": self.quick,
            "rounds": self.rounds,
            "warmup": self.warmup,
            "order": "alternating: pinnace first in even rounds, last in odd ones",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": _machine(),
            "tools": {
                t.tool: {
                    "status": t.status,
                    "reason": t.reason,
                    "note": t.note,
                    "version": t.version,
                    "samples": t.samples,
                    "median": median(t.samples) if t.ok else None,
                    "p90": p90(t.samples) if t.ok else None,
                }
                for t in self.tools
            },
            "ratios": self.ratios(),
            "vs_fastest_peer": {"peer": fastest[0], "ratio": fastest[1]} if fastest else None,
            "target": self.target_verdict(),
            "notes": self.notes,
        }


@functools.cache
def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit,
    }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _timed(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Wall time of one run of argv; raise CommandFailed if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return elapsed


def run_case(
    case: Case,
    tools: Mapping[str, Tool],
    *,
    rounds: int,
    warmup: int,
    quick: bool,
    scratch: Path,
    cache: Path,
    log: Callable[[str], None] = _log,
) -> CaseResult:
    """Set up, time and tear down one case; every tool's state lives under scratch/<case>/."""
    results = {name: ToolResult(name, "ok") for name in case.tools}
    workdir = scratch / case.name
    sessions: dict[str, Session] = {}
    ctx = Context(workdir / "shared", cache, quick, sessions)
    try:
        for name, res in results.items():
            tool = tools.get(name)
            reason = "unknown tool" if tool is None else tool.probe()
            if tool is None or reason:
                res.status, res.reason = "skipped", reason or ""
                continue
            res.note = tool.note
            try:
                sessions[name] = session = tool.open(workdir / name)
            except _TOOL_ERRORS as e:
                res.status, res.reason = "failed", f"cannot open: {e}"
                continue
            res.version = session.version
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        steps: dict[str, Step] = {}
        for name, session in sessions.items():
            log(f"[{case.name}] setting up {name}")
            try:
                steps[name] = case.setup(ctx, session)
            except _TOOL_ERRORS as e:
                results[name].status, results[name].reason = "failed", f"setup: {e}"
        for r in range(warmup + rounds):
            measured = r >= warmup
            label = f"round {r - warmup + 1}/{rounds}" if measured else f"warm-up {r + 1}/{warmup}"
            log(f"[{case.name}] {label}")
            order = list(steps) if r % 2 == 0 else list(reversed(steps))
            for name in order:
                step = steps[name]
                try:
                    if step.prepare:
                        step.prepare()
                    if step.measure is not None:
                        elapsed = step.measure()
                    else:
                        elapsed = _timed(step.argv, sessions[name].env)
                    if step.cleanup:
                        step.cleanup()
                    # Write back what this run left dirty now, untimed, rather than
                    # in the background of the next tool's run.
                    os.sync()
                except _TOOL_ERRORS as e:
                    results[name].status, results[name].reason = "failed", str(e)
                    del steps[name]
                    continue
                if measured:
                    results[name].samples.append(elapsed)
    finally:
        for session in sessions.values():
            try:
                session.close()
            except _TOOL_ERRORS as e:
                log(f"[{case.name}] cleaning up {session.name}: {e}")
        shutil.rmtree(workdir, ignore_errors=True)
    return CaseResult(case, quick, rounds, warmup, list(results.values()), ctx.notes)


def _seconds(x: float, unit: str = "s") -> str:
    """A sample as the table shows it: wall time in seconds, else the case's unit."""
    return f"{x:.3f} s" if unit == "s" else f"{x:.2f} {unit}"


def format_result(result: CaseResult) -> str:
    """The human-readable table of one case."""
    case = result.case
    mine = result.subject.tool
    lines = [
        f"{case.name}: {case.summary}",
        f"  {result.rounds} rounds, order alternating ABAB/BABA"
        + (f", {result.warmup} warm-up" if result.warmup else "")
        + (
            " (--quick: smaller data, not comparable with the targets' reference medians)"
            if result.quick
            else ""
        ),
        f"  {'tool':<9} {'median':>9} {'p90':>9} {'runs':>5}  {mine}/tool",
    ]
    ratios = result.ratios()
    for t in result.tools:
        if t.ok:
            ratio = f"{ratios[t.tool]:.2f}x" if t.tool in ratios else ""
            med, top = _seconds(median(t.samples), case.unit), _seconds(p90(t.samples), case.unit)
            line = f"  {t.tool:<9} {med:>9} {top:>9}"
            lines.append(f"{line} {len(t.samples):>5}  {ratio:<7} {t.version}".rstrip())
        else:
            lines.append(f"  {t.tool:<9} {t.status}: {t.reason}")
        if t.note and t.status != "skipped":
            lines.append(f"  {'':<9} note: {t.note}")
    fastest = result.fastest_peer()
    if fastest:
        lines.append(f"  vs the faster peer ({fastest[0]}): {fastest[1]:.2f}x")
    verdict = result.target_verdict()
    if verdict is not None:
        if verdict["met"] is None:
            lines.append(f"  target: {verdict['text']}: not measurable in this run")
        else:
            where = "" if verdict["peer_measured_here"] else ", reference median measured on another machine"
            lines.append(
                f"  target: {verdict['text']} (<= {verdict['max_ratio']:.2f}x): {verdict['ratio']:.2f}x of "
                f"{verdict['peer']} {_seconds(verdict['peer_median'], case.unit)}{where} -> "
                + ("met" if verdict["met"] else "MISSED")
            )
    lines.extend(f"  note: {n}" for n in result.notes)
    return "\n".join(lines)


def write_json(result: CaseResult, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.case.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_cases() -> Mapping[str, Case]:
    """Import every module of the bench package, so their @case registrations run."""
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name not in ("runner", "__main__"):
            importlib.import_module(f"bench.{info.name}")
    return CASES


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.runner", description="Time pinnace against its peers.")
    p.add_argument("cases", nargs="*", metavar="CASE", help="cases to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--rounds", type=int, help="timed rounds per case (default 10, 3 with --quick)")
    p.add_argument("--warmup", type=int, help="untimed rounds first (default 1, 0 with --quick)")
    p.add_argument("--quick", action="store_true", help="few rounds on small data: a smoke run")
    p.add_argument("--out", type=Path, default=RESULTS, help="where <case>.json go (default bench/results)")
    p.add_argument("--cache", type=Path, default=RESULTS / "cache", help="generated input data")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    cases = load_cases()
    if args.list:
        for c in cases.values():
            print(f"{c.name:<10} [{', '.join(c.tools)}] {c.summary}")
        return 0
    unknown = [n for n in args.cases if n not in cases]
    if unknown:
        print(f"bench: unknown case(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench: needs root (pinnace and podman mount overlays; the sandbox too)", file=sys.stderr)
        return 1
    rounds = args.rounds if args.rounds is not None else 3 if args.quick else 10
    warmup = args.warmup if args.warmup is not None else 0 if args.quick else 1
    out, cache = args.out.resolve(), args.cache.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="pinnace-bench-"))
    keep = [REPO, out, cache] + [s for s in [docker_socket()] if s is not None]
    try:
        # dockerd, if we start one, runs inside the sandbox too: its writes to /etc and /run stay there.
        with sandbox.host_sandbox(scratch, keep), dockerd.docker_for_run(scratch / "dockerd", _log) as docker:
            # Probe each tool once per run, not once per case.
            tools = {
                n: dataclasses.replace(t, probe=functools.cache(t.probe))
                for n, t in {**TOOLS, "docker": docker}.items()
            }
            for name, tool in tools.items():
                reason = tool.probe()
                print(f"{name}: {'skipped: ' + reason if reason else 'available'}")
            for name in args.cases or list(cases):
                result = run_case(
                    cases[name],
                    tools,
                    rounds=rounds,
                    warmup=warmup,
                    quick=args.quick,
                    scratch=scratch,
                    cache=cache,
                )
                path = write_json(result, out)
                print()
                print(format_result(result))
                print(f"  -> {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)
    finally:
        sandbox.unmount_under(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
