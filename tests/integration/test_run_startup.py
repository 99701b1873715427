"""Start-up guard for ``pinnace run --rm IMAGE true``: the path imports only what running needs.

Run latency is benchmarked against podman (target: a third of it), and the
interpreter's imports are a large part of ours.  Running a container from an
image already in the store reads a config blob, makes and removes a
snapshot, mounts and unmounts: it needs no dataclasses, typing, hashlib,
tempfile, the sqlite3 package (``_sqlite3`` is enough), nor the unpacking and
ingest machinery.  This fails when one creeps back in.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root

SRC = Path(__file__).resolve().parents[2] / "src"

#: Never on the run path.
HEAVY = (
    "dataclasses",
    "typing",
    "inspect",
    "hashlib",
    "tempfile",
    "sqlite3",
    "datetime",
    "contextlib",
    "json",
    "threading",
    "pinnace.archive.apply",
    "pinnace.archive.diff",
    "pinnace.content.writer",
    "pinnace.content.ingest",
    "pinnace.images.service",
)
#: Still imported by code outside the image and snapshot stores (containers/, oci/reference).
PENDING = ("pathlib", "shutil", "re")

# As the ``pinnace`` launcher runs: -I -S, the source tree and the venv's packages on sys.path.
PROBE = """
import io, sys
sys.path[:0] = [{src!r}, {packages!r}]
from pinnace.cli.main import run
out, sys.stdout = sys.stdout, io.StringIO()
code = run(["--root", {root!r}, "--runroot", {runroot!r}, "run", "--rm", "busybox", "true"])
sys.stdout = out
print(code, sorted(m for m in {modules!r} if m in sys.modules))
"""


def loaded_by_run(engine: Pinnace, modules: tuple[str, ...]) -> tuple[str, str]:
    code = PROBE.format(
        src=str(SRC),
        packages=sysconfig.get_paths()["purelib"],
        root=str(engine.root),
        runroot=str(engine.runroot),
        modules=modules,
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    status, _, found = proc.stdout.strip().partition(" ")
    return status, found


def test_run_imports_stay_light(engine: Pinnace) -> None:
    assert loaded_by_run(engine, HEAVY) == ("0", "[]")  # the image's first: makes its init layer
    assert loaded_by_run(engine, HEAVY) == ("0", "[]")  # every later one
    assert engine.run("ps", "-a", "-q").stdout == ""  # --rm removed them, as ever


def test_run_imports_no_pathlib_shutil_re(engine: Pinnace) -> None:
    assert loaded_by_run(engine, PENDING) == ("0", "[]")
