"""GC against a real metadata database and in-memory stores.

The fakes keep the one rule of the real stores GC depends on: a snapshot
with children cannot be removed.  The real content store and snapshotter
are covered together with GC by an integration test.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinnace.content import BlobInfo, IngestStatus
from pinnace.errors import FailedPrecondition, NotFound, Unavailable
from pinnace.meta import gc
from pinnace.meta.db import Database
from pinnace.meta.gc import GCReport, collect
from pinnace.oci.digest import Digest, sha256_digest

Holder = Callable[[Path], "subprocess.Popen[str]"]  # the hold_operation fixture (conftest.py)


def d(name: str) -> Digest:
    return sha256_digest(name.encode())


class FakeBlobs:
    def __init__(
        self, blobs: dict[Digest, int], ingests: Sequence[str] = (), locked: Sequence[str] = ()
    ) -> None:
        self.blobs = dict(blobs)
        self.ingest_refs = list(ingests)
        self.locked = set(locked)
        self.cleaned = False

    def walk(self) -> Iterator[BlobInfo]:
        for digest, size in self.blobs.items():
            yield BlobInfo(digest, size)

    def delete(self, digest: Digest) -> None:
        if self.blobs.pop(digest, None) is None:
            raise NotFound(f"content digest {digest} not found")

    def ingests(self) -> list[IngestStatus]:
        return [IngestStatus(ref, 10, None, 0.0, 0.0) for ref in self.ingest_refs]

    def abort(self, ref: str) -> None:
        if ref in self.locked:
            raise Unavailable(f"ref {ref} locked")
        self.ingest_refs.remove(ref)

    def cleanup(self) -> int:
        self.cleaned = True
        return 3


@dataclass(frozen=True)
class Snap:
    key: str
    parent: str = ""


class FakeSnapshots:
    def __init__(self, snaps: dict[str, str]) -> None:
        self.parent_of = dict(snaps)
        self.removed: list[str] = []

    def walk(self) -> Iterator[Snap]:
        for key, parent in self.parent_of.items():
            yield Snap(key, parent)

    def remove(self, key: str) -> None:
        if key not in self.parent_of:
            raise NotFound(f"snapshot {key} does not exist")
        if key in self.parent_of.values():
            raise FailedPrecondition(f"cannot remove snapshot {key}: has children")
        del self.parent_of[key]
        self.removed.append(key)

    def cleanup(self) -> int:
        return 1000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "pinnace.db")
    yield database
    database.close()


def add_image(db: Database, image_id: str, blobs: Sequence[Digest], chain: Sequence[str]) -> None:
    """An image record whose layers are snapshots ``chain`` (bottom first), each on the previous."""
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, created, size, added_at)"
            " VALUES (?, ?, 'application/vnd.oci.image.manifest.v1+json', '', 0, 0)",
            (image_id, blobs[0]),
        )
        conn.executemany(
            "INSERT INTO image_blobs (image_id, digest) VALUES (?, ?)", [(image_id, b) for b in blobs]
        )
        parent = None
        for key in chain:
            conn.execute(
                "INSERT OR IGNORE INTO snapshots (key, id, parent, kind, created)"
                " VALUES (?, (SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots), ?, 'committed', 0)",
                (key, parent),
            )
            parent = key
        # only the top layer is recorded as a root: the rest must come from the parent closure
        conn.execute(
            "INSERT INTO image_layers (image_id, idx, diff_id, chain_id, blob) VALUES (?, ?, ?, ?, ?)",
            (image_id, len(chain) - 1, d(chain[-1]), chain[-1], blobs[-1]),
        )


def add_snapshot(db: Database, key: str, parent: str | None, kind: str = "committed", size: int = 0) -> None:
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO snapshots (key, id, parent, kind, created, size)"
            " VALUES (?, (SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots), ?, ?, 0, ?)",
            (key, parent, kind, size),
        )


def test_marks_image_blobs_and_sweeps_the_rest(db: Database, tmp_path: Path) -> None:
    add_image(db, "img", [d("manifest"), d("config"), d("layer")], ["c1"])
    blobs = FakeBlobs({d("manifest"): 1, d("config"): 2, d("layer"): 4, d("orphan"): 8, d("orphan2"): 16})
    snaps = FakeSnapshots({"c1": ""})
    report = collect(db, tmp_path, blobs, snaps)
    assert set(blobs.blobs) == {d("manifest"), d("config"), d("layer")}
    assert snaps.removed == []
    assert report == GCReport(blobs=2, snapshots=0, ingests=0, reclaimed=8 + 16 + 1000 + 3)
    assert blobs.cleaned


def test_parent_closure_and_children_first(db: Database, tmp_path: Path) -> None:
    add_image(db, "img", [d("m")], ["c1", "c2", "c3"])
    add_snapshot(db, "x1", None, size=100)
    add_snapshot(db, "x2", "x1", size=20)
    add_snapshot(db, "x3", "x2", size=3)
    add_snapshot(db, "extract-abandoned", "c3", kind="active")
    snaps = FakeSnapshots(
        {"c1": "", "c2": "c1", "c3": "c2", "x1": "", "x2": "x1", "x3": "x2", "extract-abandoned": "c3"}
    )
    report = collect(db, tmp_path, FakeBlobs({d("m"): 1}), snaps)
    assert set(snaps.parent_of) == {"c1", "c2", "c3"}
    assert snaps.removed.index("x3") < snaps.removed.index("x2") < snaps.removed.index("x1")
    assert (report.snapshots, report.reclaimed) == (4, 123 + 1000 + 3)  # recorded sizes + both cleanups


def test_snapshotter_parents_protect_ancestors_missing_from_the_table(db: Database, tmp_path: Path) -> None:
    add_image(db, "img", [d("m")], ["top"])
    snaps = FakeSnapshots({"base": "", "top": "base", "stray": ""})
    collect(db, tmp_path, FakeBlobs({}), snaps)
    assert snaps.removed == ["stray"]


def test_shared_base_stays_while_one_image_needs_it(db: Database, tmp_path: Path) -> None:
    add_image(db, "a", [d("a")], ["base", "a-top"])
    add_image(db, "b", [d("b")], ["base", "b-top"])
    with db.tx() as conn:
        for table in ("image_layers", "image_blobs"):
            conn.execute(f"DELETE FROM {table} WHERE image_id = 'a'")
        conn.execute("DELETE FROM images WHERE id = 'a'")
    blobs = FakeBlobs({d("a"): 1, d("b"): 1})
    snaps = FakeSnapshots({"base": "", "a-top": "base", "b-top": "base"})
    collect(db, tmp_path, blobs, snaps)
    assert snaps.removed == ["a-top"]
    assert set(blobs.blobs) == {d("b")}


def test_extra_roots(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc, "CONTENT_ROOTS", (*gc.CONTENT_ROOTS, f"SELECT '{d('pinned')}'"))
    monkeypatch.setattr(gc, "SNAPSHOT_ROOTS", (*gc.SNAPSHOT_ROOTS, "SELECT 'container-rw'"))
    add_snapshot(db, "base", None)
    add_snapshot(db, "container-rw", "base", kind="active")
    blobs = FakeBlobs({d("pinned"): 1, d("junk"): 1})
    snaps = FakeSnapshots({"base": "", "container-rw": "base"})
    collect(db, tmp_path, blobs, snaps)
    assert set(blobs.blobs) == {d("pinned")}
    assert snaps.removed == []


def add_container(db: Database, snapshot_key: str) -> None:
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO containers (id, name, image_id, image_name, snapshot_key, created)"
            " VALUES (?, ?, 'sha256:gone', 'busybox', ?, '')",
            ("c" * 64, "web", snapshot_key),
        )


def test_container_writable_layer_keeps_its_image_layers(db: Database, tmp_path: Path) -> None:
    add_image(db, "img", [d("m")], ["c1", "c2"])
    add_snapshot(db, "rw", "c2", kind="active")
    add_container(db, "rw")
    with db.tx() as conn:  # rmi -f: the image record goes, the container stays
        for table in ("image_layers", "image_blobs"):
            conn.execute(f"DELETE FROM {table} WHERE image_id = 'img'")
        conn.execute("DELETE FROM images WHERE id = 'img'")
    snaps = FakeSnapshots({"c1": "", "c2": "c1", "rw": "c2", "stray": ""})
    collect(db, tmp_path, FakeBlobs({}), snaps)
    assert snaps.removed == ["stray"]
    with db.tx() as conn:
        conn.execute("DELETE FROM containers")
    collect(db, tmp_path, FakeBlobs({}), snaps)
    assert snaps.removed == ["stray", "rw", "c2", "c1"]


def test_aborts_every_ingest_but_a_locked_one(db: Database, tmp_path: Path) -> None:
    blobs = FakeBlobs({}, ingests=["a", "b", "held"], locked=["held"])
    report = collect(db, tmp_path, blobs, FakeSnapshots({}))
    assert blobs.ingest_refs == ["held"]
    assert (report.ingests, report.reclaimed) == (2, 2 * 10 + 1000 + 3)


def test_collect_waits_for_an_operation_in_another_process(
    db: Database, tmp_path: Path, hold_operation: Holder
) -> None:
    proc = hold_operation(tmp_path)
    blobs = FakeBlobs({d("orphan"): 5})
    done = threading.Event()

    def run() -> None:
        collect(db, tmp_path, blobs, FakeSnapshots({}))
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert not done.wait(0.3)
        assert d("orphan") in blobs.blobs  # nothing swept while the operation is in flight
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        thread.join(10)
    assert done.is_set()
    assert blobs.blobs == {}


def test_collect_proceeds_once_holder_is_killed(db: Database, tmp_path: Path, hold_operation: Holder) -> None:
    proc = hold_operation(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    blobs = FakeBlobs({d("orphan"): 5})
    assert collect(db, tmp_path, blobs, FakeSnapshots({})).blobs == 1
