"""Which command lines the thin entry point hands to the zygote (pinnace.cli.client)."""

from __future__ import annotations

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
