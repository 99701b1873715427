"""Crafted tarballs that try to write outside the unpack root: each is refused.

Every test unpacks into ``tmp_path/dest`` next to a sentinel directory and
checks that the error names the entry and that nothing changed outside dest.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from tests.unit.archive.archive_tarbuild import entry as ent
from tests.unit.archive.archive_tarbuild import make_tar as tar

from pinnace.archive import apply_layer
from pinnace.errors import InvalidArgument, UnsafeArchive

SYM, LNK, DIR = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Everything under ``root`` (not in dest): names, modes, links and mtimes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames.remove("dest")
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[path] = (st.st_mode, st.st_nlink, st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    dest, sentinel = tmp_path / "dest", tmp_path / "sentinel"
    dest.mkdir()
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "secret").write_text("secret")
    os.utime(sentinel / "sub", ns=(1, 1))
    return dest, sentinel


def refused(
    layout: tuple[Path, Path], data: bytes, entry: str, kind: type[Exception] = UnsafeArchive
) -> Path:
    dest, sentinel = layout
    before = snapshot(dest.parent)
    with pytest.raises(kind, match=f'entry "{entry}"'):
        apply_layer(io.BytesIO(data), dest)
    assert snapshot(dest.parent) == before
    return dest


def test_dotdot_escape(layout) -> None:
    refused(layout, tar(ent("../escape", data=b"x")), "../escape")


def test_dotdot_after_component_escape(layout) -> None:
    refused(layout, tar(ent("a/../../escape", data=b"x")), "a/../../escape")


def test_dotdot_that_stays_inside_is_cleaned(layout) -> None:
    dest, _ = layout
    apply_layer(io.BytesIO(tar(ent("a/../b", data=b"x"))), dest)
    assert (dest / "b").read_bytes() == b"x"


def test_absolute_name_lands_inside(layout) -> None:
    dest, _ = layout
    before = snapshot(dest.parent)
    apply_layer(io.BytesIO(tar(ent("/abs", data=b"x"), ent("//etc/x", data=b"y"))), dest)
    assert (dest / "abs").read_bytes() == b"x"
    assert (dest / "etc" / "x").read_bytes() == b"y"
    assert snapshot(dest.parent) == before


def test_symlink_parent_pointing_outside(layout) -> None:
    _, sentinel = layout
    data = tar(ent("link", SYM, linkname=str(sentinel)), ent("link/file", data=b"x"))
    refused(layout, data, "link/file")


def test_symlink_parent_pointing_inside_then_escaping(layout) -> None:
    data = tar(
        ent("sub/", DIR),
        ent("sub/inner/", DIR),
        ent("up", SYM, linkname="sub/inner/../../.."),
        ent("up/x", data=b"x"),
    )
    refused(layout, data, "up/x")


def test_symlink_parent_pointing_inside_is_refused_too(layout) -> None:
    refused(layout, tar(ent("sub/", DIR), ent("l", SYM, linkname="sub"), ent("l/x", data=b"x")), "l/x")


def test_symlink_chain_escape(layout) -> None:
    data = tar(ent("a", SYM, linkname="b"), ent("b", SYM, linkname="../.."), ent("a/x", data=b"x"))
    refused(layout, data, "a/x")


def test_directory_replaced_by_symlink_then_written_through(layout) -> None:
    _, sentinel = layout
    data = tar(
        ent("d/", DIR),
        ent("d/x", data=b"1"),
        ent("d", SYM, linkname=str(sentinel)),
        ent("d/secret", data=b"x"),
    )
    refused(layout, data, "d/secret")


def test_replaced_directory_times_are_not_set_through_a_symlink(layout) -> None:
    dest, sentinel = layout
    before = snapshot(dest.parent)
    data = tar(ent("d/", DIR), ent("d/sub/", DIR, mtime=5), ent("d", SYM, linkname=str(sentinel)))
    apply_layer(io.BytesIO(data), dest)
    assert os.readlink(dest / "d") == str(sentinel)
    assert snapshot(dest.parent) == before  # sentinel/sub keeps its mtime


def test_hardlink_to_absolute_host_file(layout) -> None:
    links = os.stat("/etc/passwd").st_nlink
    dest = refused(layout, tar(ent("h", LNK, linkname="/etc/passwd")), "h")
    assert os.stat("/etc/passwd").st_nlink == links
    assert not (dest / "etc").exists()


def test_hardlink_outside_root(layout) -> None:
    refused(layout, tar(ent("h", LNK, linkname="../sentinel/secret")), "h")


def test_hardlink_through_symlinked_parent(layout) -> None:
    _, sentinel = layout
    refused(layout, tar(ent("l", SYM, linkname=str(sentinel)), ent("h", LNK, linkname="l/secret")), "h")


def test_hardlink_to_name_not_yet_extracted(layout) -> None:
    refused(layout, tar(ent("h", LNK, linkname="later"), ent("later", data=b"x")), "h")


def test_hardlink_to_directory(layout) -> None:
    refused(layout, tar(ent("d/", DIR), ent("h", LNK, linkname="d")), "h", InvalidArgument)


def test_file_as_parent_is_invalid(layout) -> None:
    refused(layout, tar(ent("f", data=b"x"), ent("f/x", data=b"y")), "f/x", InvalidArgument)


@pytest.mark.parametrize("name", [".wh..", ".wh...", "d/.wh."])
def test_whiteout_of_dot_names(layout, name: str) -> None:
    refused(layout, tar(ent(name)), name, InvalidArgument)


def test_symlinks_themselves_may_point_anywhere(layout) -> None:
    dest, _ = layout
    apply_layer(
        io.BytesIO(tar(ent("etc/passwd", SYM, linkname="/etc/shadow"), ent("up", SYM, linkname="../.."))),
        dest,
    )
    assert os.readlink(dest / "etc" / "passwd") == "/etc/shadow"
    assert os.readlink(dest / "up") == "../.."


def test_file_replacing_symlink_does_not_follow_it(layout) -> None:
    dest, sentinel = layout
    before = snapshot(dest.parent)
    apply_layer(
        io.BytesIO(tar(ent("s", SYM, linkname=str(sentinel / "secret")), ent("s", data=b"mine"))), dest
    )
    assert (dest / "s").read_bytes() == b"mine" and not (dest / "s").is_symlink()
    assert snapshot(dest.parent) == before
