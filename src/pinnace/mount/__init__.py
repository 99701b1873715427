"""Mount descriptions, and the one place in pinnace that performs them.

Snapshotters (and later the runtime spec builder) return :class:`Mount`
values; only this package calls mount(2)/umount2(2).  Keeping mounts as data
lets everything above be tested without root.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinnace.mount.ops import mount_all, mounted, syncfs, unmount, unmount_all, writable_dir


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount, as containerd's mount.Mount: type, source, options (and a sub-target)."""

    type: str  # "overlay", "bind", "tmpfs", ...
    source: str
    options: tuple[str, ...] = ()
    target: str = ""  # relative to the mount root; "" is the root itself


__all__ = ["Mount", "mount_all", "mounted", "syncfs", "unmount", "unmount_all", "writable_dir"]
