"""cgroup v2 device control: a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program built from the emulated rules.

cgroup v2 has no ``devices.allow``: at each open or mknod of a device node
the kernel runs the BPF programs attached to the process's cgroup (and its
ancestors), and refuses with EPERM unless every one returns 1.  The program
needs a dozen instructions, so it is assembled here by hand and loaded and
attached with bpf(2) through ctypes; no libbpf or compiler is involved.

The program is runc's devicefilter (itself from crun's ebpf.c): load the
device type, access, major and minor from ``struct bpf_cgroup_dev_ctx``,
then one block per exception of the :class:`~.devices.DeviceRules`, each
returning the exception's verdict on a match and falling through to the
next otherwise; the default verdict ends it.  One difference: a *deny*
exception matches when the requested access overlaps it (v1's semantics:
opening read-write a device whose write is denied fails), where runc's
matches only a subset.

A new program is attached next to the cgroup's old ones
(``BPF_F_ALLOW_MULTI``) before those are detached, so an ``update`` never
leaves the cgroup unfiltered, only briefly filtered by both.
"""

from __future__ import annotations

import errno
import os
import struct

from pinnace.errors import FailedPrecondition, PinnaceError, Unavailable
from pinnace.runtime.cgroups.devices import ALL, ANY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.runtime.cgroups.devices import DeviceRules

#: bpf(2) has no glibc wrapper: syscall(2) by number, per architecture.
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}

# bpf(2) commands, program and attach types, flags (include/uapi/linux/bpf.h).
_PROG_LOAD = 5
_PROG_ATTACH = 8
_PROG_DETACH = 9
_PROG_GET_FD_BY_ID = 13
_PROG_QUERY = 16
_PROG_TYPE_CGROUP_DEVICE = 15
_CGROUP_DEVICE = 6
_F_ALLOW_MULTI = 2
#: Size of the ``union bpf_attr`` we pass; bytes past the kernel's own size must be (and are) zero.
_ATTR_SIZE = 128
#: How many programs a cgroup may hold per attach type (the kernel's BPF_CGROUP_MAX_PROGS).
_MAX_PROGS = 64

# Instruction opcodes: class | operation | source (include/uapi/linux/bpf_common.h, bpf.h).
_LDX_MEM_W = 0x61  # dst = *(u32 *)(src + off)
_ALU32_AND_K = 0x54  # dst &= imm
_ALU32_RSH_K = 0x74  # dst >>= imm
_ALU32_MOV_K = 0xB4  # dst = imm
_ALU32_MOV_X = 0xBC  # dst = src
_JMP32_JEQ_K = 0x16  # if (u32)dst == imm: pc += off
_JMP32_JNE_K = 0x56  # if (u32)dst != imm: pc += off
_EXIT = 0x95  # return r0
# Registers: r1 holds the context on entry and is reused as scratch once it has been read.
R0, R1, R2, R3, R4, R5 = range(6)
#: BPF_DEVCG_DEV_* for the OCI types.
_DEV_TYPE = {"b": 1, "c": 2}
#: Shown by ``bpftool prog`` (at most 15 characters).
_PROG_NAME = b"pinnace_devices"


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn``; ``imm`` is taken modulo 2**32 (JMP32 compares 32 bits)."""
    imm &= 0xFFFFFFFF
    return struct.pack("<BBhi", code, dst | src << 4, off, imm - (1 << 32) if imm >= 1 << 31 else imm)


def assemble(rules: DeviceRules) -> bytes:
    """The program enforcing ``rules``, as the bytes BPF_PROG_LOAD takes."""
    out = [
        _insn(_LDX_MEM_W, R2, R1, 0),  # r2 = access_type & 0xffff: the device type
        _insn(_ALU32_AND_K, R2, imm=0xFFFF),
        _insn(_LDX_MEM_W, R3, R1, 0),  # r3 = access_type >> 16: the access requested
        _insn(_ALU32_RSH_K, R3, imm=16),
        _insn(_LDX_MEM_W, R4, R1, 4),  # r4 = major
        _insn(_LDX_MEM_W, R5, R1, 8),  # r5 = minor
    ]
    verdict = 0 if rules.default_allow else 1
    for kind, major, minor, access in rules.exceptions:
        # (opcode, dst, src, imm, whether it jumps past the block)
        block: list[tuple[int, int, int, int, bool]] = [(_JMP32_JNE_K, R2, 0, _DEV_TYPE[kind], True)]
        if access != ALL:
            block.append((_ALU32_MOV_X, R1, R3, 0, False))
            if rules.default_allow:  # deny exception: matches when any requested bit is denied
                block += [(_ALU32_AND_K, R1, 0, access, False), (_JMP32_JEQ_K, R1, 0, 0, True)]
            else:  # allow exception: matches when every requested bit is allowed
                block += [(_ALU32_AND_K, R1, 0, ALL & ~access, False), (_JMP32_JNE_K, R1, 0, 0, True)]
        if major != ANY:
            block.append((_JMP32_JNE_K, R4, 0, major, True))
        if minor != ANY:
            block.append((_JMP32_JNE_K, R5, 0, minor, True))
        block += [(_ALU32_MOV_K, R0, 0, verdict, False), (_EXIT, 0, 0, 0, False)]
        for i, (code, dst, src, imm, jumps) in enumerate(block):
            out.append(_insn(code, dst, src, len(block) - i - 1 if jumps else 0, imm))
    out += [_insn(_ALU32_MOV_K, R0, imm=int(rules.default_allow)), _insn(_EXIT)]
    return b"".join(out)


def install(directory: str, rules: DeviceRules) -> None:
    """Make ``rules`` the device filter of the cgroup v2 ``directory``, replacing earlier ones."""
    program = assemble(rules)
    dirfd = _open(directory)
    try:
        old = _query(dirfd, directory)
        prog = _load(program, directory)
        try:
            _bpf(_PROG_ATTACH, _attr("<IIII", dirfd, prog, _CGROUP_DEVICE, _F_ALLOW_MULTI))
        except OSError as e:
            raise _error("bpf(BPF_PROG_ATTACH)", directory, e) from e
        finally:
            os.close(prog)
        for prog_id in old:
            _detach(dirfd, prog_id, directory)
    except PinnaceError:
        if rules.default_allow and not rules.exceptions:
            return  # allow-all filters nothing: not having bpf(2) (a user namespace) loses nothing
        raise
    finally:
        os.close(dirfd)


def attached(directory: str) -> list[int]:
    """IDs of the device programs attached to the cgroup v2 ``directory`` itself."""
    dirfd = _open(directory)
    try:
        return _query(dirfd, directory)
    finally:
        os.close(dirfd)


def _open(directory: str) -> int:
    """The cgroup directory as the fd bpf(2) targets."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _error("open", directory, e) from e


