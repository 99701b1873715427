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

    return make_bundle(directory, args)


@case(
    "runtime-run",
    "OCI runtime `run` of a busybox bundle executing `true` (create, start, wait, delete)",
    RUNTIMES,
    Target("a median no worse than runc's", 1.0, ("runc",)),
)
def runtime_run(ctx: Context, s: Session) -> Step:
    path = ctx.once("bundle", lambda: bundle(ctx.workdir / "bundle", ["true"]))
    return Step(s.argv("run", "--bundle", str(path), f"bench-{s.name}-{uuid.uuid4().hex[:8]}"))


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


def main(argv: list[str]) -> int:
    if argv != ["memory"]:
        print("usage: python -m bench.runtimes memory", file=sys.stderr)
        return 2
    for runtime in (str(Path(sys.executable).parent / "pinnace-runtime"), "runc"):
        rss, pss = init_memory(runtime)
        print(f"{Path(runtime).name:16} init before exec: RSS {rss / 1024:6.1f} MiB, PSS {pss / 1024:6.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
