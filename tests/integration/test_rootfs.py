"""rootfs.prepare / pivot / finalize against the real kernel, on busybox bundles.

Each case runs in a fresh interpreter that unshares a mount namespace (and a
cgroup or user namespace where the case needs one), sets the rootfs up,
looks at what a process there sees, and prints one JSON line.  Everything
it mounts dies with its mount namespace; :func:`run` checks that the host's
mount table is the same after the child as before.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pinnace.mount import ops
from tests.helpers.bundle import make_bundle

pytestmark = pytest.mark.root

PRELUDE = """
import errno, json, os, stat, sys
from pinnace.errors import PinnaceError
from pinnace.runtime.linux import rootfs
from pinnace.runtime.linux.syscalls import CLONE_NEWCGROUP, CLONE_NEWNS, CLONE_NEWUSER, LinuxSys
from pinnace.runtime.spec import load_spec

bundle = sys.argv[1]
spec = load_spec(os.path.join(bundle, "config.json"))
linux = LinuxSys()


def mountinfo():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, rest = pre.split(), post.split()
            out.append({"root": fields[3], "point": fields[4], "options": fields[5].split(","),
                        "optional": fields[6:], "fstype": rest[0], "super": rest[2].split(",")})
    return out


def write_errno(path, flags=os.O_WRONLY | os.O_CREAT):
    try:
        os.close(os.open(path, flags, 0o644))
    except OSError as e:
        return errno.errorcode[e.errno]
    return "ok"


