"""docker cp's path rules (pkg/archive copy.go, cli splitCpArg) and the tar filter on the way in."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pinnace.cli.container_files import split_cp_arg
from pinnace.containers import copy
from pinnace.containers.copy import CopyInfo, LocalError
from pinnace.errors import InvalidArgument


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("c1:/etc/hosts", ("c1", "/etc/hosts")),
        ("c1:etc", ("c1", "etc")),
        ("c1:", ("c1", "")),
        ("/abs/file:name", ("", "/abs/file:name")),
        ("./file:name", ("", "./file:name")),
        ("plain", ("", "plain")),
        ("-", ("", "-")),
    ],
)
def test_split_cp_arg(arg: str, expected: tuple[str, str]) -> None:
    assert split_cp_arg(arg) == expected


@pytest.mark.parametrize(
    ("cleaned", "original", "expected"),
    [
        ("/a/b", "/a/b/", "/a/b/"),
        ("/a/b", "/a/b/.", "/a/b/."),
        ("/a/b", "/a/b", "/a/b"),
        ("/", "/", "/"),
        ("/", "/.", "/."),
        ("/a", "a/./", "/a/./"),  # Go's Base("a/./") is "."
    ],
)
def test_preserve_trailing(cleaned: str, original: str, expected: str) -> None:
    assert copy.preserve_trailing(cleaned, original) == expected


@pytest.mark.parametrize(
    ("path", "parts", "entry"),
    [
        ("/etc/hosts", ("/etc", "hosts"), "hosts"),
        ("/etc/", ("/", "etc"), "etc"),
        ("/etc/.", ("/etc", "."), "."),
        ("/", ("/", "/"), "."),
        ("/.", ("/", "."), "."),
        ("//x//y/", ("/x", "y"), "y"),
        ("rel", (".", "rel"), "rel"),
    ],
)
def test_split_dir_entry_and_entry_name(path: str, parts: tuple[str, str], entry: str) -> None:
    assert copy.split_dir_entry(path) == parts
    assert copy.entry_name(path) == entry


def test_asserts_directory() -> None:
    assert copy.asserts_directory("/x/") and copy.asserts_directory("/x/.")
    assert not copy.asserts_directory("/x") and not copy.asserts_directory("/x.d")


FILE = CopyInfo("/src/file", True, False)
DIR = CopyInfo("/src/dir", True, True)


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        (FILE, CopyInfo("/dst", True, True), ("/dst", None)),  # into an existing directory
        (DIR, CopyInfo("/dst", True, True), ("/dst", None)),
        (FILE, CopyInfo("/dst/old", True, False), ("/dst", "old")),  # overwrite a file
        (FILE, CopyInfo("/dst/new"), ("/dst", "new")),  # a new file
        (DIR, CopyInfo("/dst/new"), ("/dst", "new")),  # a new directory
        (DIR, CopyInfo("/dst/new/"), ("/dst", "new")),
        (CopyInfo("/src/dir/.", True, True), CopyInfo("/dst/new"), ("/dst", "new")),
    ],
)
def test_prepare_copy(src: CopyInfo, dst: CopyInfo, expected: tuple[str, str | None]) -> None:
    assert copy.prepare_copy(src, dst) == expected


def test_prepare_copy_errors() -> None:
    with pytest.raises(LocalError, match="^cannot copy directory$"):
        copy.prepare_copy(DIR, CopyInfo("/dst/file", True, False))
    with pytest.raises(LocalError, match="^no such directory$"):
        copy.prepare_copy(FILE, CopyInfo("/dst/missing/"))


def test_source_info_and_rebase_through_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "link").symlink_to("real")
    plain = copy.source_info(str(tmp_path / "link"), follow_link=False)
    assert (plain.path, plain.is_dir, plain.rebase_name) == (str(tmp_path / "link"), False, "")
    followed = copy.source_info(str(tmp_path / "link"), follow_link=True)
    assert (followed.path, followed.is_dir, followed.rebase_name) == (str(tmp_path / "real"), True, "link")
    slash = copy.source_info(str(tmp_path / "link") + "/", follow_link=False)
    assert (slash.path, slash.is_dir, slash.rebase_name) == (str(tmp_path / "real") + "/", True, "link")
    with pytest.raises(LocalError, match="^lstat .*/nope: no such file or directory$"):
        copy.source_info(str(tmp_path / "nope"), follow_link=False)


def test_destination_info(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "to-d").symlink_to("d")
    assert copy.destination_info(str(tmp_path / "to-d")) == CopyInfo(str(tmp_path / "d"), True, True)
    assert copy.destination_info(str(tmp_path / "new")) == CopyInfo(str(tmp_path / "new"))
    with pytest.raises(LocalError, match="no such file or directory"):
        copy.destination_info(str(tmp_path / "missing" / "new"))


def test_validate_output_path(tmp_path: Path) -> None:
    copy.validate_output_path(str(tmp_path / "new.tar"))
    with pytest.raises(LocalError, match='^invalid output path: directory ".*/missing" does not exist$'):
        copy.validate_output_path(str(tmp_path / "missing" / "x.tar"))
    with pytest.raises(LocalError, match="got a device"):
        copy.validate_output_path("/dev/null")


# -- the filter -----------------------------------------------------------------------------


def tar_of(*entries: tuple[str, bytes | None], uid: int = 1234) -> io.BytesIO:
    """Entries (name, data): data None makes a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = uid
            info.mtime = 1_600_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def filtered(source: io.BytesIO, dest: Path | None = None, **kw: object) -> list[tarfile.TarInfo]:
    from pinnace.archive.beneath import Beneath

    beneath = Beneath(dest) if dest is not None else None
    options = {"owner": None, "rename": None, **kw}
    data = copy._Filter(source, beneath, str(dest or "/dst"), **options).read()  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def test_filter_renames_the_top_entry_and_its_hardlinks() -> None:
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in (("dir", tarfile.DIRTYPE), ("dir/f", tarfile.REGTYPE), ("dir/h", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.LNKTYPE:
                info.linkname = "dir/f"
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    source.seek(0)
    members = filtered(source, rename=("dir", "new"))
    assert [m.name for m in members] == ["new", "new/f", "new/h"]
    assert members[2].linkname == "new/f"


def test_filter_renames_a_dot_archive() -> None:
    members = filtered(tar_of((".", None), ("./a", b"1")), rename=(".", "copy"))
    assert [m.name for m in members] == ["copy", "copy/a"]


def test_filter_drops_the_extraction_directory_and_sets_owners() -> None:
    members = filtered(tar_of(("./", None), ("./a", b"data")), owner=(0, 0))
    assert [(m.name, m.uid, m.gid, stat.S_IMODE(m.mode)) for m in members] == [("./a", 0, 0, 0o640)]
    kept = filtered(tar_of(("a", b"data")))
    assert (kept[0].uid, kept[0].gid) == (1234, 1234)


def test_filter_refuses_whiteout_names() -> None:
    with pytest.raises(InvalidArgument, match=r'cannot copy "x/\.wh\.y"'):
        filtered(tar_of(("x/.wh.y", b"")))


def test_filter_refuses_to_swap_directories_and_files(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        InvalidArgument, match=f'cannot overwrite directory "{tmp_path}/dir" with non-directory'
    ):
        filtered(tar_of(("dir", b"now a file")), tmp_path)
    with pytest.raises(
        InvalidArgument, match=f'cannot overwrite non-directory "{tmp_path}/file" with directory'
    ):
        filtered(tar_of(("file", None)), tmp_path)
    assert [m.name for m in filtered(tar_of(("dir", None), ("file", b"y")), tmp_path)] == ["dir", "file"]


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar for a sparse archive")
def test_filter_expands_sparse_files(tmp_path: Path) -> None:
    with open(tmp_path / "sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"end")
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-cf", str(archive), "-C", str(tmp_path), "sparse"], check=True)
    with tarfile.open(archive) as tar:
        assert tar.getmembers()[0].sparse  # type: ignore[attr-defined]
    dest = tmp_path / "out"
    dest.mkdir()
    with open(archive, "rb") as source:
        copy.untar(source, str(dest), shown="/out", owner=None)
    data = (dest / "sparse").read_bytes()
    assert len(data) == (1 << 20) + 3 and data.endswith(b"end") and not data[: 1 << 20].strip(b"\0")


def test_untar_into_a_directory(tmp_path: Path) -> None:
    size = copy.untar(
        tar_of(("./", None), ("./sub", None), ("./sub/f", b"hello")),
        str(tmp_path),
        shown="/dst",
        owner=(os.getuid(), os.getgid()),
    )
    assert size > 0
    assert (tmp_path / "sub" / "f").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o750
    assert (tmp_path / "sub" / "f").stat().st_uid == os.getuid()


def test_a_node_swapped_for_a_symlink_keeps_the_target_mode(tmp_path: Path) -> None:
    """The unpacker sets a node's mode without following it: a container that swaps it for a link loses."""
    from pinnace.archive.apply import _metadata_at

    target = tmp_path / "host-file"
    target.write_text("x")
    target.chmod(0o600)
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "node").symlink_to(target)  # what the container put where the fifo was just made
    info = tarfile.TarInfo("node")
    info.type, info.mode, info.uid, info.gid = tarfile.FIFOTYPE, 0o777, os.getuid(), os.getgid()
    fd = os.open(inside, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            _metadata_at(info, fd, "node", symlink=False)
    finally:
        os.close(fd)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