def _query(dirfd: int, directory: str) -> list[int]:
    """IDs of the device programs attached to the cgroup itself (not those inherited)."""
    import ctypes

    count = _MAX_PROGS
    while True:
        ids = (ctypes.c_uint32 * count)()
        attr = _attr("<IIIIQI", dirfd, _CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), count)
        try:
            _bpf(_PROG_QUERY, attr)
        except OSError as e:
            if e.errno == errno.ENOSPC:  # more than we made room for: the count is now right
                count = struct.unpack_from("<I", attr, 24)[0]
                continue
            raise _error("bpf(BPF_PROG_QUERY)", directory, e) from e
        found = struct.unpack_from("<I", attr, 24)[0]
        return list(ids[:found])


def _load(program: bytes, directory: str) -> int:
    """A file descriptor of the loaded program; the verifier's complaint in the error if refused."""
    import ctypes

    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache")

    def load(log: Any) -> int:
        attr = _attr(
            "<IIQQIIQ",
            _PROG_TYPE_CGROUP_DEVICE,
            len(program) // 8,
            ctypes.addressof(insns),
            ctypes.addressof(license_),
            1 if log is not None else 0,
            len(log) if log is not None else 0,
            ctypes.addressof(log) if log is not None else 0,
        )
        attr[48 : 48 + len(_PROG_NAME)] = _PROG_NAME
        return _bpf(_PROG_LOAD, attr)

    try:
        return load(None)
    except OSError as e:
        if e.errno == errno.EPERM and _raise_memlock():
            try:  # kernels before 5.11 charge programs to RLIMIT_MEMLOCK (runc lifts it too)
                return load(None)
            except OSError as again:
                e = again
        if e.errno not in (errno.EINVAL, errno.EACCES):
            raise _error("bpf(BPF_PROG_LOAD)", directory, e) from e
    log = ctypes.create_string_buffer(1 << 16)
    try:
        return load(log)
    except OSError as e:
        # The log ends with statistics ("processed N insns ..."); the complaint is the line before.
        lines = [line for line in log.value.decode(errors="replace").splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("processed ", "verification time"))]
        detail = f" (verifier: {lines[-1]})" if lines else ""
        raise Unavailable(f"devices: {directory}: bpf(BPF_PROG_LOAD): {e.strerror or e}{detail}") from e


def _detach(dirfd: int, prog_id: int, directory: str) -> None:
    """Detach the program ``prog_id``; one that is gone or hidden from us (an LSM) is skipped, as runc does."""
    try:
        fd = _bpf(_PROG_GET_FD_BY_ID, _attr("<I", prog_id))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EPERM, errno.EACCES):
            return
        raise _error("bpf(BPF_PROG_GET_FD_BY_ID)", directory, e) from e
    try:
        _bpf(_PROG_DETACH, _attr("<III", dirfd, fd, _CGROUP_DEVICE))
    except OSError as e:
        if e.errno != errno.ENOENT:  # ENOENT: detached meanwhile, which is what we wanted
            raise _error("bpf(BPF_PROG_DETACH)", directory, e) from e
    finally:
        os.close(fd)


def _attr(layout: str, *values: int) -> Any:
    """A zeroed ``union bpf_attr`` buffer starting with ``values`` packed as ``layout``."""
    import ctypes

    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(layout, attr, 0, *values)
    return attr


def _bpf(cmd: int, attr: Any) -> int:
    """Raw bpf(2); OSError with the errno on failure."""
    import ctypes

    global _syscall
    number = _SYS_BPF.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"bpf(2) has no known syscall number on {os.uname().machine}")
    if _syscall is None:
        _syscall = ctypes.CDLL(None, use_errno=True).syscall
        _syscall.restype = ctypes.c_long
    rc = int(_syscall(ctypes.c_long(number), ctypes.c_long(cmd), attr, ctypes.c_uint(_ATTR_SIZE)))
    if rc < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return rc


_syscall: Any = None


def _raise_memlock() -> bool:
    """Lift RLIMIT_MEMLOCK to unlimited, or else to its hard limit; whether it went up."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return False
    for want in (resource.RLIM_INFINITY, hard):
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (want, want))
        except (ValueError, OSError):
            continue
        return want != soft
    return False


def _error(call: str, directory: str, e: OSError) -> PinnaceError:
    """The pinnace kind for a failed ``call`` while filtering devices of ``directory``."""
    detail = f"devices: {directory}: {call}: {e.strerror or e}"
    if e.errno in (errno.EPERM, errno.EACCES):
        return FailedPrecondition(f"{detail} (device filtering on cgroup v2 needs CAP_SYS_ADMIN or CAP_BPF)")
    return Unavailable(detail)
