"""Docker's default seccomp profile, as the OCI ``linux.seccomp`` section of a container.

The data below is moby's ``profiles/seccomp/default.json`` as of Docker Engine
28 (the profile that moby moved, unchanged, to github.com/moby/profiles
``seccomp/default.json`` at moby commit e1281f09, July 2025): default action
``SCMP_ACT_ERRNO`` with EPERM, one big allow list, and rules that add
syscalls when the container holds a capability (``includes.caps``), runs on
an architecture (``includes.arches``) or a recent enough kernel
(``includes.minKernel``), or drop them when it holds a capability
(``excludes.caps``: clone's namespace-flag rule and clone3's ENOSYS only apply
without CAP_SYS_ADMIN).  Later edits of moby/profiles (allowing
add_key/keyctl/request_key, or unshare without CAP_SYS_ADMIN) are not in
this release and not here.  The syscall lists are facts Docker users rely
on (what ``docker run`` allows and denies), so change them only to follow
moby, naming the version.

:func:`docker_default` is moby's ``setupSeccomp``: it filters the rules for a
container's bounding capabilities and the host's architecture and returns
the section Docker writes to config.json.  The engine's spec generator
imports this module, not every runtime start; it is plain tuples and dicts,
cheap to import.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

#: Syscalls every container may make (moby's first rule), in moby's order.
_ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount
listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
"""

_ALLOW = "SCMP_ACT_ALLOW"

#: CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP:
#: clone may run with none of these bits set unless the container has CAP_SYS_ADMIN.
_CLONE_NS_FLAGS = 0x7E020000

#: moby's syscall rules after the allow list, in its order.  Keys as in its JSON: ``names``,
#: ``action``, optional ``errnoRet``, ``args`` (index, value, op[, valueTwo]), ``includes`` and
#: ``excludes`` (``caps``, ``arches`` in Go's names, ``minKernel`` as (major, minor)).
_RULES: tuple[dict[str, Any], ...] = (
    {"names": _ALLOWED.split(), "action": _ALLOW},
    {
        "names": ("process_vm_readv", "process_vm_writev", "ptrace"),
        "action": _ALLOW,
        "includes": {"minKernel": (4, 8)},
    },
    {"names": ("socket",), "action": _ALLOW, "args": ({"index": 0, "value": 40, "op": "SCMP_CMP_NE"},)},
    # personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the 0xffffffff query.
    *(
        {
            "names": ("personality",),
            "action": _ALLOW,
            "args": ({"index": 0, "value": v, "op": "SCMP_CMP_EQ"},),
        }
        for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
    ),
    {"names": ("sync_file_range2", "swapcontext"), "action": _ALLOW, "includes": {"arches": ("ppc64le",)}},
    {
        "names": (
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ),
        "action": _ALLOW,
        "includes": {"arches": ("arm", "arm64")},
    },
    {"names": ("arch_prctl",), "action": _ALLOW, "includes": {"arches": ("amd64", "x32")}},
    {"names": ("modify_ldt",), "action": _ALLOW, "includes": {"arches": ("amd64", "x32", "x86")}},
    {
        "names": ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
        "action": _ALLOW,
        "includes": {"arches": ("s390", "s390x")},
    },
    {"names": ("riscv_flush_icache",), "action": _ALLOW, "includes": {"arches": ("riscv64",)}},
    {"names": ("open_by_handle_at",), "action": _ALLOW, "includes": {"caps": ("CAP_DAC_READ_SEARCH",)}},
    {
        "names": (
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ),
        "action": _ALLOW,
        "includes": {"caps": ("CAP_SYS_ADMIN",)},
    },
    {
        "names": ("clone",),
        "action": _ALLOW,
        "args": ({"index": 0, "value": _CLONE_NS_FLAGS, "op": "SCMP_CMP_MASKED_EQ"},),
        "excludes": {"caps": ("CAP_SYS_ADMIN",), "arches": ("s390", "s390x")},
    },
    {
        # s390's clone takes the flags as its second argument.
        "names": ("clone",),
        "action": _ALLOW,
        "args": ({"index": 1, "value": _CLONE_NS_FLAGS, "op": "SCMP_CMP_MASKED_EQ"},),
        "includes": {"arches": ("s390", "s390x")},
        "excludes": {"caps": ("CAP_SYS_ADMIN",)},
    },
    {
        # ENOSYS, not EPERM: glibc then falls back to clone, which the rule above can inspect.
        "names": ("clone3",),
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 38,
        "excludes": {"caps": ("CAP_SYS_ADMIN",)},
    },
    {"names": ("reboot",), "action": _ALLOW, "includes": {"caps": ("CAP_SYS_BOOT",)}},
    {"names": ("chroot",), "action": _ALLOW, "includes": {"caps": ("CAP_SYS_CHROOT",)}},
    {
        "names": ("delete_module", "init_module", "finit_module"),
        "action": _ALLOW,
        "includes": {"caps": ("CAP_SYS_MODULE",)},
    },
    {"names": ("acct",), "action": _ALLOW, "includes": {"caps": ("CAP_SYS_PACCT",)}},
    {
        "names": (
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ),
        "action": _ALLOW,
        "includes": {"caps": ("CAP_SYS_PTRACE",)},
    },
    {"names": ("iopl", "ioperm"), "action": _ALLOW, "includes": {"caps": ("CAP_SYS_RAWIO",)}},
    {
        "names": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
        "action": _ALLOW,
        "includes": {"caps": ("CAP_SYS_TIME",)},
    },
    {"names": ("vhangup",), "action": _ALLOW, "includes": {"caps": ("CAP_SYS_TTY_CONFIG",)}},
    {
        "names": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
        "action": _ALLOW,
        "includes": {"caps": ("CAP_SYS_NICE",)},
    },
    {"names": ("syslog",), "action": _ALLOW, "includes": {"caps": ("CAP_SYSLOG",)}},
    {"names": ("bpf",), "action": _ALLOW, "includes": {"caps": ("CAP_BPF",)}},
    {"names": ("perf_event_open",), "action": _ALLOW, "includes": {"caps": ("CAP_PERFMON",)}},
)

