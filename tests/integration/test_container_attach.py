"""Attach, ``-i``, ``-t``, detach keys and the signal proxy, end to end through the real CLI.

The terminal tests give ``pinnace`` a real pty (``pty.openpty``) as its
stdio, as a user's terminal would be, and talk to the container through it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root


class Terminal:
    """``pinnace ARGS`` running on a pty of a known size; what it printed so far."""

    def __init__(self, engine: Pinnace, *args: str, rows: int = 33, cols: int = 101) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 4096)
                except OSError:
                    break
        assert needle in self.output, self.output
        return self.output

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def wait(self, timeout: float = 10.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


def test_run_interactive_passes_stdin_and_closes_it(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input=b"abc\nxyz\n")
    assert proc.stdout == "abc\nxyz\ndone\n"
    assert proc.returncode == 0


def test_without_interactive_stdin_is_empty(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "busybox", "sh", "-c", "cat; echo done", input=b"ignored\n")
    assert proc.stdout == "done\n"


def test_run_tty_is_a_terminal_with_our_size(engine: Pinnace) -> None:
    term = Terminal(engine, "run", "--rm", "-it", "busybox", "sh")
    term.read_until(b"# ")
    term.type(b"tty; stty size; echo $((6*7))\r")
    out = term.read_until(b"42\r\n")
    assert b"/dev/pts/0" in out
    assert b"33 101" in out
    term.type(b"exit 3\r")
    assert term.wait() == 3
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_tty_needs_a_terminal_on_stdin(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "-it", "busybox", "true", input=b"", check=False)
    assert proc.returncode != 0
    assert "the input device is not a TTY" in proc.stderr
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_attach_detach_and_attach_again(engine: Pinnace) -> None:
    engine.run("run", "-d", "-it", "--name", "shell", "busybox", "sh")
    first = Terminal(engine, "attach", "shell")
    time.sleep(0.3)  # attach is live: what we type reaches the shell
    first.type(b"echo $((6*7))\r")
    first.read_until(b"42")
    first.type(b"\x10\x11")  # ctrl-p ctrl-q
    assert first.wait() == 0
    assert engine.run("inspect", "-f", "{{.State.Status}}", "shell").stdout == "running\n"
    second = Terminal(engine, "attach", "shell")
    time.sleep(0.3)
    second.type(b"exit 4\r")
    assert second.wait() == 4
    assert (
        engine.run("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "shell").stdout == "exited 4\n"
    )
    logs = engine.run("logs", "shell").stdout
    assert "42" in logs


def test_attach_to_a_stopped_container_is_refused(engine: Pinnace) -> None:
    engine.run("create", "--name", "idle", "busybox", "true")
    proc = engine.run("attach", "idle", check=False)
    assert proc.returncode == 1
    assert "You cannot attach to a stopped container, start it first" in proc.stderr


def test_start_attach_prints_and_returns_the_exit_code(engine: Pinnace) -> None:
    engine.run("create", "--name", "job", "busybox", "sh", "-c", "echo out; echo err >&2; exit 6")
    proc = engine.run("start", "-a", "job", check=False)
    assert (proc.stdout, proc.stderr, proc.returncode) == ("out\n", "err\n", 6)
    again = engine.run("start", "-a", "job", check=False)
    assert again.stdout == "out\n"


def test_foreground_run_proxies_signals(engine: Pinnace) -> None:
    script = 'trap "echo got TERM; exit 9" TERM; echo ready; while :; do sleep 0.1; done'
    proc = subprocess.Popen(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot)]
        + ["run", "--rm", "busybox", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert out == b"got TERM\n"
    assert proc.returncode == 9


def test_tty_output_is_logged(engine: Pinnace) -> None:
    engine.run("run", "-t", "--name", "tt", "busybox", "echo", "in a tty")
    assert (
        engine.run_bytes("logs", "tt").stdout == b"in a tty\r\n"
    )  # the terminal's line endings, as docker logs them


def test_exec_tty_follows_our_window_size(engine: Pinnace) -> None:
    engine.run("run", "-d", "--name", "sized", "busybox", "sh", "-c", "sleep 600")
    term = Terminal(engine, "exec", "-it", "sized", "sh", rows=20, cols=70)
    time.sleep(0.5)
    term.type(b"stty size\r")
    term.read_until(b"20 70")
    fcntl.ioctl(term.master, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 132, 0, 0))
    os.kill(term.proc.pid, signal.SIGWINCH)  # what the terminal does for its foreground process
    time.sleep(0.3)
    term.type(b"stty size; exit 6\r")
    term.read_until(b"44 132")
    assert term.wait() == 6
