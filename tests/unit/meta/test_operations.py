"""The operation lock: shared between operations, exclusive for GC, released by death."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from pinnace.meta.operations import exclusive, operation

Holder = Callable[[Path], "subprocess.Popen[str]"]  # the hold_operation fixture (conftest.py)


def test_operations_share_and_exclude_gc(tmp_path: Path) -> None:
    with operation(tmp_path), operation(tmp_path), exclusive(tmp_path, blocking=False) as held:
        assert held is False  # two operations at once (shared), but GC is kept out
    with exclusive(tmp_path, blocking=False) as held:
        assert held is True


def test_operation_creates_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "fresh" / "root"
    with operation(root):
        assert (root / "gc.lock").exists()


def test_other_process_holds_then_exits(tmp_path: Path, hold_operation: Holder) -> None:
    proc = hold_operation(tmp_path)
    with exclusive(tmp_path, blocking=False) as held:
        assert held is False
    with operation(tmp_path):  # operations still run next to it
        pass
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    with exclusive(tmp_path, blocking=False) as held:
        assert held is True


def test_sigkilled_holder_releases_at_once(tmp_path: Path, hold_operation: Holder) -> None:
    proc = hold_operation(tmp_path)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    with exclusive(tmp_path, blocking=False) as held:
        assert held is True
