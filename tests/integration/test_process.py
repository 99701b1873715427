"""pinnace.runtime.linux.process (and the capability calls under it) against the real kernel.

Whatever changes credentials, capabilities, limits, the root or namespaces
runs in a fresh interpreter (``sys.executable -c``): the child applies the
config given as JSON in argv[1], then prints what it sees as one JSON line
(/proc/self/status, getcwd, getrlimit, the umask) or execs busybox to show
what the container's process inherits.  Calls that fail before changing
anything (lookups, bad names) run in the test process.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound
from pinnace.runtime.defaults import DOCKER_CAPS
from pinnace.runtime.linux import process
from pinnace.runtime.linux.capabilities import NUMBERS
from tests.helpers.bundle import BUSYBOX, make_rootfs

pytestmark = pytest.mark.root

PRELUDE = """
import json, os, resource, sys
from pinnace.errors import PinnaceError
from pinnace.runtime.linux import capabilities, process
from pinnace.runtime.linux.syscalls import *
linux = LinuxSys()
config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}

def status():
    keep = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keep:
                out[key] = " ".join(value.split())
    return out

def attempt(call):
    try:
        call()
    except PinnaceError as e:
        return [type(e).__name__, str(e)]
    return None

def without_sys_resource():
    # Make the child as unprivileged as this machine: no CAP_SYS_RESOURCE anywhere.
    bit = 1 << capabilities.NUMBERS["CAP_SYS_RESOURCE"]
    eff, prm, inh = capabilities.capget()
    capabilities.capset(eff & ~bit, prm & ~bit, inh & ~bit)

def report(**values):
    print(json.dumps(values), flush=True)
