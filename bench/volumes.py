"""Benchmarks of volumes: I/O through a named volume against the host directory, and start latency.

``vol-write`` and ``vol-read``
    ``dd`` of 1 GiB (64 MiB with ``--quick``) in 1 MiB blocks inside a busybox
    container, on a named volume mounted at /vol, for pinnace, podman and
    docker; and the same ``dd`` run directly on a directory of the run's
    scratch disk by the ``host`` pseudo-tool (bench/tools.py), the baseline.
    Every volume lives in its tool's store under the same scratch directory,
    so all four write to the same ext4 filesystem. Target: pinnace's median
    within 10 % of the host's ("equal within noise": a named volume is a bind
    mount, so the data path should be the host's own).

    A sample is dd's own run time, not the wall time of ``run --rm``: the
    container command is ``time -f %e dd ...`` (busybox's ``time``, 10 ms
    resolution) and the host runs the same busybox binary the image carries,
    ``busybox time -f %e busybox dd ...``. Timing the whole ``run`` would add
    each engine's start-up (tens of milliseconds for pinnace, hundreds for the
    peers) to what is meant to be the volume's data path; start-up with
    volumes is what ``run-10-vols`` measures. dd must report every block
    in and out, else the run fails (a tool that copies nothing must not look
    fast).

    Write: ``if=/dev/zero of=/vol/bench.dat bs=1M count=N conv=fsync``, so
    the data is on disk when dd ends and the page cache does not decide the
    figure; the file is checked for its size and removed after every run,
    untimed, so each run allocates afresh rather than truncating the last
    run's file inside the timed command.

    Read: the file is written once in set-up, untimed (fsynced). Before every
    run its pages are evicted from the page cache, untimed, with
    ``posix_fadvise(POSIX_FADV_DONTNEED)`` on that one file, from the host
    side of the volume (its ``volume inspect`` Mountpoint): the file is clean,
    so the kernel drops all its cached pages, and the read then comes from the
    disk through the volume's mount with ordinary buffered I/O and readahead,
    as an application reads. Dropping every cache (``/proc/sys/vm/drop_caches``)
    would do the same but disturb everything else on a shared machine; and
    ``iflag=direct`` (O_DIRECT, which busybox's dd has) would bypass readahead
    and measure a path applications rarely take. A cached read would measure
    memcpy from the page cache, the same for any mount.

``run-10-vols``
    ``run --rm IMAGE true`` with ten named volumes (``-v pinnace-bench-v0:/v0``
    ... ``-v pinnace-bench-v9:/v9``), created untimed in set-up: the start
    latency a container with volumes costs (create, mount, start, wait,
    remove). Target as ``run-rm``'s: at most a third of podman's time.

Every engine runs without networking (``--network none``, bench/tools.py).
Every volume a case creates is removed when its session closes, before the
store goes (which matters for docker, whose daemon may keep its own store);
a volume that cannot be removed is reported by the runner.

The case names are short for podman's sake: podman 4.3 refuses a runroot
longer than 50 characters, and the runner's
``/tmp/pinnace-bench-XXXXXXXX/CASE/podman/run`` leaves 11 for the name.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench import data
from bench.cases import Context, Step, Target, case
from bench.density import CGROUP_PARENTS, IMAGE, cgroup_dirs, import_image, on_close, remove_cgroups
from bench.tools import NO_NETWORK, CommandFailed, Session, ToolError

ENGINES = ("pinnace", "podman", "docker")
IO_TOOLS = (*ENGINES, "host")
MIB = 1 << 20
# dd's size in MiB: 1 GiB, or 64 MiB for a --quick run.
SIZE_MIB = 1024
QUICK_SIZE_MIB = 64
VOLUME = "pinnace-bench-io"
MOUNT = "/vol"
FILE = "bench.dat"
MANY = 10
# "Equal within noise": how far pinnace's median may lie above the host's.
NOISE = 1.10


def prepare_engine(ctx: Context, s: Session) -> None:
    """Import the busybox image; and, when the session closes, remove the cgroups a peer left.

    podman's conmon and dockerd leave (empty) cgroups of their own under their
    parents, outside the runner's sandbox: those made during the case go again
    (rmdir, so never one in use). pinnace's go with each container, and under
    its parent other pinnace containers (tests) may be running, so pinnace's
    are left alone, as in density.py.
    """
    import_image(ctx, s)
    if s.name in ("podman", "docker"):
        parent = CGROUP_PARENTS[s.name]
        before = cgroup_dirs(parent)
        on_close(s, lambda: remove_cgroups(cgroup_dirs(parent) - before))


def size_mib(ctx: Context) -> int:
    return QUICK_SIZE_MIB if ctx.quick else SIZE_MIB


def volume_dir(ctx: Context, s: Session) -> tuple[str, Path]:
    """Where the session's dd works: the directory as dd names it, and the same on the host.

    An engine gets the image and a named volume (removed when the session
    closes); the host a plain directory in its session's scratch space.
    """
    if s.name == "host":
        here = s.workdir / "vol"
        here.mkdir(parents=True, exist_ok=True)
        return str(here), here
    prepare_engine(ctx, s)
    s.run("volume", "create", VOLUME)
    on_close(s, lambda: s.run("volume", "rm", VOLUME))
    mountpoint = s.run("volume", "inspect", "--format", "{{.Mountpoint}}", VOLUME).strip()
    if not mountpoint or not Path(mountpoint).is_dir():
        raise ToolError(f"{s.name}: volume {VOLUME}'s Mountpoint {mountpoint!r} is not a directory here")
    return MOUNT, Path(mountpoint)


def dd_argv(s: Session, *operands: str) -> list[str]:
    """argv of busybox's ``time -f %e dd OPERANDS``, in a container on the volume, or on the host."""
    if s.name == "host":
        busybox = str(data.BUSYBOX)
        return [busybox, "time", "-f", "%e", busybox, "dd", *operands]
    mount = ("-v", f"{VOLUME}:{MOUNT}")
    return s.argv("run", "--rm", *NO_NETWORK, *mount, IMAGE, "time", "-f", "%e", "dd", *operands)


