"""Start-up guard: the commands users run most import only what they need.

``pinnace images`` is benchmarked against podman's Go binary (bench/images.py);
a stray module-level import of typing, re, dataclasses or pathlib on its path
costs several milliseconds on every call.  This test fails when one creeps in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"
HEAVY = ("typing", "re", "dataclasses", "pathlib", "json", "argparse", "inspect", "tarfile", "hashlib")

PROBE = """
import io, sys
sys.path[:0] = [{src!r}]
from pinnace.cli.main import run
out, sys.stdout = sys.stdout, io.StringIO()
code = run(["--root", {root!r}, "--runroot", {runroot!r}, *{argv!r}])
sys.stdout = out
print(code, sorted(m for m in {heavy!r} if m in sys.modules))
"""


def loaded(tmp_path: Path, *argv: str) -> tuple[str, str]:
    code = PROBE.format(
        src=str(SRC), root=str(tmp_path / "root"), runroot=str(tmp_path / "run"), argv=list(argv), heavy=HEAVY
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    status, _, modules = proc.stdout.strip().partition(" ")
    return status, modules


def test_images_imports_stay_light(tmp_path: Path) -> None:
    assert loaded(tmp_path, "images") == ("0", "[]")
    assert loaded(tmp_path, "images", "-q") == ("0", "[]")


def test_version_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    assert loaded(tmp_path, "--version") == ("0", "[]")
