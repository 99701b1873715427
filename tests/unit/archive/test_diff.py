"""write_tree / the header encoder: readable by tarfile and GNU tar, deterministic, round-trips."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pinnace.archive import apply_layer, write_tree
from pinnace.archive.header import DIRECTORY, REGULAR, SYMLINK, encode
from pinnace.errors import NotFound


def build_tree(root: Path) -> None:
    """A tree of every kind a non-root user can make, with awkward names."""
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(os.urandom(5000))
    os.chmod(root / "usr" / "bin" / "tool", 0o2755)
    (root / "big").write_bytes(os.urandom(1 << 20) + bytes(3 << 20))
    (root / "empty").touch()
    long_dir = root / ("d" * 120)
    long_dir.mkdir()
    (long_dir / ("f" * 200)).write_text("long")
    (root / "caf\u00e9").write_text("utf-8 name")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("l" * 150, root / "long-link")
    os.link(root / "usr" / "bin" / "tool", root / "hardlink")
    os.mkfifo(root / "fifo", 0o640)
    os.chmod(root / "usr", 0o1777)
    try:
        os.setxattr(root / "empty", "user.note", b"\x00\xffbin")
    except OSError:
        pass
    for path in [*root.rglob("*"), root]:
        os.utime(path, ns=(1_700_000_000_500_000_000, 1_700_000_000_500_000_000), follow_symlinks=False)


def members_of(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def tar_of(root: Path) -> bytes:
    out = io.BytesIO()
    result = write_tree(root, out)
    data = out.getvalue()
    assert result.diff_id == "sha256:" + hashlib.sha256(data).hexdigest() and result.size == len(data)
    return data


def test_round_trip_gives_the_same_bytes(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    build_tree(src)
    first = tar_of(src)
    applied = apply_layer(io.BytesIO(first), dest)
    assert applied.diff_id == "sha256:" + hashlib.sha256(first).hexdigest()
    assert tar_of(dest) == first


def test_output_is_what_tarfile_reads(tmp_path: Path) -> None:
    build_tree(tmp_path)
    members = {m.name: m for m in members_of(tar_of(tmp_path))}
    assert list(members) == sorted(members, key=lambda n: n.split("/"))  # depth-first, sorted
    assert "." not in members and "" not in members  # the root itself is not an entry
    assert members["usr"].isdir() and members["usr"].mode == 0o1777
    assert members["hardlink"].mode == 0o2755 and members["hardlink"].size == 5000  # first name in order
    assert members["usr/bin/tool"].islnk() and members["usr/bin/tool"].linkname == "hardlink"
    assert members["abs-link"].issym() and members["abs-link"].linkname == "/etc/passwd"
    assert members["long-link"].linkname == "l" * 150
    assert members["d" * 120 + "/" + "f" * 200].isreg()
    assert members["caf\u00e9"].isreg()
    assert members["fifo"].isfifo() and members["fifo"].mode == 0o640
    assert members["big"].mtime == 1_700_000_000  # whole seconds, as docker
    assert members["big"].uname == "" and members["big"].gname == ""


def test_hardlinks_become_link_entries(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    members = members_of(tar_of(tmp_path))
    assert [(m.name, m.type, m.linkname) for m in members] == [
        ("a", tarfile.REGTYPE, ""),
        ("b", tarfile.LNKTYPE, "a"),
    ]


def test_directories_carry_a_trailing_slash_and_sockets_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        data = tar_of(tmp_path)
    finally:
        sock.close()
    assert data[:2] == b"d/"
    assert [m.name for m in members_of(data)] == ["d"]


def test_deterministic(tmp_path: Path) -> None:
    build_tree(tmp_path)
    assert tar_of(tmp_path) == tar_of(tmp_path)


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
def test_gnu_tar_extracts_the_same_tree(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    build_tree(src)
    data = tar_of(src)
    subprocess.run(
        ["tar", "-x", "-p", "--xattrs", "--xattrs-include=*", "-C", str(dest)], input=data, check=True
    )
    os.utime(dest, ns=(1_700_000_000_000_000_000,) * 2)
    for path in src.rglob("*"):
        a, b = os.lstat(path), os.lstat(dest / path.relative_to(src))
        assert (stat.S_IFMT(a.st_mode), stat.S_IMODE(a.st_mode)) == (
            stat.S_IFMT(b.st_mode),
            stat.S_IMODE(b.st_mode),
        )
        if path.is_file() and not path.is_symlink():
            assert path.read_bytes() == (dest / path.relative_to(src)).read_bytes()


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        write_tree(tmp_path / "nope", io.BytesIO())


# -- the encoder ---------------------------------------------------------------


def parse(block: bytes) -> tarfile.TarInfo:
    return members_of(block + bytes(1024))[0]


def test_plain_ustar_header_is_one_block_with_a_valid_checksum() -> None:
    block = encode(b"etc/hosts", REGULAR, mode=0o644, uid=0, gid=0, mtime=1)
    assert len(block) == 512 and block[257:265] == b"ustar\x0000"
    info = parse(block)
    assert (info.name, info.mode, info.mtime, info.size) == ("etc/hosts", 0o644, 1, 0)


def test_values_ustar_cannot_hold_go_to_pax_records() -> None:
    name = ("\u00e9" * 80).encode() + b"/" + b"x" * 120
    block = encode(
        name + b"/",
        DIRECTORY,
        mode=0o755,
        uid=1 << 31,
        gid=3_000_000,
        mtime=1 << 36,
        xattrs={"user.a": b"\xff\x00", "security.capability": b"\x01\x02"},
    )
    info = parse(block)
    assert info.name == name.decode() and info.isdir()
    assert (info.uid, info.gid, info.mtime) == (1 << 31, 3_000_000, 1 << 36)
    assert info.pax_headers["SCHILY.xattr.user.a"].encode("utf-8", "surrogateescape") == b"\xff\x00"
    keys = [key for key in info.pax_headers if key.startswith(("SCHILY", "gid", "mtime", "path", "uid"))]
    assert keys == sorted(keys)  # records sorted by key, as Go writes them


def test_record_length_counts_its_own_digits() -> None:
    # a body of 98 bytes gets "100 " (3 digits, not 2): the classic off-by-one
    for size in range(90, 110):
        block = encode(b"f", SYMLINK, mode=0o777, uid=0, gid=0, mtime=0, linkname=b"l" * size)
        assert parse(block).linkname == "l" * size