"""


STATUS_GREP = "grep -E '^(Uid|Gid|Groups|Cap...|NoNewPrivs):' /proc/self/status"


def _spawn(script: str, config: dict[str, Any], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script), json.dumps(config), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"child exited {proc.returncode}; stdout: {proc.stdout!r}; stderr: {proc.stderr}")
    return proc.stdout


def run(script: str, config: dict[str, Any] | None = None, *args: str) -> dict[str, Any]:
    """Run ``script`` in a child with ``config``; return the JSON it reports last."""
    result: dict[str, Any] = json.loads(_spawn(script, config or {}, *args).splitlines()[-1])
    return result


def exec_status(config: dict[str, Any], command: str = STATUS_GREP) -> dict[str, str]:
    """finalize(config) in a child that then execs busybox sh -c ``command``; its status lines."""
    script = f"""
        process.finalize(config, linux)
        os.execv({str(BUSYBOX)!r}, ["sh", "-c", {command!r}])
        """
    out = _spawn(script, config)
    return {
        key: " ".join(value.split()) for key, _, value in (line.partition(":") for line in out.splitlines())
    }


def mask(*names: str) -> str:
    """A capability set as /proc/self/status prints it."""
    return f"{sum(1 << NUMBERS[name] for name in set(names)):016x}"


def caps(**sets: list[str]) -> dict[str, list[str]]:
    return dict(sets)


# -- user, groups, capabilities ----------------------------------------------


def test_user_groups_and_every_capability_set_as_given() -> None:
    config = {
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]},
        "cwd": "/",
        "noNewPrivileges": True,
        "capabilities": caps(
            bounding=["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            effective=["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            permitted=["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            inheritable=["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            ambient=["CAP_NET_BIND_SERVICE"],
        ),
    }
    seen = run("process.finalize(config, linux); report(**status())", config)
    assert seen == {
        "Uid": "1000 1000 1000 1000",
        "Gid": "1001 1001 1001 1001",
        "Groups": "5 1002",
        "CapInh": mask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
        "CapPrm": mask("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
        "CapEff": mask("CAP_KILL", "CAP_NET_BIND_SERVICE"),
        "CapBnd": mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
        "CapAmb": mask("CAP_NET_BIND_SERVICE"),
        "NoNewPrivs": "1",
    }


def test_root_with_dockers_set_and_no_supplementary_groups() -> None:
    config = {
        "user": {"uid": 0, "gid": 0},
        "cwd": "/",
        "capabilities": caps(bounding=DOCKER_CAPS, effective=DOCKER_CAPS, permitted=DOCKER_CAPS),
    }
    seen = run("os.setgroups([1, 2, 3]); process.finalize(config, linux); report(**status())", config)
    assert seen == {
        "Uid": "0 0 0 0",
        "Gid": "0 0 0 0",
        "Groups": "",
        "CapInh": mask(),
        "CapPrm": mask(*DOCKER_CAPS),
        "CapEff": mask(*DOCKER_CAPS),
        "CapBnd": mask(*DOCKER_CAPS),
        "CapAmb": mask(),
        "NoNewPrivs": "0",
    }


def test_exec_as_a_user_keeps_ambient_capabilities() -> None:
    """A non-root process keeps capabilities across execve only through the ambient set."""
    kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    config = {
        "user": {"uid": 1000, "gid": 1000},
        "cwd": "/",
        "noNewPrivileges": True,
        "capabilities": caps(
            bounding=[*kept, "CAP_CHOWN"], effective=kept, permitted=kept, inheritable=kept, ambient=kept
        ),
    }
    seen = exec_status(config, STATUS_GREP + "; echo id: $(id -u) $(id -g)")
    assert seen["id"] == "1000 1000"
    assert seen["Uid"] == "1000 1000 1000 1000"
    for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert seen[key] == mask(*kept), key
    assert seen["CapBnd"] == mask(*kept, "CAP_CHOWN")
    assert seen["NoNewPrivs"] == "1"


def test_exec_as_root_has_exactly_the_configured_set() -> None:
    config = {
        "user": {"uid": 0, "gid": 0},
        "cwd": "/",
        "noNewPrivileges": True,
        "capabilities": caps(bounding=DOCKER_CAPS, effective=DOCKER_CAPS, permitted=DOCKER_CAPS),
    }
    seen = exec_status(config)
    assert (seen["CapEff"], seen["CapPrm"], seen["CapBnd"]) == (mask(*DOCKER_CAPS),) * 3
    assert (seen["CapInh"], seen["CapAmb"]) == (mask(), mask())


def test_without_a_capabilities_object_no_capability_changes() -> None:
    """runc: a process with no ``capabilities`` keeps what the runtime has."""
    seen = run(
        """
        before = status()
        process.finalize({"user": {"uid": 0, "gid": 0}, "cwd": "/"}, linux)
        after = status()
        report(before=before, after=after)
        """
    )
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert seen["after"][key] == seen["before"][key], key


def test_capabilities_the_process_does_not_have_are_left_out() -> None:
    """runtime-spec: a capability that cannot be granted is no reason to fail."""
    config = {
        "cwd": "/",
        "capabilities": caps(
            bounding=["CAP_KILL", "CAP_SYS_RESOURCE"],
            effective=["CAP_KILL", "CAP_SYS_RESOURCE"],
            permitted=["CAP_KILL", "CAP_SYS_RESOURCE"],
        ),
    }
    seen = run("without_sys_resource(); process.finalize(config, linux); report(**status())", config)
    assert seen["CapEff"] == seen["CapPrm"] == mask("CAP_KILL")


def test_ambient_without_inheritable_is_skipped_like_runc() -> None:
    config = {
        "user": {"uid": 1000, "gid": 1000},
        "cwd": "/",
        "capabilities": caps(
            bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"], ambient=["CAP_KILL"]
        ),
    }
    seen = run("process.finalize(config, linux); report(**status())", config)
    assert (seen["CapPrm"], seen["CapAmb"]) == (mask("CAP_KILL"), mask())


def test_seccomp_loader_runs_before_capabilities_drop_only_without_no_new_privs() -> None:
    script = """
        calls = []
        def load():
            calls.append(status())
        process.finalize(config, linux, load_seccomp=load)
        report(calls=calls, after=status())
        """
    narrow = {
        "cwd": "/",
        "capabilities": caps(bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"]),
    }
    seen = run(script, narrow)
    assert len(seen["calls"]) == 1
    assert int(seen["calls"][0]["CapEff"], 16) & 1 << NUMBERS["CAP_SYS_ADMIN"]
    assert seen["calls"][0]["CapBnd"] != mask("CAP_KILL")
    assert seen["after"]["CapEff"] == mask("CAP_KILL")

    seen = run(script, {**narrow, "noNewPrivileges": True})
    assert seen["calls"] == []
    assert seen["after"]["NoNewPrivs"] == "1"


def test_bad_config_fails_before_any_change() -> None:
    seen = run(
        """
        recorder = RecordingSys()
        before = status()
        errors = [
            attempt(lambda: process.finalize(c, recorder))
            for c in (
                {"cwd": "/", "noNewPrivileges": True, "capabilities": {"bounding": ["CAP_FOO"]}},
                {"cwd": "/", "user": {"uid": -1, "gid": 0}},
                {"cwd": "/", "user": {"uid": 0, "gid": 0, "additionalGids": ["wheel"]}},
                {"cwd": "/", "user": {"uid": 0, "gid": 0, "umask": 0o1000}},
            )
        ]
        report(errors=errors, calls=recorder.calls, same=status() == before, cwd=os.getcwd())
        """
    )
    assert seen["errors"] == [
        ["InvalidArgument", 'process.capabilities.bounding: unknown capability "CAP_FOO"'],
        ["InvalidArgument", "process.user.uid: must be an integer from 0 to 4294967295"],
        ["InvalidArgument", "process.user.additionalGids[0]: must be an integer from 0 to 4294967295"],
        ["InvalidArgument", "process.user.umask: must be an integer from 0 to 511"],
    ]
    assert seen["calls"] == []
    assert seen["same"] is True


def test_setgroups_is_skipped_where_the_user_namespace_denies_it() -> None:
    seen = run(
        """
        linux.unshare(CLONE_NEWUSER)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/self/{name}", "w") as f:
                f.write("0 0 1")
        unmapped = attempt(lambda: process.finalize({"cwd": "/", "user": {"uid": 0, "gid": 1234}}, linux))
        groups = {"cwd": "/", "user": {"uid": 0, "gid": 0, "additionalGids": [5]}}
        ok = attempt(lambda: process.finalize(groups, linux))
        report(unmapped=unmapped, ok=ok, **status())
        """
    )
    assert seen["unmapped"] == [
        "InvalidArgument",
        "process.user.gid: cannot setgid to unmapped gid 1234 in user namespace",
    ]
    assert seen["ok"] is None
    assert seen["Gid"] == "0 0 0 0"


# -- umask, cwd ----------------------------------------------------------------


def test_umask_given_or_runcs_default() -> None:
    script = "os.umask(0o077); process.finalize(config, linux); report(umask=os.umask(0))"
    assert run(script, {"cwd": "/", "user": {"uid": 0, "gid": 0, "umask": 0o027}}) == {"umask": 0o027}
    assert run(script, {"cwd": "/"}) == {"umask": 0o022}


def test_cwd_is_entered_before_the_user_switch(tmp_path: Path) -> None:
    """runc chdirs with the runtime's credentials first: a 0700 root-owned cwd still works."""
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    seen = run(
        "process.finalize(config, linux); report(cwd=os.getcwd(), **status())",
        {"cwd": str(work), "user": {"uid": 1000, "gid": 1000}},
    )
    assert seen["cwd"] == str(work)
    assert seen["Uid"] == "1000 1000 1000 1000"


