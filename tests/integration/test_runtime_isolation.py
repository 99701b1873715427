"""What a process in a ``pinnace-runtime`` container sees, for each spec feature of the runtime issue.

Every test runs a real busybox container through the launcher (the
``runtime`` fixture: a private ``--root``, leak checks at the end) and
asserts the container's own view -- ``/proc/self/status``, ``id``,
``ulimit``, file contents, errno texts, exit statuses -- or what the host
sees of it (cgroup files, file owners).
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pinnace.runtime.defaults import docker_spec
from pinnace.runtime.linux.capabilities import NAMES
from pinnace.runtime.state import start_time
from tests.helpers.bundle import make_rootfs, write_config
from tests.integration.runtime_fixture import AS_FD_3, RUNTIME, Runtime

pytestmark = pytest.mark.root

Edit = Callable[[dict[str, Any]], None]


# -- helpers ---------------------------------------------------------------------------------------


def run(
    rt: Runtime, args: list[str], edit: Edit | None = None, *flags: str
) -> subprocess.CompletedProcess[str]:
    """``run`` a fresh container of ``args`` in the foreground; its output and exit status."""
    return rt("run", *flags, "-b", str(rt.bundle(args, edit=edit)), rt.new_id())


def output(rt: Runtime, args: list[str], edit: Edit | None = None) -> str:
    """The stdout of a container that must exit 0."""
    proc = run(rt, args, edit)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def status_fields(text: str) -> dict[str, str]:
    """``/proc/PID/status`` as a dict."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def mask(names: list[str] | None) -> int:
    """A capability list as the kernel's bit mask."""
    return sum(1 << NAMES.index(name) for name in names or [])


def cap_masks(status: dict[str, str]) -> dict[str, int]:
    """The five capability sets of a status dict, keyed by their spec names."""
    keys = {
        "inheritable": "CapInh",
        "permitted": "CapPrm",
        "effective": "CapEff",
        "bounding": "CapBnd",
        "ambient": "CapAmb",
    }
    return {name: int(status[key], 16) for name, key in keys.items()}


def docker_bundle(tmp: Path, args: list[str], **options: Any) -> tuple[Path, dict[str, Any]]:
    """A bundle whose config is Docker's (``docker_spec``) for ``args``, and that config."""
    bundle = tmp / f"docker-{len(list(tmp.glob('docker-*')))}"
    make_rootfs(bundle / "rootfs")
    spec = docker_spec(args=args, rootfs="rootfs", **options)
    write_config(bundle, spec)
    return bundle, spec


def wait_for(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def status_of(rt: Runtime, container_id: str) -> str:
    proc = rt("state", container_id)
    return str(json.loads(proc.stdout)["status"]) if proc.returncode == 0 else "gone"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    return start_time(pid) is not None


def cgroups_of(container_id: str) -> list[str]:
    """Every cgroup directory named for the container, in any hierarchy."""
    base = Path("/sys/fs/cgroup")
    return [str(h / container_id) for h in base.iterdir() if (h / container_id).exists()]


def assert_nothing_left(rt: Runtime, container_id: str, bundle: Path) -> None:
    """No state directory, no cgroup, and no process rooted in the bundle remain."""
    assert not (rt.root / container_id).exists()
    assert cgroups_of(container_id) == []
    rootfs = str(bundle / "rootfs")
    rooted = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                root = os.readlink(entry / "root")
            except OSError:
                continue
            if root.startswith(rootfs) and alive(int(entry.name)):
                rooted.append(entry.name)
    assert rooted == []


def bind(source: Path, destination: str, *options: str) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", *(options or ("rw",))],
    }


