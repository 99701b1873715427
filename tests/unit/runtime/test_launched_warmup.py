"""How the runtime takes over the warmer its native launcher forked (PINNACE_RUNTIME_WARMER=FD,PID).

The variable names a descriptor the runtime will close, so it is trusted only
when the fd is a pipe and the pid is a child of ours; it leaves the
environment either way, so nothing the runtime starts inherits it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pinnace.runtime.cgroups import LaunchedWarmUp


@pytest.fixture
def warmer() -> Iterator[tuple[int, int]]:
    """A stand-in warmer: a child that exits 7 once its pipe reads end-of-file; (write end, pid)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        while os.read(read_end, 1):
            pass
        os._exit(7)
    os.close(read_end)
    pipe = os.fstat(write_end).st_ino
    yield write_end, pid
    try:
        if os.fstat(write_end).st_ino == pipe:  # not closed by the test (nor its number reused)
            os.close(write_end)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def test_adopt_takes_a_launched_warmer_and_reaps_it(
    warmer: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    fd, pid = warmer
    monkeypatch.setenv(LaunchedWarmUp.ENV, f"{fd},{pid}")
    launched = LaunchedWarmUp.adopt()
    assert launched is not None and launched.pid == pid
    assert LaunchedWarmUp.ENV not in os.environ
    assert not os.get_inheritable(fd)  # stage 1 and hooks must not keep the warmer alive
    launched.stop()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: the warmer reads end-of-file
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7
    launched.reap()  # already reaped: no error


@pytest.mark.parametrize("value", ["", "x,1", "3", "-1,5", "3,-5"])
def test_a_malformed_value_is_ignored(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LaunchedWarmUp.ENV, value)
    assert LaunchedWarmUp.adopt() is None
    assert LaunchedWarmUp.ENV not in os.environ


def _refused(monkeypatch: pytest.MonkeyPatch, fd: int, pid: int) -> None:
    monkeypatch.setenv(LaunchedWarmUp.ENV, f"{fd},{pid}")
    assert LaunchedWarmUp.adopt() is None
    os.fstat(fd)  # still open: not ours to close


def test_a_pid_that_is_not_our_child_leaves_the_fd_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    try:
        _refused(monkeypatch, write_end, 1)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_an_fd_that_is_not_a_pipe_is_not_taken(
    warmer: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    fd = os.open(os.path.join(tmp_path, "file"), os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        _refused(monkeypatch, fd, warmer[1])
    finally:
        os.close(fd)
