"""A private mount namespace that keeps the benchmarked tools off the host's state.

``--root``/``--runroot`` isolate the stores, but podman still writes host paths
of its own accord: its blob-info cache in /var/lib/containers/cache even with
--root, locks in /var/cache/containers and /dev/shm, events and state in
/run/libpod and /run/containers, netavark's lock in /etc/containers/networks,
~/.config/containers/podman. So the runner moves itself into a private mount
namespace and lays a throw-away overlay over /etc, /run, /var and the home
directory, and a fresh tmpfs over /dev/shm:
every tool can read the host as usual, and whatever it writes there lands in
the scratch directory and goes away with it. Paths the run must really write
or reach (the repository, the data cache, docker's socket) are bound back
through the overlay.

Needs root (CAP_SYS_ADMIN), as pinnace and podman do here anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

# Directories whose writes the sandbox diverts, besides the home directory.
DIVERTED = ("/etc", "/run", "/var")

_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    ret = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(ret, f"mount {target}")


def umount(target: str) -> None:
    """Detach a mount and everything below it (lazily, so busy files do not stop us)."""
    _check(_libc.umount2(target.encode(), _MNT_DETACH), f"umount {target}")


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below directory in this namespace, deepest first."""
    from pinnace.mount.flags import mount_points  # mountinfo parsing, octal escapes and all

    prefix = str(directory).rstrip("/")
    found = {p for p in mount_points() if p == prefix or p.startswith(prefix + "/")}
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def unmount_under(directory: Path) -> None:
    """Unmount whatever is still mounted below directory, so it can be removed."""
    for point in mounts_under(directory):
        with contextlib.suppress(OSError):  # already gone with a parent
            umount(point)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


@contextlib.contextmanager
def host_sandbox(scratch: Path, keep: Sequence[Path]) -> Iterator[None]:
    """Divert the writes of this process and its children to /etc, /run, /var, ~ into scratch.

    keep: paths under the diverted directories that must stay the host's own (the
    repository, results, a docker socket); missing ones are ignored.
    Entering is for good (a process cannot leave its mount namespace); leaving
    the context unmounts the overlays so that scratch can be removed.
    """
    scratch = Path(os.path.realpath(scratch))
    home = os.path.realpath(os.path.expanduser("~"))
    diverted = [*DIVERTED, *([home] if home not in ("/", *DIVERTED) else [])]
    for directory in diverted:
        if _under(str(scratch), directory):
            raise OSError(f"scratch directory {scratch} is under {directory}: set TMPDIR elsewhere")
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Without this our mounts would propagate to the host's peers.
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    kept = sorted({os.path.realpath(p) for p in keep if os.path.lexists(p)})
    mounted: list[str] = []
    try:
        for directory in diverted:
            if os.path.islink(directory) or not os.path.isdir(directory):
                continue
            # O_PATH handles reach the host's files once the overlay hides them.
            handles = {p: os.open(p, os.O_PATH) for p in kept if _under(p, directory)}
            try:
                layer = scratch / "sandbox" / directory.strip("/").replace("/", "_")
                (layer / "upper").mkdir(parents=True)
                (layer / "work").mkdir()
                options = f"lowerdir={directory},upperdir={layer / 'upper'},workdir={layer / 'work'}"
                _mount("overlay", directory, "overlay", 0, options)
                mounted.append(directory)
                for path, fd in handles.items():
                    _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
            finally:
                for fd in handles.values():
                    os.close(fd)
        if os.path.isdir("/dev/shm") and not os.path.islink("/dev/shm"):
            _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
            mounted.append("/dev/shm")
        yield
    finally:
        for directory in reversed(mounted):
            with contextlib.suppress(OSError):
                umount(directory)