def open_dir(tmp: Path, name: str) -> Path:
    """A host directory any container user may write in."""
    path = tmp / name
    path.mkdir()
    path.chmod(0o777)
    return path


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    """Read a pty master until ``needle`` appears (or EOF); everything read."""
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} on the terminal; got {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side is closed
            break
        if not chunk:
            break
        data += chunk
    return data


# -- identity: pid, hostname, user, umask, cwd, env --------------------------------------------------


def test_pid_1_hostname_and_domainname(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hostname"] = "box"
        spec["domainname"] = "example.org"

    out = output(runtime, ["sh", "-c", "echo $$; hostname; cat /proc/sys/kernel/domainname"], edit)
    assert out.splitlines() == ["1", "box", "example.org"]
    assert os.uname().nodename != "box"


def test_uid_gid_and_additional_gids(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 65534]}

    out = output(runtime, ["sh", "-c", "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status"], edit)
    lines = out.splitlines()
    assert lines[0] == "uid=1000(user) gid=1000(user) groups=5(tty),65534(nogroup)"
    status = status_fields("\n".join(lines[1:]))
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["1000"] * 4
    assert status["Groups"].split() == ["5", "65534"]


def test_umask(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"]["umask"] = 0o027

    out = output(runtime, ["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"], _with_tmp(edit))
    assert out.splitlines() == ["0027", "640"]
    assert output(runtime, ["sh", "-c", "umask"]).strip() == "0022"  # runc's default


def test_cwd(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["cwd"] = "/home/user"

    assert output(runtime, ["sh", "-c", "pwd; ls -d ../user"], edit).splitlines() == [
        "/home/user",
        "../user",
    ]


def test_env(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY=", "FOO=last"]
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}

    env = output(runtime, ["env"], edit).splitlines()
    # Last value wins, HOME comes from the container's /etc/passwd, nothing of the host leaks in.
    assert sorted(env) == ["EMPTY=", "FOO=last", "HOME=/home/user", "PATH=/bin"]


# -- limits: rlimits, oomScoreAdj, sysctl --------------------------------------------------------


def test_rlimits(runtime: Runtime) -> None:
    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = min(host_hard, 4096)

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 300, "hard": hard},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        ]

    out = output(
        runtime, ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; grep 'open files' /proc/self/limits"], edit
    )
    lines = out.splitlines()
    assert lines[:3] == ["300", str(hard), "0"]
    assert lines[3].split()[3:5] == ["300", str(hard)]


def test_rlimit_above_the_host_hard_limit_fails_create_and_leaves_nothing(runtime: Runtime) -> None:
    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if host_hard == resource.RLIM_INFINITY:
        pytest.skip("the host's RLIMIT_NOFILE hard limit is unlimited")
    # We lack CAP_SYS_RESOURCE here, so nothing may raise a hard limit (a root with
    # CAP_SYS_RESOURCE could, up to fs.nr_open: then the message names that instead).
    too_high = host_hard + 1

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": too_high}]

    bundle = runtime.bundle(["true"], edit=edit)
    container_id = runtime.new_id()
    proc = runtime("create", "-b", str(bundle), container_id)
    assert proc.returncode == 1
    assert f"process.rlimits[0]: RLIMIT_NOFILE hard limit {too_high} is above the host's" in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line, as runc reports it
    assert_nothing_left(runtime, container_id, bundle)


def test_oom_score_adj(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["oomScoreAdj"] = 500

    assert output(runtime, ["cat", "/proc/self/oom_score_adj"], edit).strip() == "500"


def test_sysctl_in_the_containers_namespaces(runtime: Runtime) -> None:
    host_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    host_domain = Path("/proc/sys/kernel/domainname").read_text()
    wanted_forward = "0" if host_forward.strip() == "1" else "1"

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["sysctl"] = {"kernel.domainname": "sysctl.test", "net.ipv4.ip_forward": wanted_forward}

    out = output(runtime, ["cat", "/proc/sys/kernel/domainname", "/proc/sys/net/ipv4/ip_forward"], edit)
    assert out.splitlines() == ["sysctl.test", wanted_forward]
    # uts and net are the container's own: the host's values did not move.
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forward
    assert Path("/proc/sys/kernel/domainname").read_text() == host_domain


# -- capabilities, no_new_privs, seccomp -------------------------------------------------------------


def test_docker_default_capabilities(runtime: Runtime, tmp_path: Path) -> None:
    bundle, spec = docker_bundle(tmp_path, ["cat", "/proc/self/status"])
    proc = runtime("run", "-b", str(bundle), runtime.new_id())
    assert proc.returncode == 0, proc.stderr
    status = status_fields(proc.stdout)
    caps = spec["process"]["capabilities"]
    assert cap_masks(status) == {name: mask(caps.get(name)) for name in cap_masks(status)}
    assert cap_masks(status)["effective"] == 0xA80425FB  # Docker's 14, as `docker run` shows them
    assert status["NoNewPrivs"] == "0"  # Docker sets it only with --security-opt no-new-privileges


def test_custom_capability_sets_and_ambient(runtime: Runtime) -> None:
    """A non-root user gets exactly the spec's five sets, ambient ones surviving execve."""
    sets = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETGID"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
    }

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        spec["process"]["capabilities"] = sets

    status = status_fields(output(runtime, ["cat", "/proc/self/status"], edit))
    assert cap_masks(status) == {name: mask(caps) for name, caps in sets.items()}

    root_sets = {
        "bounding": ["CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
    }

    def edit_root(spec: dict[str, Any]) -> None:
        spec["process"]["capabilities"] = root_sets

    status = status_fields(output(runtime, ["cat", "/proc/self/status"], edit_root))
    assert cap_masks(status) == {
        **{name: mask(caps) for name, caps in root_sets.items()},
        "inheritable": 0,
        "ambient": 0,
    }


def test_no_new_privileges(runtime: Runtime) -> None:
    assert "NoNewPrivs:\t1" in output(runtime, ["cat", "/proc/self/status"])  # runc spec's default

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["noNewPrivileges"] = False

    assert "NoNewPrivs:\t0" in output(runtime, ["cat", "/proc/self/status"], edit)


def test_docker_seccomp_profile_blocks_what_the_capabilities_allow(runtime: Runtime, tmp_path: Path) -> None:
    # A user namespace needs no capability, but Docker's profile allows unshare(2)
    # only with CAP_SYS_ADMIN: the same command must work without the filter.
    script = "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true && echo unshared"
    bundle, spec = docker_bundle(tmp_path, ["sh", "-c", script])
    assert "CAP_SYS_ADMIN" not in spec["process"]["capabilities"]["bounding"]
    filtered = runtime("run", "-b", str(bundle), runtime.new_id())
    assert filtered.returncode == 1
    assert filtered.stdout.splitlines() == ["Seccomp:\t2", "Seccomp_filters:\t1"]
    assert "unshare(0x10000000): Operation not permitted" in filtered.stderr

    bundle, _ = docker_bundle(tmp_path, ["sh", "-c", script], seccomp=None)
    unfiltered = runtime("run", "-b", str(bundle), runtime.new_id())
    assert unfiltered.returncode == 0, unfiltered.stderr
    assert unfiltered.stdout.splitlines() == ["Seccomp:\t0", "Seccomp_filters:\t0", "unshared"]


# -- masked and read-only paths, read-only root --------------------------------------------------------


def test_masked_paths(runtime: Runtime, tmp_path: Path) -> None:
    # /proc/kcore where the kernel has one (this CI kernel has none); /proc/keys otherwise.
    masked = next(p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if os.path.exists(p))

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["maskedPaths"] = [*spec["linux"]["maskedPaths"], masked, "/secret", "/nosuch"]

    bundle = runtime.bundle(
        [
            "sh",
            "-c",
            f"stat -c '%F %t,%T' {masked}; wc -c < {masked}; ls -A /secret | wc -l; touch /secret/x",
        ],
        edit=edit,
    )
    (bundle / "rootfs" / "secret").mkdir()
    (bundle / "rootfs" / "secret" / "key").write_text("host secret\n")
    proc = runtime("run", "-b", str(bundle), runtime.new_id())
    assert proc.stdout.splitlines() == ["character special file 1,3", "0", "0"], proc.stderr
    assert "touch: /secret/x: Read-only file system" in proc.stderr
    assert (bundle / "rootfs" / "secret" / "key").read_text() == "host secret\n"


def test_readonly_paths(runtime: Runtime) -> None:
    # runc spec's default makes /proc/sys read-only; the open fails before any permission check.
    proc = run(runtime, ["sh", "-c", "echo x > /proc/sys/kernel/domainname"])
    assert proc.returncode != 0
    assert "/proc/sys/kernel/domainname: Read-only file system" in proc.stderr
    out = output(runtime, ["sh", "-c", "grep ' /proc/sys ' /proc/self/mountinfo"])
    assert "ro" in out.split()[5].split(",")


def _with_tmp(edit: Edit | None = None) -> Edit:
    """``edit`` plus a tmpfs on /tmp (the root of runc spec's default is read-only)."""

    def both(spec: dict[str, Any]) -> None:
        spec["mounts"].append(
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777"],
            }
        )
        if edit is not None:
            edit(spec)

    return both


def test_readonly_root_with_a_writable_tmpfs(runtime: Runtime) -> None:
    proc = run(runtime, ["sh", "-c", "touch /tmp/ok && echo tmp-writable; touch /etc/x"], _with_tmp())
    assert proc.stdout.splitlines() == ["tmp-writable"]
    assert "touch: /etc/x: Read-only file system" in proc.stderr

    def writable(spec: dict[str, Any]) -> None:
        spec["root"]["readonly"] = False

    bundle = runtime.bundle(["sh", "-c", "touch /etc/x && echo root-writable"], edit=writable)
    proc = runtime("run", "-b", str(bundle), runtime.new_id())
    assert proc.stdout == "root-writable\n", proc.stderr
    assert (bundle / "rootfs" / "etc" / "x").exists()


# -- cgroups: memory, pids, update, events -----------------------------------------------------------------


def test_memory_limit_oom_kills_with_137(runtime: Runtime) -> None:
    limit = 16 << 20

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"memory": {"limit": limit}}

    # dd's 64 MiB buffer is touched as it reads /dev/zero into it: past 16 MiB the cgroup OOMs.
    proc = run(runtime, ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], edit)
    assert proc.returncode == 137, proc.stderr


