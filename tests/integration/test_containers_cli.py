"""``pinnace run/create/start/ps/logs/wait/kill/rm`` end to end, daemonless, with real containers.

Each test imports a busybox image into its own --root, runs containers
through the real ``pinnace`` entry point, and asserts what they printed,
their exit codes, and that nothing (mount, cgroup, monitor) is left behind.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root


def test_run_rm_prints_and_leaves_nothing(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "busybox", "echo", "hello from pinnace")
    assert proc.stdout == "hello from pinnace\n"
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_exit_codes_as_docker(engine: Pinnace) -> None:
    assert engine.run("run", "--rm", "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    missing = engine.run("run", "--rm", "busybox", "nosuchcmd", check=False)
    assert missing.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stderr
    assert engine.run("run", "--rm", "nosuchimage", check=False).returncode == 125  # docker: a failed pull


def test_stdout_and_stderr_stay_apart(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (proc.stdout, proc.stderr) == ("out\n", "err\n")


def test_detached_lifecycle(engine: Pinnace) -> None:
    started = engine.run("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; sleep 60")
    container_id = started.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", container_id)
    table = engine.run("ps").stdout.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"]
    assert table[1].startswith(container_id[:12])
    assert table[1].split()[-1] == "web"
    assert "Up " in table[1]
    deadline = time.monotonic() + 10
    while engine.run("logs", "web").stdout != "started\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.run("logs", "web").stdout == "started\n"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started\n", engine.run("logs", "-t", "web").stdout
    )
    refused = engine.run("rm", "web", check=False)
    assert refused.returncode == 1
    assert "You cannot remove a running container" in refused.stderr
    conflict = engine.run("run", "-d", "--name", "web", "busybox", "true", check=False)
    assert conflict.returncode != 0
    assert 'The container name "/web" is already in use by container' in conflict.stderr
    engine.run("kill", "web")
    assert engine.run("wait", "web").stdout == "137\n"
    assert "Exited (137)" in engine.run("ps", "-a").stdout
    assert engine.run("ps", "--format", "{{.Names}}").stdout == ""
    assert engine.run("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout == "web exited\n"
    engine.run("rm", "web")
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_create_then_start_and_env_workdir_user(engine: Pinnace) -> None:
    created = engine.run(
        "create", "--name", "c1", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000",
        "busybox", "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g) $(hostname)"',
    )  # fmt: skip
    container_id = created.stdout.strip()
    assert "Created" in engine.run("ps", "-a").stdout
    engine.run("start", "c1")
    assert engine.run("wait", "c1").stdout == "0\n"
    assert engine.run("logs", "c1").stdout == f"bar /tmp 1000:1000 {container_id[:12]}\n"


def test_stop_sends_the_stop_signal_then_kills(engine: Pinnace) -> None:
    engine.run(
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; while :; do sleep 0.1; done",
    )
    engine.run(
        "run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"
    )
    time.sleep(0.3)  # let the shells install their traps
    assert engine.run("stop", "polite").stdout == "polite\n"
    assert "Exited (42)" in engine.run("ps", "-a", "--filter", "name=polite").stdout
    started = time.monotonic()
    engine.run("stop", "-t", "1", "stubborn")
    assert time.monotonic() - started < 10
    assert engine.run("wait", "stubborn").stdout == "137\n"


def test_inspect_shows_dockers_shape(engine: Pinnace) -> None:
    import json

    container_id = engine.run("create", "--name", "ins", "-e", "A=1", "busybox", "echo", "x").stdout.strip()
    for argv in (("container", "inspect", "ins"), ("inspect", "ins")):
        doc = json.loads(engine.run(*argv).stdout)[0]
        assert doc["Id"] == container_id
        assert doc["Name"] == "/ins"
        assert doc["State"]["Status"] == "created"
        assert doc["Path"] == "echo" and doc["Args"] == ["x"]
        assert "A=1" in doc["Config"]["Env"]
    assert engine.run("inspect", "-f", "{{.State.Status}}", "ins").stdout == "created\n"
    assert json.loads(engine.run("inspect", "busybox").stdout)[0]["Id"].startswith("sha256:")
    missing = engine.run("inspect", "nosuch", check=False)
    assert missing.returncode == 1
    assert "Error: No such object: nosuch" in missing.stderr
    assert (
        "Error: No such container: nosuch" in engine.run("container", "inspect", "nosuch", check=False).stderr
    )


def test_ps_size_counts_the_writable_layer(engine: Pinnace) -> None:
    engine.run(
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1k count=100 2>/dev/null",
    )
    table = engine.run("ps", "-a", "-s").stdout.splitlines()
    assert table[0].split()[-1] == "SIZE"
    assert re.search(r"10[0-9]kB \(virtual [0-9.]+[kM]B\)$", table[1]), table[1]
