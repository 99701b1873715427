"""The content store against a real directory: verify on commit, resume, locking, removal."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pinnace
from pinnace.content import BlobInfo, ContentStore
from pinnace.errors import (
    AlreadyExists,
    DigestMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from pinnace.oci.digest import Digest, digest_hex, sha256_digest

HELLO = b"hello world\n"
HELLO_DIGEST = sha256_digest(HELLO)


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def put(store: ContentStore, data: bytes, ref: str = "ref") -> BlobInfo:
    with store.writer(ref) as w:
        w.write(data)
        return w.commit(len(data), sha256_digest(data))


def ingest_entries(store: ContentStore) -> list[str]:
    ingest = store.root / "ingest"
    return sorted(os.listdir(ingest)) if ingest.exists() else []


def test_constructor_touches_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    assert not (tmp_path / "content").exists()
    assert list(store.walk()) == []
    assert store.ingests() == []
    assert not store.exists(HELLO_DIGEST)


def test_write_commit_read_back(store: ContentStore) -> None:
    with store.writer("ref-1", expected=HELLO_DIGEST, total=len(HELLO)) as w:
        assert w.write(HELLO[:5]) == 5
        assert w.write(memoryview(HELLO[5:])) == len(HELLO) - 5
        assert w.offset == len(HELLO)
        assert w.digest() == HELLO_DIGEST
        info = w.commit()
    assert info == BlobInfo(HELLO_DIGEST, len(HELLO))
    assert store.info(HELLO_DIGEST) == info
    assert store.exists(HELLO_DIGEST)
    path = store.path(HELLO_DIGEST)
    assert path == store.root / "blobs" / "sha256" / digest_hex(HELLO_DIGEST)
    assert path.read_bytes() == HELLO
    with store.open(HELLO_DIGEST) as f:
        assert f.read() == HELLO
    assert store.read_bytes(HELLO_DIGEST, 1024) == HELLO
    assert store.ingests() == []
    assert ingest_entries(store) == []


def test_blobs_are_read_only(store: ContentStore) -> None:
    put(store, HELLO)
    assert stat.S_IMODE(store.path(HELLO_DIGEST).stat().st_mode) == 0o444


def test_writer_is_file_like(store: ContentStore) -> None:
    import shutil

    with store.writer("copy") as w:
        shutil.copyfileobj(io.BytesIO(HELLO * 1000), w)
        assert w.tell() == len(HELLO) * 1000
        info = w.commit(expected=sha256_digest(HELLO * 1000))
    assert store.read_bytes(info.digest, 1 << 20) == HELLO * 1000


def test_wrong_digest_refused_and_nothing_left(store: ContentStore) -> None:
    other = sha256_digest(b"other")
    w = store.writer("bad-digest")
    w.write(HELLO)
    with pytest.raises(DigestMismatch, match=f"^unexpected commit digest {HELLO_DIGEST}, expected {other}$"):
        w.commit(expected=other)
    assert not store.exists(HELLO_DIGEST)
    assert list(store.walk()) == []
    assert store.ingests() == []
    assert ingest_entries(store) == []


def test_wrong_size_refused_and_nothing_left(store: ContentStore) -> None:
    w = store.writer("bad-size", total=100)
    w.write(HELLO)
    with pytest.raises(DigestMismatch, match=f"^unexpected commit size {len(HELLO)}, expected 100$"):
        w.commit()  # the size announced at writer() is checked
    assert list(store.walk()) == []
    assert ingest_entries(store) == []


def test_expected_given_to_writer_is_checked_at_commit(store: ContentStore) -> None:
    w = store.writer("exp", expected=sha256_digest(b"other"))
    w.write(HELLO)
    with pytest.raises(DigestMismatch):
        w.commit()
    assert list(store.walk()) == []


def test_resume_after_close(store: ContentStore) -> None:
    w = store.writer("resume", total=len(HELLO))
    w.write(HELLO[:6])
    w.close()
    [status] = store.ingests()
    assert (status.ref, status.offset, status.total) == ("resume", 6, len(HELLO))
    assert status.started <= status.updated

    again = ContentStore(store.root).writer("resume")
    assert again.offset == 6
    assert again.digest() == sha256_digest(HELLO[:6])
    again.write(HELLO[6:])
    assert again.commit(expected=HELLO_DIGEST) == BlobInfo(HELLO_DIGEST, len(HELLO))  # total remembered
    assert store.ingests() == []


KILLED_WRITER = """
import os, signal, sys
from pinnace.content import ContentStore
w = ContentStore(sys.argv[1]).writer("killed", total=int(sys.argv[2]))
w.write(sys.argv[3].encode())
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_resume_after_writer_killed(store: ContentStore) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(pinnace.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(store.root), str(len(HELLO)), "hello"], env=env
    )
    assert proc.returncode == -9
    [status] = store.ingests()
    assert (status.ref, status.offset) == ("killed", 5)
    with store.writer("killed") as w:  # the dead writer's lock died with it
        assert w.offset == 5
        w.write(HELLO[5:])
        assert w.commit(len(HELLO), HELLO_DIGEST).digest == HELLO_DIGEST


