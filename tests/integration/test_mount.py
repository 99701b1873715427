"""pinnace.mount: mount(2)/umount2(2) through ctypes, checked against /proc/self/mountinfo."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.errors import InvalidArgument, Unavailable
from pinnace.mount import Mount, mount_all, mounted, syncfs, unmount, unmount_all, writable_dir
from pinnace.mount.ops import compact_lowerdir, mount_points, parse_options

root = pytest.mark.root


def info(point: Path) -> tuple[set[str], str, set[str], list[str]]:
    """(mount options, fs type, super options, optional fields) of the topmost mount at ``point``."""
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ")
            fields = pre.split()
            if fields[4] == str(point):
                fstype, _source, sup = post.split()
                found = (set(fields[5].split(",")), fstype, set(sup.split(",")), fields[6:])
    assert found is not None, f"nothing mounted at {point}"
    return found


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, with everything mounted under it unmounted at the end."""
    try:
        yield tmp_path
    finally:
        unmount_all(tmp_path)


def mkdirs(base: Path, *names: str) -> list[Path]:
    paths = [base / n for n in names]
    for p in paths:
        p.mkdir(parents=True)
    return paths


@root
def test_bind_rw_and_ro(tmp: Path) -> None:
    src, rw, ro = mkdirs(tmp, "src", "rw", "ro")
    (src / "f").write_text("hello")
    mount_all([Mount("bind", str(src), ("rbind", "rw"))], rw)
    mount_all([Mount("bind", str(src), ("ro", "rbind", "nosuid", "nodev"))], ro)
    (rw / "new").write_text("through")
    assert (src / "new").read_text() == "through"
    assert (ro / "f").read_text() == "hello"
    with pytest.raises(OSError) as exc:
        (ro / "x").write_text("")
    assert exc.value.errno == errno.EROFS
    options, _, _, _ = info(ro)
    assert {"ro", "nosuid", "nodev"} <= options
    assert "rw" in info(rw)[0]


@root
def test_bind_type_implies_bind_flag(tmp: Path) -> None:
    src, dst = mkdirs(tmp, "src", "dst")
    (src / "f").touch()
    mount_all([Mount("bind", str(src), ("ro",))], dst)
    assert os.listdir(dst) == ["f"] and "ro" in info(dst)[0]


@root
def test_tmpfs_flags_and_data(tmp: Path) -> None:
    (target,) = mkdirs(tmp, "t")
    mount_all([Mount("tmpfs", "tmpfs", ("nosuid", "nodev", "noexec", "size=1m", "mode=750"))], target)
    options, fstype, sup, _ = info(target)
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= options
    assert "size=1024k" in sup and "mode=750" in sup
    assert os.stat(target).st_mode & 0o7777 == 0o750


@root
def test_proc(tmp: Path) -> None:
    (target,) = mkdirs(tmp, "proc")
    mount_all([Mount("proc", "proc", ("nosuid", "noexec", "nodev"))], target)
    assert (target / "self").is_symlink()
    assert info(target)[1] == "proc"


@root
def test_propagation_is_a_second_call(tmp: Path) -> None:
    src, dst = mkdirs(tmp, "src", "dst")
    mount_all([Mount("bind", str(src), ("rbind", "rprivate"))], dst)
    assert not any(f.startswith("shared:") for f in info(dst)[3])


@root
def test_later_mounts_land_under_target_and_come_off_deepest_first(tmp: Path) -> None:
    src, target = mkdirs(tmp, "src", "target")
    (src / "sub").mkdir()
    mount_all(
        [
            Mount("bind", str(src), ("rbind",)),
            Mount("tmpfs", "tmpfs", ("size=1m",), target="sub"),
            Mount("tmpfs", "tmpfs", ("size=1m",), target="/sub"),  # stacked on the same point
        ],
        target,
    )
    assert info(target / "sub")[1] == "tmpfs"
    (target / "sub" / "on-tmpfs").touch()
    assert not (src / "sub" / "on-tmpfs").exists()
    unmount_all(target)
    assert not [p for p in mount_points() if p.startswith(str(target))]
    assert os.listdir(src) == ["sub"]


@root
def test_failure_undoes_earlier_mounts(tmp: Path) -> None:
    src, target = mkdirs(tmp, "src", "target")
    with pytest.raises(
        InvalidArgument, match=rf"^mount tmpfs on {target}/missing: No such file or directory$"
    ):
        mount_all(
            [Mount("bind", str(src), ("rbind",)), Mount("tmpfs", "tmpfs", (), target="missing")], target
        )
    assert str(target) not in mount_points()


@root
def test_bad_overlay_is_invalid_argument(tmp: Path) -> None:
    (target,) = mkdirs(tmp, "target")
    with pytest.raises(InvalidArgument, match=rf"^mount overlay on {target}: "):
        mount_all([Mount("overlay", "overlay", (f"lowerdir={tmp}/nope1:{tmp}/nope2",))], target)


def make_layers(base: Path, count: int) -> list[Path]:
    """``count`` layers laid out as the snapshotter does (``base/<id>/fs``), under a long ``base``."""
    layers = [base / str(i) / "fs" for i in range(count)]
    for i, layer in enumerate(layers):
        layer.mkdir(parents=True)
        (layer / f"file-{i}").write_text(str(i))
        (layer / "shadowed").write_text(str(i))
    return layers


