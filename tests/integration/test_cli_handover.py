"""``run`` and ``exec`` handed to the warm zygote (pinnace.cli.client) behave as when run in the CLI.

The first command on a store starts the zygote; the ones after are served
by a process it forks, with our stdio, working directory, environment and
umask.  Each test runs the same thing both ways (``PINNACE_NO_ZYGOTE``) and
compares what a user sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root


def pinnace(
    engine: Pinnace, *args: str, cwd: Path, direct: bool, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GREETING": "hello from the client"}
    if direct:
        env["PINNACE_NO_ZYGOTE"] = "1"
    return subprocess.run(
        [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), *args],
        cwd=cwd, env=env, capture_output=True, timeout=60, check=False, **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def test_run_sees_our_cwd_env_stdio_and_umask(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "--rm", "busybox", "true")  # starts the zygote
    (tmp_path / "vars.env").write_text("FROM_FILE=relative path\n")
    results = []
    for direct in (False, True):
        cid = f"cid-{direct}"
        proc = pinnace(
            engine, "run", "--rm", "-i", "--cidfile", cid, "--env-file", "vars.env", "-e", "GREETING",
            "busybox", "sh", "-c", 'cat; echo "$GREETING / $FROM_FILE"; echo oops >&2; exit 5',
            cwd=tmp_path, direct=direct, input=b"from stdin\n",
        )  # fmt: skip
        mode = (tmp_path / cid).stat().st_mode & 0o777
        results.append((proc.returncode, proc.stdout, proc.stderr, mode, len((tmp_path / cid).read_text())))
    assert results[0] == results[1]
    assert results[0][:3] == (5, b"from stdin\nhello from the client / relative path\n", b"oops\n")


def test_exec_exit_code_and_errors(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "box", "busybox", "sh", "-c", "sleep 600")
    for direct in (False, True):
        proc = pinnace(
            engine, "exec", "box", "sh", "-c", "echo $((6*7)); exit 3", cwd=tmp_path, direct=direct
        )
        assert (proc.returncode, proc.stdout) == (3, b"42\n")
        missing = pinnace(engine, "exec", "box", "nosuch", cwd=tmp_path, direct=direct)
        assert missing.returncode == 127
    bad = pinnace(engine, "run", "--memory", "5x", "busybox", cwd=tmp_path, direct=False)
    assert bad.returncode == 125
    assert b"invalid argument" in bad.stderr


def test_signals_reach_the_container_through_the_handover(engine: Pinnace) -> None:
    engine.run("run", "--rm", "busybox", "true")  # starts the zygote: the next run is handed over
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
    assert (out, proc.returncode) == (b"got TERM\n", 9)
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_a_terminal_run_through_the_handover(engine: Pinnace) -> None:
    from tests.integration.test_container_attach import Terminal

    engine.run("run", "--rm", "busybox", "true")  # starts the zygote: the next run is handed over
    term = Terminal(engine, "run", "--rm", "-it", "busybox", "sh", rows=25, cols=90)
    term.read_until(b"# ")
    term.type(b"tty; stty size; exit 7\r")
    out = term.read_until(b"25 90")
    assert b"/dev/pts/0" in out
    assert term.wait() == 7