def test_second_writer_on_same_ref_refused(store: ContentStore) -> None:
    first = store.writer("busy")
    with pytest.raises(Unavailable, match="^ref busy locked$"):
        store.writer("busy")
    with pytest.raises(Unavailable, match="^ref busy locked$"):
        store.abort("busy")
    other = store.writer("other")  # other refs are independent
    other.abort()
    first.write(b"x")
    first.close()
    with store.writer("busy") as second:
        assert second.offset == 1


def test_resume_with_other_total_refused(store: ContentStore) -> None:
    store.writer("t", total=10).close()
    with pytest.raises(FailedPrecondition, match="provided total differs from status: 11 != 10"):
        store.writer("t", total=11)
    store.writer("t", total=10).close()


def test_existing_blob_short_cut(store: ContentStore) -> None:
    put(store, HELLO)
    with pytest.raises(AlreadyExists, match=f"content {HELLO_DIGEST}: already exists"):
        store.writer("again", expected=HELLO_DIGEST)

    class Unreadable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the source of a present blob must not be read")

    assert store.ingest(Unreadable(), "again", expected=HELLO_DIGEST) == BlobInfo(HELLO_DIGEST, len(HELLO))
    assert store.ingests() == []


def test_concurrent_writer_won(store: ContentStore) -> None:
    late = store.writer("late")
    late.write(HELLO)
    put(store, HELLO, ref="early")
    assert late.commit(expected=HELLO_DIGEST) == BlobInfo(HELLO_DIGEST, len(HELLO))
    assert late.closed
    assert ingest_entries(store) == []
    assert [b.digest for b in store.walk()] == [HELLO_DIGEST]


def test_ingest_streams_and_verifies(store: ContentStore) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    digest = sha256_digest(data)
    assert store.ingest(io.BytesIO(data), "big", expected=digest, size=len(data)) == BlobInfo(
        digest, len(data)
    )
    assert store.path(digest).read_bytes() == data
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(b"not it"), "bad", expected=sha256_digest(b"it"))
    assert store.ingests() == []
    info = store.ingest(io.BytesIO(b"no digest given"), "plain")
    assert info.digest == sha256_digest(b"no digest given")


def test_ingest_resumes_where_it_stopped(store: ContentStore) -> None:
    w = store.writer("r")
    w.write(HELLO[:4])
    w.close()

    class Counting(io.BytesIO):
        served = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            self.served += len(chunk)
            return chunk

    src = Counting(HELLO)
    assert store.ingest(src, "r", expected=HELLO_DIGEST).digest == HELLO_DIGEST
    assert src.served == len(HELLO) - 4  # seeked past what the ingest had


def test_ingest_without_expected_starts_over(store: ContentStore) -> None:
    w = store.writer("r")
    w.write(b"stale bytes of something else")
    w.close()
    assert store.ingest(io.BytesIO(HELLO), "r").digest == HELLO_DIGEST


