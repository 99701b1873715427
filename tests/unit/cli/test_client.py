"""Which command lines the thin entry point hands to the zygote (pinnace.cli.client)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.cli.client import _command


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--rm", "busybox"], ("run", "")),
        (["--root", "/r", "--runroot", "/rr", "run", "busybox"], ("run", "/rr")),
        (["--runroot=/x", "exec", "c", "true"], ("exec", "/x")),
        (["container", "run", "busybox"], ("container run", "")),
        (["-l", "debug", "container", "exec", "c", "ls"], ("container exec", "")),
        (["ps"], ("", "")),
        (["images"], ("", "")),
        (["--version"], ("", "")),
        (["--help", "run"], ("", "")),
        (["--runroot"], ("", "")),
        ([], ("", "")),
    ],
)
def test_only_run_and_exec_are_handed_over(argv: list[str], expected: tuple[str, str]) -> None:
    assert _command(argv) == expected


def test_the_front_imports_neither_the_engine_nor_collections(tmp_path: Path) -> None:
    """What every ``run`` and ``exec`` pays before the warm process takes over: finding the runroot and
    sending the request import no engine module (DEFAULT_RUNROOT lives in ``pinnace``) and no
    ``array`` (which pulls in ``collections``: 2 ms)."""
    src = Path(__file__).resolve().parents[3] / "src"
    code = (
        f"import sys; sys.path[:0] = [{str(src)!r}]\n"
        "from pinnace.cli import client\n"
        f"assert client._hand_over(['exec', 'c', 'true'], client._runroot({str(tmp_path)!r})) is None\n"
        "print(sorted(m for m in ('pinnace.engine', 'array', 'collections', 'sqlite3') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == "[]\n"
