"""Linux capabilities: the name table, a spec's lists as masks, and the calls that set them.

A capability set is handled as an int mask (bit N = capability N), which is
how the kernel reports them (/proc/self/status) and takes them (capset(2),
two 32-bit words).  :func:`parse` turns one of the spec's
``process.capabilities`` lists into a mask; the other functions read and
change the calling process's sets:

- :func:`drop_bounding` -- prctl(PR_CAPBSET_DROP) for every capability not
  kept.  Needs CAP_SETPCAP, so it runs before the user switch.
- :func:`capget` / :func:`capset` / :func:`apply` -- effective, permitted
  and inheritable, in one syscall (_LINUX_CAPABILITY_VERSION_3).
- :func:`set_ambient` -- prctl(PR_CAP_AMBIENT): clear, then raise each.
- :func:`current` -- the five sets as /proc/self/status shows them.

Names the kernel does not know (numbers above ``cap_last_cap``, e.g.
CAP_CHECKPOINT_RESTORE on linux < 5.9) are skipped, as runc does, so one
config works on old and new kernels; a name nobody knows is a config error.

ctypes is imported on first use only: the runtime starts once per container
and most of its commands never touch capabilities.
"""

from __future__ import annotations

import errno

from pinnace.errors import FailedPrecondition, InvalidArgument, PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Capability names by number (linux/capability.h, up to linux 5.9).
NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

#: Capability name -> number.
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}

#: The keys of the spec's ``process.capabilities``, in the order runc applies them.
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

#: /proc/<pid>/status line -> spec set name.
_STATUS_KEYS = {
    "CapInh": "inheritable",
    "CapPrm": "permitted",
    "CapEff": "effective",
    "CapBnd": "bounding",
    "CapAmb": "ambient",
}

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_last: int | None = None
_lib: Any = None
_structs: Any = None


def last_cap() -> int:
    """The highest capability number this kernel knows (cached for the process).

    Read from /proc/sys/kernel/cap_last_cap; where /proc is not there (a
    container without a /proc mount), probed with PR_CAPBSET_READ, which
    fails with EINVAL for a number the kernel does not know.
    """
    global _last
    if _last is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last = int(f.read())
        except (OSError, ValueError):
            lib = _libc()
            _last = next(
                (cap for cap in range(63, -1, -1) if lib.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0), 0
            )
    return _last


def parse(names: object, field: str) -> int:
    """The mask of the capability names in ``names`` (a spec list; None is the empty set).

    An unknown name is an InvalidArgument naming ``field``; a name the
    running kernel does not know is left out (runc warns and skips).
    """
    if names is None:
        return 0
    if not isinstance(names, list):
        raise InvalidArgument(f"{field}: must be a JSON array")
    last = last_cap()
    mask = 0
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InvalidArgument(f"{field}[{i}]: must be a string")
        number = NUMBERS.get(name)
        if number is None:
            raise InvalidArgument(f'{field}: unknown capability "{name}"')
        if number <= last:
            mask |= 1 << number
    return mask


def names(mask: int) -> list[str]:
    """The names of the capabilities in ``mask``, by number (bits beyond the table are left out)."""
    return [name for number, name in enumerate(NAMES) if mask >> number & 1]


def current(status: str = "/proc/self/status") -> dict[str, int]:
    """The five sets (keyed as in the spec: bounding, effective, ...) from a /proc status file."""
    sets: dict[str, int] = {}
    with open(status) as f:
        for line in f:
            key, _, value = line.partition(":")
            name = _STATUS_KEYS.get(key)
            if name is not None:
                sets[name] = int(value.strip(), 16)
    return sets


def bounding() -> int:
    """The calling thread's bounding set, read with PR_CAPBSET_READ (works without /proc)."""
    lib = _libc()
    return sum(1 << cap for cap in range(last_cap() + 1) if lib.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)