def test_missing_cwd_is_runcs_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    seen = run("report(error=attempt(lambda: process.finalize(config, linux)))", {"cwd": str(missing)})
    assert seen["error"] == [
        "NotFound",
        f'process.cwd: chdir to cwd ("{missing}") set in config.json failed: no such file or directory',
    ]


BREAKOUT = (
    "process.cwd: current working directory is outside of container mount namespace root "
    "-- possible container breakout detected"
)


def test_verify_cwd_refuses_a_directory_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    seen = run(
        """
        import pinnace.mount.ops as ops
        linux.unshare(CLONE_NEWNS)
        linux.mount("", "/", "", ops.MS_REC | ops.MS_PRIVATE, "")
        fd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
        os.chroot(sys.argv[3])
        os.chdir("/")
        inside = attempt(process.verify_cwd)
        os.fchdir(fd)
        report(inside=inside, leaked=attempt(process.verify_cwd))
        """,
        {},
        str(outside),
        str(root),
    )
    assert seen == {"inside": None, "leaked": ["FailedPrecondition", BREAKOUT]}


def test_finalize_refuses_a_cwd_through_a_leaked_fd(tmp_path: Path) -> None:
    """CVE-2024-21626: process.cwd = /proc/self/fd/N, N a host directory the runtime left open."""
    rootfs = make_rootfs(tmp_path / "rootfs")
    outside = tmp_path / "host-dir"
    outside.mkdir()
    seen = run(
        """
        import pinnace.mount.ops as ops
        linux.unshare(CLONE_NEWNS)
        linux.mount("", "/", "", ops.MS_REC | ops.MS_PRIVATE, "")
        linux.mount("proc", sys.argv[3] + "/proc", "proc", 0, "")
        fd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
        os.chroot(sys.argv[3])
        os.chdir("/")
        config = {"cwd": f"/proc/self/fd/{fd}", "user": {"uid": 0, "gid": 0}}
        report(error=attempt(lambda: process.finalize(config, linux)))
        """,
        {},
        str(outside),
        str(rootfs),
    )
    assert seen["error"] == ["FailedPrecondition", BREAKOUT]


