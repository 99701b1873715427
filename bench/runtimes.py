"""Benchmarks of the OCI runtime: `pinnace-runtime run` against `runc run` and `crun run`.

Every runtime runs the same busybox bundle (the host's static busybox, the
config `runc spec` writes, with no terminal) executing `true`: create,
start, wait and delete, which is what an engine asks of its runtime for
each container.  Each tool keeps its state on a private tmpfs.  On a host
whose cgroups are hybrid (v1 controllers plus a cgroup2 mount), crun 1.8
refuses to start any container and is reported as failed.

`python -m bench.runtimes memory` prints what the container's init costs
before it executes the user's process (RSS and PSS of the process that
waits for `start`), for pinnace-runtime and runc.

`python -m bench.runtimes library` times the runtime as the engine uses it:
`pinnace.runtime.container.run` called from a process that has the runtime
loaded already (a fork of it per container, as a monitor would be), against
`runc run` in the same rounds, alternating.  Run it with the sealed
interpreter (`.venv/sealed/bin/python3.X -I -m bench.runtimes library`), as
the engine runs (it re-executes itself with `.venv/sealed/bin/python3.X`
when started otherwise): a caller that is not sealed pays an interpreter
start for stage 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench.cases import Context, Step, Target, case
from bench.tools import REPO, Session

RUNTIMES = ("pinnace-runtime", "runc", "crun")


def bundle(directory: Path, args: list[str]) -> Path:
    """A busybox bundle running ``args``, made once per case and shared by every runtime."""
    sys.path.insert(0, str(REPO))
    from tests.helpers.bundle import make_bundle

    def oldest_common_version(spec: dict[str, object]) -> None:
        spec["ociVersion"] = "1.0.2"  # crun 1.8 refuses 1.2.0; nothing here needs newer fields

    return make_bundle(directory, args, edit=oldest_common_version)


@case(
    "runtime-run",
    "OCI runtime `run` of a busybox bundle executing `true` (create, start, wait, delete)",
    RUNTIMES,
    Target("a median no worse than runc's", 1.0, ("runc",)),
)
def runtime_run(ctx: Context, s: Session) -> Step:
    path = ctx.once("bundle", lambda: bundle(ctx.workdir / "bundle", ["true"]))
    return Step(s.argv("run", "--bundle", str(path), f"bench-{s.name}-{uuid.uuid4().hex[:8]}"))


#: How long the host is left idle before each `runtime-run-idle` sample.
IDLE = 0.3


@case(
    "runtime-run-idle",
    f"`runtime-run` after {IDLE} s idle, as a container start usually comes (not straight after another)",
    RUNTIMES,
    Target("a median no worse than runc's", 1.0, ("runc",)),
)
def runtime_run_idle(ctx: Context, s: Session) -> Step:
    """The same `run`, each one after a pause.

    Back to back, each run finds the kernel's cgroup lock warm from the one
    before (its first migration after a quiet spell waits for an RCU grace
    period, 5-10 ms here), which is not how an engine calls a runtime; both
    figures are reported.
    """
    import time

    step = runtime_run(ctx, s)
    return Step(step.argv, prepare=lambda: time.sleep(IDLE))


def _rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in KiB, from /proc/PID/smaps_rollup."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def init_memory(runtime: str) -> tuple[int, int]:
    """RSS and PSS (KiB) of ``runtime``'s container init while it waits for `start`."""
    with tempfile.TemporaryDirectory(prefix="pinnace-bench-mem-") as tmp:
        root = Path(tmp) / "state"
        path = bundle(Path(tmp) / "bundle", ["true"])
        container = f"bench-mem-{uuid.uuid4().hex[:8]}"
        base = [runtime, "--root", str(root)]
        subprocess.run(
            [*base, "create", "--bundle", str(path), container],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            state = json.loads(
                subprocess.run([*base, "state", container], check=True, capture_output=True).stdout
            )
            return _rss_pss(state["pid"])
        finally:
            subprocess.run([*base, "delete", "--force", container], check=False)
            from pinnace.runtime.linux import sealed

            sealed.unseal(str(root))


def library(rounds: int = 30) -> tuple[float, float]:
    """Medians (s) of an in-process ``container.run`` and of ``runc run``, on one bundle."""
    import os
    import statistics
    import time

    from pinnace.runtime import container
    from pinnace.runtime.linux import init, process, rootfs  # noqa: F401  (loaded, as in an engine)

    with tempfile.TemporaryDirectory(prefix="pinnace-bench-lib-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(state)], check=True)
        try:
            path = bundle(Path(tmp) / "bundle", ["true"])
            ours: list[float] = []
            runc: list[float] = []
            for i in range(rounds):
                for turn in (0, 1) if i % 2 == 0 else (1, 0):
                    started = time.perf_counter()
                    if turn == 0:
                        pid = os.fork()
                        if pid == 0:
                            null = os.open("/dev/null", os.O_RDWR)
                            for fd in (0, 1, 2):
                                os.dup2(null, fd)
                            os._exit(container.run(str(state / "pinnace"), f"lib{i}", str(path)))
                        os.waitpid(pid, 0)
                        ours.append(time.perf_counter() - started)
                    else:
                        subprocess.run(
                            ["runc", "--root", str(state / "runc"), "run", "-b", str(path), f"lib{i}"],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            check=True,
                        )
                        runc.append(time.perf_counter() - started)
            return statistics.median(ours), statistics.median(runc)
        finally:
            from pinnace.runtime.linux import sealed

            sealed.unseal(str(state / "pinnace"))
            subprocess.run(["umount", "-l", str(state)], check=False)


def main(argv: list[str]) -> int:
    if argv == ["library"]:
        import os

        from pinnace.runtime.linux import sealed

        if not sealed.is_sealed():
            python = str(Path(sys.prefix) / "sealed" / "bin" / Path(os.path.realpath(sys.executable)).name)
            code = f"import sys; sys.path[:0] = {sys.path!r}; from bench.runtimes import main; raise SystemExit(main(['library']))"
            os.execv(python, [python, "-I", "-c", code])
        ours, runc = library()
        print(
            f"container.run in a loaded process: {ours * 1000:.1f} ms; runc run: {runc * 1000:.1f} ms; "
            f"ratio {ours / runc:.2f}x"
        )
        return 0
    if argv != ["memory"]:
        print("usage: python -m bench.runtimes memory|library", file=sys.stderr)
        return 2
    for runtime in (str(Path(sys.executable).parent / "pinnace-runtime"), "runc"):
        rss, pss = init_memory(runtime)
        print(
            f"{Path(runtime).name:16} init before exec: RSS {rss / 1024:6.1f} MiB, PSS {pss / 1024:6.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