#: moby's archMap: a native architecture and the sub-architectures its kernel also runs.
_ARCH_MAP: dict[str, tuple[str, ...]] = {
    "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
    "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "SCMP_ARCH_MIPS64N32": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
    "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
    "SCMP_ARCH_MIPSEL64N32": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
    "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
    "SCMP_ARCH_RISCV64": (),
}

#: moby's names for architectures (Go's, as in ``includes.arches``) -> the OCI/libseccomp name.
_NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",  # sic: moby's spelling
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}

#: ``uname -m`` spellings -> moby's (Go's) architecture names.
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "mips": "mipsle",
}


def docker_default(caps: Iterable[str], arch: str | None = None) -> dict[str, Any]:
    """The ``linux.seccomp`` section Docker writes for a container with bounding set ``caps``.

    ``arch`` is the container's architecture in Go's or ``uname -m``'s
    spelling (``amd64``/``x86_64``, ``arm64``/``aarch64`` ...); by default the
    host's.  Capability names may omit the ``CAP_`` prefix.  The result is a
    fresh dict the caller may change.
    """
    have = {c if c.startswith("CAP_") else "CAP_" + c for c in map(str.upper, caps)}
    native = native_arch(arch)
    kernel = kernel_version()

    section: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1}
    seccomp_arch = _NATIVE_TO_SECCOMP.get(native)
    if seccomp_arch in _ARCH_MAP:
        section["architectures"] = [seccomp_arch, *_ARCH_MAP[seccomp_arch]]
    syscalls = []
    for rule in _RULES:
        if not applies(
            rule.get("includes", {}), rule.get("excludes", {}), native=native, caps=have, kernel=kernel
        ):
            continue
        call: dict[str, Any] = {"names": list(rule["names"]), "action": rule["action"]}
        if "errnoRet" in rule:
            call["errnoRet"] = rule["errnoRet"]
        if "args" in rule:
            call["args"] = [dict(arg) for arg in rule["args"]]
        syscalls.append(call)
    section["syscalls"] = syscalls
    return section


def native_arch(arch: str | None = None) -> str:
    """Go's name (``amd64``, ``arm64`` ...) of ``arch`` in either spelling; the host's by default."""
    machine = arch if arch is not None else os.uname().machine
    return _MACHINE_TO_NATIVE.get(machine, machine)


def seccomp_arch(native: str) -> str | None:
    """libseccomp's ``SCMP_ARCH_*`` name of Go architecture ``native``."""
    return _NATIVE_TO_SECCOMP.get(native)


def applies(
    includes: Mapping[str, Any],
    excludes: Mapping[str, Any],
    *,
    native: str,
    caps: set[str],
    kernel: tuple[int, int],
) -> bool:
    """Whether a Docker-profile rule with these ``includes``/``excludes`` applies (moby setupSeccomp).

    ``minKernel`` values are (major, minor) tuples here; profile files spell
    them ``"4.8"`` and their reader converts them first.
    """
    if native in excludes.get("arches", ()) or not caps.isdisjoint(excludes.get("caps", ())):
        return False
    if excludes.get("minKernel") and kernel >= excludes["minKernel"]:
        return False
    if includes.get("arches") and native not in includes["arches"]:
        return False
    if not caps.issuperset(includes.get("caps", ())):
        return False
    return not (includes.get("minKernel") and kernel < includes["minKernel"])


def kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel, for ``minKernel`` (moby's kernelGreaterEqualThan)."""
    major, _, rest = os.uname().release.partition(".")
    try:
        return int(major), int(rest.split(".")[0].split("-")[0])
    except ValueError:
        return (0, 0)