# -- rlimits, oomScoreAdj, personality ------------------------------------------


def test_rlimits_are_set() -> None:
    config = {
        "args": [str(BUSYBOX)],
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_STACK", "soft": 8388608, "hard": 18446744073709551615},
        ],
    }
    seen = run(
        """
        path = process.prepare(config)
        report(path=path, nofile=resource.getrlimit(resource.RLIMIT_NOFILE),
               core=resource.getrlimit(resource.RLIMIT_CORE), stack=resource.getrlimit(resource.RLIMIT_STACK))
        """,
        config,
    )
    assert seen == {
        "path": str(BUSYBOX),
        "nofile": [256, 512],
        "core": [0, 0],
        "stack": [8388608, resource.RLIM_INFINITY],
    }


def test_rlimit_above_the_hosts_hard_limit_is_a_clear_error() -> None:
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    seen = run(
        """
        without_sys_resource()
        resource.setrlimit(resource.RLIMIT_NOFILE, (500, 1000))
        def nofile(hard):
            return lambda: process.prepare({"args": ["/bin/busybox"],
                                            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": hard}]})
        report(host=attempt(nofile(2000)), nr_open=attempt(nofile(int(sys.argv[2]) + 1)),
               unchanged=resource.getrlimit(resource.RLIMIT_NOFILE))
        """,
        {},
        str(nr_open),
    )
    assert seen["host"] == [
        "FailedPrecondition",
        "process.rlimits[0]: RLIMIT_NOFILE hard limit 2000 is above the host's hard limit 1000 "
        "(raising it needs CAP_SYS_RESOURCE)",
    ]
    assert seen["nr_open"] == [
        "FailedPrecondition",
        f"process.rlimits[0]: RLIMIT_NOFILE hard limit {nr_open + 1} "
        f"is above the host's fs.nr_open ({nr_open})",
    ]
    assert seen["unchanged"] == [500, 1000]


