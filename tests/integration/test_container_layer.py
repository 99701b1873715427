"""A container's writable layer on a real overlay: prepare, mount, docker diff, export, commit's diff, remove, GC."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.containers import layer
from pinnace.containers.records import ContainerRecord, ContainerRecords
from pinnace.engine import Config, Engine
from pinnace.errors import NotFound
from pinnace.images.service import ImageService
from pinnace.images.stores import Stores
from pinnace.meta.gc import collect
from pinnace.mount import unmount_all, writable_dir
from pinnace.mount.flags import mount_points
from tests.conftest import make_rootfs_tar

pytestmark = pytest.mark.root

CID = "c0ffee" + "0" * 58


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(Config(str(tmp_path / "root"), str(tmp_path / "run")))
    try:
        yield eng
    finally:
        unmount_all(tmp_path)
        eng.close()


def stores_of(engine: Engine) -> Stores:
    images: ImageService = engine.images
    return images.stores


def mounted_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    return [p for p in mount_points() if p == str(path) or p.startswith(prefix)]


def snapshot_dir(stores: Stores, key: str) -> Path:
    return writable_dir(stores.snapshots.mounts(key)).parent


def tar_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_container_layer_lifecycle(engine: Engine, tmp_path: Path) -> None:
    extra = {
        "etc/motd": b"hello\n",
        "srv/data/keep": b"k",
        "opt/old/file": b"x",
        "usr/share/doc/readme": b"r",
    }
    with open(make_rootfs_tar(tmp_path / "rootfs.tar", extra), "rb") as f:
        image = engine.images.import_rootfs(f, source="-")
    stores = stores_of(engine)
    chain = stores.records.layers(image.id)[-1].chain_id

    key = layer.prepare(stores, CID, chain)
    assert key == f"container-{CID}"
    assert layer.changes(stores, key) == []  # the init layer's mount points are not the container's changes

    target = tmp_path / "root" / "containers" / CID / "rootfs"
    layer.mount_rootfs(stores, key, str(target))
    layer.mount_rootfs(stores, key, str(target))  # already mounted: nothing more
    assert mounted_under(target) == [str(target)]

    # docker's init layer, under the image's own /etc
    assert (target / ".dockerenv").is_file()
    assert (target / "etc/hostname").read_bytes() == b""
    assert os.readlink(target / "etc/mtab") == "/proc/mounts"
    assert (target / "etc/motd").read_bytes() == b"hello\n"

    # what a container does
    with open(target / "etc/passwd", "ab") as f:
        f.write(b"user:x:1000:1000::/home/user:/bin/sh\n")
    (target / "etc/new").write_bytes(b"new\n")
    (target / "etc/motd").unlink()
    (target / "srv/data/keep").unlink()
    (target / "opt/old/file").unlink()
    (target / "opt/old").rmdir()
    (target / "newdir").mkdir()
    (target / "newdir/f").write_bytes(b"f")
    (target / "usr/share/doc/readme").unlink()
    (target / "usr/share/doc").rmdir()
    (target / "usr/share").rmdir()
    (target / "usr/share").mkdir()  # over a whiteout: an opaque directory
    (target / "usr/share/new").write_bytes(b"n")
    (target / "tmp").rmdir()
    os.symlink("/", target / "tmp")  # a way out of the root, if anything followed it

    assert layer.changes(stores, key) == [
        ("C", "/etc"),
        ("D", "/etc/motd"),
        ("A", "/etc/new"),
        ("C", "/etc/passwd"),
        ("A", "/newdir"),
        ("A", "/newdir/f"),
        ("C", "/opt"),
        ("D", "/opt/old"),
        ("C", "/srv/data"),  # /srv was only copied up: not reported, as docker
        ("D", "/srv/data/keep"),
        ("C", "/tmp"),
        ("C", "/usr"),
        ("D", "/usr/share"),  # docker's report of an opaque directory
        ("A", "/usr/share/new"),
    ]

    live = io.BytesIO()
    layer.export(stores, key, live)
    members = tar_members(live.getvalue())
    assert {"etc/new", "newdir/f", "usr/share/new", ".dockerenv", "bin/busybox"} <= set(members)
    assert not {"etc/motd", "srv/data/keep", "opt/old", "usr/share/doc/readme"} & set(members)
    assert members["tmp"].issym() and members["tmp"].linkname == "/"
    assert not [n for n in members if n.startswith("tmp/")]
    with tarfile.open(fileobj=io.BytesIO(live.getvalue())) as tar:
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None and passwd.read().endswith(b"/home/user:/bin/sh\n")

    diff = io.BytesIO()
    result = layer.diff_tar(stores, key, diff)
    assert result.size == len(diff.getvalue())
    names = set(tar_members(diff.getvalue()))
    assert {"etc/.wh.motd", "etc/new", "opt/.wh.old", "usr/share/.wh..wh..opq", "usr/share/new"} <= names
    assert "bin/busybox" not in names

    layer.unmount_rootfs(str(target))
    layer.unmount_rootfs(str(target))
    assert mounted_under(tmp_path) == []

    unmounted = io.BytesIO()
    layer.export(stores, key, unmounted)  # from a read-only view mounted for the occasion
    assert unmounted.getvalue() == live.getvalue()
    assert mounted_under(tmp_path) == []

    # GC keeps the layer (and the init layer under it) while a container record names it
    records = ContainerRecords(engine.db)
    records.create(
        ContainerRecord(
            id=CID,
            name="c1",
            image_id=image.id,
            image_name="img",
            snapshot_key=key,
            created="2024-01-01T00:00:00Z",
        )
    )
    gc_root = Path(engine.config.root)
    collect(engine.db, gc_root, engine.content, engine.snapshots)
    upper_dir = snapshot_dir(stores, key)
    assert upper_dir.is_dir()
    init = f"init-{chain}"
    assert stores.snapshots.stat(init).parent == chain

    # remove unmounts a mounted layer first, then deletes it
    layer.mount_rootfs(stores, key, str(target))
    layer.remove(stores, key)
    assert mounted_under(tmp_path) == []
    assert not upper_dir.exists()
    with pytest.raises(NotFound):
        stores.snapshots.stat(key)
    layer.remove(stores, key)  # gone already: fine

    records.delete(CID)
    collect(engine.db, gc_root, engine.content, engine.snapshots)
    with pytest.raises(NotFound):
        stores.snapshots.stat(init)  # no container left on it
    stores.snapshots.stat(chain)  # the image's layer stays with the image


def test_changes_see_the_layers_below_as_overlayfs_merges_them(engine: Engine, tmp_path: Path) -> None:
    """A path whited out or hidden by an opaque directory below is added, not changed (docker would say C)."""
    stores = stores_of(engine)
    sn = stores.snapshots
    lower = writable_dir(sn.prepare("l1", ""))
    for rel in ("a/x", "a/y", "b", "d/w", "d/z"):
        (lower / rel).parent.mkdir(exist_ok=True)
        (lower / rel).write_bytes(rel.encode())
    sn.commit("L1", "l1")
    upper = writable_dir(sn.prepare("l2", "L1"))
    (upper / "a").mkdir()
    os.mknod(upper / "a/x", 0o600 | 0o020000, 0)  # whiteout of L1's a/x
    (upper / "d").mkdir()
    os.setxattr(upper / "d", "trusted.overlay.opaque", b"y")
    (upper / "d/w").write_bytes(b"w2")
    sn.commit("L2", "l2")

    key = layer.prepare(stores, CID, "L2")
    target = tmp_path / "rootfs"
    layer.mount_rootfs(stores, key, str(target))
    assert sorted(os.listdir(target / "d")) == ["w"]
    (target / "a/x").write_bytes(b"again")
    (target / "b").unlink()
    (target / "d/w").write_bytes(b"w3")
    (target / "d/z").write_bytes(b"z")
    assert layer.changes(stores, key) == [
        ("C", "/a"),
        ("A", "/a/x"),
        ("D", "/b"),
        ("C", "/d"),
        ("C", "/d/w"),
        ("A", "/d/z"),
    ]
    layer.remove(stores, key)
    assert mounted_under(tmp_path) == []
