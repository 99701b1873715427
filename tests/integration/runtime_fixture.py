"""Drive the real ``pinnace-runtime`` launcher against a private state root.

Every test gets its own ``--root`` under tmp_path and its own container IDs
(so their cgroups, named ``/<id>``, cannot collide with anything on the
host).  At the end the fixture force-deletes whatever containers remain,
removes the sealed interpreter's bind mount, and fails the test if a
container's cgroup or a mount under tmp_path is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.mount.flags import mount_points
from pinnace.runtime.linux import sealed
from tests.helpers.bundle import make_bundle

RUNTIME = Path(sys.prefix) / "bin" / "pinnace-runtime"

#: ``python -c AS_FD_3 FD ARGV...``: execs ARGV with FD (a pipe's write end) as its fd 3, for --preserve-fds.
AS_FD_3 = (
    "import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); os.execv(sys.argv[2], sys.argv[2:])"
)


class Runtime:
    """``pinnace-runtime --root ROOT ...`` and bundles to run."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "state"
        self.ids: list[str] = []

    def new_id(self) -> str:
        container_id = f"pinnace-test-{uuid.uuid4().hex[:12]}"
        self.ids.append(container_id)
        return container_id

    def bundle(self, args: list[str], edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
        return make_bundle(self.tmp / f"bundle-{len(self.ids)}-{uuid.uuid4().hex[:6]}", args, edit=edit)

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the runtime; stdout/stderr go to files, not pipes.

        A container inherits the runtime's stdio, so with pipes a detached
        container would hold them open and the call would not return.
        """
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [str(RUNTIME), "--root", str(self.root), *args],
                input=input.encode() if input is not None else None,
                stdout=out,
                stderr=err,
                timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                proc.args,
                proc.returncode,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pinnace-runtime {' '.join(args)} exited {result.returncode}: {result.stderr}"
            )
        return result

    def state(self, container_id: str) -> dict[str, Any]:
        import json

        state: dict[str, Any] = json.loads(self("state", container_id, check=True).stdout)
        return state

    def cleanup(self) -> list[str]:
        """Force-delete every container; return what leaked (cgroups, mounts)."""
        leaks = []
        for container_id in self.ids:
            self("delete", "--force", container_id)
            for hierarchy in ("memory", "pids", "unified", "freezer"):
                if os.path.exists(f"/sys/fs/cgroup/{hierarchy}/{container_id}"):
                    leaks.append(f"cgroup {hierarchy}/{container_id}")
        sealed.unseal(str(self.root))
        leaks += [p for p in mount_points() if p.startswith(str(self.tmp))]
        return leaks


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(tmp_path)
    try:
        yield rt
    finally:
        leaks = rt.cleanup()
    assert not leaks, f"left behind: {leaks}"