def test_events_stats_shape_and_memory(runtime: Runtime) -> None:
    limit = 32 << 20

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"memory": {"limit": limit}, "pids": {"limit": 50}}

    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"], edit=edit)), container_id, check=True)
    proc = runtime("events", "--stats", container_id, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "stats"
    assert event["id"] == container_id
    data = event["data"]
    assert data["memory"]["usage"]["limit"] == limit
    assert 0 < data["memory"]["usage"]["usage"] <= limit
    assert data["memory"]["usage"]["max"] >= data["memory"]["usage"]["usage"]
    assert data["pids"] == {"current": 1, "limit": 50}
    assert isinstance(data["cpu"]["usage"]["total"], int)
    assert data["cpu"]["usage"]["total"] > 0


def test_pids_limit_stops_a_fork_bomb(runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"pids": {"limit": 10}}

    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"], edit=edit)), container_id, check=True)
    bomb = runtime(
        "exec",
        container_id,
        "sh",
        "-c",
        "i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done; echo all-forked",
    )
    assert bomb.returncode != 0
    assert "all-forked" not in bomb.stdout
    assert "can't fork: Resource temporarily unavailable" in bomb.stderr
    pids = Path(f"/sys/fs/cgroup/pids/{container_id}")
    assert int((pids / "pids.current").read_text()) <= 10
    assert (pids / "pids.max").read_text().strip() == "10"
    # Still under control: every process is killed and the container deleted.
    members = json.loads(runtime("ps", "--format", "json", container_id, check=True).stdout)
    assert len(members) > 1
    runtime("kill", "--all", container_id, "KILL", check=True)
    wait_for(lambda: status_of(runtime, container_id) == "stopped", what="the container to stop")
    runtime("delete", container_id, check=True)
    assert not any(alive(pid) for pid in members)
    assert cgroups_of(container_id) == []


def test_update_pids_limit_of_a_live_container(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    pids_max = Path(f"/sys/fs/cgroup/pids/{container_id}/pids.max")
    assert pids_max.read_text().strip() == "max"
    runtime("update", "--pids-limit", "42", container_id, check=True)
    assert pids_max.read_text().strip() == "42"
    stats = json.loads(runtime("events", "--stats", container_id, check=True).stdout)
    assert stats["data"]["pids"]["limit"] == 42


# -- user namespace --------------------------------------------------------------------------------------------


#: Runs the runtime (argv[3:]) from a mount namespace of its own where the bundle (argv[1])
#: and a shared directory (argv[2]) are reachable by any uid, at /mnt/bundle and /mnt/shared.
_REACHABLE = """
import os, sys
from pinnace.runtime.linux.syscalls import CLONE_NEWNS, LinuxSys
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
bundle, shared, runtime, *args = sys.argv[1:]
linux = LinuxSys()
linux.unshare(CLONE_NEWNS)
linux.mount("none", "/", "", MS_REC | MS_PRIVATE, "")
linux.mount("tmpfs", "/mnt", "tmpfs", 0, "mode=755")
for source, name in ((bundle, "bundle"), (shared, "shared")):
    os.mkdir(f"/mnt/{name}")
    linux.mount(source, f"/mnt/{name}", "", MS_BIND, "")
os.execv(runtime, [runtime, *args[:-1], "-b", "/mnt/bundle", args[-1]])
"""


def test_user_namespace_mapping(runtime: Runtime, tmp_path: Path) -> None:
    shared = open_dir(tmp_path, "shared")

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["mounts"].append(bind(Path("/mnt/shared"), "/shared"))

    bundle = runtime.bundle(
        [
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /shared/made-inside; "
            "stat -c %u /bin/busybox",
        ],
        edit=edit,
    )
    (bundle / "rootfs" / "shared").mkdir()  # the container's root may not create it in a root-owned rootfs
    # The container's root (host uid 100000) must reach the rootfs and bind sources, as with
    # runc: pytest's 0700 base directories are in the way, so they are bind-mounted on a
    # tmpfs at /mnt in a mount namespace of the runtime's own (gone with it).
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _REACHABLE,
            str(bundle),
            str(shared),
            str(RUNTIME),
            "--root",
            str(runtime.root),
            "run",
            runtime.new_id(),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == lines[2] == ["0", "100000", "65536"]
    assert lines[3] == ["65534"]  # the host's root is unmapped: the overflow uid
    made = (shared / "made-inside").stat()
    assert (made.st_uid, made.st_gid) == (100000, 100000)


# -- hooks -----------------------------------------------------------------------------------------------------------


def test_container_hooks_run_in_the_container(runtime: Runtime, tmp_path: Path) -> None:
    out = open_dir(tmp_path, "hooks")

    def edit(spec: dict[str, Any]) -> None:
        spec["mounts"].append(bind(out, "/out"))
        spec["hooks"] = {
            # Before pivot_root: host paths, but the container's mount and uts namespaces.
            "createContainer": [
                {
                    "path": "/bin/sh",
                    "args": [
                        "sh",
                        "-c",
                        f"readlink /proc/self/ns/mnt > {out}/create-mnt; readlink /proc/self/ns/uts > {out}/create-uts; "
                        f"cat > {out}/create-state",
                    ],
                }
            ],
            # In the container: the path is the container's own script.
            "startContainer": [{"path": "/bin/in-container-only", "args": ["in-container-only"]}],
            "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/poststop"]}],
        }

    bundle = runtime.bundle(["true"], edit=edit)
    script = bundle / "rootfs" / "bin" / "in-container-only"
    script.write_text("#!/bin/sh\nhostname > /out/start-host; ls / > /out/start-root\n")
    script.chmod(0o755)
    (bundle / "rootfs" / "only-in-rootfs").touch()
    (bundle / "rootfs" / "out").mkdir()
    container_id = runtime.new_id()
    runtime("create", "-b", str(bundle), container_id, check=True)
    pid = runtime.state(container_id)["pid"]
    assert (out / "create-mnt").read_text() == os.readlink(f"/proc/{pid}/ns/mnt") + "\n"
    assert (out / "create-mnt").read_text() != os.readlink("/proc/self/ns/mnt") + "\n"
    assert (out / "create-uts").read_text() == os.readlink(f"/proc/{pid}/ns/uts") + "\n"
    assert json.loads((out / "create-state").read_text())["id"] == container_id
    assert not (out / "start-host").exists()

    runtime("start", container_id, check=True)
    wait_for(lambda: status_of(runtime, container_id) == "stopped", what="the container to exit")
    assert (out / "start-host").read_text() == "pinnace\n"
    assert "only-in-rootfs" in (out / "start-root").read_text().split()
    assert not (out / "poststop").exists()

    runtime("delete", container_id, check=True)
    poststop = json.loads((out / "poststop").read_text())
    assert (poststop["id"], poststop["status"]) == (container_id, "stopped")