def test_bad_rlimits_name_the_entry() -> None:
    seen = run(
        """
        cases = [
            [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}],
            [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}],
            [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}],
            [{"type": "RLIMIT_CORE", "soft": -1, "hard": 0}],
            [{"type": "RLIMIT_CORE", "soft": 0}],
        ]
        prepare = lambda c: lambda: process.prepare({"args": ["/bin/busybox"], "rlimits": c})
        report(errors=[attempt(prepare(c)) for c in cases])
        """
    )
    assert seen["errors"] == [
        ["InvalidArgument", 'process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"'],
        ["InvalidArgument", "process.rlimits[0]: RLIMIT_CORE soft limit 2 is above its hard limit 1"],
        ["InvalidArgument", 'process.rlimits[1].type: rlimit "RLIMIT_CORE" is given twice'],
        ["InvalidArgument", "process.rlimits[0].soft: must be an integer from 0 to 18446744073709551615"],
        ["InvalidArgument", "process.rlimits[0].hard: missing"],
    ]


def test_oom_score_adj() -> None:
    seen = run(
        """
        without_sys_resource()
        process.prepare({"args": ["/bin/busybox"], "oomScoreAdj": 500})
        with open("/proc/self/oom_score_adj") as f:
            value = f.read().strip()
        lower = attempt(lambda: process.prepare({"args": ["/bin/busybox"], "oomScoreAdj": -1000}))
        bad = attempt(lambda: process.prepare({"args": ["/bin/busybox"], "oomScoreAdj": 1001}))
        report(value=value, lower=lower, bad=bad)
        """
    )
    assert seen == {
        "value": "500",
        "lower": [
            "FailedPrecondition",
            "process.oomScoreAdj: write /proc/self/oom_score_adj: permission denied "
            "(lowering it needs CAP_SYS_RESOURCE)",
        ],
        "bad": ["InvalidArgument", "process.oomScoreAdj: must be an integer from -1000 to 1000"],
    }


@pytest.mark.skipif(platform.machine() != "x86_64", reason="LINUX32 reports i686 on x86_64 only")
def test_personality_linux32_is_what_the_process_sees() -> None:
    out = _spawn(
        f"""
        process.prepare({{"args": ["/bin/busybox"]}}, personality={{"domain": "LINUX32"}})
        os.execv({str(BUSYBOX)!r}, ["uname", "-m"])
        """,
        {},
    )
    assert out.strip() == "i686"


def test_unknown_personality_domain() -> None:
    with pytest.raises(
        InvalidArgument, match=r"^linux.personality.domain: invalid personality domain LINUX64$"
    ):
        process.set_personality({"domain": "LINUX64"})


# -- sysctl --------------------------------------------------------------------


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_sysctl_is_written_in_the_containers_namespaces() -> None:
    host = (_read("/proc/sys/kernel/domainname"), _read("/proc/sys/kernel/shmmni"))
    seen = run(
        """
        linux.unshare(CLONE_NEWUTS | CLONE_NEWIPC)
        process.apply_sysctl({"kernel.domainname": "pinnace.test", "kernel.shmmni": "1234"})
        read = lambda p: open(p).read().strip()
        report(domain=read("/proc/sys/kernel/domainname"), shmmni=read("/proc/sys/kernel/shmmni"))
        """
    )
    assert seen == {"domain": "pinnace.test", "shmmni": "1234"}
    assert (_read("/proc/sys/kernel/domainname"), _read("/proc/sys/kernel/shmmni")) == host


@pytest.mark.parametrize("key", ["kernel/hostname", "kernel..hostname", "../kernel.hostname", ".kernel", ""])
def test_sysctl_keys_that_could_leave_proc_sys_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        process.apply_sysctl({key: "x"})
    assert str(info.value).startswith(f'linux.sysctl["{key}"]: invalid sysctl name')


def test_unknown_sysctl_names_the_key() -> None:
    with pytest.raises(NotFound) as info:
        process.apply_sysctl({"kernel.pinnace_nope": "1"})
    assert str(info.value) == (
        'linux.sysctl["kernel.pinnace_nope"]: open /proc/sys/kernel/pinnace_nope: no such file or directory'
    )


# -- the executable, the environment ---------------------------------------------


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    (d / "tool").write_text("#!/bin/sh\n")
    (d / "tool").chmod(0o755)
    (d / "data").write_text("")
    (d / "data").chmod(0o644)
    (d / "sub").mkdir()
    return d


