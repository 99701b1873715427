"""The privileged syscalls of the container init, behind a seam a test can fake.

:class:`Sys` is youki's ``Syscall`` trait: init code takes a ``Sys`` and
never calls libc itself, so the order and arguments of its unshare / setns /
mount / pivot_root calls are unit-testable without root (pass a
:class:`RecordingSys`, assert on ``.calls``).  :class:`LinuxSys` performs them
through ctypes, since Python 3.11 has no ``os.unshare``/``os.setns``.

Errors become pinnace kinds at this boundary, one line naming the call and
its argument, e.g. ``unshare(CLONE_NEWUSER): operation not permitted``:
EPERM/EACCES -> FailedPrecondition (the host does not grant it),
EINVAL -> InvalidArgument (the request is wrong), anything else -> Unavailable.
"""

from __future__ import annotations

import errno
import os

from pinnace.errors import FailedPrecondition, InvalidArgument, PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol
else:
    Protocol = object  # typing costs ~3 ms of start-up; the protocol is for type checkers

CLONE_NEWTIME = 0x80
CLONE_NEWNS = 0x20000
CLONE_NEWCGROUP = 0x2000000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: flag -> name, in the order flags are spelled out in messages.
CLONE_NAMES: dict[int, str] = {
    CLONE_NEWUSER: "CLONE_NEWUSER",
    CLONE_NEWNS: "CLONE_NEWNS",
    CLONE_NEWPID: "CLONE_NEWPID",
    CLONE_NEWNET: "CLONE_NEWNET",
    CLONE_NEWIPC: "CLONE_NEWIPC",
    CLONE_NEWUTS: "CLONE_NEWUTS",
    CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
    CLONE_NEWTIME: "CLONE_NEWTIME",
}

#: pivot_root(2) has no glibc wrapper: syscall(2) by number, per architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}
#: keyctl(2) has no glibc wrapper either (it lives in libkeyutils).
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "ppc64le": 280, "s390x": 280, "riscv64": 219}
_KEYCTL_JOIN_SESSION_KEYRING = 1
#: clone(2) by number, for CLONE_PARENT (fork() takes no flags).
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "ppc64le": 120, "s390x": 120, "riscv64": 220}
_CLONE_PARENT = 0x8000
_SIGCHLD = 17


def clone_flag_names(flags: int) -> str:
    """``CLONE_NEWUTS|CLONE_NEWNS`` for a flag mask (unknown bits in hex), for messages."""
    names = [name for flag, name in CLONE_NAMES.items() if flags & flag]
    rest = flags & ~sum(CLONE_NAMES)
    if rest or not names:
        names.append(hex(rest))
    return "|".join(names)


class Sys(Protocol):
    """The syscalls the container init makes; each raises a pinnace error on failure."""

    def unshare(self, flags: int) -> None: ...

    def setns(self, fd: int, nstype: int) -> None: ...

    def pivot_root(self, new_root: str, put_old: str) -> None: ...

    def sethostname(self, name: str) -> None: ...

    def setdomainname(self, name: str) -> None: ...

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None: ...

    def umount2(self, target: str, flags: int) -> None: ...

    def prctl(self, option: int, arg2: int) -> None: ...

    def join_session_keyring(self, name: str) -> None: ...

    def fork_sibling(self) -> int: ...


def error(call: str, err: int) -> PinnaceError:
    """The pinnace error for ``call`` (already spelled with its arguments) failing with ``err``."""
    if err in (errno.EPERM, errno.EACCES):
        kind: type[PinnaceError] = FailedPrecondition
    elif err == errno.EINVAL:
        kind = InvalidArgument
    else:
        kind = Unavailable
    reason = os.strerror(err)
    return kind(f"{call}: {reason[:1].lower()}{reason[1:]}")


_libc_handle: Any = None


def _libc() -> Any:
    """libc, loaded once and shared with :mod:`pinnace.mount.ops` (which declares mount/umount2)."""
    global _libc_handle
    if _libc_handle is None:
        import ctypes

        from pinnace.mount import flags as ops

        lib = ops.libc()
        for name, argtypes in (
            ("unshare", (ctypes.c_int,)),
            ("setns", (ctypes.c_int, ctypes.c_int)),
            ("sethostname", (ctypes.c_char_p, ctypes.c_size_t)),
            ("setdomainname", (ctypes.c_char_p, ctypes.c_size_t)),
            ("prctl", (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)),
        ):
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int
        lib.syscall.restype = ctypes.c_long
        _libc_handle = lib
    return _libc_handle


def warm_up() -> None:
    """Declare libc's functions and call through them once, in a process that forks many (the zygote).

    ctypes builds a function's call interface at its first call; done in
    each forked monitor instead, that and the declarations above cost each
    one ~0.3 MiB of private memory.
    """
    _libc().prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE: harmless, and through the declared argtypes


