"""Docker's default seccomp profile (docker_default) and the errors of seccomp.compile.

docker_default is checked as data: the section Docker would write for a
container, i.e. which syscalls a container may make unconditionally, which
only with some arguments, and which not at all (absent: the default action,
EPERM).  compile() needs only libseccomp, not root: it builds the filter
without loading it.  What a loaded filter does is in
tests/integration/test_seccomp.py.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.runtime.seccomp_default import docker_default

#: Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

CLONE_NS_FLAGS = 0x7E020000


def allowed(section: dict[str, Any]) -> set[str]:
    """Syscalls the section allows whatever their arguments."""
    return {
        name
        for call in section["syscalls"]
        if call["action"] == "SCMP_ACT_ALLOW" and not call.get("args")
        for name in call["names"]
    }


def rules(section: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [call for call in section["syscalls"] if name in call["names"]]


def test_shape_for_docker_default_caps_on_amd64() -> None:
    section = docker_default(DOCKER_CAPS, "amd64")
    assert section["defaultAction"] == "SCMP_ACT_ERRNO"
    assert section["defaultErrnoRet"] == errno.EPERM
    assert section["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert set(section) == {"defaultAction", "defaultErrnoRet", "architectures", "syscalls"}
    for call in section["syscalls"]:
        assert set(call) <= {"names", "action", "errnoRet", "args"}  # no moby-only keys
        assert call["names"] and call["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO")


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("x86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
        ("riscv64", ["SCMP_ARCH_RISCV64"]),
        ("ppc64le", None),  # moby's archMap has no ppc64le: libseccomp's native arch only
    ],
)
def test_architectures_are_the_native_arch_and_its_sub_arches(arch: str, expected: list[str] | None) -> None:
    assert docker_default(DOCKER_CAPS, arch).get("architectures") == expected


def test_host_arch_by_default() -> None:
    machine = os.uname().machine
    assert docker_default(DOCKER_CAPS) == docker_default(DOCKER_CAPS, machine)


def test_everyday_syscalls_are_allowed() -> None:
    ok = allowed(docker_default(DOCKER_CAPS, "amd64"))
    for name in ("read", "write", "openat", "execve", "exit_group", "mmap", "futex", "wait4", "fork"):
        assert name in ok
    assert {"arch_prctl", "modify_ldt"} <= ok  # amd64-only rules
    assert "ptrace" in ok  # "includes": {"minKernel": "4.8"}; every kernel we run on is newer


@pytest.mark.parametrize(
    "name",
    [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "keyctl",
        "add_key",
        "request_key",
        "kexec_load",
        "init_module",
        "bpf",
        "open_by_handle_at",
        "clock_settime",
        "swapon",
        "pivot_root",
        "userfaultfd",
        "io_uring_setup",
        "kcmp",
        "sethostname",
    ],
)
def test_dangerous_syscalls_are_not_listed(name: str) -> None:
    assert rules(docker_default(DOCKER_CAPS, "amd64"), name) == []


def test_clone_only_without_namespace_flags_and_clone3_enosys() -> None:
    section = docker_default(DOCKER_CAPS, "amd64")
    assert rules(section, "clone") == [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": CLONE_NS_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    ]
    assert rules(section, "clone3") == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}
    ]


def test_s390x_clone_rule_tests_the_second_argument() -> None:
    (clone,) = rules(docker_default(DOCKER_CAPS, "s390x"), "clone")
    assert clone["args"] == [{"index": 1, "value": CLONE_NS_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}]


def test_argument_rules_for_socket_and_personality() -> None:
    section = docker_default(DOCKER_CAPS, "amd64")
    assert [c["args"] for c in rules(section, "socket")] == [[{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]]
    persona = sorted(c["args"][0]["value"] for c in rules(section, "personality"))
    assert persona == [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_cap_sys_admin_adds_mount_and_drops_the_clone_rules() -> None:
    section = docker_default((*DOCKER_CAPS, "CAP_SYS_ADMIN"), "amd64")
    ok = allowed(section)
    assert {"mount", "umount2", "unshare", "setns", "sethostname", "clone", "clone3", "bpf"} <= ok
    assert all(not call.get("args") for call in rules(section, "clone"))
    assert all(call["action"] == "SCMP_ACT_ALLOW" for call in rules(section, "clone3"))


def test_capabilities_add_their_syscalls() -> None:
    base = allowed(docker_default(DOCKER_CAPS, "amd64"))
    for cap, names in {
        "CAP_SYS_PTRACE": {"kcmp", "pidfd_getfd", "process_madvise"},
        "CAP_SYS_BOOT": {"reboot"},
        "CAP_SYS_MODULE": {"init_module", "finit_module", "delete_module"},
        "CAP_SYS_TIME": {"settimeofday", "clock_settime"},
        "CAP_DAC_READ_SEARCH": {"open_by_handle_at"},
        "CAP_BPF": {"bpf"},
        "SYS_NICE": {"mbind", "set_mempolicy"},  # the CAP_ prefix may be left out
    }.items():
        assert not names & base, cap
        assert names <= allowed(docker_default((*DOCKER_CAPS, cap), "amd64")), cap
    assert "chroot" in base  # CAP_SYS_CHROOT is a Docker default
    assert "chroot" not in allowed(docker_default((), "amd64"))


def test_arch_rules_follow_the_arch() -> None:
    arm = allowed(docker_default(DOCKER_CAPS, "arm64"))
    assert {"cacheflush", "set_tls", "arm_fadvise64_64"} <= arm
    assert not {"arch_prctl", "modify_ldt"} & arm
    assert "riscv_flush_icache" in allowed(docker_default(DOCKER_CAPS, "riscv64"))


def test_result_is_a_fresh_copy() -> None:
    first = docker_default(DOCKER_CAPS, "amd64")
    first["syscalls"][0]["names"].clear()
    rules(first, "socket")[0]["args"][0]["value"] = 0
    second = docker_default(DOCKER_CAPS, "amd64")
    assert "read" in allowed(second)
    assert rules(second, "socket")[0]["args"][0]["value"] == 40


# --- seccomp.compile: a valid section compiles; a bad one names its field ---------------------


@pytest.fixture
def compile_section() -> Any:
    pytest.importorskip("seccomp")
    from pinnace.runtime.linux.seccomp import compile

    return compile


def test_docker_default_compiles(compile_section: Any) -> None:
    compile_section(docker_default(DOCKER_CAPS))
    compile_section(docker_default((*DOCKER_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE")))


def test_unknown_syscall_names_and_rules_equal_to_the_default_are_skipped(compile_section: Any) -> None:
    compile_section(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["no_such_syscall", "read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO"},
            ],
        }
    )


def base(**changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getuid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getgid"], "action": "SCMP_ACT_KILL"},
        ],
    }
    section.update(changes)
    return section


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (base(defaultAction="SCMP_ACT_NOPE"), 'linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"'),
        (base(defaultAction=None), "linux.seccomp.defaultAction: unknown action None"),
        (
            base(syscalls=[*base()["syscalls"], {"names": ["read"], "action": "X"}]),
            'linux.seccomp.syscalls[4].action: unknown action "X"',
        ),
        (
            base(
                syscalls=[
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}],
                    }
                ]
            ),
            'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX"',
        ),
        (
            base(
                syscalls=[
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ]
            ),
            "linux.seccomp.syscalls[0].args[0].index: 6 is not an argument index (0 to 5)",
        ),
        (
            base(
                syscalls=[
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}],
                    }
                ]
            ),
            "linux.seccomp.syscalls[0].args[0].value: -1 is not a 64-bit unsigned integer",
        ),
        (
            base(syscalls=[{"names": [""], "action": "SCMP_ACT_ERRNO"}]),
            "linux.seccomp.syscalls[0].names[0]: '' is not a valid syscall",
        ),
        (
            base(syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "EPERM"}]),
            "linux.seccomp.syscalls[0].errnoRet: 'EPERM' is not an errno value",
        ),
        (
            base(architectures=["SCMP_ARCH_VAX"]),
            'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_VAX"',
        ),
        (
            base(flags=["SECCOMP_FILTER_FLAG_NOPE"]),
            'linux.seccomp.flags[0]: seccomp flag "SECCOMP_FILTER_FLAG_NOPE" is not known',
        ),
        (base(syscalls={"names": ["read"]}), "linux.seccomp.syscalls: must be an array"),
    ],
)
def test_bad_sections_name_the_field(compile_section: Any, section: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        compile_section(section)
    assert str(raised.value) == message


def test_user_notification_is_not_implemented(compile_section: Any) -> None:
    with pytest.raises(NotImplementedYet, match=r"^linux\.seccomp\.syscalls\[0\]\.action: SCMP_ACT_NOTIFY"):
        compile_section(base(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]))
    with pytest.raises(NotImplementedYet, match=r"^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY"):
        compile_section(base(defaultAction="SCMP_ACT_NOTIFY"))


def test_known_flags_and_arches_compile(compile_section: Any) -> None:
    compile_section(
        base(
            architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
            flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        )
    )


def test_field_prefix_is_the_callers(compile_section: Any) -> None:
    with pytest.raises(InvalidArgument, match=r'^profile\.defaultAction: unknown action "x"$'):
        compile_section(base(defaultAction="x"), "profile")
