"""Benchmarks of container density: memory per running container, and many containers at once.

Three cases, each comparing pinnace with podman and docker on the same busybox
image (imported untimed into each tool's store):

``pss``
    20 ``sleep`` containers run; a sample is the PSS (/proc/PID/smaps_rollup)
    of everything the engine keeps per container, summed and divided by 20.
    "Kept per container" is found the same way for every engine: the parent
    of each container's init (pinnace's monitor, docker's
    containerd-shim-runc-v2, podman's conmon), the parent's other
    descendants, and any process whose command line names the container's
    ID or the session's store (what the engine keeps for all its containers,
    such as pinnace's zygote that forks monitors); never the container's own
    processes (the same busybox everywhere), and not the daemons every
    container shares (dockerd, containerd, which name neither). A process
    kept for many containers counts once, so each container pays its share;
    a note splits the figure into per-container and shared processes.
    Issue 4's target: at most docker's shim (2.8 MiB measured on the dev
    machine), aiming at conmon's (0.4 MiB).
``run-d-50``
    the wall time of 50 ``run -d`` started at once (one shell forks them all
    and waits for each); untimed afterwards, one ``rm -f`` of all 50.
    Target: at most half podman's time.
``rm-f-50``
    the wall time of one ``rm -f`` naming 50 running containers (docker's and
    podman's CLIs remove them concurrently, as ``rm -f $(ps -aq)`` does;
    podman's with ``--time 0``, so that it kills at once as docker's does);
    untimed beforehand, the 50 parallel ``run -d``.

Every container is removed again, and every process it had (init and the
engine's per-container process) must be gone a few seconds later: one that
is left is killed by its pid (never by name) and the tool is reported as
failed, since a leak is that run's result. When a case ends the session's
containers are removed (``rm -f``, then the same check), whatever of the
engine still runs for the store is stopped by its pid (pinnace's zygote
lingers by design), and the cgroups the engines made are removed, all
before the store goes. Every engine runs without networking (``--network none``,
bench/tools.py).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bench import data
from bench.cases import Context, Step, Target, case
from bench.dockerd import _Pid, _stat_fields
from bench.tools import IMAGE_NAMESPACE, NO_NETWORK, CommandFailed, Session, ToolError

IMAGE = f"localhost/{IMAGE_NAMESPACE}/busybox:1"
TOOLS = ("pinnace", "podman", "docker")
PSS_CONTAINERS = 20
PARALLEL = 50
# How long a removed container's processes may take to go (a monitor writes its exit file last).
GONE_TIMEOUT = 15.0
# Let monitors and shims settle in their steady state before memory is read.
SETTLE = 1.0
MIB = 1024.0


# -- processes -----------------------------------------------------------------------------------


def ppid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def pss_kib(pid: int) -> int:
    """PSS of pid in KiB; ToolError if it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError as e:
        raise ToolError(f"process {pid} is gone: {e}") from e
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ToolError(f"no Pss in /proc/{pid}/smaps_rollup")


