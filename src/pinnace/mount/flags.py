"""Mount flags, option parsing, libc and the mount table: the lean half of :mod:`pinnace.mount`.

The container runtime sets up every container's mounts itself and starts
once per container, so what it needs from this package lives here, with
nothing heavier than ``os`` imported (:mod:`.ops`, which performs
:class:`~pinnace.mount.Mount` descriptions for snapshots, needs pathlib and
contextlib).  ctypes is loaded on the first :func:`libc` call.
"""

from __future__ import annotations

import os

from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

#: option -> (clear?, flag), as containerd's parseMountOptions (and mount(8)).
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "lazytime": (False, MS_LAZYTIME),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}

#: propagation options: applied by a separate mount(2) after the mount itself.
_PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

_libc_handle: Any = None


def libc() -> Any:
    """libc through ctypes, loaded once (``find_library`` would fork ldconfig: avoided)."""
    global _libc_handle
    if _libc_handle is None:
        import ctypes

        try:
            lib = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = (
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        )
        lib.mount.restype = ctypes.c_int
        lib.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        lib.umount2.restype = ctypes.c_int
        lib.syncfs.argtypes = (ctypes.c_int,)
        lib.syncfs.restype = ctypes.c_int
        _libc_handle = lib
    return _libc_handle


def parse_options(options: Sequence[str]) -> tuple[int, int, list[str]]:
    """Split mount options into (flags, propagation flags, data options)."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in _PROPAGATION:
            propagation |= _PROPAGATION[option]
        else:
            data.append(option)
    return flags, propagation, data


def unescape(field: bytes) -> bytes:
    """A mountinfo field: the kernel writes space, tab, newline and backslash as ``\\ooo``."""
    if b"\\" not in field:
        return field
    out = bytearray()
    i = 0
    while i < len(field):
        if field[i] == 0x5C and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


@record
class MountInfo:
    """One line of /proc/self/mountinfo."""

    device: str  # major:minor
    root: str  # the root of the mount within its filesystem
    point: str
    options: str  # per-mount options
    optional: str  # optional fields: shared:N, master:N ...
    fstype: str
    source: str
    super_options: str


def mountinfo() -> list[MountInfo]:
    """The mounts of this mount namespace, in /proc/self/mountinfo order (parents first)."""
    out = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f.read().splitlines():
            pre, sep, post = line.partition(b" - ")
            fields = pre.split(b" ")
            rest = post.split(b" ", 2)
            if not sep or len(fields) < 6 or len(rest) < 3:
                continue
            entry = (
                fields[2].decode(),
                os.fsdecode(unescape(fields[3])),
                os.fsdecode(unescape(fields[4])),
                fields[5].decode(),
                b" ".join(fields[6:]).decode(),
                rest[0].decode(),
                os.fsdecode(unescape(rest[1])),
                os.fsdecode(rest[2]),
            )
            out.append(MountInfo(*entry))
    return out


def mount_points() -> list[str]:
    """Mount points of this mount namespace, in /proc/self/mountinfo order (parents first)."""
    return [m.point for m in mountinfo()]
