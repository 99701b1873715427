"""Docker's default seccomp profile (docker_default), the errors of seccomp.compile, its cache.

docker_default is checked as data: the section Docker would write for a
container, i.e. which syscalls a container may make unconditionally, which
only with some arguments, and which not at all (absent: the default action,
EPERM).  compile() needs only libseccomp, not root: it builds the filter
without loading it; so do prepare() and precompile(), which keep compiled
programs in a cache directory (checked here as files and bytes).  What a
loaded filter does is in tests/integration/test_seccomp.py.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet, Unavailable
from pinnace.runtime.defaults import DOCKER_CAPS
from pinnace.runtime.seccomp_default import docker_default

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


# --- the compiled-filter cache: prepare / precompile (nothing is loaded here) -----------------

INSN = 8  # sizeof(struct sock_filter)
TRAILER = 32  # sha256 of the key and the program


@pytest.fixture
def filters() -> Any:
    pytest.importorskip("seccomp")
    from pinnace.runtime.linux import seccomp

    return seccomp


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_precompile_saves_the_program_prepare_would_compile(filters: Any, tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    section = docker_default(DOCKER_CAPS)
    path = filters.precompile(section, cache)
    assert os.path.dirname(path) == cache and path.endswith(".bpf")
    assert os.stat(cache).st_mode & 0o777 == 0o700 and os.stat(path).st_mode & 0o777 == 0o600
    data = read(path)
    program, flags = filters.prepare(section)  # compiled, no cache
    assert flags == 0 and len(program) % INSN == 0 and 0 < len(program) // INSN <= 4096
    assert data[:-TRAILER] == program
    assert filters.prepare(section, cache_dir=cache) == (program, 0)
    assert filters.precompile(section, cache) == path
    assert os.listdir(cache) == [os.path.basename(path)]


def test_a_warm_cache_does_not_compile(filters: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = str(tmp_path)
    filters.precompile(base(), cache)

    def refuse(*args: Any) -> Any:
        raise AssertionError("compiled although the cache is warm")

    monkeypatch.setattr(filters, "compile", refuse)
    assert filters.prepare(base(), cache_dir=cache)[0] == read(filters.precompile(base(), cache))[:-TRAILER]
    with pytest.raises(AssertionError, match="compiled although"):
        filters.prepare(base(defaultAction="SCMP_ACT_LOG"), cache_dir=cache)  # another section: a miss


def test_the_key_is_the_section_not_its_spelling(filters: Any, tmp_path: Any) -> None:
    cache = str(tmp_path)
    path = filters.precompile(base(), cache)
    reordered = dict(reversed(list(base(architectures=["SCMP_ARCH_X86_64"]).items())))
    paths = {
        path,
        filters.precompile(dict(reversed(list(base().items()))), cache),
        filters.precompile(reordered, cache),
        filters.precompile(base(flags=["SECCOMP_FILTER_FLAG_LOG"]), cache),
        filters.precompile(base(syscalls=base()["syscalls"][:1]), cache),
        filters.precompile(docker_default(DOCKER_CAPS), cache),
        filters.precompile(docker_default((*DOCKER_CAPS, "CAP_SYS_ADMIN")), cache),
    }
    assert len(paths) == 6  # the reordered base() is base()
    assert sorted(os.listdir(cache)) == sorted(os.path.basename(p) for p in paths)


def test_flags_become_seccomp_flags(filters: Any, tmp_path: Any) -> None:
    all_flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    assert filters.prepare(base(flags=all_flags))[1] == 1 | 2 | 4
    assert filters.prepare(base(flags=["SECCOMP_FILTER_FLAG_LOG"]), cache_dir=str(tmp_path))[1] == 2
    assert filters.prepare(base(flags=["SECCOMP_FILTER_FLAG_LOG"]), cache_dir=str(tmp_path))[1] == 2  # hit


def corrupt(path: str, how: str) -> None:
    data = read(path)
    if how == "symlink":
        os.rename(path, path + ".real")
        os.symlink(path + ".real", path)
        return
    if how == "fifo":
        os.unlink(path)
        os.mkfifo(path, 0o600)
        return
    if how == "writable by others":
        os.chmod(path, 0o666)
        return
    new = {
        "empty": b"",
        "not whole instructions": data[:13],
        "truncated": data[: -TRAILER - INSN] + data[-TRAILER:],
        "a program byte flipped": bytes([data[0] ^ 1]) + data[1:],
        "no trailer": data[:-TRAILER],
        "too long": bytes(4097 * INSN) + data[-TRAILER:],
    }[how]
    with open(path, "wb") as f:
        f.write(new)


@pytest.mark.parametrize(
    "how",
    [
        "empty",
        "not whole instructions",
        "truncated",
        "a program byte flipped",
        "no trailer",
        "too long",
        "symlink",
        "fifo",
        "writable by others",
    ],
)
def test_a_bad_cache_file_is_ignored_and_replaced(filters: Any, tmp_path: Any, how: str) -> None:
    cache = str(tmp_path)
    path = filters.precompile(base(), cache)
    original = read(path)
    corrupt(path, how)
    assert filters.prepare(base(), cache_dir=cache)[0] == original[:-TRAILER]
    assert read(path) == original
    assert not os.path.islink(path) and os.stat(path).st_mode & 0o777 == 0o600


def test_another_sections_file_does_not_pass_for_this_one(filters: Any, tmp_path: Any) -> None:
    cache = str(tmp_path)
    mine, other = (
        filters.precompile(base(), cache),
        filters.precompile(base(defaultAction="SCMP_ACT_LOG"), cache),
    )
    original = read(mine)
    os.replace(other, mine)
    assert filters.prepare(base(), cache_dir=cache)[0] == original[:-TRAILER]
    assert read(mine) == original


def test_no_filter_no_file(filters: Any, tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    assert filters.prepare({}, cache_dir=cache) is None
    assert filters.precompile({"architectures": ["SCMP_ARCH_X86_64"]}, cache) is None
    assert not os.path.exists(cache)


def test_a_cache_that_cannot_be_written(filters: Any, tmp_path: Any) -> None:
    """prepare only loses the cache; precompile, asked for the file, says why there is none."""
    (tmp_path / "file").write_bytes(b"")
    cache = str(tmp_path / "file" / "cache")
    assert filters.prepare(base(), cache_dir=cache) == filters.prepare(base())
    with pytest.raises(
        Unavailable, match=r"^linux\.seccomp: write seccomp cache .*/file/cache/\w+\.bpf: not a directory$"
    ):
        filters.precompile(base(), cache)


def test_a_bad_section_is_not_cached(filters: Any, tmp_path: Any) -> None:
    with pytest.raises(InvalidArgument, match=r'^linux\.seccomp\.defaultAction: unknown action "x"$'):
        filters.prepare(base(defaultAction="x"), cache_dir=str(tmp_path))
    with pytest.raises(InvalidArgument, match=r"^linux\.seccomp: must be an object$"):
        filters.precompile(["SCMP_ACT_ALLOW"], str(tmp_path))
    assert os.listdir(tmp_path) == []
