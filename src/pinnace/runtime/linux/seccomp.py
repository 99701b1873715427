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

Compiling is the slow part (about 12 ms for Docker's default profile, which
libseccomp turns into one program for x86_64, x86 and x32: a third of runc's
whole ``run``), and every container of a host asks for one of a handful of
sections.  So :func:`prepare` keeps each compiled program in a cache
directory (the runtime root's ``.seccomp``), in ``<key>.bpf``: the program
as libseccomp exports it, then a sha256 of the key and the program, so a
damaged or misplaced file is recompiled rather than loaded.  The key is a
digest of the section and of what else shapes the program.  A warm load
is that digest, a file read and one seccomp(2) call (:func:`install`):
about 2 ms instead of 16.  Every filter, cached or not, goes into the
kernel through :func:`install`, so a cached one cannot behave differently
from a fresh one.

``seccomp`` and ``ctypes`` are imported inside the functions: loading them
costs start-up, and only containers with a seccomp section need them.
"""

from __future__ import annotations

import errno
import os

from pinnace.errors import FailedPrecondition, InvalidArgument, NotImplementedYet, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, TypeGuard

    from seccomp import SyscallFilter

    #: A filter ready for the kernel: the BPF program (``struct sock_filter`` array) and the
    #: seccomp(2) flags.
    Program = tuple[bytes, int]

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

#: ``flags`` -> the seccomp(2) flag, for loading a program without libseccomp.
KERNEL_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
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

#: seccomp(2) by number for 64-bit processes, per ``uname -m``; any other process (32-bit,
#: x32, mips ABIs) asks libseccomp, which knows its own ABI.
_SYS_SECCOMP_64 = {
    "x86_64": 317,
    "aarch64": 277,
    "riscv64": 277,
    "loongarch64": 277,
    "ppc64le": 358,
    "ppc64": 358,
    "s390x": 348,
}
_SECCOMP_SET_MODE_FILTER = 1
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_BPF_MAXINSNS = 4096  # the kernel's limit on a classic BPF program
_INSN_SIZE = 8  # sizeof(struct sock_filter)
_DIGEST_SIZE = 32
#: Part of every cache key: a change to how this module builds programs gets new files.
_CACHE_FORMAT = b"pinnace seccomp cache 1"


def compile(section: dict[str, Any], field: str = "linux.seccomp") -> SyscallFilter:
    """Build, without loading it, the filter ``section`` describes.

    Raises InvalidArgument naming the field for a malformed section
    (``linux.seccomp.syscalls[3].action: unknown action "X"``),
    NotImplementedYet for user notification, FailedPrecondition when this
    libseccomp or kernel cannot do what the section asks.  Pure: it can
    validate a spec before anything is set up.
    """
    lib = _binding(field)
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


def load(section: dict[str, Any], field: str = "linux.seccomp", *, cache_dir: str | None = None) -> None:
    """Compile ``section`` (or take it from ``cache_dir``) and load it into the calling process.

    The filter holds for the process and what it execs.  The container
    init's last step before execve: the kernel wants no_new_privs set or
    CAP_SYS_ADMIN.  A section with neither ``defaultAction`` nor
    ``syscalls`` means no filter (as in runc).

    ``cache_dir`` must name a host directory as the caller sees it: once
    the process is rooted in the container (pivot_root, or an exec's
    setns into its mount namespace) the same path is the image's, and an
    image could put a program there.  The init therefore gets its program
    from :func:`prepare`, called before it is rooted, and loads it with
    :func:`install`.
    """
    program = prepare(section, field, cache_dir=cache_dir)
    if program is not None:
        install(program, field)


def prepare(
    section: dict[str, Any], field: str = "linux.seccomp", *, cache_dir: str | None = None
) -> Program | None:
    """The program :func:`install` loads for ``section``; None when the section asks for no filter.

    With ``cache_dir``, a program compiled earlier for the same section
    (and libseccomp, kernel API level, architecture) is read from there,
    and a new one is saved there; a cache that cannot be read or written
    only costs a compile.  Raises what :func:`compile` raises.  Loads
    nothing: the runtime calls it before forking the init, whose root is
    the container's by the time it loads the filter.
    """
    if _no_filter(section):
        return None
    if cache_dir is None:
        return _export(compile(section, field), field), _kernel_flags(section)
    return _cached(section, field, cache_dir, strict=False)[1], _kernel_flags(section)


def precompile(section: dict[str, Any], cache_dir: str, field: str = "linux.seccomp") -> str | None:
    """Compile ``section`` into ``cache_dir`` unless it is there already; return the file's path.

    For a caller that wants the compile done ahead of time (before
    forking), and an error if the cache cannot be written (Unavailable).
    None when the section asks for no filter.
    """
    if _no_filter(section):
        return None
    return _cached(section, field, cache_dir, strict=True)[0]


def install(program: Program, field: str = "linux.seccomp") -> None:
    """Load ``program`` (from :func:`prepare`) with seccomp(2), as libseccomp's ``load`` would.

    Needs only ctypes, not libseccomp (except on architectures missing from
    the syscall table).  Without seccomp(2) (before Linux 3.17) a program
    without flags goes through prctl(PR_SET_SECCOMP), as libseccomp does.
    Errors: InvalidArgument when the kernel refuses the program or a flag
    (EINVAL), FailedPrecondition when it cannot load it here (EACCES
    without no_new_privs or CAP_SYS_ADMIN, ENOSYS ...).
    """
    import ctypes

    from pinnace.mount.flags import libc

    code, flags = program

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    lib = libc()
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = SockFprog(len(code) // _INSN_SIZE, ctypes.addressof(buffer))
    err = errno.ENOSYS
    number = _seccomp_number(ctypes.sizeof(ctypes.c_void_p), field)
    if number >= 0:
        ctypes.set_errno(0)
        rc = lib.syscall(
            ctypes.c_long(number),
            ctypes.c_ulong(_SECCOMP_SET_MODE_FILTER),
            ctypes.c_ulong(flags),
            ctypes.byref(prog),
        )
        if rc == 0:
            return
        if rc > 0:  # TSYNC: the id of a thread that could not take the filter
            raise FailedPrecondition(
                f"{field}: error loading seccomp filter into kernel: thread {rc} not synced"
            )
        err = ctypes.get_errno()
    if err == errno.ENOSYS and not flags:
        ctypes.set_errno(0)
        rc = lib.prctl(
            ctypes.c_int(_PR_SET_SECCOMP),
            ctypes.c_ulong(_SECCOMP_MODE_FILTER),
            ctypes.c_ulong(ctypes.addressof(prog)),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        if rc == 0:
            return
        err = ctypes.get_errno()
    # EINVAL: the kernel refuses what was asked (a flag, the program); else it cannot here.
    kind = InvalidArgument if err == errno.EINVAL else FailedPrecondition
    raise kind(f"{field}: error loading seccomp filter into kernel: {os.strerror(err).lower()}")


def _no_filter(section: object) -> bool:
    """A section with neither ``defaultAction`` nor ``syscalls`` means no filter (as in runc)."""
    return isinstance(section, dict) and not section.get("defaultAction") and not section.get("syscalls")


def _binding(field: str) -> ModuleType:
    try:
        import seccomp
    except ImportError:
        raise FailedPrecondition(
            f"{field}: libseccomp's Python binding is not installed (python3-seccomp)"
        ) from None
    module: ModuleType = seccomp
    return module


def _kernel_flags(section: object) -> int:
    """The seccomp(2) flags of a section :func:`compile` accepted (it rejects unknown flags)."""
    flags = 0
    for flag in (section.get("flags") or ()) if isinstance(section, dict) else ():
        flags |= KERNEL_FLAGS.get(flag, 0)
    return flags


def _seccomp_number(pointer_size: int, field: str) -> int:
    """seccomp(2)'s number for this process, -1 if there is none."""
    number = _SYS_SECCOMP_64.get(os.uname().machine) if pointer_size == 8 else None
    if number is None:
        lib = _binding(field)
        number = int(lib.resolve_syscall(lib.Arch.NATIVE, "seccomp"))
    return number


def _export(filt: SyscallFilter, field: str) -> bytes:
    """The BPF program libseccomp generates for ``filt`` (what its ``load`` would hand the kernel)."""
    with open(os.memfd_create("pinnace-seccomp", os.MFD_CLOEXEC), "w+b", buffering=0) as f:
        try:
            filt.export_bpf(f)
        except RuntimeError as e:
            raise FailedPrecondition(f"{field}: error generating seccomp filter: {_describe(e)}") from None
        f.seek(0)
        return f.read()


def _cached(section: dict[str, Any], field: str, cache_dir: str, *, strict: bool) -> tuple[str, bytes]:
    """The cache file's path and program for ``section``, compiled (and saved) on a miss.

    A file is used only if it is a regular file of ours, not writable by
    others, whose program has a valid size and whose trailing digest
    (over the key and the program) matches: a truncated, corrupt or
    misplaced file is a miss, and is replaced.  ``strict`` raises when the
    new file cannot be written.
    """
    key = _cache_key(section, field)
    path = os.path.join(cache_dir, key + ".bpf")
    code = _read_cache(path, key)
    if code is not None:
        return path, code
    code = _export(compile(section, field), field)
    if _valid_size(len(code)):  # the kernel refuses the others: nothing to keep
        from pinnace._util.fs import atomic_write

        try:
            os.makedirs(cache_dir, 0o700, exist_ok=True)
            atomic_write(path, code + _digest(key, code), 0o600, durable=False)
        except OSError as e:
            if strict:
                raise Unavailable(
                    f"{field}: write seccomp cache {path}: {os.strerror(e.errno or 0).lower()}"
                ) from None
    return path, code


def _cache_key(section: dict[str, Any], field: str) -> str:
    """Hex sha256 of what the compiled program depends on.

    That is the section (as canonical JSON: sorted keys, no spaces; its
    ``flags`` included), the seccomp(2) flags it maps to, libseccomp (the
    binding file: upstream's setup.py links libseccomp statically into it,
    so a new library is a new file), the API level libseccomp found in the
    kernel, and the architecture.
    """
    import _json

    lib = _binding(field)
    encode = _json.make_encoder(
        None, _not_json, _json.encode_basestring_ascii, None, ":", ",", True, False, False
    )
    try:
        text = "".join(encode(section, 0))
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{field}: {e}") from None
    binding = os.stat(lib.__file__ or "")
    digest = _sha256()(_CACHE_FORMAT)
    for part in (
        lib.__file__,
        binding.st_size,
        binding.st_mtime_ns,
        lib.get_api(),
        os.uname().machine,
        _kernel_flags(section),
        text,
    ):
        digest.update(b"\0" + str(part).encode())
    return str(digest.hexdigest())


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _read_cache(path: str, key: str) -> bytes | None:
    """The program in the cache file at ``path`` if it is valid for ``key``, else None."""
    import stat

    try:
        # O_NONBLOCK: a FIFO put there must not hang us (it is then refused as not a regular file).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        size = st.st_size - _DIGEST_SIZE
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        if not _valid_size(size):
            return None
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    code, digest = data[:size], data[size:]
    if len(data) != st.st_size or digest != _digest(key, code):
        return None
    return code


def _valid_size(size: int) -> bool:
    """A whole number of BPF instructions, at least one and at most the kernel's limit."""
    return size % _INSN_SIZE == 0 and 0 < size <= _BPF_MAXINSNS * _INSN_SIZE


def _digest(key: str, code: bytes) -> bytes:
    """The cache file's trailer: binds the program to its key, so no other file passes for it."""
    digest = _sha256()(key.encode())
    digest.update(code)
    return bytes(digest.digest())


def _sha256() -> Any:
    """hashlib's sha256 without hashlib (see :mod:`pinnace._util.hashing`)."""
    from pinnace._util.hashing import sha256

    return sha256()


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