# -- terminal --------------------------------------------------------------------------------------------------------


def _console_listener(tmp_path: Path) -> tuple[socket.socket, Path]:
    path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(10)
    return listener, path


def _receive_master(listener: socket.socket) -> int:
    conn, _ = listener.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert len(fds) == 1
    return fds[0]


def test_terminal_through_the_console_socket(runtime: Runtime, tmp_path: Path) -> None:
    listener, path = _console_listener(tmp_path)

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["terminal"] = True

    container_id = runtime.new_id()
    bundle = runtime.bundle(["sh", "-c", "tty; read line; echo got:$line"], edit=edit)
    with listener:
        runtime("create", "--console-socket", str(path), "-b", str(bundle), container_id, check=True)
        master = _receive_master(listener)
    try:
        runtime("start", container_id, check=True)
        assert b"/dev/pts/0" in read_until(master, b"/dev/pts/0")
        os.write(master, b"hello\n")
        assert b"got:hello" in read_until(master, b"got:hello")
        wait_for(lambda: status_of(runtime, container_id) == "stopped", what="the container to exit")
    finally:
        os.close(master)


def test_exec_with_a_terminal(runtime: Runtime, tmp_path: Path) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    listener, path = _console_listener(tmp_path)
    with listener:
        exec_proc = subprocess.Popen(
            [
                str(RUNTIME),
                "--root",
                str(runtime.root),
                "exec",
                "-t",
                "--console-socket",
                str(path),
                container_id,
                "sh",
                "-c",
                "tty; read line; echo got:$line; exit 5",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            master = _receive_master(listener)
        except BaseException:
            exec_proc.kill()
            raise
    try:
        assert b"/dev/pts/0" in read_until(master, b"/dev/pts/0")
        os.write(master, b"again\n")
        assert b"got:again" in read_until(master, b"got:again")
        assert exec_proc.wait(timeout=10) == 5
    finally:
        os.close(master)
        if exec_proc.poll() is None:
            exec_proc.kill()
        exec_proc.communicate()


# -- runc verbs' flags ---------------------------------------------------------------------------------------------------


def test_kill_all(runtime: Runtime) -> None:
    container_id = runtime.new_id()
    bundle = runtime.bundle(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    runtime("run", "-d", "-b", str(bundle), container_id, check=True)

    def members() -> list[int]:
        return list(json.loads(runtime("ps", "--format", "json", container_id, check=True).stdout))

    wait_for(lambda: len(members()) == 3, what="sh and its two sleeps")
    pids = members()
    runtime("kill", "--all", container_id, "KILL", check=True)
    wait_for(lambda: status_of(runtime, container_id) == "stopped", what="the container to stop")
    wait_for(lambda: not any(alive(pid) for pid in pids), what="every process to die")
    refused = runtime("kill", container_id, "KILL")
    assert refused.returncode == 1
    assert "container not running" in refused.stderr


def test_exec_detach_with_pid_file(runtime: Runtime, tmp_path: Path) -> None:
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sleep", "60"])), container_id, check=True)
    init = runtime.state(container_id)["pid"]
    pid_file = tmp_path / "exec.pid"
    proc = runtime("exec", "--detach", "--pid-file", str(pid_file), container_id, "sleep", "50")
    assert proc.returncode == 0, proc.stderr
    pid = int(pid_file.read_text())
    assert alive(pid)
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0050\x00"
    for ns in ("pid", "mnt", "uts", "net", "ipc"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}")
    assert pid in json.loads(runtime("ps", "--format", "json", container_id, check=True).stdout)


def test_preserve_fds(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sh", "-c", "echo through-fd-3 >&3; ls /proc/self/fd"])
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                AS_FD_3,
                str(write_end),
                str(RUNTIME),
                "--root",
                str(runtime.root),
                "run",
                "--preserve-fds",
                "1",
                "-b",
                str(bundle),
                runtime.new_id(),
            ],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        os.close(write_end)
        write_end = -1
        assert proc.returncode == 0, proc.stderr
        assert os.read(read_end, 100) == b"through-fd-3\n"
        assert sorted(map(int, proc.stdout.split())) == [0, 1, 2, 3, 4]  # 4: ls's own directory fd
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_log_file_records_errors_as_json(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    proc = runtime("--log", str(log), "--log-format", "json", "state", "nosuch-container")
    assert proc.returncode == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["level"] == "error"
    assert records[0]["msg"] == "container does not exist: nosuch-container"
    assert "time" in records[0]


def test_no_pivot(runtime: Runtime) -> None:
    bundle = runtime.bundle(["sh", "-c", "ls /; echo ---; ls /proc/1/root/"])
    (bundle / "rootfs" / "only-in-rootfs").touch()
    proc = runtime("run", "--no-pivot", "-b", str(bundle), runtime.new_id())
    assert proc.returncode == 0, proc.stderr
    root, _, init_root = proc.stdout.partition("---\n")
    assert root.split() == init_root.split() == sorted(p.name for p in (bundle / "rootfs").iterdir())


def test_events_stream_reports_an_oom_kill(runtime: Runtime) -> None:
    """A process OOM-killed inside a live container shows as runc's {"type": "oom"} event."""

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}

    hog = "sleep 0.5; while :; do dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 0.2; done"
    container_id = runtime.new_id()
    runtime("run", "-d", "-b", str(runtime.bundle(["sh", "-c", hog], edit=edit)), container_id, check=True)
    events = subprocess.Popen(
        [str(RUNTIME), "--root", str(runtime.root), "events", "--interval", "100ms", container_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert events.stdout is not None
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = events.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line)["type"])
            if seen[-1] == "oom":
                break
        assert "oom" in seen, seen
        assert seen[0] == "stats"
    finally:
        events.kill()
        events.wait()
