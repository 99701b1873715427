"""Mount descriptions, and the one place in pinnace that performs them.

Snapshotters (and later the runtime spec builder) return :class:`Mount`
values; only this package calls mount(2)/umount2(2).  Keeping mounts as data
lets everything above be tested without root.
"""

from __future__ import annotations

from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.mount.ops import (
        mount_all,
        mounted,
        syncfs,
        unmount,
        unmount_all,
        writable_dir,
        writable_path,
    )


@record
class Mount:
    """One mount, as containerd's mount.Mount: type, source, options (and a sub-target)."""

    type: str  # "overlay", "bind", "tmpfs", ...
    source: str
    options: tuple[str, ...] = ()
    target: str = ""  # relative to the mount root; "" is the root itself


_OPS = frozenset(
    {"mount_all", "mounted", "syncfs", "unmount", "unmount_all", "writable_dir", "writable_path"}
)


def __getattr__(name: str) -> object:
    """The functions of :mod:`.ops`, imported on first use (the runtime needs only :mod:`.flags`)."""
    if name in _OPS:
        from pinnace.mount import ops

        return getattr(ops, name)
    raise AttributeError(f"module 'pinnace.mount' has no attribute {name!r}")


__all__ = [
    "Mount",
    "mount_all",
    "mounted",
    "syncfs",
    "unmount",
    "unmount_all",
    "writable_dir",
    "writable_path",
]
