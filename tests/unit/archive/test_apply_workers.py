"""apply_layer with worker threads creating files: the same tree, the same errors, as in order.

Workers start only where creating files is slow; here every create counts as
slow (``SLOW_CREATE_NS = 0``), so they start after a few files.  Each
scenario is applied twice, on the reading thread alone (``WORKERS = 0``) and
with workers, behind a prefix of filler files that gets the workers going,
and the outcomes (the whole tree, or the error) must be equal.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import threading
import time
from pathlib import Path

import pytest
from tests.unit.archive.archive_tarbuild import Entry, entry, make_tar

import pinnace.archive.apply as apply_module
from pinnace.archive import apply_layer
from pinnace.errors import FailedPrecondition, InvalidArgument, UnsafeArchive

DIR, SYM, LNK, FIFO = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE
ROOT = os.geteuid() == 0
FILLER = [entry("fill/", DIR, mtime=7)] + [entry(f"fill/{i}", data=b"%d" % i) for i in range(12)]


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pinnace-writer")]


class Trickle(io.RawIOBase):
    """A stream handing out a few KiB per read, so a tee sees the apply in progress."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = 4096 if n < 0 else min(n, 4096)
        chunk, self._data = bytes(self._data[:n]), self._data[n:]
        return chunk


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything observable under ``root``: kinds, modes, owners, sizes, contents, links, times."""
    recent = time.time_ns() - 3600 * 10**9  # directories no entry names keep the time they were made
    found: dict[str, tuple[object, ...]] = {}
    names: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames] if Path(dirpath) == root else [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                body: object = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            else:
                body = st.st_rdev
            is_dir = stat.S_ISDIR(st.st_mode)
            mtime = "recent" if is_dir and st.st_mtime_ns > recent else st.st_mtime_ns
            rel = os.path.relpath(path, root)
            names.setdefault(st.st_ino, []).append(rel)
            found[rel] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                None if is_dir else st.st_size,
                mtime,
                body,
                st.st_ino,
            )
    return {rel: (*info[:-1], min(names[info[-1]])) for rel, info in found.items()}  # type: ignore[index]


def outcome(data: bytes, dest: Path, seen: list[int]) -> object:
    """The tree made, or the error raised (its kind and message); writer threads alive per read in ``seen``."""
    try:
        apply_layer(Trickle(data), dest, tee=lambda _: seen.append(len(writer_threads())))  # type: ignore[arg-type]
    except (InvalidArgument, UnsafeArchive, FailedPrecondition) as exc:
        return type(exc), str(exc)
    return tree(dest)


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Apply a tar in order and with workers; return both outcomes (and check nothing leaked)."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret").write_text("secret")

    def run(*entries: Entry) -> tuple[object, object]:
        data = make_tar(*FILLER, *entries)
        results = []
        for name, workers, slow in (("ordered", 0, 10**12), ("workers", None, 0)):
            dest = tmp_path / name
            dest.mkdir()
            monkeypatch.setattr(apply_module, "WORKERS", workers)
            monkeypatch.setattr(apply_module, "SLOW_CREATE_NS", slow)
            seen: list[int] = []
            results.append(outcome(data, dest, seen))
            assert writer_threads() == []
            assert (max(seen) > 0) == (workers is None)
        assert os.listdir(sentinel) == ["secret"] and (sentinel / "secret").read_text() == "secret"
        assert sorted(os.listdir(tmp_path)) == ["ordered", "sentinel", "workers"]
        return results[0], results[1]

    run.sentinel = sentinel  # type: ignore[attr-defined]
    return run


def same(both, *entries: Entry) -> object:
    ordered, workers = both(*entries)
    assert workers == ordered
    return workers


def test_workers_start_and_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_module, "SLOW_CREATE_NS", 0)
    seen: list[int] = []
    files = [entry(f"d{i % 7}/f{i}", data=os.urandom(i * 10)) for i in range(300)]
    data = make_tar(*FILLER, *files)
    apply_layer(Trickle(data), tmp_path, tee=lambda _: seen.append(len(writer_threads())))  # type: ignore[arg-type]
    assert max(seen) >= 2
    assert writer_threads() == []
    for i in range(300):
        assert os.path.getsize(tmp_path / f"d{i % 7}" / f"f{i}") == i * 10


def test_no_workers_when_dest_is_not_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers cannot remove a directory in their way; only in an empty dest are all known."""
    monkeypatch.setattr(apply_module, "SLOW_CREATE_NS", 0)
    (tmp_path / "f0").mkdir()
    (tmp_path / "f0" / "inside").write_text("x")
    seen: list[int] = []
    data = make_tar(*FILLER, *[entry(f"f{i}", data=b"x") for i in range(50)])
    apply_layer(Trickle(data), tmp_path, tee=lambda _: seen.append(len(writer_threads())))  # type: ignore[arg-type]
    assert max(seen) == 0
    assert (tmp_path / "f0").read_bytes() == b"x"


def test_many_kinds_and_directories(both) -> None:
    entries = [entry("top/", DIR, mode=0o750, mtime=11)]
    for d in range(140):  # more directories than the fd cache holds
        entries.append(entry(f"top/d{d}/", DIR, mode=0o700 + d % 0o70, mtime=1000 + d))
        entries.append(entry(f"top/d{d}/f", data=os.urandom(d * 37), mode=0o600 + d % 0o100, mtime=d))
        entries.append(entry(f"top/d{d}/l", SYM, linkname=f"f{d}", mtime=d + 1))
    entries += [
        entry("empty", data=b""),
        entry("big", data=os.urandom((4 << 20) + 100)),  # beyond what workers take: written in order
        entry("pipe", FIFO, mode=0o640),
        entry("top/d3/h", LNK, linkname="top/d3/f"),
        entry("top/d4/hl", LNK, linkname="top/d4/l"),
        entry("x/y/z", data=b"parents made on the way"),
        entry("x/", DIR, mode=0o711, mtime=5),  # after its contents
    ]
    result = same(both, *entries)
    assert isinstance(result, dict)
    assert result["top/d3/h"][-1] == result["top/d3/f"][-1]


