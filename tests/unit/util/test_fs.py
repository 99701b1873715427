"""pinnace._util.fs.remove_tree: shutil.rmtree's job without shutil, never following a symlink."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

from pinnace._util.fs import remove_tree

NOBODY = 65534


def make_tree(root: Path) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "f").write_bytes(b"x")
    (root / "a" / "b" / "c" / "g").write_bytes(b"y" * 4096)
    os.link(root / "a" / "f", root / "a" / "b" / "hard")
    os.mkfifo(root / "a" / "fifo")
    os.symlink("b", root / "a" / "dirlink")
    os.symlink("/nonexistent", root / "dangling")


def test_removes_a_tree_of_every_kind_of_entry(tmp_path: Path) -> None:
    make_tree(tmp_path / "t")
    remove_tree(tmp_path / "t")
    assert os.listdir(tmp_path) == []


def test_accepts_str_and_a_missing_path(tmp_path: Path) -> None:
    make_tree(tmp_path / "t")
    remove_tree(str(tmp_path / "t"))
    remove_tree(tmp_path / "t")  # gone already: fine
    assert not (tmp_path / "t").exists()


def test_symlinks_are_removed_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"precious")
    tree = tmp_path / "t"
    (tree / "d").mkdir(parents=True)
    os.symlink(outside, tree / "d" / "escape")  # a directory link: rmtree must not descend into it
    os.symlink(outside / "keep", tree / "filelink")
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_bytes() == b"precious"


def test_a_symlink_or_a_file_as_the_top_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "d", tmp_path / "link")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError):
        remove_tree(tmp_path / "link")
    with pytest.raises(NotADirectoryError):
        remove_tree(tmp_path / "file")
    assert (tmp_path / "d").is_dir() and (tmp_path / "file").exists()


def test_nesting_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    depth = sys.getrecursionlimit() + 100
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):  # relative to an fd: the path would exceed PATH_MAX
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    remove_tree(tmp_path / "d")
    assert os.listdir(tmp_path) == []


def test_read_only_directories_are_made_writable_without_root() -> None:
    """A layer's read-only directories (0o555, even 0o000) go too when not root, as with rmtree's retry."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="pinnace-fs-"))  # pytest's tmp_path is root's alone (0o700)
    try:
        base.chmod(0o555)  # the user's own, read-only: removing ``t`` from it needs the retry too
        os.chown(base, NOBODY, NOBODY)
        top = base / "t"
        pid = os.fork()
        if pid == 0:  # the child: an unprivileged user building and removing a tree
            code = 1
            try:
                os.setgroups([])
                os.setresgid(NOBODY, NOBODY, NOBODY)
                os.setresuid(NOBODY, NOBODY, NOBODY)
                base.chmod(0o755)
                top.mkdir()
                base.chmod(0o555)
                make_tree(top)
                (top / "a" / "b").chmod(0o555)
                (top / "a" / "b" / "c").chmod(0o000)
                (top / "locked").mkdir()
                (top / "locked" / "x").write_bytes(b"")
                (top / "locked").chmod(0o444)  # listable, but no lookup in it
                remove_tree(top)
                code = 0 if not os.path.lexists(top) else 2
            except BaseException:
                os.write(2, traceback.format_exc().encode())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not top.exists()
    finally:
        remove_tree(base)


def test_read_only_files_are_removed(tmp_path: Path) -> None:
    """The directory's permission decides, not the file's: a 0o400 file goes."""
    top = tmp_path / "t"
    top.mkdir()
    (top / "f").write_bytes(b"")
    (top / "f").chmod(stat.S_IRUSR)
    remove_tree(top)
    assert not top.exists()
