"""Mount descriptions, and the one place in pinnace that performs them.

Snapshotters (and later the runtime spec builder) return :class:`Mount`
values; only this package calls mount(2)/umount2(2).  Keeping mounts as data
lets everything above be tested without root.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount, as containerd's mount.Mount: type, source, options (and a sub-target)."""

    type: str  # "overlay", "bind", "tmpfs", ...
    source: str
    options: tuple[str, ...] = ()
    target: str = ""  # relative to the mount root; "" is the root itself
