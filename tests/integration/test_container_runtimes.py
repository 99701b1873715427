"""``--runtime runc``: the same container lifecycle through runc's command line instead of pinnace's library."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Pinnace

pytestmark = [pytest.mark.root, pytest.mark.interop]


def test_run_exec_pause_stop_with_runc(engine: Pinnace) -> None:
    proc = engine.run(
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
        check=False,
    )
    assert (proc.stdout, proc.stderr, proc.returncode) == ("out\n", "err\n", 3)
    missing = engine.run("run", "--rm", "--runtime", "runc", "busybox", "nosuchcmd", check=False)
    assert missing.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr

    engine.run("run", "-d", "--name", "svc", "--runtime", "runc", "busybox", "sh", "-c", "sleep 600")
    assert engine.run("inspect", "-f", "{{.HostConfig.Runtime}}", "svc").stdout == "runc\n"
    exec_ = engine.run("exec", "svc", "sh", "-c", "echo $((6*7)); exit 4", check=False)
    assert (exec_.stdout, exec_.returncode) == ("42\n", 4)
    engine.run("pause", "svc")
    assert engine.run("inspect", "-f", "{{.State.Status}}", "svc").stdout == "paused\n"
    engine.run("unpause", "svc")
    started = time.monotonic()
    engine.run("stop", "-t", "1", "svc")
    assert time.monotonic() - started < 10
    assert (
        engine.run("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "svc").stdout == "exited 137\n"
    )


def test_an_unknown_runtime_is_refused(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "--runtime", "nosuchruntime", "busybox", "true", check=False)
    assert proc.returncode == 125
    assert "unknown or invalid runtime name: nosuchruntime" in proc.stderr
