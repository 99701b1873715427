"""Stage 1 started ahead: the native launcher starts it while the runtime's interpreter starts.

``create``, ``run`` and ``exec`` fork stage 1 (:mod:`pinnace.runtime.linux.init`)
once the job is known.  From the ``pinnace-runtime`` command that fork comes
after the interpreter's start and the runtime's imports (~10 ms), and then
stage 1 spends ~2 ms getting scheduled with a copy-on-write image and ~3 ms
importing what the init needs: all of it on the critical path.  runc too
starts its stage 1 as a new process (``runc init``); ours is started
earlier, by the native launcher (``runtime/launcher.c``), at the same time
as the runtime's own interpreter, on the other core.  It starts
from the sealed interpreter (``.venv/libexec/pinnace-runtime-init``, so
CVE-2019-5736's guard holds), imports the init's modules, then waits on its
channel for the :class:`~pinnace.runtime.linux.sync.Handover`: the job in a
memfd, and the console socket.  From there it is an ordinary stage 1.

The launcher passes the parent's end of the channel and the standby's pid in
``PINNACE_RUNTIME_STANDBY`` ("FD,PID").  The runtime adopts it when it
starts (:func:`adopt`), takes it for its one stage 1 (:func:`take`), and
kills and reaps it before exiting if no job came (:func:`dismiss`): a
standby never outlives the command that started it, and leaves no zombie to
a caller that is a subreaper.
"""

from __future__ import annotations

import os

from pinnace.errors import Unavailable
from pinnace.runtime.linux import sync

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pinnace.runtime.linux.init import Job

#: The environment variable the launcher passes "FD,PID" in.
ENV = "PINNACE_RUNTIME_STANDBY"


class Standby:
    """The parent's hold on a standby stage 1: its channel and its pid (our child)."""

    def __init__(self, channel: sync.Channel, pid: int) -> None:
        self.channel = channel
        self.pid = pid

    def hand(self, job: Job, console: Any) -> tuple[sync.Channel, int]:
        """Give it ``job`` (and our ``console`` socket); (the channel, its pid), as ``spawn_stage1`` returns."""
        job_fd = job.memfd()
        try:
            fds = [job_fd] if console is None else [job_fd, console.fileno()]
            self.channel.send(sync.Handover(console=console is not None), fds)
        finally:
            os.close(job_fd)
        return self.channel, self.pid

    def dismiss(self) -> None:
        """Kill and reap it: no job is coming."""
        self.channel.close()
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


_standby: Standby | None = None


def adopt() -> None:
    """Take the launcher's standby out of the environment, if there is one.

    The value is checked before the fd is trusted: a socket, and a pid that
    is our child (a stale value from elsewhere must not make us use or close
    a descriptor we were given).
    """
    global _standby
    value = os.environ.pop(ENV, "")
    fd_text, _, pid_text = value.partition(",")
    if _standby is not None or not (fd_text.isdigit() and pid_text.isdigit()):
        return
    fd, pid = int(fd_text), int(pid_text)
    import _socket
    import stat

    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode) or os.waitpid(pid, os.WNOHANG)[0] != 0:
            return
    except (OSError, ChildProcessError):
        return
    os.set_inheritable(fd, False)
    _standby = Standby(sync.Channel(_socket.socket(fileno=fd)), pid)


def take() -> Standby | None:
    """The adopted standby, for the one stage 1 this process starts (None when there is none)."""
    global _standby
    standby, _standby = _standby, None
    return standby


def dismiss() -> None:
    """Before the runtime exits: a standby that got no job is killed and reaped."""
    standby = take()
    if standby is not None:
        standby.dismiss()


def main() -> NoReturn:
    """The standby's entry point (``pinnace-runtime-init FD``): preload, wait for the job, go on as stage 1."""
    import _socket
    import gc
    import sys

    gc.disable()  # as the runtime's own entry point (pinnace.runtime.cli.main) does
    from pinnace.runtime.linux import init

    ch = sync.Channel(_socket.socket(fileno=int(sys.argv[1])))
    os.set_inheritable(ch.fileno(), False)
    fds: list[int] = []
    try:
        init.ready_ahead()
        message, fds = ch.recv_fds(2)
    except BaseException:
        os._exit(1)  # nobody to tell: the parent has not handed us anything
    if message is None:
        os._exit(0)  # dismissed
    expected = 2 if isinstance(message, sync.Handover) and message.console else 1
    if not isinstance(message, sync.Handover) or len(fds) != expected:
        for fd in fds:
            os.close(fd)
        init._fail_early(ch, Unavailable(f"stage 1: expected a handover, got {message!r}"))
    init.resume(ch, fds[0], fds[1] if expected == 2 else -1)
