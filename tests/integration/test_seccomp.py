"""seccomp.load against the real kernel: what a filtered process can and cannot do.

Each case runs in a fresh interpreter (``sys.executable -c``): a seccomp
filter is for the life of the process, and pytest's must stay unfiltered.
The child sets no_new_privs (prctl 38, as the init does for
``noNewPrivileges``), loads the section given as argv[1], makes raw syscalls
through ctypes (numbers from libseccomp, so any arch works) and prints one
JSON line: each call's result, or minus its errno.  Calls that the filter
should stop are chosen to be harmless even if it did not (the child's own
namespaces, NULL pointers, queries).

Each behaviour is checked twice (the ``cache`` fixture): with the filter
compiled in the child, and with it read from a cache that
``precompile`` filled beforehand, the child's ``compile`` replaced by one
that fails, so only the cached program can be what is loaded.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from pinnace.runtime.defaults import DOCKER_CAPS
from pinnace.runtime.linux import seccomp as filters
from pinnace.runtime.seccomp_default import docker_default

pytest.importorskip("seccomp")

pytestmark = pytest.mark.root


PRELUDE = """
import ctypes, errno, json, os, sys
import seccomp
from pinnace.runtime.linux import seccomp as filters

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(name, *args):
    '''The raw syscall's result, or -errno.'''
    number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args))
    return -ctypes.get_errno() if result == -1 else result

def status():
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f) if k in ("Seccomp", "NoNewPrivs")}

if NNP:
    assert libc.prctl(38, 1, 0, 0, 0) == 0
if WARM:
    def refuse(*args):
        raise AssertionError("compiled although the cache is warm")
    filters.compile = refuse
filters.load(json.loads(sys.argv[1]), cache_dir=CACHE)
"""


@pytest.fixture(params=["compiled", "cached"])
def cache(request: pytest.FixtureRequest, tmp_path: Any) -> str | None:
    """None (compile in the child), or a cache directory for :func:`run` to fill first."""
    return str(tmp_path / "seccomp-cache") if request.param == "cached" else None


def run(
    script: str,
    section: dict[str, Any],
    cache: str | None = None,
    *,
    nnp: bool = True,
    warm: bool | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a child that loads ``section``, from ``cache`` if given.

    ``warm`` (the default when there is a cache): precompile here first and
    forbid the child to compile.
    """
    warm = cache is not None if warm is None else warm
    if warm:
        assert cache is not None
        filters.precompile(section, cache)
    header = f"NNP = {nnp}\nCACHE = {cache!r}\nWARM = {warm}\n"
    return subprocess.run(
        [sys.executable, "-c", header + PRELUDE + textwrap.dedent(script), json.dumps(section)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def results(
    script: str,
    section: dict[str, Any],
    cache: str | None = None,
    *,
    nnp: bool = True,
    warm: bool | None = None,
) -> dict[str, Any]:
    proc = run(script, section, cache, nnp=nnp, warm=warm)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_docker_default_denies_and_allows(cache: str | None) -> None:
    got = results(
        """
        import socket
        r = {"status": status()}
        r["unshare"] = call("unshare", 0x04000000)  # CLONE_NEWUTS
        r["mount"] = call("mount", 0, 0, 0, 0, 0)
        r["keyctl"] = call("keyctl", 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring
        r["reboot"] = call("reboot", 0, 0, 0, 0)  # bad magic: EINVAL, were it let through
        r["getpid"] = call("getpid") == os.getpid()
        r["persona_query"] = call("personality", 0xFFFFFFFF)
        r["persona_linux"] = call("personality", 0)
        r["persona_other"] = call("personality", 0x0040000)  # ADDR_NO_RANDOMIZE: not in the list
        r["clone3"] = call("clone3", 0, 0)
        r["vsock"] = call("socket", 40, 1, 0)  # AF_VSOCK
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            r["unix_socket"] = s.fileno() >= 0
        pid = os.fork()  # clone without namespace flags
        if pid == 0:
            os._exit(7)
        r["fork_status"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(json.dumps(r))
        """,
        docker_default(DOCKER_CAPS),
        cache,
    )
    assert got["status"] == {"NoNewPrivs": "1", "Seccomp": "2"}
    for name in ("unshare", "mount", "keyctl", "reboot", "persona_other", "vsock"):
        assert got[name] == -errno.EPERM, name
    assert got["clone3"] == -errno.ENOSYS  # glibc's cue to fall back to clone
    assert got["getpid"] is True
    assert got["persona_query"] >= 0 and got["persona_linux"] >= 0
    assert got["unix_socket"] is True
    assert got["fork_status"] == 7


ERRNO_RULES = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV},
        {"names": ["getsid"], "action": "SCMP_ACT_ERRNO"},  # no errnoRet: EPERM
        {  # two arguments: both must match (one rule)
            "names": ["getpriority"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.ENOTBLK,
            "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 4242, "op": "SCMP_CMP_EQ"},
            ],
        },
        {  # the same argument twice: either matches (a rule each, as runc does)
            "names": ["getpgid"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.ENOTBLK,
            "args": [
                {"index": 0, "value": 4242, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 4343, "op": "SCMP_CMP_EQ"},
            ],
        },
        {  # umask(m) denied when m & 0o7 == 0o2
            "names": ["umask"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.ENOTBLK,
            "args": [{"index": 0, "value": 0o7, "valueTwo": 0o2, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {"names": ["no_such_syscall"], "action": "SCMP_ACT_KILL"},  # skipped
        {"names": ["getuid"], "action": "SCMP_ACT_ALLOW"},  # the default action: skipped
    ],
}


def test_errno_rules_and_argument_conditions(cache: str | None) -> None:
    got = results(
        """
        r = {"status": status()}
        for name, args in [
            ("getppid", ()), ("getsid", (0,)), ("getuid", ()),
            ("getpriority", (0, 4242)), ("getpriority", (1, 4242)), ("getpriority", (0, 0)),
            ("getpgid", (4242,)), ("getpgid", (4343,)), ("getpgid", (0,)),
            ("umask", (0o022,)), ("umask", (0o077,)),
        ]:
            r[name + repr(args)] = call(name, *args)
        print(json.dumps(r))
        """,
        ERRNO_RULES,
        cache,
    )
    assert got["status"] == {"NoNewPrivs": "1", "Seccomp": "2"}
    assert got["getppid()"] == -errno.EXDEV
    assert got["getsid(0,)"] == -errno.EPERM
    assert got["getuid()"] == 0
    assert got["getpriority(0, 4242)"] == -errno.ENOTBLK
    assert got["getpriority(1, 4242)"] != -errno.ENOTBLK  # first argument differs: the kernel answers
    assert got["getpriority(0, 0)"] >= 0
    assert got["getpgid(4242,)"] == got["getpgid(4343,)"] == -errno.ENOTBLK
    assert got["getpgid(0,)"] >= 0
    assert got["umask(18,)"] == -errno.ENOTBLK
    assert got["umask(63,)"] >= 0


def test_kill_process_dies_of_sigsys(cache: str | None) -> None:
    section = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}],
    }
    proc = run(
        """
        print("before", flush=True)
        call("getppid")
        print("after", flush=True)
        """,
        section,
        cache,
    )
    assert proc.returncode == -signal.SIGSYS, proc.stderr
    assert proc.stdout == "before\n"


def test_no_new_privs_is_left_to_the_caller(cache: str | None) -> None:
    """As root (CAP_SYS_ADMIN) the filter loads without no_new_privs, and load does not set it."""
    section = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}],
    }
    got = results(
        'print(json.dumps({"status": status(), "getppid": call("getppid")}))', section, cache, nnp=False
    )
    assert got == {"status": {"NoNewPrivs": "0", "Seccomp": "2"}, "getppid": -errno.EPERM}