def dd_seconds(stderr: str, blocks: int) -> float:
    """dd's run time from what ``time -f %e dd`` wrote to stderr; ToolError unless dd copied all blocks.

    busybox's dd reports ``N+P records in`` and ``N+P records out`` (full and
    partial blocks), then time its seconds on the last line.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for way in ("in", "out"):
        if f"{blocks}+0 records {way}" not in lines:
            got = next((line for line in lines if line.endswith(f"records {way}")), "nothing")
            raise ToolError(f"dd copied {got}, not {blocks} blocks of 1 MiB")
    try:
        return float(lines[-1])
    except ValueError:
        raise ToolError(f"no run time from `time -f %e`, but {lines[-1]!r}") from None


def run_dd(s: Session, argv: list[str], blocks: int) -> float:
    """Run argv (a dd_argv) and return dd's run time; CommandFailed if it fails."""
    proc = subprocess.run(
        argv,
        env=dict(s.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return dd_seconds(proc.stderr, blocks)


def check_size(path: Path, size: int) -> None:
    """ToolError unless path is a file of size bytes (a write that went elsewhere must not count)."""
    try:
        found = path.stat().st_size
    except OSError as e:
        raise ToolError(f"dd's file is not in the volume: {e}") from e
    if found != size:
        raise ToolError(f"{path.name} has {found} bytes, not {size}")


def evict(path: Path) -> None:
    """Drop path's pages from the page cache (and only its): the next read comes from the disk.

    fsync first: POSIX_FADV_DONTNEED leaves dirty pages in place.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _equal_to_host() -> Target:
    return Target("equal to the host directory's within noise (10 %)", NOISE, ("host",))


@case(
    "vol-write",
    f"dd of 1 GiB (bs=1M, conv=fsync; {QUICK_SIZE_MIB} MiB if --quick) into a named volume, vs a host dir",
    IO_TOOLS,
    _equal_to_host(),
)
def volume_write(ctx: Context, s: Session) -> Step:
    inside, outside = volume_dir(ctx, s)
    blocks = size_mib(ctx)
    argv = dd_argv(s, "if=/dev/zero", f"of={inside}/{FILE}", "bs=1M", f"count={blocks}", "conv=fsync")

    def check_and_remove() -> None:
        check_size(outside / FILE, blocks * MIB)
        (outside / FILE).unlink()

    return Step(argv, measure=lambda: run_dd(s, argv, blocks), cleanup=check_and_remove)


@case(
    "vol-read",
    f"dd of an uncached 1 GiB file ({QUICK_SIZE_MIB} MiB if --quick) out of a named volume, vs a host dir",
    IO_TOOLS,
    _equal_to_host(),
)
def volume_read(ctx: Context, s: Session) -> Step:
    inside, outside = volume_dir(ctx, s)
    blocks = size_mib(ctx)
    path = outside / FILE
    run_dd(
        s, dd_argv(s, "if=/dev/zero", f"of={inside}/{FILE}", "bs=1M", f"count={blocks}", "conv=fsync"), blocks
    )
    check_size(path, blocks * MIB)
    argv = dd_argv(s, f"if={inside}/{FILE}", "of=/dev/null", "bs=1M")
    return Step(argv, prepare=lambda: evict(path), measure=lambda: run_dd(s, argv, blocks))


def many_volumes(count: int = MANY) -> dict[str, str]:
    """count volume names, each with where it is mounted: pinnace-bench-vI at /vI."""
    return {f"pinnace-bench-v{i}": f"/v{i}" for i in range(count)}


@case(
    "run-10-vols",
    f"run --rm busybox true with {MANY} named volumes (create, start, wait, remove)",
    ENGINES,
    Target("at most a third of podman's time", 1 / 3, ("podman",)),
)
def run_many_volumes(ctx: Context, s: Session) -> Step:
    prepare_engine(ctx, s)
    volumes = many_volumes()
    created: list[str] = []
    on_close(s, lambda: created and s.run("volume", "rm", *created))
    for name in volumes:
        s.run("volume", "create", name)
        created.append(name)
    mounts = [flag for name, path in volumes.items() for flag in ("-v", f"{name}:{path}")]
    return Step(s.argv("run", "--rm", *NO_NETWORK, *mounts, IMAGE, "true"))
