"""A real process holding the operation lock, to test what another process sees."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pinnace

HOLDER = """
import sys
from pathlib import Path
from pinnace.meta.operations import operation
with operation(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""

Holder = Callable[[Path], "subprocess.Popen[str]"]


@pytest.fixture
def hold_operation() -> Iterator[Holder]:
    """Start a process that holds operation(root) until its stdin closes (or it is killed)."""
    procs: list[subprocess.Popen[str]] = []
    env = {**os.environ, "PYTHONPATH": str(Path(pinnace.__file__).parents[1])}

    def start(root: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
