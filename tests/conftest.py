"""Fixtures shared by the whole suite: a private pinnace store and rootfs tarballs.

Every test that touches a store gets its own --root/--runroot under tmp_path;
nothing here reads or writes /var/lib/pinnace or /run/pinnace.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
PINNACE = Path(sys.prefix) / "bin" / "pinnace"


#: The daemon.json every test store starts with: no default bridge, so a container with no
#: ``--network`` gets ``none`` and the host's interfaces and firewall stay as they are.  Tests of
#: networking write their own (a bridge and subnet private to the test).
NO_DEFAULT_BRIDGE = '{"bridge": "none"}\n'


@dataclass
class Pinnace:
    """Runs the real ``pinnace`` entry point against a private store."""

    root: Path
    runroot: Path

    def __post_init__(self) -> None:
        config = self.root / "daemon.json"
        if not config.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            config.write_text(NO_DEFAULT_BRIDGE)

    def run(
        self, *args: str, input: bytes | None = None, check: bool = True, stdin: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(PINNACE), "--root", str(self.root), "--runroot", str(self.runroot), *args],
            input=input.decode("latin-1") if input is not None else None,
            stdin=stdin,
            capture_output=True,
            text=True,
            encoding="latin-1",
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"pinnace {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def run_bytes(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(PINNACE), "--root", str(self.root), "--runroot", str(self.runroot), *args],
            input=input,
            capture_output=True,
            timeout=120,
            check=False,
        )

    def blobs(self) -> set[str]:
        d = self.root / "content" / "blobs" / "sha256"
        return {p.name for p in d.iterdir()} if d.exists() else set()

    def snapshot_dirs(self) -> set[str]:
        d = self.root / "snapshots"
        return {p.name for p in d.iterdir()} if d.exists() else set()

    def ingests(self) -> set[str]:
        d = self.root / "content" / "ingest"
        return {p.name for p in d.iterdir()} if d.exists() else set()


@pytest.fixture
def pinnace(tmp_path: Path) -> Pinnace:
    return Pinnace(tmp_path / "root", tmp_path / "runroot")


def make_rootfs_tar(dest: Path, extra: dict[str, bytes] | None = None, *, busybox: bool = True) -> Path:
    """A small rootfs tar: busybox with a few applet links, /etc files, and ``extra`` files."""
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        if busybox and BUSYBOX.exists():
            tar.add(str(BUSYBOX), "bin/busybox")
            for applet in ("sh", "echo", "ls", "cat", "true"):
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
        files = {
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": b"root:x:0:\n",
            **(extra or {}),
        }
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return dest


@pytest.fixture
def rootfs_tar(tmp_path: Path) -> Path:
    return make_rootfs_tar(tmp_path / "rootfs.tar")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def is_root() -> bool:
    return os.geteuid() == 0


def run(cmd: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=300, check=False, **kw)  # type: ignore[call-overload]
