"""Benchmarks of containers: `run --rm busybox true` against docker and podman.

Every tool imports the same busybox rootfs (untimed) and runs a container
that does nothing, removing it afterwards: the start-up latency users feel.
Networking is off for the peers (`--network none`), as pinnace has none yet.
Issue 4's targets: at most 1/3 of podman's time and 1/5 of docker's.
"""

from __future__ import annotations

from bench import data
from bench.cases import Context, Step, Target, case
from bench.tools import IMAGE_NAMESPACE, Session

IMAGE = f"localhost/{IMAGE_NAMESPACE}/busybox:1"


@case(
    "run-rm",
    "run --rm busybox true (create, start, wait, remove)",
    ("pinnace", "podman", "docker"),
    Target("at most a third of podman's time", 1 / 3, ("podman",)),
)
def run_rm(ctx: Context, s: Session) -> Step:
    tar = ctx.once("busybox", lambda: data.busybox_rootfs_tar(ctx.cache))
    s.run("import", "--change", 'CMD ["sh"]', str(tar), IMAGE)
    network = () if s.name == "pinnace" else ("--network", "none")
    return Step(s.argv("run", "--rm", *network, IMAGE, "true"))
