"""Container records and the event log against a real metadata database in tmp_path."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace._util.record import replace
from pinnace.containers import names
from pinnace.containers.records import (
    ZERO_TIME,
    ContainerRecord,
    ContainerRecords,
)
from pinnace.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pinnace.events import EVENTS_KEPT, append_event, read_events
from pinnace.meta import db as db_module
from pinnace.meta.db import Database
from pinnace.meta.schema import MIGRATIONS

IMAGE = "sha256:" + "e" * 64


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "pinnace.db")
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> ContainerRecords:
    return ContainerRecords(db)


def new(name: str = "", cid: str = "", **fields: object) -> ContainerRecord:
    cid = cid or names.new_id()
    rec = ContainerRecord(
        id=cid,
        name=name,
        image_id=IMAGE,
        image_name="busybox",
        snapshot_key=f"container-{cid}",
        created="2024-05-01T10:00:00.123456789Z",
    )
    return replace(rec, **fields) if fields else rec


def conflict_text(name: str, holder: str) -> str:
    return (
        f'Conflict. The container name "/{name}" is already in use by container "{holder}".'
        " You have to remove (or rename) that container to be able to reuse that name."
    )


def test_create_and_get_round_trip(store: ContainerRecords) -> None:
    config = {"Cmd": ["sh"], "Env": ["A=1"], "Labels": {"tier": "web"}, "Healthcheck": None}
    host_config = {"AutoRemove": True, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    rec = new("web", config=config, host_config=host_config, runtime="pinnace", spec_path="/x/config.json")
    got = store.create(rec)
    assert got == store.get(rec.id)
    assert got.name == "web"
    assert dict(got.config) == config and dict(got.host_config) == host_config
    assert dict(got.labels) == {"tier": "web"}  # taken from Config.Labels for filters
    assert (got.status, got.pid, got.exit_code, got.oom_killed, got.health) == ("created", 0, 0, False, None)
    assert got.started_at == got.finished_at == ZERO_TIME
    assert (got.runtime, got.spec_path, got.image_name) == ("pinnace", "/x/config.json", "busybox")


def test_create_strips_the_leading_slash(store: ContainerRecords) -> None:
    assert store.create(new("/db")).name == "db"


def test_create_generates_a_name_when_none_is_given(store: ContainerRecords) -> None:
    got = store.create(new())
    left, _, right = got.name.partition("_")
    assert left in names._LEFT and right in names._RIGHT


def test_name_conflict_in_dockers_words(store: ContainerRecords) -> None:
    first = store.create(new("web"))
    for name in ("web", "/web"):
        with pytest.raises(Conflict) as err:
            store.create(new(name))
        assert str(err.value) == conflict_text("web", first.id)
    assert [r.id for r in store.all()] == [first.id]


def test_invalid_name_and_duplicate_id(store: ContainerRecords) -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid container name \(a b\), only"):
        store.create(new("a b"))
    rec = store.create(new("one"))
    with pytest.raises(AlreadyExists):
        store.create(new("two", cid=rec.id))
    with pytest.raises(InvalidArgument):
        store.create(new("three", cid="abc"))


def test_get_missing(store: ContainerRecords) -> None:
    with pytest.raises(NotFound, match=r"^No such container: nope$"):
        store.get("nope")


def test_resolve_by_id_prefix_and_name(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    for ref in (rec.id, rec.id[:12], rec.id[:1], "web", "/web"):
        assert store.resolve(ref).id == rec.id
    for ref in ("we", "web2", "//web", rec.id.upper(), rec.id + "0"):
        with pytest.raises(NotFound) as err:
            store.resolve(ref)
        assert str(err.value) == f"No such container: {ref}"
    with pytest.raises(InvalidArgument, match=r'^invalid name or ID supplied: ""$'):
        store.resolve("")


def test_ambiguous_prefix(store: ContainerRecords) -> None:
    a = store.create(new("a1", cid="abc1" + "0" * 60))
    store.create(new("b1", cid="abc2" + "0" * 60))
    with pytest.raises(InvalidArgument) as err:
        store.resolve("abc")
    assert str(err.value) == "multiple IDs found with provided prefix: abc"
    assert store.resolve("abc1").id == a.id


def test_exact_name_wins_over_an_id_prefix_and_full_id_over_name(store: ContainerRecords) -> None:
    named = store.create(new("abc", cid="f" * 64))
    by_prefix = store.create(new("other", cid="abc" + "0" * 61))
    assert store.resolve("abc").id == named.id
    assert store.resolve("abc0").id == by_prefix.id
    # a container named like another's full ID: the ID wins
    store.create(new(by_prefix.id))
    assert store.resolve(by_prefix.id).id == by_prefix.id


def test_all_newest_first(store: ContainerRecords) -> None:
    ids = [store.create(new(f"c{i}")).id for i in range(3)]
    assert [r.id for r in store.all()] == ids[::-1]


def test_update_state(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    health = {"Status": "starting", "FailingStreak": 0, "Log": []}
    got = store.update_state(
        rec.id,
        status="running",
        pid=4242,
        monitor_pid=4240,
        started_at="2024-05-01T10:00:01.5Z",
        health=health,
    )
    assert (got.status, got.pid, got.monitor_pid, got.started_at) == (
        "running",
        4242,
        4240,
        "2024-05-01T10:00:01.5Z",
    )
    assert got.health is not None and dict(got.health) == health
    got = store.update_state(
        rec.id, status="exited", pid=0, exit_code=137, oom_killed=True, error="", health=None
    )
    assert (got.status, got.exit_code, got.oom_killed, got.health) == ("exited", 137, True, None)
    assert got.name == "web" and got.started_at == "2024-05-01T10:00:01.5Z"  # other fields kept
    updated = store.update_state(rec.id, host_config={"Memory": 1 << 20}, restart_count=2)
    assert dict(updated.host_config) == {"Memory": 1 << 20} and updated.restart_count == 2
    assert store.get(rec.id) == updated


def test_update_state_optimistic_check(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    store.update_state(rec.id, expect="created", status="running", pid=1)
    with pytest.raises(Conflict):
        store.update_state(rec.id, expect=("created",), status="running", pid=2)
    assert store.get(rec.id).pid == 1  # nothing changed


def test_update_state_refuses_what_is_not_state(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    with pytest.raises(TypeError):
        store.update_state(rec.id, name="other")
    with pytest.raises(InvalidArgument):
        store.update_state(rec.id, status="sleeping")
    with pytest.raises(NotFound):
        store.update_state("0" * 64, status="running")


def test_rename(store: ContainerRecords) -> None:
    rec = store.create(new("old"))
    assert store.rename(rec.id, "new").name == "new"
    assert store.resolve("new").id == rec.id
    with pytest.raises(NotFound):
        store.resolve("old")
    assert store.rename(rec.id, "/newer").name == "newer"
    assert store.create(new("old")).name == "old"  # the old name is free again


def test_rename_errors_in_dockers_words(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    other = store.create(new("db"))
    cases = [
        ("", InvalidArgument, "Neither old nor new names may be empty"),
        ("web", InvalidArgument, "Renaming a container with the same name as its current name"),
        ("/web", InvalidArgument, "Renaming a container with the same name as its current name"),
        (
            "a b",
            InvalidArgument,
            "Error when allocating new name: Invalid container name (/a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ),
        ("db", Conflict, "Error when allocating new name: " + conflict_text("db", other.id)),
    ]
    for new_name, kind, text in cases:
        with pytest.raises(kind) as err:
            store.rename(rec.id, new_name)
        assert str(err.value) == text
    assert store.get(rec.id).name == "web"
    with pytest.raises(NotFound):
        store.rename("0" * 64, "x1")


def test_delete(store: ContainerRecords) -> None:
    rec = store.create(new("web"))
    store.delete(rec.id)
    with pytest.raises(NotFound):
        store.get(rec.id)
    with pytest.raises(NotFound):
        store.delete(rec.id)
    assert store.create(new("web")).name == "web"


def test_two_connections_see_one_namespace(tmp_path: Path) -> None:
    """Two processes' connections: a name taken through one is taken for the other."""
    a, b = Database(tmp_path / "pinnace.db"), Database(tmp_path / "pinnace.db")
    try:
        first = ContainerRecords(a).create(new("web"))
        with pytest.raises(Conflict):
            ContainerRecords(b).create(new("web"))
        assert ContainerRecords(b).resolve("web").id == first.id
    finally:
        a.close()
        b.close()


