"""Benchmarks of containers against docker and podman: `run --rm busybox true`, `exec c true`.

Every tool imports the same busybox rootfs (untimed). ``run-rm`` runs a
container that does nothing, removing it afterwards: the start-up latency
users feel. ``exec`` runs ``true`` in a ``sleep`` container started in
set-up (and removed when the case ends): the latency of a new process in a
running container. Networking is off for every engine (`--network none`):
bench/network.py measures what a bridge adds. Issue 4's targets: run at most 1/3 of podman's time
and 1/5 of docker's; exec at most half docker's.
"""

from __future__ import annotations

from bench import data
from bench.cases import Context, Step, Target, case
from bench.tools import IMAGE_NAMESPACE, NO_NETWORK, Session

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
    return Step(s.argv("run", "--rm", *NO_NETWORK, IMAGE, "true"))


@case(
    "exec",
    "exec c true in a running busybox container (docker's exec create + start + wait)",
    ("pinnace", "podman", "docker"),
    Target("at most half docker's time", 1 / 2, ("docker",)),
)
def exec_true(ctx: Context, s: Session) -> Step:
    from bench.density import on_close

    tar = ctx.once("busybox", lambda: data.busybox_rootfs_tar(ctx.cache))
    s.run("import", "--change", 'CMD ["sh"]', str(tar), IMAGE)
    name = "pinnace-bench-exec"
    s.run("run", "-d", "--name", name, *NO_NETWORK, IMAGE, "sleep", "100000")
    on_close(s, lambda: s.run("rm", "-f", name))
    return Step(s.argv("exec", name, "true"))
