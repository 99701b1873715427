"""Faults: SIGKILL at random moments during load/import, and concurrent writers.

The store must stay consistent: ``images`` works, an image is wholly there or
absent, and GC (``system prune``) leaves exactly what the records reference.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.archives import random_layer, write_archive

pytestmark = [pytest.mark.root, pytest.mark.slow]

KILLS = 20


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """~100 MB, four layers."""
    d = tmp_path_factory.mktemp("big")
    layers = [random_layer(seed, 25 * 1024 * 1024, files=40) for seed in range(4)]
    path = d / "big.tar"
    image_id = write_archive(path, layers)
    return path, image_id


@pytest.fixture(scope="module")
def big_rootfs(big_archive: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    path.write_bytes(random_layer(99, 100 * 1024 * 1024, files=200))
    return path


def check_consistent(p: Pinnace, expect_ids: set[str] | None = None) -> set[str]:
    """``images`` works, every recorded image is whole; after GC nothing unreferenced remains."""
    ids = set(p.run("images", "-q", "--no-trunc").stdout.split())
    for image_id in ids:
        p.run("inspect", image_id)
        p.run("history", image_id)
    p.run("system", "prune", "-f")
    db = sqlite3.connect(p.root / "pinnace.db")
    try:
        blobs = {r[0][7:] for r in db.execute("SELECT digest FROM image_blobs")}
        chains = {r[0] for r in db.execute("SELECT chain_id FROM image_layers")}
        snaps = {r[0]: str(r[1]) for r in db.execute("SELECT key, id FROM snapshots")}
    finally:
        db.close()
    assert p.blobs() == blobs
    assert chains <= set(snaps)
    assert p.snapshot_dirs() == set(snaps.values())
    assert p.ingests() == set()
    if expect_ids is not None:
        assert ids <= expect_ids
    return ids


def kill_loop(p: Pinnace, args: list[str], duration: float, expect_id: str | None) -> None:
    rnd = random.Random(1234)
    outcomes = {"present": 0, "absent": 0}
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [str(PINNACE), "--root", str(p.root), "--runroot", str(p.runroot), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rnd.uniform(0, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ids = check_consistent(p)
        if expect_id is not None:
            assert ids <= {expect_id}
        outcomes["present" if ids else "absent"] += 1
        if ids:
            p.run("rmi", "-f", *ids)
    assert outcomes["absent"] > 0  # at least some kills landed mid-operation


def timed(p: Pinnace, args: list[str]) -> float:
    start = time.monotonic()
    p.run(*args)
    return time.monotonic() - start


def test_load_killed_at_random(pinnace: Pinnace, big_archive: tuple[Path, str]) -> None:
    path, image_id = big_archive
    duration = timed(pinnace, ["load", "-i", str(path)])
    assert check_consistent(pinnace) == {image_id}
    pinnace.run("rmi", image_id)
    kill_loop(pinnace, ["load", "-i", str(path)], duration * 1.2, image_id)


def test_import_killed_at_random(pinnace: Pinnace, big_rootfs: Path) -> None:
    duration = timed(pinnace, ["import", str(big_rootfs), "big:1"])
    pinnace.run("rmi", "big:1")
    kill_loop(pinnace, ["import", str(big_rootfs), "big:1"], duration * 1.2, None)


WORKER = r"""
import subprocess, sys
pinnace, root, runroot, tar, me = sys.argv[1:]
ok = failed = 0
for i in range(20):
    name = f"c{i % 3}:latest"
    args = ["import", tar, name] if i % 2 == 0 else ["rmi", "-f", name]
    p = subprocess.run([pinnace, "--root", root, "--runroot", runroot, *args], capture_output=True, text=True)
    if p.returncode == 0:
        ok += 1
        continue
    err = p.stderr.strip()
    clean = ("No such image" in err or "conflict" in err) and len(err.splitlines()) == 1
    if not clean:
        print(f"UNCLEAN {args}: rc={p.returncode} {err!r}")
        sys.exit(1)
    failed += 1
print(f"ok={ok} failed={failed}")
"""


def test_concurrent_import_and_remove(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [
                os.fspath(Path(PINNACE).parent / "python"),
                str(script),
                str(PINNACE),
                str(pinnace.root),
                str(pinnace.runroot),
                str(rootfs_tar),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
    check_consistent(pinnace)
