"""The OCI ``linux.seccomp`` section -> a libseccomp filter, loaded into the container init.

libseccomp (through its official Python binding, Debian's ``python3-seccomp``,
module ``seccomp``) does the hard part: syscall names per architecture,
multiplexed syscalls (socketcall, ipc), argument comparisons on 32-bit
arches, and the BPF program.  This module maps the spec onto it the way runc
does (libcontainer/seccomp/seccomp_linux.go), so a profile behaves the same
under both runtimes:

- ``SCMP_ACT_KILL`` is KILL_THREAD; ERRNO and TRACE return ``errnoRet``
  (``defaultErrnoRet`` for the default action), EPERM when it is absent;
- syscall names libseccomp does not know on this architecture are skipped
  (profiles list syscalls newer than the library, or of other arches);
- a rule whose action is the default action is skipped (libseccomp refuses
  it, and it changes nothing);
- a rule's ``args`` are ANDed in one libseccomp rule, unless two of them test
  the same argument: then each becomes a rule of its own (ORed), runc's
  "old behaviour" that profiles such as Docker's rely on;
- the filter does not set no_new_privs itself (libseccomp would by
  default): the init sets it, or not, from ``process.noNewPrivileges``.

Differences from runc: SCMP_ACT_NOTIFY (and ``listenerPath``) are refused
as not implemented; runc's patch that makes syscalls newer than every
syscall in the profile fail with ENOSYS instead of the default action
(libcontainer/seccomp/patchbpf) is not done.

``seccomp`` is imported inside the functions: loading the extension costs
start-up, and only containers with a seccomp section need it.
"""

from __future__ import annotations

import errno
import os

from pinnace.errors import FailedPrecondition, InvalidArgument, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, TypeGuard

    from seccomp import SyscallFilter

#: Architectures of runtime-spec v1.2, without their ``SCMP_ARCH_`` prefix; libseccomp's Python
#: binding names them the same on ``seccomp.Arch`` when it supports them.
_ARCH_NAMES = """X86 X86_64 X32 ARM AARCH64 MIPS MIPS64 MIPS64N32 MIPSEL MIPSEL64 MIPSEL64N32 PPC PPC64
PPC64LE S390 S390X PARISC PARISC64 RISCV64 LOONGARCH64 M68K SH SHEB"""
ARCHES = frozenset(_ARCH_NAMES.split())

#: ``flags`` -> the filter attribute (on ``seccomp.Attr``) that turns it on.  TSYNC is harmless
#: in the single-threaded init; runc accepts it too.
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": "CTL_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG": "CTL_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "CTL_SSB",
}

#: ``args[].op`` -> the comparison's name on the ``seccomp`` module.
OPERATORS = {
    "SCMP_CMP_NE": "NE",
    "SCMP_CMP_LT": "LT",
    "SCMP_CMP_LE": "LE",
    "SCMP_CMP_EQ": "EQ",
    "SCMP_CMP_GE": "GE",
    "SCMP_CMP_GT": "GT",
    "SCMP_CMP_MASKED_EQ": "MASKED_EQ",
}

_MAX_ARGS = 6  # a Linux syscall takes at most six arguments
_UINT64_MAX = (1 << 64) - 1