def test_empty_section_loads_no_filter(tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    assert results("print(json.dumps(status()))", {}, cache, warm=False) == {
        "NoNewPrivs": "1",
        "Seccomp": "0",
    }
    assert not os.path.exists(cache)


def test_busybox_runs_under_the_docker_default_profile(cache: str | None) -> None:
    """The filter survives execve, and an ordinary program runs under it."""
    proc = run(
        """
        sys.stdout.flush()
        os.execv("/bin/busybox", ["busybox", "sh", "-c", "busybox echo ok; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"])
        """,
        docker_default(DOCKER_CAPS),
        cache,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == ["ok", "NoNewPrivs:\t1", "Seccomp:\t2", ""]


# --- the compiled-filter cache across processes ------------------------------------------------

GETPPID = 'print(json.dumps({"status": status(), "getppid": call("getppid")}))'


def test_a_cold_load_fills_the_cache_and_the_next_load_uses_it(tmp_path: Any) -> None:
    cache = str(tmp_path / "cache")
    expected = {"status": {"NoNewPrivs": "1", "Seccomp": "2"}, "getppid": -errno.EXDEV}
    assert results(GETPPID, ERRNO_RULES, cache, warm=False) == expected  # compiles, saves
    (name,) = os.listdir(cache)
    assert name.endswith(".bpf")
    before = os.stat(os.path.join(cache, name))

    proc = run(GETPPID, ERRNO_RULES, cache, warm=False)  # a miss would rewrite the file
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    after = os.stat(os.path.join(cache, name))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten

    # A child that cannot compile still loads the same filter from the file.
    assert results(GETPPID, ERRNO_RULES, cache) == expected
    assert os.listdir(cache) == [name]


def test_a_program_that_is_not_the_cached_one_is_not_loaded(tmp_path: Any) -> None:
    """A file whose program was replaced (here by "allow everything") is recompiled, not trusted."""
    cache = str(tmp_path / "cache")
    path = filters.precompile(ERRNO_RULES, cache)
    assert path is not None
    with open(path, "rb") as f:
        original = f.read()
    # struct sock_filter {u16 code; u8 jt, jf; u32 k}: BPF_RET|BPF_K with SECCOMP_RET_ALLOW
    allow_all = (0x06).to_bytes(2, sys.byteorder) + bytes(2) + (0x7FFF0000).to_bytes(4, sys.byteorder)
    with open(path, "wb") as f:
        f.write(allow_all + original[-32:])

    got = results(GETPPID, ERRNO_RULES, cache, warm=False)
    assert got == {"status": {"NoNewPrivs": "1", "Seccomp": "2"}, "getppid": -errno.EXDEV}
    with open(path, "rb") as f:
        assert f.read() == original  # and the file is whole again