def _prepare(name: str, *env: str, cwd: str = "/") -> str:
    """prepare() with nothing but args/env/cwd: it only looks the executable up."""
    return process.prepare({"args": [name], "env": list(env), "cwd": cwd})


def test_lookup_uses_the_process_path(bin_dir: Path) -> None:
    assert _prepare("tool", f"PATH=/nonexistent:{bin_dir}/sub:{bin_dir}") == f"{bin_dir}/tool"
    assert _prepare("tool", "PATH=/nowhere", f"PATH={bin_dir}") == f"{bin_dir}/tool"  # the last PATH wins


def test_lookup_not_found_in_path(bin_dir: Path, tmp_path: Path) -> None:
    """busybox is on the runtime's PATH (/bin), not on the process's: not found."""
    with pytest.raises(NotFound) as info:
        _prepare("busybox", f"PATH={tmp_path}")
    assert str(info.value) == 'exec: "busybox": executable file not found in $PATH'
    with pytest.raises(NotFound, match=r'^exec: "data": executable file not found in \$PATH$'):
        _prepare("data", f"PATH={bin_dir}")
    with pytest.raises(NotFound, match=r'^exec: "sh": executable file not found in \$PATH$'):
        process.prepare({"args": ["sh"], "cwd": "/"})


def test_lookup_of_a_path_with_a_slash(bin_dir: Path) -> None:
    assert _prepare(f"{bin_dir}/tool") == f"{bin_dir}/tool"
    assert _prepare("./tool", cwd=str(bin_dir)) == "./tool"
    with pytest.raises(NotFound) as info:
        _prepare(f"{bin_dir}/missing")
    assert str(info.value) == f'exec: "{bin_dir}/missing": stat {bin_dir}/missing: no such file or directory'
    with pytest.raises(FailedPrecondition) as denied:
        _prepare(f"{bin_dir}/data")
    assert str(denied.value) == f'exec: "{bin_dir}/data": permission denied'
    with pytest.raises(FailedPrecondition) as directory:
        _prepare(f"{bin_dir}/sub")
    assert str(directory.value) == f'exec: "{bin_dir}/sub": is a directory'


def test_lookup_refuses_a_match_in_a_relative_path_entry(bin_dir: Path) -> None:
    with pytest.raises(FailedPrecondition) as info:
        _prepare("tool", "PATH=bin", cwd=str(bin_dir.parent))
    assert str(info.value) == 'exec: "tool": cannot run executable found relative to current directory'


def test_lookup_and_home_inside_the_current_root(tmp_path: Path) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs")
    seen = run(
        """
        os.chroot(sys.argv[2])
        os.chdir("/")
        report(
            sh=process.prepare({"args": ["sh"], "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}),
            python=attempt(lambda: process.prepare({"args": ["python3"], "env": ["PATH=/usr/bin:/bin"]})),
            user=process.env_with_home({"env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 1000}}),
            root=process.env_with_home({"env": ["HOME="], "user": {"uid": 0, "gid": 0}}),
            nobody=process.env_with_home({"env": [], "user": {"uid": 4242, "gid": 4242}}),
        )
        """,
        {},
        str(rootfs),
    )
    assert seen == {
        "sh": "/bin/sh",
        "python": ["NotFound", 'exec: "python3": executable file not found in $PATH'],
        "user": ["PATH=/bin", "HOME=/home/user"],
        "root": ["HOME=/root"],
        "nobody": ["HOME=/"],
    }


def test_env_is_deduplicated_and_checked() -> None:
    env = ["A=1", "HOME=/h", "B=2", "A=3"]
    assert process.env_with_home({"env": env}) == ["HOME=/h", "B=2", "A=3"]
    assert process.env_with_home({}) == []
    with pytest.raises(
        InvalidArgument, match=r"^process.env\[1\]: invalid environment variable: missing '='$"
    ):
        process.env_with_home({"env": ["A=1", "B"]})
    with pytest.raises(
        InvalidArgument, match=r"^process.env\[0\]: invalid environment variable: name cannot be empty$"
    ):
        process.env_with_home({"env": ["=1"]})
