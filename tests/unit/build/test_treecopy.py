"""COPY's tree copy: contents, modes and times arrive as in the context, directories keep their
mtimes although their files are written by other threads, and a failure leaks no descriptor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinnace.build import treecopy
from pinnace.errors import InvalidArgument


def _context(where: Path, dirs: int, files: int) -> Path:
    src = where / "src"
    for d in range(dirs):
        sub = src / f"d{d:03d}" / "inner"
        sub.mkdir(parents=True)
        for f in range(files):
            (sub / f"f{f}.txt").write_text(f"{d}/{f}\n" * (f + 1))
        os.symlink("inner/f0.txt", src / f"d{d:03d}" / "link")
        os.chmod(sub / "f0.txt", 0o751)
        os.utime(sub / "f0.txt", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    for path in sorted(src.rglob("*"), key=lambda p: -len(p.parts)):  # deepest first: a child's
        if path.is_dir():  # times are set before its parent's, as the copy must keep them
            os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000 + len(path.parts)))
    return src


def _listing(root: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body = os.readlink(path) if path.is_symlink() else path.read_text() if path.is_file() else ""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, body)
    return out


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("max_open", [treecopy._Writers.MAX_OPEN, 2])
def test_the_copy_matches_the_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_open: int) -> None:
    monkeypatch.setattr(treecopy._Writers, "MAX_OPEN", max_open)  # 2: the walk drains the writers often
    src = _context(tmp_path, dirs=12, files=20)
    root = tmp_path / "root"
    root.mkdir()
    fds = _open_fds()
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        treecopy.copy_tree(str(src), treecopy.Target(root_fd, (0, 0), None), "/app")
    finally:
        os.close(root_fd)
    assert _open_fds() == fds
    assert _listing(root / "app") == _listing(src)


def test_a_failing_file_fails_the_copy_and_leaks_nothing(tmp_path: Path) -> None:
    src = _context(tmp_path, dirs=3, files=5)
    root = tmp_path / "root"
    (root / "app" / "d001" / "inner" / "f3.txt").mkdir(parents=True)  # a directory where a file goes
    fds = _open_fds()
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(InvalidArgument, match="cannot overwrite directory /app/d001/inner/f3.txt"):
            treecopy.copy_tree(str(src), treecopy.Target(root_fd, (0, 0), None), "/app")
    finally:
        os.close(root_fd)
    assert _open_fds() == fds