@root
@pytest.mark.parametrize("with_upper", [True, False])
def test_overlay_with_128_layers_compacts_lowerdir(tmp: Path, with_upper: bool) -> None:
    layers = make_layers(tmp / ("a-long-directory-name-" * 4) / "snapshots", 128)
    upper, work, target = mkdirs(tmp, "upper", "work", "target")
    lower = "lowerdir=" + ":".join(str(p) for p in reversed(layers))  # the last layer on top
    assert len(lower) > 3 * 4096
    options = ("index=off", f"workdir={work}", f"upperdir={upper}", lower) if with_upper else (lower,)
    cwd = os.getcwd()
    mount_all([Mount("overlay", "overlay", options)], target)
    assert os.getcwd() == cwd
    assert sorted(os.listdir(target)) == sorted([f"file-{i}" for i in range(128)] + ["shadowed"])
    assert (target / "shadowed").read_text() == "127"
    if with_upper:
        (target / "new").write_text("up")
        assert (upper / "new").read_text() == "up"


def test_compact_lowerdir_is_relative_to_the_common_parent() -> None:
    data = ["index=off", "lowerdir=/r/snapshots/12/fs:/r/snapshots/1/fs:/r/snapshots/120/fs", "upperdir=/u"]
    assert compact_lowerdir(data) == (
        "/r/snapshots",
        ["index=off", "upperdir=/u", "lowerdir=12/fs:1/fs:120/fs"],
    )
    assert compact_lowerdir(["lowerdir=/a/fs"]) == ("", ["lowerdir=/a/fs"])
    assert compact_lowerdir(["lowerdir=/a:/b"]) == ("", ["lowerdir=/a:/b"])
    assert compact_lowerdir(["upperdir=/u"]) == ("", ["upperdir=/u"])


def test_parse_options() -> None:
    flags, propagation, data = parse_options(
        ("ro", "rw", "nosuid", "rbind", "rprivate", "size=1m", "mode=755")
    )
    assert flags == 0x2 | 0x1000 | 0x4000  # rw cleared ro
    assert propagation == 0x40000 | 0x4000
    assert data == ["size=1m", "mode=755"]


@root
def test_unmount_of_non_mount_points_is_fine(tmp: Path) -> None:
    unmount(tmp)
    unmount(tmp / "missing")
    unmount_all(tmp / "missing")


@root
def test_unmount_busy_is_unavailable_and_detach_works(tmp: Path) -> None:
    (target,) = mkdirs(tmp, "t")
    mount_all([Mount("tmpfs", "tmpfs", ())], target)
    fd = os.open(target / "f", os.O_CREAT | os.O_WRONLY)
    try:
        with pytest.raises(Unavailable, match=rf"^unmount {target}: Device or resource busy$"):
            unmount(target)
        unmount(target, detach=True)
        assert str(target) not in mount_points()
    finally:
        os.close(fd)


@root
def test_unmount_all_handles_escaped_paths(tmp: Path) -> None:
    (target,) = mkdirs(tmp, "with space\tand tab")
    mount_all([Mount("tmpfs", "tmpfs", ())], target)
    assert str(target) in mount_points()
    unmount_all(tmp)
    assert str(target) not in mount_points()


@root
def test_mounted_cleans_up(tmp: Path) -> None:
    src, scratch = mkdirs(tmp, "src", "scratch")
    (src / "f").write_text("x")
    with mounted([Mount("bind", str(src), ("rbind", "ro"))], scratch) as where:
        assert where.parent == scratch and (where / "f").read_text() == "x"
    assert os.listdir(scratch) == [] and str(where) not in mount_points()
    with pytest.raises(RuntimeError), mounted([Mount("tmpfs", "tmpfs", ())], scratch):
        raise RuntimeError
    assert os.listdir(scratch) == []
    with pytest.raises(InvalidArgument), mounted([Mount("tmpfs", "tmpfs", ("size=nonsense",))], scratch):
        pass
    assert os.listdir(scratch) == []


def test_writable_dir() -> None:
    assert writable_dir([Mount("bind", "/s/1/fs", ("rw", "rbind"))]) == Path("/s/1/fs")
    overlay = Mount(
        "overlay", "overlay", ("index=off", "workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs")
    )
    assert writable_dir([overlay]) == Path("/s/2/fs")
    for readonly in (
        [Mount("bind", "/s/1/fs", ("ro", "rbind"))],
        [Mount("overlay", "overlay", ("lowerdir=/s/2/fs:/s/1/fs",))],
        [Mount("overlay", "overlay", ("ro", "upperdir=/u", "workdir=/w", "lowerdir=/l"))],
        [],
    ):
        with pytest.raises(InvalidArgument):
            writable_dir(readonly)


def test_syncfs(tmp_path: Path) -> None:
    syncfs(tmp_path)
    with pytest.raises(InvalidArgument, match="^syncfs .*: No such file or directory$"):
        syncfs(tmp_path / "missing")