def _process_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (ppid, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        table[pid] = (int(fields[1]), cmdline)
    return table


def _subtree(table: dict[int, tuple[int, bytes]], top: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [top]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def keepers(containers: dict[str, int], store: str = "") -> set[int]:
    """The processes an engine keeps for these containers (full ID -> init pid); see the module doc.

    With ``store`` (the session's directory), also every process whose command
    line names it: what the engine keeps for all its containers at once (a
    process per store that forks monitors, say), never one container's own.
    """
    table = _process_table()
    inside: set[int] = set()
    for init in containers.values():
        inside |= _subtree(table, init)
    kept: set[int] = set()
    for cid, init in containers.items():
        parent = table.get(init, (0, b""))[0]
        if parent <= 1:
            raise ToolError(f"container {cid[:12]}: its init {init} has no per-container parent")
        kept |= _subtree(table, parent) - inside
        kept |= {pid for pid, (_, cmd) in table.items() if cid.encode() in cmd and pid not in inside}
    if store:
        kept |= {pid for pid, (_, cmd) in table.items() if store.encode() in cmd and pid not in inside}
    return kept


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def breakdown(containers: dict[str, int], store: str) -> str:
    """What the PSS per container is made of: the per-container processes, and the shared ones."""
    own = keepers(containers)
    shared = keepers(containers, store) - own
    n = len(containers)
    own_mib = sum(pss_kib(pid) for pid in own) / MIB
    text = f"{len(own)} per-container processes, {own_mib / n:.2f} MiB per container"
    if shared:
        shared_mib = sum(pss_kib(pid) for pid in shared) / MIB
        names = ", ".join(sorted({_comm(pid) for pid in shared}))
        text += f"; {len(shared)} shared by all ({names}): {shared_mib:.2f} MiB, {shared_mib / n:.2f} MiB per container"
    return text


def stop_store_processes(store: str) -> None:
    """SIGTERM, by pid, what still runs naming the store (never this process); SIGKILL after a grace."""
    table = _process_table()
    found = [_Pid.of(pid) for pid, (_, cmd) in table.items() if store.encode() in cmd and pid != os.getpid()]
    procs = [p for p in found if p is not None]
    for p in procs:
        p.signal(signal.SIGTERM)
    wait_gone(procs, timeout=5.0)


def wait_gone(procs: Iterable[_Pid], timeout: float = GONE_TIMEOUT) -> list[_Pid]:
    """Wait until every process has exited; those still alive after timeout are SIGKILLed by pid and returned."""
    left = [p for p in procs if p.alive()]
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if p.alive()]
    for p in left:
        p.signal(signal.SIGKILL)
    return left


# -- cgroups -------------------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where each engine puts its containers' cgroups (cgroupfs): pinnace's default
# parent, dockerd's, and podman's with cgroup_manager = "cgroupfs" (conmon's too).
CGROUP_PARENTS = {"pinnace": "pinnace", "docker": "docker", "podman": "libpod_parent"}


def cgroup_dirs(parent: str) -> set[Path]:
    """The parent's directories in every cgroup hierarchy (v1 controllers and v2), and all below."""
    if not parent:
        return set()
    found: set[Path] = set()
    for top in (CGROUP_ROOT, *CGROUP_ROOT.iterdir()):
        base = top / parent
        if base.is_dir() and not base.is_symlink():
            found.add(base)
            for dirpath, dirnames, _ in os.walk(base):
                found.update(Path(dirpath, d) for d in dirnames)
    return found


def remove_cgroups(dirs: Iterable[Path]) -> list[Path]:
    """rmdir each cgroup, deepest first; those still in use (or with children) are returned."""
    left = []
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(d)
    return left


# -- containers ----------------------------------------------------------------------------------


def rm_f(s: Session) -> tuple[str, ...]:
    """`rm -f` as docker means it: SIGKILL at once.

    podman's `rm -f` stops first: the stop signal, then SIGKILL after the
    stop timeout (10 s), which a `sleep` as PID 1 (ignoring SIGTERM) always
    waits out; `--time 0` makes it docker's.
    """
    return ("rm", "-f", "--time", "0") if s.name == "podman" else ("rm", "-f")


def import_image(ctx: Context, s: Session) -> None:
    tar = ctx.once("busybox", lambda: data.busybox_rootfs_tar(ctx.cache))
    s.run("import", "--change", 'CMD ["sh"]', str(tar), IMAGE)


def parallel_run_argv(s: Session, prefix: str, count: int) -> list[str]:
    """argv of a shell that starts `run -d --name PREFIX-i IMAGE sleep` for i in 1..count at once.

    It waits for every one and fails if any failed (their stderr is its own).
    """
    run = shlex.join(s.argv("run", "-d", *NO_NETWORK, "--name"))
    script = (
        f"pids=; for i in $(seq 1 {count}); do "
        f'{run} "{prefix}-$i" {shlex.quote(IMAGE)} sleep 3600 >/dev/null & pids="$pids $!"; done; '
        'rc=0; for p in $pids; do wait "$p" || rc=1; done; exit $rc'
    )
    return ["sh", "-c", script]


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(1, count + 1)]