def _check(rc: int, call: Callable[[], str]) -> None:
    """Raise the translated errno when ``rc`` is -1; ``call`` spells the call lazily."""
    if rc != 0:
        import ctypes

        raise error(call(), ctypes.get_errno())


class LinuxSys:
    """:class:`Sys` on the running kernel, through libc."""

    def unshare(self, flags: int) -> None:
        _check(_libc().unshare(flags), lambda: f"unshare({clone_flag_names(flags)})")

    def setns(self, fd: int, nstype: int) -> None:
        _check(_libc().setns(fd, nstype), lambda: f"setns({fd}, {clone_flag_names(nstype)})")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _SYS_PIVOT_ROOT.get(os.uname().machine)
        call = f"pivot_root({new_root}, {put_old})"
        if number is None:
            raise Unavailable(f"{call}: not supported on {os.uname().machine}")
        import ctypes

        rc = _libc().syscall(
            ctypes.c_long(number),
            ctypes.c_char_p(os.fsencode(new_root)),
            ctypes.c_char_p(os.fsencode(put_old)),
        )
        _check(rc, lambda: call)

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc().sethostname(raw, len(raw)), lambda: f"sethostname({name})")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc().setdomainname(raw, len(raw)), lambda: f"setdomainname({name})")

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        rc = _libc().mount(
            os.fsencode(source) if source else None,
            os.fsencode(target),
            os.fsencode(fstype) if fstype else None,
            flags,
            os.fsencode(data) if data else None,
        )
        _check(rc, lambda: f"mount({source or 'none'}, {target}, {fstype or 'none'}, {flags:#x})")

    def umount2(self, target: str, flags: int) -> None:
        _check(_libc().umount2(os.fsencode(target), flags), lambda: f"umount2({target}, {flags:#x})")

    def prctl(self, option: int, arg2: int) -> None:
        _check(_libc().prctl(option, arg2, 0, 0, 0), lambda: f"prctl({option}, {arg2})")

    def join_session_keyring(self, name: str) -> None:
        number = _SYS_KEYCTL.get(os.uname().machine)
        call = f"keyctl(KEYCTL_JOIN_SESSION_KEYRING, {name})"
        if number is None:
            raise Unavailable(f"{call}: not supported on {os.uname().machine}")
        import ctypes

        rc = _libc().syscall(
            ctypes.c_long(number), ctypes.c_long(_KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_char_p(name.encode())
        )
        _check(0 if rc >= 0 else -1, lambda: call)

    def fork_sibling(self) -> int:
        """fork(), except that the child is our parent's child (``CLONE_PARENT``), as runc's init is.

        Stage 1 forks the container's init this way, so the runtime that
        started stage 1 waits for the init directly: it need not become a
        subreaper first (a prctl, which would cost the parent ctypes' ~2 ms
        import).  Python's fork steps run around the clone as ``os.fork``
        runs them, with the GIL held throughout (a ``PyDLL`` call), so the
        child's interpreter is as sound as after ``os.fork``.  Single-threaded
        callers only, as for any fork.
        """
        number = _SYS_CLONE.get(os.uname().machine)
        if number is None:
            raise Unavailable(f"clone(CLONE_PARENT): not supported on {os.uname().machine}")
        import ctypes

        api = ctypes.pythonapi
        syscall = ctypes.PyDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        api.PyOS_BeforeFork()
        # s390x takes the stack first and the flags second; with a null stack the
        # other argument orders (x86_64's child_tid/tls, aarch64's tls/child_tid) agree.
        flags, stack = ctypes.c_long(_CLONE_PARENT | _SIGCHLD), ctypes.c_long(0)
        args = (stack, flags) if os.uname().machine == "s390x" else (flags, stack)
        pid = syscall(ctypes.c_long(number), *args, ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
        if pid == 0:
            api.PyOS_AfterFork_Child()
            return 0
        err = ctypes.get_errno()
        api.PyOS_AfterFork_Parent()
        if pid < 0:
            raise error("clone(CLONE_PARENT)", err)
        return int(pid)


class RecordingSys:
    """A :class:`Sys` that performs nothing and records each call as ``(name, *args)``.

    ``setns`` records the path its fd was opened from (read back through
    /proc/self/fd) rather than the fd number, so a test can assert which
    namespace file was joined.  ``fail`` maps a call name to the error the
    call raises, to exercise error paths.
    """

    def __init__(self, fail: dict[str, PinnaceError] | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = fail or {}

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", os.readlink(f"/proc/self/fd/{fd}"), nstype)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._record("umount2", target, flags)

    def prctl(self, option: int, arg2: int) -> None:
        self._record("prctl", option, arg2)

    def join_session_keyring(self, name: str) -> None:
        self._record("join_session_keyring", name)

    def fork_sibling(self) -> int:
        """Record the call and act as the parent of a child that does not exist (pid 0 is the child's value)."""
        self._record("fork_sibling")
        return -1
