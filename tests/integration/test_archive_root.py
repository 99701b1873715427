"""archive as root: devices, owners, setuid, trusted/security xattrs, overlay whiteouts both ways."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.archive import apply_layer, write_diff, write_tree
from pinnace.mount import Mount, mount_all, unmount_all

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service=ep, v2


def entry(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    data: bytes = b"",
    xattrs: dict[str, bytes] | None = None,
    **attrs: object,
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, len(data), 1_600_000_000
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    info.pax_headers = {
        f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in (xattrs or {}).items()
    }
    return info, data


def layer(*entries: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    out.seek(0)
    return out


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def diff_bytes(upper: Path) -> bytes:
    out = io.BytesIO()
    write_diff(upper, out)
    return out.getvalue()


def test_devices_owners_and_special_modes(tmp_path: Path) -> None:
    apply_layer(
        layer(
            entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
            entry("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660, gid=6),
            entry("bin/su", data=b"elf", mode=0o4755, uid=0, gid=0),
            entry("bin/own", data=b"elf", mode=0o6750, uid=1234, gid=5678),
            entry("tmp/", tarfile.DIRTYPE, mode=0o1777, uid=1000, gid=1000),
            entry("lnk", tarfile.SYMTYPE, linkname="bin/su", uid=42, gid=43),
        ),
        tmp_path,
    )
    null, loop = os.lstat(tmp_path / "dev/null"), os.lstat(tmp_path / "dev/loop0")
    assert (
        stat.S_ISCHR(null.st_mode)
        and null.st_rdev == os.makedev(1, 3)
        and stat.S_IMODE(null.st_mode) == 0o666
    )
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 0) and loop.st_gid == 6
    own = os.lstat(tmp_path / "bin/own")
    assert (own.st_uid, own.st_gid, stat.S_IMODE(own.st_mode)) == (
        1234,
        5678,
        0o6750,
    )  # chown did not eat setuid
    assert stat.S_IMODE(os.lstat(tmp_path / "bin/su").st_mode) == 0o4755
    tmp = os.lstat(tmp_path / "tmp")
    assert (tmp.st_uid, stat.S_IMODE(tmp.st_mode)) == (1000, 0o1777)
    lnk = os.lstat(tmp_path / "lnk")
    assert (lnk.st_uid, lnk.st_gid) == (42, 43)
    assert os.lstat(tmp_path / "bin/su").st_uid == 0  # lchown did not follow the link


def test_xattrs_trusted_security_and_overlay_ones_refused(tmp_path: Path) -> None:
    apply_layer(
        layer(
            entry(
                "ping",
                data=b"elf",
                uid=1000,
                mode=0o755,
                xattrs={"security.capability": CAPABILITY, "trusted.k": b"v"},
            ),
            entry(
                "d/",
                tarfile.DIRTYPE,
                xattrs={"trusted.overlay.redirect": b"/etc", "trusted.overlay.opaque": b"y"},
            ),
            entry("s", tarfile.SYMTYPE, linkname="ping", xattrs={"trusted.sym": b"1"}),
        ),
        tmp_path,
    )
    assert os.getxattr(tmp_path / "ping", "security.capability") == CAPABILITY  # set after chown
    assert os.getxattr(tmp_path / "ping", "trusted.k") == b"v"
    assert os.listxattr(tmp_path / "d") == []  # overlay's own xattrs never come from a tar
    assert os.getxattr(tmp_path / "s", "trusted.sym", follow_symlinks=False) == b"1"


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    apply_layer(
        layer(
            entry("etc/.wh.gone", uid=7, gid=8),
            entry("d/", tarfile.DIRTYPE),
            entry("d/.wh..wh..opq"),
            entry("e/.wh..wh..opq"),  # before its directory: the parent is made
            entry(".wh..wh.plnk/", tarfile.DIRTYPE),  # aufs metadata: skipped
            entry(".wh..wh.plnk/123.456"),
            entry("kept", data=b"same layer"),
            entry(".wh.kept"),  # hides only lower layers, not this one's file
            entry(".wh.back"),
            entry("back", data=b"replaces the whiteout"),
        ),
        tmp_path,
    )
    gone = os.lstat(tmp_path / "etc/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0 and (gone.st_uid, gone.st_gid) == (7, 8)
    assert not (tmp_path / "etc/.wh.gone").exists()
    assert os.getxattr(tmp_path / "d", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(tmp_path / "e", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(tmp_path)) == ["back", "d", "e", "etc", "kept"]
    assert (tmp_path / "kept").read_bytes() == b"same layer"
    assert (tmp_path / "back").read_bytes() == b"replaces the whiteout"


def make_upper(upper: Path) -> None:
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR, 0)
    os.chown(upper / "etc" / "gone", 5, 6)
    os.link(upper / "etc" / "gone", upper / "etc" / "gone2")  # overlay shares one whiteout inode
    (upper / "opq" / "sub").mkdir(parents=True)
    os.chmod(upper / "opq", 0o750)
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    os.setxattr(upper / "opq", "trusted.overlay.origin", b"\x00\xfb")
    os.mknod(upper / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (upper / "f").write_bytes(b"data")
    os.chown(upper / "f", 1000, 1000)
    os.setxattr(upper / "f", "security.capability", CAPABILITY)


def test_write_diff_turns_overlay_whiteouts_into_tar_whiteouts(tmp_path: Path) -> None:
    make_upper(tmp_path)
    found = {(m.name, m.type): m for m in members(diff_bytes(tmp_path))}
    names = [name for name, _ in found]
    assert names == [
        "etc",
        "etc/.wh.gone",
        "etc/.wh.gone2",
        "f",
        "null",
        "opq",
        "opq/.wh..wh..opq",
        "opq/sub",
    ]
    wh = found["etc/.wh.gone", tarfile.REGTYPE]
    assert (wh.mode, wh.uid, wh.gid, wh.size) == (0o600, 5, 6, 0)
    marker = found["opq/.wh..wh..opq", tarfile.REGTYPE]
    assert (marker.mode, marker.mtime) == (0o750, 0)
    assert not any("overlay" in key for key in found["opq", tarfile.DIRTYPE].pax_headers)
    assert found["null", tarfile.CHRTYPE].devminor == 3  # a real device stays a device
    assert (
        found["f", tarfile.REGTYPE]
        .pax_headers["SCHILY.xattr.security.capability"]
        .encode("utf-8", "surrogateescape")
        == CAPABILITY
    )


def test_write_diff_apply_round_trip(tmp_path: Path) -> None:
    upper, again = tmp_path / "upper", tmp_path / "again"
    again.mkdir()
    make_upper(upper)
    first = diff_bytes(upper)
    apply_layer(io.BytesIO(first), again)
    assert diff_bytes(again) == first


def test_write_tree_round_trip_with_root_only_kinds(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    dest.mkdir()
    make_upper(src)
    os.mknod(src / "sda", stat.S_IFBLK | 0o660, os.makedev(8, 0))
    os.setxattr(src / "f", "trusted.t", b"\x00")
    first, second = io.BytesIO(), io.BytesIO()
    write_tree(src, first)
    apply_layer(io.BytesIO(first.getvalue()), dest)
    write_tree(dest, second)
    assert second.getvalue() == first.getvalue()
    assert stat.S_ISCHR(os.lstat(dest / "etc" / "gone").st_mode)  # write_tree converts nothing


@pytest.fixture
def overlay_tmp(tmp_path: Path) -> Iterator[Path]:
    try:
        yield tmp_path
    finally:
        unmount_all(tmp_path)


def test_applied_whiteouts_hide_lower_files_in_a_real_overlay(overlay_tmp: Path) -> None:
    lower, upper, work, merged = (overlay_tmp / n for n in ("lower", "upper", "work", "merged"))
    for path in (upper, work, merged):
        path.mkdir()
    (lower / "d").mkdir(parents=True)
    (lower / "d" / "old").write_text("old")
    (lower / "gone").write_text("gone")
    (lower / "stays").write_text("stays")
    apply_layer(
        layer(entry(".wh.gone"), entry("d/", tarfile.DIRTYPE), entry("d/.wh..wh..opq"), entry("d/new")), upper
    )
    mount_all(
        [Mount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"))], merged
    )
    assert sorted(os.listdir(merged)) == ["d", "stays"]
    assert os.listdir(merged / "d") == ["new"]