class Fleet:
    """Containers one session starts, the processes they had, and their complete removal."""

    def __init__(self, s: Session, prefix: str, count: int) -> None:
        self.session = s
        self.names = names(prefix, count)
        self.procs: list[_Pid] = []
        self.ids: set[str] = set()  # every container ID seen, for its cgroups
        self.cgroup_parent = CGROUP_PARENTS.get(s.name, "")
        self.cgroups_before = cgroup_dirs(self.cgroup_parent)

    def _listed(self, *flags: str) -> list[str]:
        """The fleet's containers that `ps` (with flags) lists."""
        listed = set(self.session.run("ps", *flags, "--format", "{{.Names}}").split())
        return [n for n in self.names if n in listed]

    def inits(self, only: Sequence[str] | None = None) -> dict[str, int]:
        """Full ID -> init pid of the fleet's containers (or of ``only``); each must be running."""
        wanted = self.names if only is None else only
        out = self.session.run("inspect", "--format", "{{.Id}} {{.State.Pid}}", *wanted)
        found = {}
        for line in out.splitlines():
            if line.strip():
                cid, pid = line.split()
                if int(pid) <= 0:
                    raise ToolError(f"{self.session.name}: container {cid[:12]} is not running")
                found[cid] = int(pid)
        if len(found) != len(wanted):
            raise ToolError(f"{self.session.name}: {len(found)} of {len(wanted)} containers found")
        return found

    def track(self, only: Sequence[str] | None = None) -> None:
        """Remember the pids of the containers' inits and keepers, to check later that they went."""
        inits = self.inits(only)
        self.ids |= set(inits)
        pids = set(inits.values()) | keepers(inits)
        self.procs = [p for p in (_Pid.of(pid) for pid in sorted(pids)) if p is not None]

    def check_removed(self) -> None:
        """After `rm -f`: none of the fleet listed, none of its processes alive (else killed by pid)."""
        left = self._listed("-a")
        leaked = wait_gone(self.procs)
        self.procs = []
        if left:
            raise ToolError(f"{self.session.name}: rm -f left {len(left)} containers (e.g. {left[0]})")
        if leaked:
            pids = ", ".join(str(p.pid) for p in leaked)
            raise ToolError(
                f"{self.session.name}: {len(leaked)} processes outlived rm -f (killed by pid: {pids})"
            )

    def remove(self) -> None:
        """`rm -f` the fleet's containers (those that exist), then check_removed()."""
        if not self.procs:  # a failure came between a start and its track(): find what runs
            running = self._listed()
            with contextlib.suppress(ToolError, ValueError):
                if running:
                    self.track(running)
        present = self._listed("-a")
        if present:
            with contextlib.suppress(CommandFailed):  # check_removed() says what is left
                self.session.run(*rm_f(self.session), *present)
        self.check_removed()

    def close(self) -> None:
        """remove(), then the cgroups the containers and the engine made for them (rmdir, empty only).

        The cgroup tree is outside the runner's sandbox. Of pinnace's, only the
        fleet's own (named by ID) and the parent go: tests may be running
        pinnace containers under the same parent meanwhile.
        """
        try:
            self.remove()
        finally:
            stop_store_processes(str(self.session.workdir))
            left = remove_cgroups(self._own_cgroups())
        if left:
            raise ToolError(
                f"{self.session.name}: cgroups left busy after rm -f: {', '.join(map(str, left[:3]))}"
            )

    def _own_cgroups(self) -> list[Path]:
        new = cgroup_dirs(self.cgroup_parent) - self.cgroups_before
        if self.session.name != "pinnace":
            return sorted(new)
        return sorted(d for d in new if d.name == self.cgroup_parent or d.name in self.ids)


def on_close(s: Session, fn: Callable[[], object]) -> None:
    """Run fn when the session closes (before its store goes), whatever became of the case."""
    previous = s.closer

    def closer(session: Session) -> None:
        try:
            fn()
        finally:
            if previous is not None:
                previous(session)

    s.closer = closer


def fleet(s: Session, prefix: str, count: int) -> Fleet:
    """A Fleet that is removed, and its processes checked, when the session closes."""
    made = Fleet(s, prefix, count)
    on_close(s, made.close)
    return made


def start_parallel(s: Session, prefix: str, count: int) -> None:
    proc = subprocess.run(
        parallel_run_argv(s, prefix, count),
        env=dict(s.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise CommandFailed([s.name, "run", "-d", f"x{count}"], proc.returncode, proc.stderr)


# -- cases ---------------------------------------------------------------------------------------


@case(
    "pss",
    f"PSS per running container: the engine's own processes for {PSS_CONTAINERS} `sleep` containers, / {PSS_CONTAINERS}",
    TOOLS,
    Target("at most docker's containerd-shim", 1.0, ("docker",), {"docker": 2.8}),
    unit="MiB",
)
def pss_case(ctx: Context, s: Session) -> Step:
    import_image(ctx, s)
    containers = fleet(s, "bench-pss", PSS_CONTAINERS)
    for name in containers.names:
        s.run("run", "-d", *NO_NETWORK, "--name", name, IMAGE, "sleep", "3600")
    containers.track()
    time.sleep(SETTLE)

    store = str(s.workdir)
    ctx.notes.append(f"{s.name}: {breakdown(containers.inits(), store)}")

    def measure() -> float:
        inits = containers.inits()
        return sum(pss_kib(pid) for pid in sorted(keepers(inits, store))) / len(inits) / MIB

    return Step(["(PSS of", *s.argv("run", "-d"), "keepers)"], measure=measure)


@case(
    "run-d-50",
    f"{PARALLEL} `run -d busybox sleep` at once (wall time until all returned)",
    TOOLS,
    Target("at most half podman's time", 0.5, ("podman",)),
)
def parallel_run_case(ctx: Context, s: Session) -> Step:
    import_image(ctx, s)
    containers = fleet(s, "bench-par", PARALLEL)

    def remove() -> None:
        containers.track()
        s.run(*rm_f(s), *containers.names)
        containers.check_removed()

    return Step(parallel_run_argv(s, "bench-par", PARALLEL), cleanup=remove)


@case(
    "rm-f-50",
    f"one `rm -f` of {PARALLEL} running containers",
    TOOLS,
    Target("at most half podman's time", 0.5, ("podman",)),
)
def parallel_rm_case(ctx: Context, s: Session) -> Step:
    import_image(ctx, s)
    containers = fleet(s, "bench-rm", PARALLEL)

    def start() -> None:
        start_parallel(s, "bench-rm", PARALLEL)
        containers.track()

    return Step(s.argv(*rm_f(s), *containers.names), prepare=start, cleanup=containers.check_removed)