def node(path):
    st = os.lstat(path)
    return {"kind": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
            "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)], "uid": st.st_uid, "gid": st.st_gid}


def setup(flags=CLONE_NEWNS | CLONE_NEWCGROUP, no_pivot=False):
    linux.unshare(flags)
    rootfs.prepare(spec, bundle, linux)
    rootfs.pivot(spec, bundle, linux, no_pivot=no_pivot)
    rootfs.finalize(spec, linux)
"""


def run(bundle: Path, script: str) -> dict[str, Any]:
    """Run ``script`` after PRELUDE in a child; return the JSON it prints last.

    Also asserts that the host's mount table did not change.
    """
    before = ops.mount_points()
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script), str(bundle)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ops.mount_points() == before
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"child exited {proc.returncode}; stderr:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bundle_with(tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    return make_bundle(tmp_path / "bundle", ["true"], edit=edit)


def points(result: dict[str, Any]) -> list[str]:
    return [m["point"] for m in result["mounts"]]


def by_point(result: dict[str, Any], point: str) -> dict[str, Any]:
    found = [m for m in result["mounts"] if m["point"] == point]
    assert found, f"{point} is not a mount point: {points(result)}"
    return found[-1]  # the top one


def test_default_spec(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path)
    rootfs_entries = sorted(os.listdir(bundle / "rootfs"))
    result = run(
        bundle,
        """
        setup()
        masked = {}
        for p in spec["linux"]["maskedPaths"]:
            if os.path.isdir(p):
                masked[p] = os.listdir(p)
            elif os.path.exists(p):
                with open(p, "rb") as f:
                    masked[p] = f.read(16).decode()
        print(json.dumps({
            "cwd": os.getcwd(),
            "root": sorted(os.listdir("/")),
            "bundle_visible": os.path.exists(bundle),
            "mounts": mountinfo(),
            "devices": {n: node("/dev/" + n) for n in ("null", "zero", "full", "random", "urandom", "tty")},
            "links": {n: os.readlink("/dev/" + n) for n in ("ptmx", "fd", "stdin", "stdout", "stderr")},
            "core": os.path.lexists("/dev/core"),
            "ptmx_is_char": stat.S_ISCHR(os.stat("/dev/ptmx").st_mode),
            "write_root": write_errno("/newfile"),
            "write_tmp": write_errno("/tmp/newfile"),
            "write_shm": write_errno("/dev/shm/newfile"),
            "write_dev": write_errno("/dev/newfile"),
            "write_proc_sys": write_errno("/proc/sys/kernel/hostname", os.O_WRONLY),
            "write_sys": write_errno("/sys/kernel/newfile"),
            "mkdir_cgroup": write_errno("/sys/fs/cgroup/memory/newfile"),
            "cgroups": sorted(os.listdir("/sys/fs/cgroup")),
            "masked": masked,
        }))
        """,
    )
    assert result["cwd"] == "/"
    assert result["root"] == rootfs_entries
    assert result["bundle_visible"] is False
    # the old root is gone: every mount is one of the container's
    mounts = points(result)
    assert mounts[0] == "/"
    assert not any(str(bundle) in p or str(tmp_path) in p for p in mounts)
    assert [p for p in mounts if p in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys")] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ]
    assert "ro" in by_point(result, "/")["options"]
    assert by_point(result, "/dev/pts")["fstype"] == "devpts"
    assert "ptmxmode=666" in by_point(result, "/dev/pts")["super"]
    assert by_point(result, "/dev/shm")["options"][:4] == ["rw", "nosuid", "nodev", "noexec"]
    assert by_point(result, "/sys")["options"][0] == "ro"
    # default devices: character devices, 0666, right numbers
    expected = {
        "null": [1, 3],
        "zero": [1, 5],
        "full": [1, 7],
        "random": [1, 8],
        "urandom": [1, 9],
        "tty": [5, 0],
    }
    for name, rdev in expected.items():
        assert result["devices"][name] == {
            "kind": stat.S_IFCHR,
            "mode": 0o666,
            "rdev": rdev,
            "uid": 0,
            "gid": 0,
        }
    assert result["links"] == {
        "ptmx": "pts/ptmx",
        "fd": "/proc/self/fd",
        "stdin": "/proc/self/fd/0",
        "stdout": "/proc/self/fd/1",
        "stderr": "/proc/self/fd/2",
    }
    assert result["core"] == os.path.exists("/proc/kcore")
    assert result["ptmx_is_char"] is True
    # read-only root, writable tmpfs mounts, read-only paths and sysfs
    assert result["write_root"] == "EROFS"
    assert result["write_tmp"] == "EROFS"
    assert result["write_shm"] == "ok"
    assert result["write_dev"] == "ok"
    assert result["write_proc_sys"] == "EROFS"
    assert result["write_sys"] == "EROFS"
    # masked paths that exist on this kernel are empty
    assert result["masked"], "no masked path exists on this host"
    assert all(v in ("", []) for v in result["masked"].values()), result["masked"]


def test_cgroup_mount_with_cgroup_namespace(tmp_path: Path) -> None:
    result = run(
        bundle_with(tmp_path),
        """
        setup()
        print(json.dumps({"mounts": mountinfo(), "write": write_errno("/sys/fs/cgroup/x"),
                          "cgroups": sorted(os.listdir("/sys/fs/cgroup"))}))
        """,
    )
    top = by_point(result, "/sys/fs/cgroup")
    assert top["options"][0] == "ro"
    assert result["write"] == "EROFS"
    v1, v2 = _host_cgroups()
    if not v1:  # unified host: one cgroup2 mount
        assert top["fstype"] == "cgroup2"
        return
    assert top["fstype"] == "tmpfs"
    assert result["cgroups"] == sorted(v1)
    for name in v1:
        m = by_point(result, f"/sys/fs/cgroup/{name}")
        assert m["fstype"] == "cgroup"
        assert m["root"] == "/"  # the cgroup namespace's root
        assert m["options"][0] == "ro"


def test_cgroup_mount_without_cgroup_namespace_binds_own_cgroup(tmp_path: Path) -> None:
    v1, _ = _host_cgroups()
    if not v1:
        pytest.skip("not a cgroup v1 host")

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "cgroup"]

    result = run(
        bundle_with(tmp_path, edit),
        """
        with open("/proc/self/cgroup") as f:
            own = {line.split(":")[1]: line.strip().split(":", 2)[2] for line in f}
        setup(CLONE_NEWNS)
        print(json.dumps({"mounts": mountinfo(), "own": own,
                          "write": write_errno("/sys/fs/cgroup/memory/x")}))
        """,
    )
    memory = by_point(result, "/sys/fs/cgroup/memory")
    assert memory["fstype"] == "cgroup"
    assert memory["root"] == result["own"]["memory"]
    assert memory["options"][0] == "ro"
    assert result["write"] == "EROFS"


def _host_cgroups() -> tuple[list[str], bool]:
    names: list[str] = []
    unified = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fstype = line.partition(" - ")[2].split()[0]
            if fstype == "cgroup":
                names.append(os.path.basename(line.split()[4]))
            elif fstype == "cgroup2":
                unified = True
    return names, unified


def test_mounts_in_order_with_options(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("host data")
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("a file")

    def edit(spec: dict[str, Any]) -> None:
        spec["root"]["readonly"] = False
        spec["mounts"] += [
            {
                "destination": "/data",
                "type": "bind",
                "source": str(data),
                "options": ["rbind", "ro", "rshared"],
            },
            {
                "destination": "/scratch",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "size=1m", "mode=0700"],
            },
            {"destination": "/scratch/inner/deep", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {
                "destination": "/etc/hostfile",
                "type": "none",
                "source": str(hostfile),
                "options": ["bind", "noexec"],
            },
            {"destination": "/rw", "type": "bind", "source": str(data)},
        ]

    result = run(
        bundle_with(tmp_path, edit),
        """
        setup()
        print(json.dumps({
            "mounts": mountinfo(),
            "data": open("/data/file").read(),
            "hostfile": open("/etc/hostfile").read(),
            "write_data": write_errno("/data/new"),
            "write_rw": write_errno("/rw/new"),
            "write_scratch": write_errno("/scratch/new"),
            "write_deep": write_errno("/scratch/inner/deep/new"),
            "scratch_mode": stat.S_IMODE(os.stat("/scratch").st_mode),
        }))
        """,
    )
    order = [
        p for p in points(result) if p in ("/data", "/scratch", "/scratch/inner/deep", "/etc/hostfile", "/rw")
    ]
    assert order == ["/data", "/scratch", "/scratch/inner/deep", "/etc/hostfile", "/rw"]
    assert result["data"] == "host data"
    assert result["hostfile"] == "a file"
    assert by_point(result, "/data")["options"][0] == "ro"
    assert any(o.startswith("shared:") for o in by_point(result, "/data")["optional"])
    assert result["write_data"] == "EROFS"
    assert result["write_rw"] == "ok"
    assert (data / "new").exists()
    scratch = by_point(result, "/scratch")
    assert scratch["options"][:3] == ["rw", "nosuid", "nodev"]
    assert "size=1024k" in scratch["super"]
    assert result["scratch_mode"] == 0o700
    assert result["write_scratch"] == "ok"
    assert result["write_deep"] == "EROFS"  # a ro tmpfs, made read-only by finalize
    assert "noexec" in by_point(result, "/etc/hostfile")["options"]


def test_linux_devices(tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["devices"] = [
            {
                "type": "c",
                "path": "/dev/mydev",
                "major": 1,
                "minor": 7,
                "fileMode": 0o640,
                "uid": 1000,
                "gid": 1000,
            },
            {"type": "b", "path": "/dev/disks/loopx", "major": 7, "minor": 200},
            {"type": "p", "path": "/dev/fifo", "fileMode": 0o600},
            {"type": "u", "path": "/dev/null", "major": 1, "minor": 3, "fileMode": 0o620},
        ]

    result = run(
        bundle_with(tmp_path, edit),
        """
        setup()
        print(json.dumps({n: node("/dev/" + n) for n in ("mydev", "disks/loopx", "fifo", "null", "zero")}))
        """,
    )
    assert result["mydev"] == {"kind": stat.S_IFCHR, "mode": 0o640, "rdev": [1, 7], "uid": 1000, "gid": 1000}
    assert result["disks/loopx"] == {
        "kind": stat.S_IFBLK,
        "mode": 0o666,
        "rdev": [7, 200],
        "uid": 0,
        "gid": 0,
    }
    assert result["fifo"]["kind"] == stat.S_IFIFO
    assert result["fifo"]["mode"] == 0o600
    assert result["null"]["mode"] == 0o620  # the spec's entry replaces the default one
    assert result["zero"]["rdev"] == [1, 5]


def test_masked_and_readonly_paths(tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["root"]["readonly"] = False
        spec["linux"]["maskedPaths"] = ["/etc/passwd", "/home", "/does/not/exist", "/proc/timer_list"]
        spec["linux"]["readonlyPaths"] = ["/root", "/missing", "/proc/sys"]

    result = run(
        bundle_with(tmp_path, edit),
        """
        setup()
        print(json.dumps({
            "mounts": mountinfo(),
            "passwd": open("/etc/passwd").read(),
            "home": os.listdir("/home"),
            "timer_list": open("/proc/timer_list").read() if os.path.exists("/proc/timer_list") else None,
            "write_home": write_errno("/home/x"),
            "write_passwd": write_errno("/etc/passwd", os.O_WRONLY),
            "write_root": write_errno("/root/x"),
            "write_proc_sys": write_errno("/proc/sys/kernel/hostname", os.O_WRONLY),
            "write_tmp": write_errno("/tmp/x"),
            "write_etc": write_errno("/etc/x"),
        }))
        """,
    )
    assert result["passwd"] == ""
    assert result["home"] == []
    assert result["timer_list"] in ("", None)
    assert result["write_home"] == "EROFS"
    assert result["write_passwd"] == "ok"  # it is /dev/null
    assert result["write_root"] == "EROFS"
    assert result["write_proc_sys"] == "EROFS"
    assert result["write_tmp"] == "ok"
    assert result["write_etc"] == "ok"
    home = by_point(result, "/home")
    assert (home["fstype"], home["options"][0]) == ("tmpfs", "ro")
    assert by_point(result, "/etc/passwd")["root"] == "/null"
    assert "/does/not/exist" not in points(result)
    assert "/missing" not in points(result)


def test_no_pivot(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path)
    rootfs_entries = sorted(os.listdir(bundle / "rootfs"))
    result = run(
        bundle,
        """
        setup(no_pivot=True)
        print(json.dumps({"cwd": os.getcwd(), "root": sorted(os.listdir("/")), "mounts": mountinfo(),
                          "bundle_visible": os.path.exists(bundle), "null": node("/dev/null"),
                          "write_root": write_errno("/x")}))
        """,
    )
    assert result["cwd"] == "/"
    assert result["root"] == rootfs_entries
    assert result["bundle_visible"] is False
    assert not any(str(tmp_path) in p for p in points(result))
    # the container's proc is the only one left
    assert [m["point"] for m in result["mounts"] if m["fstype"] == "proc" and m["root"] == "/"] == ["/proc"]
    assert result["null"]["rdev"] == [1, 3]
    assert result["write_root"] == "EROFS"


def test_no_pivot_refuses_private_propagation(tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["rootfsPropagation"] = "rprivate"

    result = run(
        bundle_with(tmp_path, edit),
        """
        linux.unshare(CLONE_NEWNS | CLONE_NEWCGROUP)
        rootfs.prepare(spec, bundle, linux)
        try:
            rootfs.pivot(spec, bundle, linux, no_pivot=True)
        except PinnaceError as e:
            print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        """,
    )
    assert result["error"] == "InvalidArgument"
    assert result["message"].startswith("linux.rootfsPropagation: [r]private is not safe without pivot_root")


def test_symlinks_cannot_redirect_mounts_to_the_host(tmp_path: Path) -> None:
    """CVE-2021-30465 class: /dev and a mount's parent are symlinks to host paths."""
    host_dev = tmp_path / "host-dev"
    host_dev.mkdir()
    host_mnt = tmp_path / "host-mnt"
    host_mnt.mkdir()
    (host_mnt / "keep").write_text("host file")

    def edit(spec: dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs"})
        spec["mounts"].append({"destination": "/up/x", "type": "tmpfs", "source": "tmpfs"})

    bundle = bundle_with(tmp_path, edit)
    root = bundle / "rootfs"
    (root / "dev").rmdir()
    (root / "dev").symlink_to(host_dev)  # absolute, to a host directory
    (root / "mnt").symlink_to(host_mnt)
    (root / "up").symlink_to("../" * 30 + str(host_mnt).lstrip("/"))  # climbs with ..
    result = run(
        bundle,
        """
        linux.unshare(CLONE_NEWNS | CLONE_NEWCGROUP)
        path = rootfs.prepare(spec, bundle, linux)
        print(json.dumps({"rootfs": path, "mounts": mountinfo(),
                          "host_dev": sorted(os.listdir(sys.argv[2])), "host_mnt": sorted(os.listdir(sys.argv[3]))}))
        """.replace("sys.argv[2]", repr(str(host_dev))).replace("sys.argv[3]", repr(str(host_mnt))),
    )
    mounts = points(result)
    root_path = result["rootfs"]
    # nothing mounted on, or created in, the host directories
    assert str(host_dev) not in mounts
    assert not any(p.startswith(str(host_mnt)) for p in mounts)
    assert result["host_dev"] == []
    assert result["host_mnt"] == ["keep"]
    assert os.listdir(host_dev) == []
    # the mounts landed inside the rootfs, where the symlinks point when the rootfs is "/"
    assert root_path + str(host_dev) in mounts
    assert root_path + str(host_dev) + "/pts" in mounts
    assert root_path + str(host_mnt) + "/x" in mounts
    assert mounts.count(root_path + str(host_mnt) + "/x") == 2
    assert (root / str(host_dev).lstrip("/")).is_dir()  # made inside the rootfs


@pytest.mark.parametrize(
    ("edit", "kind", "message"),
    [
        (
            lambda s: s["mounts"].append(
                {"destination": "/etc/passwd/x", "type": "tmpfs", "source": "tmpfs"}
            ),
            "InvalidArgument",
            "mounts[7].destination: /etc/passwd/x: not a directory",
        ),
        (
            lambda s: s["mounts"].append({"destination": "/proc/self/x", "type": "bind", "source": "/tmp"}),
            "InvalidArgument",
            'mounts[7].destination: "/proc/{pid}/x" cannot be mounted because it is inside /proc',
        ),
        (
            lambda s: s["mounts"].append({"destination": "/x", "type": "bind", "source": "/no/such/source"}),
            "InvalidArgument",
            "mounts[7].source: stat /no/such/source: no such file or directory",
        ),
        (
            lambda s: s["mounts"].append(
                {"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=bogus"]}
            ),
            "InvalidArgument",
            'mounts[7]: error mounting "tmpfs" to rootfs at "/x": mount(tmpfs, /x, tmpfs, 0x0): invalid argument',
        ),
        (
            lambda s: s["mounts"].append(
                {"destination": "/x", "type": "bind", "source": "/tmp", "options": ["rro"]}
            ),
            "NotImplementedYet",
            'mounts[7].options[0]: mount option "rro" is not supported',
        ),
        (
            lambda s: s["linux"].update(devices=[{"type": "c", "path": "/etc/evil", "major": 1, "minor": 3}]),
            "InvalidArgument",
            "linux.devices[0].path: must be under /dev",
        ),
        (
            lambda s: s["linux"].update(devices=[{"type": "x", "path": "/dev/x", "major": 1, "minor": 3}]),
            "InvalidArgument",
            'linux.devices[0].type: "x" is not a valid device type for device /dev/x',
        ),
        (
            lambda s: s["linux"].update(rootfsPropagation="sideways"),
            "InvalidArgument",
            'linux.rootfsPropagation: "sideways" is not a valid propagation',
        ),
    ],
)
def test_errors_name_the_field(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], kind: str, message: str
) -> None:
    result = run(
        bundle_with(tmp_path, edit),
        """
        linux.unshare(CLONE_NEWNS | CLONE_NEWCGROUP)
        try:
            rootfs.prepare(spec, bundle, linux)
            print(json.dumps({"error": None}))
        except PinnaceError as e:
            print(json.dumps({"error": type(e).__name__, "message": str(e), "pid": os.getpid()}))
        """,
    )
    assert (result["error"], result["message"]) == (kind, message.replace("{pid}", str(result.get("pid"))))