def compile(section: dict[str, Any], field: str = "linux.seccomp") -> SyscallFilter:
    """Build, without loading it, the filter ``section`` describes.

    Raises InvalidArgument naming the field for a malformed section
    (``linux.seccomp.syscalls[3].action: unknown action "X"``),
    NotImplementedYet for user notification, FailedPrecondition when this
    libseccomp or kernel cannot do what the section asks.  Pure: it can
    validate a spec before anything is set up.
    """
    try:
        import seccomp as lib
    except ImportError:
        raise FailedPrecondition(
            f"{field}: libseccomp's Python binding is not installed (python3-seccomp)"
        ) from None

    if not isinstance(section, dict):
        raise InvalidArgument(f"{field}: must be an object")
    if section.get("listenerPath"):
        raise NotImplementedYet(f"{field}.listenerPath: seccomp user notification is not supported")
    default_errno = _errno_ret(section.get("defaultErrnoRet"), f"{field}.defaultErrnoRet")
    default = _action(lib, section.get("defaultAction"), default_errno, f"{field}.defaultAction")
    syscalls = _list(section.get("syscalls"), f"{field}.syscalls")
    rules = [_rule(lib, call, f"{field}.syscalls[{i}]") for i, call in enumerate(syscalls)]

    filt = lib.SyscallFilter(default)
    for i, name in enumerate(_list(section.get("architectures"), f"{field}.architectures")):
        arch = _arch(lib, name, f"{field}.architectures[{i}]")
        if not filt.exist_arch(arch):
            _call(filt.add_arch, f"{field}.architectures[{i}]: add architecture {name}", arch)
    for i, flag in enumerate(_list(section.get("flags"), f"{field}.flags")):
        attr = FLAGS.get(flag) if isinstance(flag, str) else None
        if attr is None:
            raise InvalidArgument(f"{field}.flags[{i}]: seccomp flag {_quote(flag)} is not known")
        _call(filt.set_attr, f"{field}.flags[{i}]: set {flag}", getattr(lib.Attr, attr), 1)
    # The init decides about no_new_privs (process.noNewPrivileges); libseccomp would set it.
    filt.set_attr(lib.Attr.CTL_NNP, 0)
    try:
        # The kernel's errno on a failed load, not libseccomp's catch-all ECANCELED.
        filt.set_attr(lib.Attr.API_SYSRAWRC, 1)
    except (AttributeError, RuntimeError):
        pass  # libseccomp < 2.5.2
    if len(syscalls) > 32:
        # A binary search over syscall numbers instead of a linear list (runc does the same
        # above 32 rules; libseccomp <= 2.5.4 misbehaves with it on an empty filter).
        try:
            filt.set_attr(lib.Attr.CTL_OPTIMIZE, 2)
        except RuntimeError:
            pass  # an older libseccomp: the linear filter is as correct, only slower

    for i, (names, action, conditions) in enumerate(rules):
        if action == default:
            continue
        for name in names:
            number = lib.resolve_syscall(lib.Arch.NATIVE, name)
            if number == -1:  # __NR_SCMP_ERROR: unknown to libseccomp here, as runc skips it
                continue
            what = f"{field}.syscalls[{i}]: add rule for syscall {name}"
            if len({c[0] for c in conditions}) < len(conditions):
                for index, op, a, b in conditions:
                    _call(filt.add_rule, what, action, number, lib.Arg(index, op, a, b))
            else:
                _call(filt.add_rule, what, action, number, *(lib.Arg(*c) for c in conditions))
    return filt


def load(section: dict[str, Any], field: str = "linux.seccomp") -> None:
    """Compile ``section`` and load it into the calling process, for itself and what it execs.

    The container init's last step before execve: the kernel wants
    no_new_privs set or CAP_SYS_ADMIN.  A section with neither
    ``defaultAction`` nor ``syscalls`` means no filter (as in runc).
    """
    if isinstance(section, dict) and not section.get("defaultAction") and not section.get("syscalls"):
        return
    filt = compile(section, field)
    try:
        filt.load()
    except RuntimeError as e:
        # EINVAL: the kernel refuses what was asked (a flag, the program); else it cannot here.
        kind = InvalidArgument if _errno_of(e) == errno.EINVAL else FailedPrecondition
        raise kind(f"{field}: error loading seccomp filter into kernel: {_describe(e)}") from None


