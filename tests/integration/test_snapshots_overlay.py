"""The snapshotter suite (pinnace.snapshots.testsuite) on the overlay snapshotter, plus crash safety."""

from __future__ import annotations

import os
import random
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pinnace.errors import FailedPrecondition
from pinnace.meta.db import Database
from pinnace.mount import Mount, mounted, unmount_all, writable_dir
from pinnace.snapshots import testsuite
from pinnace.snapshots.overlay import OverlaySnapshotter

pytestmark = pytest.mark.root

PARAMS = "/sys/module/overlay/parameters"
SUITE = {**testsuite.CHECKS, **testsuite.OVERLAY_CHECKS}


def overlay_factory(root: Path) -> tuple[testsuite.SuiteSnapshotter, Callable[[], None]]:
    db = Database(root.parent / "pinnace.db")
    return OverlaySnapshotter(root, db), db.close


@pytest.mark.parametrize("name", list(SUITE))
def test_suite(name: str, tmp_path: Path) -> None:
    testsuite.run_check(SUITE[name], overlay_factory, tmp_path)


@pytest.fixture
def sn(tmp_path: Path) -> Iterator[OverlaySnapshotter]:
    db = Database(tmp_path / "pinnace.db")
    try:
        yield OverlaySnapshotter(tmp_path / "snapshots", db)
    finally:
        unmount_all(tmp_path)
        db.close()


def test_overlay_mount_options(sn: OverlaySnapshotter) -> None:
    sn.prepare("a", "")
    sn.commit("A", "a")
    sn.prepare("b", "A")
    sn.commit("B", "b")
    (overlay,) = sn.prepare("c", "B")
    ids = {i.key: sn_id(sn, i.key) for i in sn.walk()}
    pinned = [f"{p}=off" for p in ("index", "redirect_dir", "metacopy") if Path(PARAMS, p).exists()]
    assert overlay.type == "overlay"
    assert overlay.options == (
        *pinned,
        f"workdir={sn.root}/{ids['c']}/work",
        f"upperdir={sn.root}/{ids['c']}/fs",
        f"lowerdir={sn.root}/{ids['B']}/fs:{sn.root}/{ids['A']}/fs",  # nearest parent first
    )
    assert sn.view("v1", "A") == [Mount("bind", f"{sn.root}/{ids['A']}/fs", ("ro", "rbind"))]
    (view,) = sn.view("v3", "B")
    assert view.options == (*pinned, f"lowerdir={sn.root}/{ids['B']}/fs:{sn.root}/{ids['A']}/fs")
    (view,) = sn.view("v2", "")
    assert view.type == "bind" and view.options == ("ro", "rbind")
    assert sn.prepare("d", "") == [Mount("bind", str(writable_dir(sn.mounts("d"))), ("rw", "rbind"))]


def sn_id(sn: OverlaySnapshotter, key: str) -> int:
    row = sn.db.conn.execute("SELECT id FROM snapshots WHERE key = ?", (key,)).fetchone()
    return int(row[0])


def test_directories_follow_records(sn: OverlaySnapshotter) -> None:
    sn.prepare("a", "")
    ident = sn_id(sn, "a")
    assert (sn.root / str(ident) / "fs").is_dir() and (sn.root / str(ident) / "work").is_dir()
    sn.view("v", "")
    assert not (sn.root / str(sn_id(sn, "v")) / "work").exists()
    sn.commit("A", "a")
    assert sn_id(sn, "A") == ident  # commit renames the record, never the directory
    sn.remove("A")
    assert sorted(os.listdir(sn.root)) == [str(sn_id(sn, "v"))]


def test_id_of_a_leftover_directory_is_skipped(sn: OverlaySnapshotter) -> None:
    sn.prepare("a", "")
    leftover = sn.root / str(sn_id(sn, "a") + 1)
    (leftover / "fs").mkdir(parents=True)
    (leftover / "fs" / "junk").write_bytes(b"junk")
    sn.prepare("b", "")
    assert sn_id(sn, "b") == sn_id(sn, "a") + 2
    assert (leftover / "fs" / "junk").read_bytes() == b"junk"  # someone else's: untouched
    assert sn.cleanup() == 4
    assert not leftover.exists()