def test_user_namespace_binds_devices_and_keeps_locked_flags(tmp_path: Path) -> None:
    """In a user namespace mknod is refused: devices are the host's, bind-mounted; "/" goes ro anyway."""

    def edit(spec: dict[str, Any]) -> None:
        spec["mounts"] = [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        ]
        spec["linux"]["namespaces"] = [{"type": "mount"}, {"type": "user"}]
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
        spec["linux"]["readonlyPaths"] = ["/etc"]
        spec["linux"]["maskedPaths"] = ["/home"]

    result = run(
        bundle_with(tmp_path, edit),
        """
        linux.unshare(CLONE_NEWUSER)
        with open("/proc/self/uid_map", "w") as f:
            f.write("0 0 1")
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/gid_map", "w") as f:
            f.write("0 0 1")
        setup(CLONE_NEWNS)
        print(json.dumps({
            "null": node("/dev/null"),
            "tty": node("/dev/tty"),
            "cwd": os.getcwd(),
            "root": sorted(os.listdir("/")),
            "write_root": write_errno("/x"),
            "write_etc": write_errno("/etc/x"),
            "write_dev": write_errno("/dev/x"),
            "home": os.listdir("/home"),
        }))
        """,
    )
    assert result["null"]["kind"] == stat.S_IFCHR
    assert result["null"]["rdev"] == [1, 3]
    assert result["tty"]["rdev"] == [5, 0]
    assert result["cwd"] == "/"
    assert "bin" in result["root"]
    assert result["write_root"] == "EROFS"
    assert result["write_etc"] == "EROFS"
    assert result["write_dev"] == "ok"
    assert result["home"] == []


def test_rootfs_propagation_shared(tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["rootfsPropagation"] = "rshared"

    result = run(
        bundle_with(tmp_path, edit),
        """
        from pinnace.mount.ops import MS_PRIVATE, MS_REC
        linux.unshare(CLONE_NEWNS | CLONE_NEWCGROUP)
        linux.mount("", "/", "", MS_PRIVATE | MS_REC, "")  # whatever the host's "/" is, share nothing with it
        rootfs.prepare(spec, bundle, linux)
        rootfs.pivot(spec, bundle, linux)
        rootfs.finalize(spec, linux)
        print(json.dumps({"mounts": mountinfo()}))
        """,
    )
    assert any(o.startswith("shared:") for o in by_point(result, "/")["optional"])
    assert any(o.startswith("shared:") for o in by_point(result, "/proc")["optional"])