# -- events -------------------------------------------------------------------
def test_events_append_and_read(db: Database) -> None:
    first = append_event(db, "container", "create", "a" * 64, {"name": "web", "image": "busybox"})
    second = append_event(db, "container", "start", "a" * 64)
    third = append_event(db, "image", "pull", "busybox:latest")
    assert first.seq < second.seq < third.seq
    assert first.time_ns <= second.time_ns <= third.time_ns
    assert read_events(db) == [first, second, third]
    assert dict(read_events(db)[0].attributes) == {"name": "web", "image": "busybox"}
    assert read_events(db, since_ns=second.time_ns)[0] == second
    assert read_events(db, since_ns=second.time_ns, until_ns=second.time_ns) == [
        e for e in (first, second, third) if e.time_ns == second.time_ns
    ]
    assert read_events(db, until_ns=first.time_ns - 1) == []
    assert read_events(db, after_seq=second.seq) == [third]


def test_events_keep_the_most_recent(db: Database) -> None:
    for i in range(EVENTS_KEPT + 5):
        append_event(db, "container", "start", str(i))
    events = read_events(db)
    assert len(events) == EVENTS_KEPT
    assert events[-1].actor_id == str(EVENTS_KEPT + 4)
    assert events[0].actor_id == "5"


# -- migration ----------------------------------------------------------------
def test_migration_adds_containers_to_a_version_1_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pinnace.db"
    with monkeypatch.context() as m:
        m.setattr(db_module, "MIGRATIONS", MIGRATIONS[:1])
        old = Database(path)
        with old.tx() as conn:
            conn.execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, created, size, added_at)"
                " VALUES (?, 'sha256:m', 'application/vnd.oci.image.manifest.v1+json', '', 7, 0)",
                (IMAGE,),
            )
            conn.execute(
                "INSERT INTO tags (name, image_id, tagged_at) VALUES ('docker.io/library/busybox:latest', ?, 0)",
                (IMAGE,),
            )
        assert old.conn.execute("PRAGMA user_version").fetchone()[0] == 1
        with pytest.raises(sqlite3.OperationalError):
            old.conn.execute("SELECT * FROM containers")
        old.close()
    db = Database(path)
    try:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 2
        assert db.conn.execute("SELECT size FROM images WHERE id = ?", (IMAGE,)).fetchone()[0] == 7
        assert db.conn.execute("SELECT image_id FROM tags").fetchone()[0] == IMAGE
        rec = ContainerRecords(db).create(new("web"))
        assert ContainerRecords(db).resolve("web") == rec
        assert append_event(db, "container", "create", rec.id).seq == 1
    finally:
        db.close()
