"""The ``engine`` fixture: a private store holding busybox:latest, checked for leaks at the end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pinnace.mount.flags import mount_points
from tests.conftest import Pinnace
from tests.helpers.zygote import stop_zygote

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture
def engine(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> Iterator[Pinnace]:
    """A store with busybox:latest; at the end every container is removed and nothing may remain."""
    had_parent = {p for p in CGROUP_ROOT.glob("*/pinnace")}
    pinnace.run("import", "--change", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest")
    yield pinnace
    ids = pinnace.run("ps", "-a", "-q", "--no-trunc").stdout.split()
    if ids:
        pinnace.run("rm", "-f", *ids)
    stop_zygote(pinnace.runroot)
    # Only this store's containers: other stores (tests running side by side) share the parent cgroup.
    created = _created_ids(pinnace.root / "pinnace.db")
    leaked_cgroups = [str(p) for p in CGROUP_ROOT.glob("*/pinnace/*") if p.is_dir() and p.name in created]
    for parent in set(CGROUP_ROOT.glob("*/pinnace")) - had_parent:
        try:
            parent.rmdir()
        except OSError:
            pass  # another store's containers are in it
    assert not leaked_cgroups
    assert not [m for m in mount_points() if m.startswith(str(tmp_path))]


def _created_ids(db: Path) -> set[str]:
    """Every container ever created in the store (from its event log)."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT actor_id FROM events WHERE type = 'container' AND action = 'create'")
        return {row[0] for row in rows}