def test_remove_copes_with_read_only_dirs_and_devices(sn: OverlaySnapshotter, tmp_path: Path) -> None:
    upper = writable_dir(sn.prepare("a", ""))
    (upper / "ro" / "deep").mkdir(parents=True)
    (upper / "ro" / "deep" / "f").write_bytes(b"f")
    os.chmod(upper / "ro" / "deep", 0o500)
    os.chmod(upper / "ro", 0o500)
    os.mknod(upper / "wh", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    sn.commit("A", "a")
    sn.remove("A")
    assert os.listdir(sn.root) == []


def _churn(root: Path, seed: int) -> None:
    """Child process body: snapshot operations in a loop until killed."""
    rng = random.Random(seed)
    db = Database(root / "pinnace.db")
    sn = OverlaySnapshotter(root / "snapshots", db)
    committed: list[str] = [i.key for i in sn.walk() if i.kind.value == "committed"]
    n = 0
    while True:
        n += 1
        key = f"{seed}-{n}"
        parent = rng.choice(committed) if committed and rng.random() < 0.7 else ""
        op = rng.random()
        if op < 0.6:
            upper = writable_dir(sn.prepare(key, parent))
            (upper / "payload").write_bytes(key.encode() * 100)
            sn.commit(f"C{key}", key)
            committed.append(f"C{key}")
        elif op < 0.75:
            sn.view(key, parent)
            sn.remove(key)
        elif committed:
            victim = rng.choice(committed)
            try:
                sn.remove(victim)
                committed.remove(victim)
            except FailedPrecondition:
                pass


def test_sigkill_at_any_instant_leaves_a_consistent_store(tmp_path: Path) -> None:
    """Kill a churning process at random instants; records always have their directories."""
    Database(tmp_path / "pinnace.db").close()
    rng = random.Random(1234)
    for round_ in range(25):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                _churn(tmp_path, round_)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.005, 0.06))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

        db = Database(tmp_path / "pinnace.db")
        try:
            sn = OverlaySnapshotter(tmp_path / "snapshots", db)
            for row in db.conn.execute("SELECT key, id, kind FROM snapshots"):
                fs = sn.root / str(row["id"]) / "fs"
                assert fs.is_dir(), f"record {row['key']} without its directory"
                if row["kind"] == "committed":
                    assert (fs / "payload").read_bytes().startswith(row["key"][1:].encode())
                if row["kind"] == "active":
                    assert (fs.parent / "work").is_dir()
        finally:
            db.close()

    db = Database(tmp_path / "pinnace.db")
    try:
        sn = OverlaySnapshotter(tmp_path / "snapshots", db)
        sn.cleanup()
        ids = {str(r[0]) for r in db.conn.execute("SELECT id FROM snapshots")}
        assert set(os.listdir(sn.root)) == ids
        top = next((i.key for i in sn.walk() if i.kind.value == "committed"), "")
        if top:
            with mounted(sn.view("final", top), tmp_path) as where:
                assert (where / "payload").exists()
    finally:
        db.close()


def test_rebase_puts_an_unpacked_layer_on_its_parent(sn: OverlaySnapshotter, tmp_path: Path) -> None:
    base = writable_dir(sn.prepare("base", ""))
    (base / "from-base").write_text("base")
    (base / "gone").write_text("x")
    sn.commit("BASE", "base")
    # unpacked before its parent was known: a file and a whiteout (0/0 char device)
    upper = writable_dir(sn.prepare("layer", ""))
    (upper / "own").write_text("own")
    os.mknod(upper / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    sn.rebase("layer", "BASE")
    assert sn.stat("layer").parent == "BASE"
    sn.commit("TOP", "layer")
    with mounted(sn.view("v", "TOP"), tmp_path) as root:
        assert sorted(os.listdir(root)) == ["from-base", "own"]
    with pytest.raises(FailedPrecondition):
        sn.rebase("TOP", "")  # only active snapshots
    sn.prepare("x", "")
    with pytest.raises(Exception, match="not a committed snapshot|does not exist"):
        sn.rebase("x", "nope")
