"""``pinnace exec`` in real running containers, through the real entry point.

What docker does: the process runs in the container's namespaces and
cgroup with its environment, user and working directory unless asked
otherwise; stdin only with ``-i``; a pty with ``-t``; the process's exit
code; docker's messages and codes when the container cannot take it or
the command cannot start; exec events.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from pinnace.events import read_events
from pinnace.meta.db import Database
from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root

SLEEP = ("sh", "-c", "sleep 1000")


def start(engine: Pinnace, name: str, *flags: str) -> str:
    return engine.run("run", "-d", "--name", name, *flags, "busybox", *SLEEP).stdout.strip()


def test_exit_codes_output_and_streams(engine: Pinnace) -> None:
    start(engine, "box")
    proc = engine.run("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert (proc.stdout, proc.stderr, proc.returncode) == ("out\n", "err\n", 7)
    assert engine.run("exec", "box", "sh", "-c", "kill -9 $$", check=False).returncode == 137
    assert engine.run("exec", "box", "true").returncode == 0


def test_process_is_in_the_container(engine: Pinnace) -> None:
    container_id = start(engine, "box")
    script = "hostname; echo $(tr '\\0' ' ' < /proc/1/cmdline); cat /proc/self/cgroup"
    hostname, init, *cgroups = engine.run("exec", "box", "sh", "-c", script).stdout.splitlines()
    assert hostname == container_id[:12]  # its uts namespace
    assert init == "sleep 1000"  # its pid namespace, where its init is pid 1
    # its cgroups: seen through its cgroup namespace, each is the namespace's root
    assert cgroups and all(line.endswith(":/") for line in cgroups)


def test_env_workdir_and_user(engine: Pinnace, tmp_path: Path) -> None:
    start(engine, "box", "-e", "A=1", "-e", "B=2", "-w", "/tmp", "-u", "1000:1000")
    env = engine.run("exec", "box", "sh", "-c", "env").stdout.splitlines()
    assert {
        "A=1",
        "B=2",
        f"HOSTNAME={engine.run('inspect', '-f', '{{.Config.Hostname}}', 'box').stdout.strip()}",
    } <= set(env)
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in env
    assert not any(line.startswith("TERM=") for line in env)
    env_file = tmp_path / "env"
    env_file.write_text("C=from-file\n# comment\nB=file\n")
    merged = engine.run("exec", "--env-file", str(env_file), "-e", "B=3", "-e", "A", "box", "sh", "-c", "env")
    lines = merged.stdout.splitlines()
    assert "B=3" in lines and "C=from-file" in lines
    assert not any(line.startswith("A=") for line in lines)  # a bare name that we do not have: unset
    # the container's user and working directory by default, -u and -w otherwise
    assert engine.run("exec", "box", "sh", "-c", "echo $(id -u):$(id -g) $(pwd)").stdout == "1000:1000 /tmp\n"
    assert (
        engine.run("exec", "-u", "0", "-w", "/etc", "box", "sh", "-c", "echo $(id -u) $(pwd)").stdout
        == "0 /etc\n"
    )
    assert engine.run("exec", "-u", "root", "box", "sh", "-c", "id -u").stdout == "0\n"


def test_privileged_gets_every_capability(engine: Pinnace) -> None:
    start(engine, "box")

    def effective(*flags: str) -> int:
        out = engine.run("exec", *flags, "box", "sh", "-c", "grep CapEff /proc/self/status").stdout
        return int(out.split()[1], 16)

    normal, privileged = effective(), effective("--privileged")
    assert normal & (1 << 21) == 0  # CAP_SYS_ADMIN: not in Docker's default set
    assert privileged & (1 << 21)
    assert privileged & normal == normal


def test_stdin_only_with_i(engine: Pinnace) -> None:
    start(engine, "box")
    assert engine.run("exec", "-i", "box", "cat", input=b"piped\n").stdout == "piped\n"
    # without -i the process reads /dev/null, whatever our stdin holds
    assert engine.run("exec", "box", "cat", input=b"ignored\n").stdout == ""


def test_host_files_and_terminals_are_not_handed_over(engine: Pinnace, tmp_path: Path) -> None:
    """A file or terminal of ours reaches the process as a pipe we relay: root in it cannot chmod ours."""
    start(engine, "box")
    out, err, given = tmp_path / "out", tmp_path / "err", tmp_path / "in"
    given.write_bytes(b"from a file\n")
    argv = [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), "exec", "-i", "box"]
    script = (
        "cat; ls -l /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; chmod 4777 /proc/self/fd/1; echo e >&2"
    )
    with given.open("rb") as stdin, out.open("wb") as stdout, err.open("wb") as stderr:
        code = subprocess.run(
            [*argv, "sh", "-c", script], stdin=stdin, stdout=stdout, stderr=stderr
        ).returncode
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "from a file"
    assert all(re.search(r"/proc/self/fd/\d -> pipe:\[\d+\]$", line) for line in lines[1:4]), lines
    assert err.read_text() == "e\n"
    assert out.stat().st_mode & 0o7777 == 0o644


def test_tty(engine: Pinnace) -> None:
    start(engine, "box")
    argv = [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(
            argv[0], [*argv, "exec", "-it", "box", "sh", "-c", "tty; echo $TERM; read x; echo got:$x; exit 5"]
        )
    out = b""
    deadline = time.monotonic() + 30
    sent = False
    while time.monotonic() < deadline:
        if not sent and b"xterm" in out:
            os.write(fd, b"hello\r")
            sent = True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5
    assert re.search(rb"/dev/pts/\d+\r\nxterm\r\n", out)
    assert b"got:hello" in out
    # -it needs a terminal on stdin, as docker's CLI checks
    refused = engine.run("exec", "-it", "box", "true", input=b"", check=False)
    assert (refused.returncode, refused.stderr) == (1, "the input device is not a TTY\n")


def test_detached(engine: Pinnace) -> None:
    start(engine, "box")
    began = time.monotonic()
    proc = engine.run("exec", "-d", "box", "sh", "-c", "sleep 4; echo done > /tmp/marker; echo noise")
    assert time.monotonic() - began < 3.5  # it did not wait
    assert (proc.stdout, proc.stderr) == ("", "")
    deadline = time.monotonic() + 10
    while engine.run("exec", "box", "cat", "/tmp/marker", check=False).stdout != "done\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_detached_with_a_terminal(engine: Pinnace) -> None:
    """``exec -dt``: the process has a terminal (held by a process of ours, as containerd's shim holds
    it), and the CLI returns at once without waiting for it or holding our pipes."""
    start(engine, "box")
    proc = engine.run("exec", "-dt", "box", "sh", "-c", "tty > /tmp/tty; echo on-the-terminal; sleep 2; echo done > /tmp/end")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    deadline = time.monotonic() + 20
    while engine.run("exec", "box", "cat", "/tmp/end", check=False).stdout != "done\n":  # not hung up
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert re.fullmatch(r"/dev/pts/\d+\n", engine.run("exec", "box", "cat", "/tmp/tty").stdout)


def test_command_cannot_start(engine: Pinnace) -> None:
    start(engine, "box")
    missing = engine.run_bytes("exec", "box", "nosuch")  # bytes: dockerd ends the line with \r\n
    assert missing.returncode == 127
    assert missing.stdout == (
        b"OCI runtime exec failed: exec failed: unable to start container process: "
        b'exec: "nosuch": executable file not found in $PATH: unknown\r\n'
    )
    assert engine.run("exec", "box", "/etc/passwd", check=False).returncode == 126
    directory = engine.run("exec", "box", "/etc", check=False)
    assert directory.returncode == 126
    assert directory.stdout.endswith("is a directory: unknown: permission denied\n")
    user = engine.run("exec", "-u", "nobody", "box", "true", check=False)
    assert (user.returncode, user.stdout) == (
        126,
        "unable to find user nobody: no matching entries in passwd file\n",
    )
    detached = engine.run("exec", "-d", "box", "nosuch", check=False)
    assert detached.returncode == 1
    assert detached.stderr.startswith("Error response from daemon: OCI runtime exec failed:")


def test_container_cannot_take_it(engine: Pinnace) -> None:
    missing = engine.run("exec", "nosuch", "true", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )
    container_id = engine.run("create", "--name", "made", "busybox", "true").stdout.strip()
    created = engine.run("exec", "made", "true", check=False)
    assert (created.returncode, created.stderr) == (
        1,
        f"Error response from daemon: Container {container_id} is not running\n",
    )
    start(engine, "box")
    engine.run("pause", "box")
    try:
        paused = engine.run("exec", "box", "true", check=False)
        assert (paused.returncode, paused.stderr) == (
            1,
            "Error response from daemon: Container box is paused, unpause the container before exec\n",
        )
    finally:
        engine.run("unpause", "box")
    keys = engine.run("exec", "--detach-keys", "bogus", "box", "true", check=False)
    assert (keys.returncode, keys.stderr) == (
        1,
        "Error response from daemon: Invalid escape keys (bogus) provided\n",
    )
    usage = engine.run("exec", "box", check=False)
    assert usage.returncode == 125
    assert '"pinnace exec" requires at least 2 arguments.' in usage.stderr


def test_events(engine: Pinnace) -> None:
    container_id = start(engine, "box")
    engine.run("exec", "box", "sh", "-c", "exit 3", check=False)
    db = Database(engine.root / "pinnace.db")
    try:
        events = [e for e in read_events(db) if e.action.startswith("exec_")]
    finally:
        db.close()
    assert [e.action for e in events] == ["exec_create: sh -c exit 3", "exec_start: sh -c exit 3", "exec_die"]
    assert {e.actor_id for e in events} == {container_id}
    assert len({e.attributes["execID"] for e in events}) == 1
    assert events[-1].attributes["exitCode"] == "3"
    assert events[0].attributes["name"] == "box"