def _rule(
    lib: ModuleType, call: object, field: str
) -> tuple[list[str], int, list[tuple[int, int, int, int]]]:
    """Validate one ``syscalls[]`` entry: its names, libseccomp action and (index, op, a, b) tests."""
    if not isinstance(call, dict):
        raise InvalidArgument(f"{field}: must be an object")
    names = _list(call.get("names"), f"{field}.names")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{field}.names[{j}]: {name!r} is not a valid syscall")
    action = _action(
        lib, call.get("action"), _errno_ret(call.get("errnoRet"), f"{field}.errnoRet"), f"{field}.action"
    )
    conditions = []
    for j, arg in enumerate(_list(call.get("args"), f"{field}.args")):
        where = f"{field}.args[{j}]"
        if not isinstance(arg, dict):
            raise InvalidArgument(f"{where}: must be an object")
        index = arg.get("index")
        if not _is_int(index) or not 0 <= index < _MAX_ARGS:
            raise InvalidArgument(f"{where}.index: {index!r} is not an argument index (0 to 5)")
        op_name = arg.get("op")
        op = OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise InvalidArgument(f"{where}.op: unknown operator {_quote(op_name)}")
        value, value_two = arg.get("value", 0), arg.get("valueTwo", 0)
        for key, v in (("value", value), ("valueTwo", value_two)):
            if not _is_int(v) or not 0 <= v <= _UINT64_MAX:
                raise InvalidArgument(f"{where}.{key}: {v!r} is not a 64-bit unsigned integer")
        conditions.append((index, getattr(lib, op), value, value_two))
    return names, action, conditions


def _action(lib: ModuleType, name: object, errno_ret: int | None, field: str) -> int:
    """libseccomp's action value for an ``SCMP_ACT_*`` name (runc's getAction)."""
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return int(lib.KILL)
    if name == "SCMP_ACT_KILL_PROCESS":
        return int(lib.KILL_PROCESS)
    if name == "SCMP_ACT_TRAP":
        return int(lib.TRAP)
    if name == "SCMP_ACT_ERRNO":
        return int(lib.ERRNO(errno.EPERM if errno_ret is None else errno_ret))
    if name == "SCMP_ACT_TRACE":
        return int(lib.TRACE(errno.EPERM if errno_ret is None else errno_ret))
    if name == "SCMP_ACT_ALLOW":
        return int(lib.ALLOW)
    if name == "SCMP_ACT_LOG":
        return int(lib.LOG)
    if name == "SCMP_ACT_NOTIFY":
        raise NotImplementedYet(f"{field}: SCMP_ACT_NOTIFY (seccomp user notification) is not supported")
    raise InvalidArgument(f"{field}: unknown action {_quote(name)}")


def _arch(lib: ModuleType, name: object, field: str) -> int:
    """libseccomp's value for an ``SCMP_ARCH_*`` name."""
    short = name[len("SCMP_ARCH_") :] if isinstance(name, str) and name.startswith("SCMP_ARCH_") else None
    if short not in ARCHES:
        raise InvalidArgument(f"{field}: unknown architecture {_quote(name)}")
    arch = getattr(lib.Arch, short, None)
    if arch is None:
        raise FailedPrecondition(f"{field}: architecture {name} is not supported by this libseccomp")
    return int(arch)


def _errno_ret(value: object, field: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= 0xFFFF:
        raise InvalidArgument(f"{field}: {value!r} is not an errno value")
    return value


def _list(value: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: must be an array")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _call(method: Any, what: str, *args: Any) -> None:
    """Call a libseccomp method; its RuntimeError becomes one line naming ``what`` failed."""
    try:
        method(*args)
    except RuntimeError as e:
        code = _errno_of(e)
        kind = FailedPrecondition if code in (errno.EOPNOTSUPP, errno.ENOSYS) else InvalidArgument
        raise kind(f"{what}: {_describe(e)}") from None


def _errno_of(e: RuntimeError) -> int:
    """The errno in the binding's ``Library error (errno = -22)`` message, 0 if there is none."""
    text = str(e)
    _, sep, rest = text.partition("errno = ")
    try:
        return abs(int(rest.rstrip(")").strip())) if sep else 0
    except ValueError:
        return 0


def _describe(e: RuntimeError) -> str:
    code = _errno_of(e)
    return os.strerror(code).lower() if code else str(e)
