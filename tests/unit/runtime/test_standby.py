"""How the runtime takes over the stage 1 its native launcher started ahead (PINNACE_RUNTIME_STANDBY=FD,PID).

The variable names a socket the runtime will talk on and a process it will
kill, so it is trusted only when the fd is a socket and the pid is a child
of ours; it leaves the environment either way.  The job crosses as a memfd
passed with SCM_RIGHTS, with the console socket beside it.
"""

from __future__ import annotations

import _socket
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from pinnace.runtime.linux import standby, sync
from pinnace.runtime.linux.init import Job


@pytest.fixture
def ahead() -> Iterator[tuple[sync.Channel, int, int]]:
    """A stand-in standby: a child blocked on its end of a channel; (our channel, its fd number, pid)."""
    ours, theirs = sync.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        theirs.recv()
        os._exit(3)
    theirs.close()
    yield ours, ours.fileno(), pid
    standby.take()  # whatever a test left adopted
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _adopt(monkeypatch: pytest.MonkeyPatch, fd: int, pid: int) -> standby.Standby | None:
    monkeypatch.setenv(standby.ENV, f"{fd},{pid}")
    standby.adopt()
    assert standby.ENV not in os.environ
    return standby.take()


def test_adopt_takes_the_launchers_standby_once(
    ahead: tuple[sync.Channel, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fd, pid = ahead
    taken = _adopt(monkeypatch, fd, pid)
    assert taken is not None and taken.pid == pid and taken.channel.fileno() == fd
    assert not os.get_inheritable(fd)  # hooks and the init must not hold it
    assert standby.take() is None  # one stage 1 per command


def test_dismiss_kills_and_reaps_a_standby_that_got_no_job(
    ahead: tuple[sync.Channel, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fd, pid = ahead
    monkeypatch.setenv(standby.ENV, f"{fd},{pid}")
    standby.adopt()
    standby.dismiss()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: nothing left for a subreaper caller
    with pytest.raises(OSError):
        os.fstat(fd)
    standby.dismiss()  # nothing adopted any more: a no-op


@pytest.mark.parametrize("value", ["", "x,1", "3", "-1,5", "3,-5"])
def test_a_malformed_value_is_ignored(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(standby.ENV, value)
    standby.adopt()
    assert standby.ENV not in os.environ
    assert standby.take() is None


def test_a_pid_that_is_not_our_child_is_refused(
    ahead: tuple[sync.Channel, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fd, _ = ahead
    assert _adopt(monkeypatch, fd, 1) is None
    assert os.get_inheritable(fd) is False  # untouched: still ours (socketpair made it close-on-exec)
    os.fstat(fd)


def test_an_fd_that_is_not_a_socket_is_refused(
    ahead: tuple[sync.Channel, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    try:
        assert _adopt(monkeypatch, write_end, ahead[2]) is None
        os.fstat(write_end)  # still open: not ours to close
    finally:
        os.close(read_end)
        os.close(write_end)


def test_hand_passes_the_job_and_the_console() -> None:
    """What the standby receives: the Handover, a memfd holding the job, and the console socket."""
    ours, theirs = sync.socketpair()
    console_here, console_there = socket.socketpair()
    job = Job(
        spec={"ociVersion": "1.2.0", "process": {"args": ["true"]}},
        process={"args": ["true"]},
        namespaces=[{"type": "pid"}],
        container=True,
        bundle="/b",
        fifo="/s/c/exec.fifo",
        keep_fds=2,
        seccomp=(b"\x06\x00\x00\x00", 1),
    )
    console = _socket.socket(fileno=os.dup(console_there.fileno()))
    try:
        channel, pid = standby.Standby(ours, 4242).hand(job, console)
        assert (channel, pid) == (ours, 4242)
        message, fds = theirs.recv_fds(2)
        assert message == sync.Handover(console=True) and len(fds) == 2
        job_fd, console_fd = fds
        assert not os.get_inheritable(job_fd) and not os.get_inheritable(console_fd)
        received = Job.from_wire(os.read(job_fd, 1 << 20))
        assert (received.spec, received.fifo, received.keep_fds, received.seccomp) == (
            job.spec,
            job.fifo,
            2,
            job.seccomp,
        )
        os.write(console_fd, b"pty")  # the same socket: its peer reads what the standby writes
        assert console_here.recv(3) == b"pty"
        os.close(job_fd)
        os.close(console_fd)
    finally:
        for end in (ours, theirs):
            end.close()
        console.close()
        console_here.close()
        console_there.close()


def test_a_message_without_descriptors_reads_as_none_passed() -> None:
    ours, theirs = sync.socketpair()
    try:
        ours.send(sync.Go())
        assert theirs.recv_fds(2) == (sync.Go(), [])
        ours.close()
        assert theirs.recv_fds(2) == (None, [])  # end-of-file
    finally:
        theirs.close()


def test_the_descriptors_of_a_malformed_message_are_closed() -> None:
    ours, theirs = sync.socketpair()
    read_end, write_end = os.pipe()
    try:
        ours.sock.sendmsg([b"not json"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, write_end.to_bytes(4, sys.byteorder))])
        with pytest.raises(sync.Unavailable, match="malformed message"):
            theirs.recv_fds(1)
        os.close(write_end)
        assert os.read(read_end, 1) == b""  # no copy of the write end is left open
    finally:
        os.close(read_end)
        ours.close()
        theirs.close()
