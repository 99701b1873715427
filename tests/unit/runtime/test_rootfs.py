"""rootfs path resolution, option and device parsing, and finalize's calls (no root needed).

The resolver is what keeps mounts inside the rootfs, so its rules are
pinned here on plain directories: symlinks resolve as if the tree were
"/", ``..`` stops at the root, and nothing is created before ``check``
agrees.  The mounts themselves are exercised in
tests/integration/test_rootfs.py.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import InvalidArgument, NotImplementedYet
from pinnace.mount.ops import (
    MS_BIND,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
)
from pinnace.runtime.linux import rootfs
from pinnace.runtime.linux.syscalls import RecordingSys


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[rootfs._Tree]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0\n")
    (root / "run").mkdir()
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("../run")
    (root / "abs").symlink_to(str(tmp_path / "outside"))
    (root / "up").symlink_to("../../../../../../outside")
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to("/made/by/resolve")
    (tmp_path / "outside").mkdir()
    t = rootfs._Tree(str(root), RecordingSys())
    yield t
    t.close()


def resolved(tree: rootfs._Tree, path: str, **kwargs: Any) -> str:
    fd, where, _ = tree.open(path, **kwargs)
    try:
        # the fd and the reported path agree
        assert os.readlink(f"/proc/self/fd/{fd}") == tree.root + (where if where != "/" else "")
    finally:
        os.close(fd)
    return where


def test_plain_and_relative_symlink(tree: rootfs._Tree) -> None:
    assert resolved(tree, "/etc/passwd") == "/etc/passwd"
    assert resolved(tree, "/var/run") == "/run"
    assert resolved(tree, "var/./run/../etc") == "/etc"
    assert resolved(tree, "/") == "/"


def test_symlinks_and_dotdot_stay_inside_the_root(tree: rootfs._Tree) -> None:
    outside = str(Path(tree.root).parent / "outside")
    with pytest.raises(FileNotFoundError):
        tree.open("/abs")  # absolute target: looked up inside the root, where it does not exist
    assert resolved(tree, "/abs", create="dir") == outside
    assert resolved(tree, "/up", create="dir") == "/outside"  # the ..s stopped at the root
    assert resolved(tree, "/../../..") == "/"
    assert os.listdir(outside) == []  # the real "outside" was never touched


def test_create_dirs_and_files(tree: rootfs._Tree) -> None:
    fd, where, created = tree.open("/new/dir/file", create="file")
    os.close(fd)
    assert (where, created) == ("/new/dir/file", True)
    assert stat.S_ISREG(os.stat(tree.root + "/new/dir/file").st_mode)
    fd, where, created = tree.open("/new/dir/file", create="file")
    os.close(fd)
    assert created is False
    assert resolved(tree, "/dangling", create="dir") == "/made/by/resolve"
    assert os.path.isdir(tree.root + "/made/by/resolve")


def test_errors(tree: rootfs._Tree) -> None:
    with pytest.raises(OSError) as info:
        tree.open("/loop")
    assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError) as info:
        tree.open("/etc/passwd/x", create="dir")
    assert info.value.errno == errno.ENOTDIR
    with pytest.raises(InvalidArgument, match=r"^mounts\[2\]\.destination: /etc/passwd/x: not a directory$"):
        tree.resolve("mounts[2].destination", "/etc/passwd/x", create="dir")


def test_follow_last_false_returns_the_symlink(tree: rootfs._Tree) -> None:
    fd, where, _ = tree.open("/var/run", follow_last=False)
    try:
        assert where == "/var/run"
        assert stat.S_ISLNK(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def test_check_runs_before_anything_is_created(tree: rootfs._Tree) -> None:
    seen: list[str] = []

    def refuse(where: str) -> None:
        seen.append(where)
        raise InvalidArgument("no")

    with pytest.raises(InvalidArgument):
        tree.open("/var/run/a/../b/c", create="dir", check=refuse)
    assert seen == ["/run/b/c"]
    assert os.listdir(tree.root + "/run") == []


def test_split_options() -> None:
    flags, propagation, data, cleared = rootfs._split_options(
        "mounts[0]", ["rbind", "ro", "nosuid", "rslave", "private", "size=1m", "mode=755", "exec", "rw"]
    )
    assert flags == MS_BIND | MS_REC | MS_NOSUID
    assert propagation == [MS_SLAVE | MS_REC, MS_PRIVATE]
    assert data == "size=1m,mode=755"
    assert cleared == MS_NOEXEC | MS_RDONLY


def test_recursive_options_are_refused() -> None:
    with pytest.raises(
        NotImplementedYet, match=r'^mounts\[4\]\.options\[1\]: mount option "rro" is not supported$'
    ):
        rootfs._split_options("mounts[4]", ["rbind", "rro"])


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        (None, 0),
        ("", 0),
        ("shared", MS_SHARED),
        ("rslave", MS_SLAVE | MS_REC),
        ("rprivate", MS_PRIVATE | MS_REC),
    ],
)
def test_root_propagation(value: str | None, flags: int) -> None:
    assert rootfs.root_propagation({"linux": {"rootfsPropagation": value}}) == flags


@pytest.mark.parametrize("value", ["ro", "sideways", 3])
def test_root_propagation_refuses_others(value: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.rootfsPropagation: "):
        rootfs.root_propagation({"linux": {"rootfsPropagation": value}})


def test_parse_device() -> None:
    field, path, kind, rdev, mode, uid, gid = rootfs._parse_device(
        "linux.devices[0]",
        {"type": "c", "path": "/dev/./fuse", "major": 10, "minor": 229, "fileMode": 0o20640},
    )
    assert (field, path, kind, rdev, mode, uid, gid) == (
        "linux.devices[0]",
        "/dev/fuse",
        stat.S_IFCHR,
        os.makedev(10, 229),
        0o640,
        0,
        0,
    )
    assert rootfs._parse_device("d", {"type": "p", "path": "/dev/f"})[2:5] == (stat.S_IFIFO, 0, 0o666)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (
            {"type": "c", "path": "/dev/../etc/x", "major": 1, "minor": 1},
            "linux.devices[0].path: must be under /dev",
        ),
        ({"type": "c", "major": 1, "minor": 1}, "linux.devices[0].path: missing"),
        (
            {"type": "c", "path": "/dev/x", "minor": 1},
            "linux.devices[0].major: must be a non-negative integer",
        ),
        (
            {"type": "c", "path": "/dev/x", "major": 1, "minor": 1, "uid": -1},
            "linux.devices[0].uid: must be a non-negative integer",
        ),
        (
            {"type": "q", "path": "/dev/x"},
            'linux.devices[0].type: "q" is not a valid device type for device /dev/x',
        ),
    ],
)
def test_parse_device_errors(device: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        rootfs._parse_device("linux.devices[0]", device)
    assert str(info.value) == message


def test_finalize_calls_in_runc_order(tmp_path: Path) -> None:
    """finalize on the real "/" with a recording Sys: which mounts, in which order, with which flags."""
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    masked_file = tmp_path / "secret"
    masked_file.write_text("x")
    masked_dir = tmp_path / "secrets"
    masked_dir.mkdir()
    spec = {
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [
            {"destination": str(tmp_path), "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid"]},
            {"destination": str(ro_dir), "type": "bind", "source": "/", "options": ["ro"]},
        ],
        "linux": {
            "rootfsPropagation": "rshared",
            "readonlyPaths": [str(ro_dir), str(tmp_path / "missing")],
            "maskedPaths": [str(masked_file), str(masked_dir), str(tmp_path / "missing" / "x")],
        },
    }
    sys = RecordingSys()
    rootfs.finalize(spec, sys)
    calls = [(c[1], c[3], c[4]) for c in sys.calls]  # source, fstype, flags
    assert sys.calls[0] == ("mount", "", "/", "", MS_SHARED | MS_REC, "")
    remount = MS_BIND | MS_REMOUNT | MS_RDONLY
    assert calls[1][0] == "" and calls[1][2] & (remount | MS_NOSUID) == remount | MS_NOSUID  # the ro tmpfs
    assert calls[2][0] == "" and calls[2][2] & remount == remount  # root.readonly
    assert calls[3][2] == MS_BIND | MS_REC  # readonly path: bind onto itself ...
    assert calls[4][2] & remount == remount  # ... then read-only
    assert calls[5] == ("/dev/null", "", MS_BIND)  # masked file
    assert calls[6] == ("tmpfs", "tmpfs", MS_RDONLY)  # masked directory
    assert len(calls) == 7  # missing paths skipped