def test_later_entries_replace_earlier_ones(both) -> None:
    result = same(
        both,
        entry("f", data=b"first"),
        entry("f", data=b"second"),
        entry("d/", DIR),
        entry("d/x", data=b"x"),
        entry("d/sub/", DIR),
        entry("d/sub/y", data=b"y"),
        entry("d", data=b"now a file"),
        entry("e", data=b"a file"),
        entry("e/", DIR),
        entry("e/z", data=b"z"),
        entry("s", SYM, linkname="target"),
        entry("s", data=b"no longer a link"),
        entry("t", data=b"no longer a file"),
        entry("t", SYM, linkname="elsewhere"),
        entry("m/", DIR, mode=0o700, mtime=1),
        entry("m/keep", data=b"k"),
        entry("m/", DIR, mode=0o750, mtime=2),
        entry("q", SYM, linkname="one"),
        entry("q/", DIR),
    )
    assert isinstance(result, dict)
    assert result["d"][-2] == hashlib.sha256(b"now a file").hexdigest()


def test_hardlinks_to_what_workers_make(both) -> None:
    result = same(
        both,
        entry("a", data=b"one"),
        entry("h1", LNK, linkname="a"),
        entry("a", data=b"two"),  # replaces a; h1 keeps the first inode
        entry("h2", LNK, linkname="a"),
        entry("s", SYM, linkname="a"),
        entry("h3", LNK, linkname="s"),
        entry("dir/n", data=b"n"),
        entry("dir/n2", LNK, linkname="dir/n"),
    )
    assert isinstance(result, dict)
    assert result["h1"][-2] == hashlib.sha256(b"one").hexdigest()
    assert result["h2"][-1] == result["a"][-1] != result["h1"][-1]


@pytest.mark.parametrize(
    "entries, kind",
    [
        ([entry("f", data=b"x"), entry("f/x", data=b"y")], InvalidArgument),
        ([entry("s", SYM, linkname="d"), entry("d/", DIR), entry("s/x", data=b"y")], UnsafeArchive),
        ([entry("a/b", data=b"x"), entry("a/../../escape", data=b"x")], UnsafeArchive),
        ([entry("h", LNK, linkname="later"), entry("later", data=b"x")], UnsafeArchive),
        ([entry("d/", DIR), entry("h", LNK, linkname="d")], InvalidArgument),
        ([entry("a", data=b"x"), entry("b", b"V")], InvalidArgument),
    ],
    ids=["file-as-parent", "symlink-parent", "dotdot", "hardlink-later", "hardlink-dir", "bad-type"],
)
def test_refusals_are_the_same(both, entries: list[Entry], kind: type[Exception]) -> None:
    ordered, workers = both(*[entry(f"pad{i}", data=b"p") for i in range(20)], *entries)
    assert workers == ordered
    assert isinstance(workers, tuple) and workers[0] is kind


def test_symlink_parent_pointing_outside_is_refused(both) -> None:
    sentinel = both.sentinel
    ordered, workers = both(entry("link", SYM, linkname=str(sentinel)), entry("link/secret", data=b"pwned"))
    assert workers == ordered == (UnsafeArchive, ordered[1])  # type: ignore[index]
    assert 'entry "link/secret"' in workers[1]  # type: ignore[index]


def test_failure_on_a_worker_is_raised_with_its_entry(both) -> None:
    bad, data = entry("bad", data=b"x")
    bad.pax_headers = {"SCHILY.xattr.nonsense.attr": "v"}  # no such xattr namespace: EOPNOTSUPP
    ordered, workers = both(*[entry(f"f{i}", data=b"x") for i in range(30)], (bad, data), entry("after"))
    assert workers == ordered
    assert workers[0] is FailedPrecondition and 'entry "bad"' in workers[1]  # type: ignore[index]


def test_a_workers_failure_comes_before_a_later_refusal(both) -> None:
    bad, data = entry("bad", data=b"x")
    bad.pax_headers = {"SCHILY.xattr.nonsense.attr": "v"}
    ordered, workers = both((bad, data), entry("../escape", data=b"x"))
    assert workers == ordered
    assert workers[0] is FailedPrecondition  # type: ignore[index]


def test_truncated_among_pooled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_module, "SLOW_CREATE_NS", 0)
    data = make_tar(*FILLER, *[entry(f"f{i}", data=os.urandom(3000)) for i in range(40)])
    with pytest.raises(InvalidArgument, match="unexpected EOF"):
        apply_layer(io.BytesIO(data[: len(data) // 2]), tmp_path)
    assert writer_threads() == []


@pytest.mark.skipif(not ROOT, reason="whiteouts are character devices: needs root")
def test_whiteouts_among_pooled_files(both) -> None:
    result = same(
        both,
        entry("kept", data=b"x"),
        entry(".wh.kept"),  # present in this layer: a whiteout hides lower layers only
        entry(".wh.gone"),
        entry("o/", DIR),
        entry("o/inner", data=b"i"),
        entry("o/.wh..wh..opq"),
    )
    assert isinstance(result, dict)
    assert stat.S_ISCHR(result["gone"][0])  # type: ignore[arg-type]
    assert stat.S_ISREG(result["kept"][0])  # type: ignore[arg-type]