def drop_bounding(keep: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP).

    Only capabilities still in the set are dropped, so a set already
    narrower than ``keep`` is no error.
    """
    lib = _libc()
    for cap in range(last_cap() + 1):
        if keep >> cap & 1 or lib.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1:
            continue
        if lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise _error(f"prctl(PR_CAPBSET_DROP, {_name(cap)})")


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) masks."""
    import ctypes

    header_t, data_t = _cap_structs()
    header = header_t(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (data_t * 2)()
    if _libc().capget(ctypes.byref(header), data) != 0:
        raise _error("capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's effective, permitted and inheritable sets in one capset(2)."""
    import ctypes

    header_t, data_t = _cap_structs()
    header = header_t(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (data_t * 2)()
    for word in (0, 1):
        shift = 32 * word
        data[word].effective = effective >> shift & 0xFFFFFFFF
        data[word].permitted = permitted >> shift & 0xFFFFFFFF
        data[word].inheritable = inheritable >> shift & 0xFFFFFFFF
    if _libc().capset(ctypes.byref(header), data) != 0:
        raise _error("capset")


def apply(effective: int, permitted: int, inheritable: int) -> int:
    """capset the three sets, each cut to what the kernel lets this thread grant.

    The runtime-spec asks runtimes not to fail when a config requests
    capabilities that cannot be granted (a runtime in a restricted
    environment), so rather than letting capset(2) refuse the whole call
    with EPERM, each set is limited by the kernel's own rules: permitted
    never grows, effective is within permitted, and inheritable within what
    the thread has (old inheritable or permitted) and what the bounding set
    allows.  Returns the requested capabilities that were left out.
    """
    _, old_permitted, old_inheritable = capget()
    bnd = bounding()
    new_permitted = permitted & old_permitted
    new_effective = effective & new_permitted
    new_inheritable = inheritable & (old_inheritable | old_permitted) & (old_inheritable | bnd)
    capset(new_effective, new_permitted, new_inheritable)
    return (effective & ~new_effective) | (permitted & ~new_permitted) | (inheritable & ~new_inheritable)


def set_ambient(mask: int) -> int:
    """Make the ambient set ``mask``: clear it, then raise each capability.

    The kernel raises only a capability that is both permitted and
    inheritable; like runc, one it refuses is skipped rather than failing
    the container.  Returns the capabilities that could not be raised (all
    of ``mask`` on a kernel without ambient capabilities, linux < 4.3).
    """
    import ctypes

    lib = _libc()
    if lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        if ctypes.get_errno() == errno.EINVAL:
            return mask
        raise _error("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    refused = 0
    for cap in range(last_cap() + 1):
        if mask >> cap & 1 and lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0:
            if ctypes.get_errno() != errno.EPERM:
                raise _error(f"prctl(PR_CAP_AMBIENT_RAISE, {_name(cap)})")
            refused |= 1 << cap
    return refused


def _name(cap: int) -> str:
    return NAMES[cap] if cap < len(NAMES) else str(cap)


def _error(call: str) -> PinnaceError:
    """The pinnace error for ``call`` failing with the current errno."""
    import ctypes
    import os

    err = ctypes.get_errno()
    kind: type[PinnaceError] = Unavailable
    if err in (errno.EPERM, errno.EACCES):
        kind = FailedPrecondition
    elif err == errno.EINVAL:
        kind = InvalidArgument
    reason = os.strerror(err)
    return kind(f"{call}: {reason[:1].lower()}{reason[1:]}")


def _libc() -> Any:
    """libc (pinnace.mount.ops's handle) with the prototypes this module calls."""
    global _lib
    if _lib is None:
        import ctypes

        from pinnace.mount import flags as ops

        lib = ops.libc()
        # Same prototype as pinnace.runtime.linux.syscalls declares: the handle is shared.
        lib.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        lib.prctl.restype = ctypes.c_int
        for fn in (lib.capget, lib.capset):
            fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
            fn.restype = ctypes.c_int
        _lib = lib
    return _lib


def _cap_structs() -> Any:
    """struct __user_cap_header_struct and __user_cap_data_struct, defined once."""
    global _structs
    if _structs is None:
        import ctypes

        class Header(ctypes.Structure):
            _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))

        class Data(ctypes.Structure):
            _fields_ = (
                ("effective", ctypes.c_uint32),
                ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32),
            )

        _structs = (Header, Data)
    return _structs