def test_truncate_rewinds_hash(store: ContentStore) -> None:
    with store.writer("t") as w:
        w.write(b"garbage")
        w.truncate(3)
        assert w.digest() == sha256_digest(b"gar")
        w.truncate()
        w.write(HELLO)
        assert w.commit(expected=HELLO_DIGEST).size == len(HELLO)
        with pytest.raises(FailedPrecondition):
            w.write(b"after commit")


def test_context_manager_closes_or_aborts(store: ContentStore) -> None:
    with store.writer("kept") as w:
        w.write(b"partial")
    assert [s.ref for s in store.ingests()] == ["kept"]
    with pytest.raises(RuntimeError), store.writer("dropped") as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert [s.ref for s in store.ingests()] == ["kept"]


def test_walk_delete_info(store: ContentStore) -> None:
    infos = {put(store, bytes([i]) * (i + 1), ref=f"r{i}") for i in range(3)}
    (store.root / "blobs" / "sha256" / "not-a-digest").write_bytes(b"")
    assert set(store.walk()) == infos
    gone = next(iter(infos))
    store.delete(gone.digest)
    assert set(store.walk()) == infos - {gone}
    message = f"^content digest {gone.digest} not found$"
    with pytest.raises(NotFound, match=message):
        store.delete(gone.digest)
    with pytest.raises(NotFound, match=message):
        store.info(gone.digest)
    with pytest.raises(NotFound, match=message):
        store.path(gone.digest)
    with pytest.raises(NotFound, match=message):
        store.open(gone.digest)


def test_ingests_and_abort(store: ContentStore) -> None:
    for ref in ("a", "b/with:odd@chars"):
        with store.writer(ref) as w:
            w.write(ref.encode())
    assert sorted((s.ref, s.offset) for s in store.ingests()) == [("a", 1), ("b/with:odd@chars", 16)]
    store.abort("a")
    assert [s.ref for s in store.ingests()] == ["b/with:odd@chars"]
    with pytest.raises(NotFound, match="^ingest ref a not found$"):
        store.abort("a")
    store.abort("b/with:odd@chars")
    assert ingest_entries(store) == []


def test_cleanup_removes_uninitialised_ingests(store: ContentStore) -> None:
    with store.writer("live") as w:
        w.write(b"12345")
    ingest = store.root / "ingest"
    half = ingest / hashlib.sha256(b"creator died before ref").hexdigest()
    half.mkdir()
    (half / "data").write_bytes(b"abc")
    trash = ingest / ".rm-deadbeef-1234"
    trash.mkdir()
    (trash / "data").write_bytes(b"defg")
    assert store.cleanup() == 7
    assert ingest_entries(store) == [hashlib.sha256(b"live").hexdigest()]
    assert [s.ref for s in store.ingests()] == ["live"]


@pytest.mark.parametrize(
    "crafted",
    ["sha256:../../../etc/passwd", "sha512:" + "a" * 128, "sha256:" + "A" * 64, "sha256:abc", "", "a" * 64],
)
def test_crafted_digest_refused(store: ContentStore, crafted: str) -> None:
    with pytest.raises(InvalidArgument):
        store.writer("ref", expected=Digest(crafted))
    with pytest.raises(InvalidArgument):
        store.info(Digest(crafted))
    with pytest.raises(InvalidArgument):
        store.delete(Digest(crafted))
    w = store.writer("ref")
    w.write(HELLO)
    with pytest.raises(InvalidArgument):
        w.commit(expected=Digest(crafted))
    w.abort()


def test_read_bytes_refuses_large_blob(store: ContentStore) -> None:
    put(store, HELLO)
    with pytest.raises(InvalidArgument, match="more than the 4 allowed"):
        store.read_bytes(HELLO_DIGEST, 4)


def test_empty_ref_refused(store: ContentStore) -> None:
    with pytest.raises(InvalidArgument):
        store.writer("")
