"""Exec through ``pinnace system service``: the real docker CLI (``docker exec``, with and without a
terminal) and the docker SDK (``exec_run``, the low-level exec API), against one running container."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = pytest.mark.root

needs_docker = pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


@pytest.fixture
def box(engine: Pinnace, service: str) -> str:
    """A running container named ``box`` (its ID)."""
    return engine.run(
        "run", "-d", "--name", "box", "--network", "none", "busybox", "busybox", "sleep", "300"
    ).stdout.strip()


def _env(host: str) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}


def docker(
    host: str, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args], input=input, capture_output=True, text=True, timeout=60, env=_env(host)
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def _request(host: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    """One HTTP request on the service's socket, read to the end (the connection closes)."""
    payload = json.dumps(body).encode() if body is not None else b""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(host[len("unix://") :])
        s.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head + b"\r\n\r\n" + rest


@needs_docker
def test_docker_exec_output_exit_codes_stdin_and_options(service: str, box: str) -> None:
    assert docker(service, "exec", "box", "busybox", "echo", "hi").stdout == "hi\n"
    assert docker(service, "exec", "box", "sh", "-c", "exit 7", check=False).returncode == 7
    streams = docker(service, "exec", "box", "sh", "-c", "echo out; echo err >&2")
    assert (streams.stdout, streams.stderr) == ("out\n", "err\n")
    piped = docker(service, "exec", "-i", "box", "sh", "-c", "cat; echo end", input="line 1\nline 2\n")
    assert piped.stdout == "line 1\nline 2\nend\n"
    no_stdin = docker(service, "exec", "box", "cat", input="not for it\n")  # stdin is /dev/null without -i
    assert no_stdin.stdout == ""
    options = docker(
        service,
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "box",
        "sh",
        "-c",
        "echo $X $PWD; busybox id -u",
    )
    assert options.stdout == "1 /tmp\n1000\n"
    assert docker(service, "exec", "-d", "box", "sh", "-c", "echo done > /tmp/flag").stdout == ""
    deadline = time.monotonic() + 10
    while (flag := docker(service, "exec", "box", "cat", "/tmp/flag", check=False)).stdout != "done\n":
        assert time.monotonic() < deadline, flag
        time.sleep(0.1)
    missing = docker(service, "exec", "box", "no-such-command", check=False)
    assert missing.returncode == 127
    assert missing.stdout.startswith("OCI runtime exec failed:") and missing.stdout.endswith(": unknown\n")
    assert "no-such-command" in missing.stdout


@needs_docker
def test_docker_exec_into_containers_that_cannot_take_it(engine: Pinnace, service: str) -> None:
    missing = docker(service, "exec", "nosuch", "true", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )
    stopped = engine.run("create", "--name", "stopped", "--network", "none", "busybox", "true").stdout.strip()
    refused = docker(service, "exec", "stopped", "true", check=False)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"Error response from daemon: Container {stopped} is not running\n",
    )
    engine.run("run", "-d", "--name", "held", "--network", "none", "busybox", "busybox", "sleep", "300")
    engine.run("pause", "held")
    paused = docker(service, "exec", "held", "true", check=False)
    assert (paused.returncode, paused.stderr) == (
        1,
        "Error response from daemon: Container held is paused, unpause the container before exec\n",
    )
    engine.run("unpause", "held")


def _in_a_terminal(
    argv: list[str], env: dict[str, str], keys: bytes, rows: int, cols: int, prompt: bytes = b"# "
) -> tuple[int, bytes]:
    """Run ``argv`` on a new pty of ``rows`` x ``cols``, type ``keys`` once ``prompt`` shows; (its exit
    code, what it wrote)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    output = b""
    typed = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            if not typed and prompt in output:
                os.write(master, keys)
                typed = True
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child and its terminal are gone
            break
        if not data:
            break
        output += data
    os.close(master)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


@needs_docker
def test_docker_exec_it_through_a_terminal(service: str, box: str) -> None:
    code, output = _in_a_terminal(
        ["docker", "exec", "-it", "box", "sh"],
        _env(service),
        b"busybox tty; busybox stty size; echo $((6*7)) $TERM; exit 3\r",
        rows=33,
        cols=111,
    )
    assert code == 3, output
    text = output.decode(errors="replace")
    assert "/dev/pts/" in text and "33 111" in text and "42 xterm" in text, text


@needs_docker
def test_docker_exec_detach_keys(service: str, box: str) -> None:
    bad = docker(service, "exec", "--detach-keys", "bogus", "box", "true", check=False)
    assert (bad.returncode, bad.stderr) == (
        1,
        "Error response from daemon: Invalid escape keys (bogus) provided\n",
    )
    code, output = _in_a_terminal(
        [
            "docker",
            "exec",
            "-it",
            "--detach-keys",
            "ctrl-x,x",
            "box",
            "sh",
            "-c",
            "echo ready; exec busybox sleep 123",
        ],
        _env(service),
        b"\x18x",
        rows=24,
        cols=80,
        prompt=b"ready",
    )
    # docker's CLI sees the keys itself, says so and ends (exit 1); the process runs on, as with dockerd
    assert code == 1 and output.endswith(b"read escape sequence\r\n"), output
    assert "sleep 123" in docker(service, "exec", "box", "busybox", "ps", "-o", "args").stdout


def test_the_sdk_exec_run(service: str, box: str) -> None:
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        container = client.containers.get("box")
        result = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert result.exit_code == 3 and sorted(result.output.splitlines()) == [b"err", b"out"]
        assert container.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True).output == (
            b"out\n",
            b"err\n",
        )
        streamed = container.exec_run(["sh", "-c", "echo a; busybox sleep 0.2; echo b"], stream=True)
        assert streamed.exit_code is None and b"".join(streamed.output) == b"a\nb\n"
        assert container.exec_run("busybox echo hi", tty=True).output == b"hi\r\n"
        assert container.exec_run(["sh", "-c", "echo x > /tmp/sdk"], detach=True).output == ""
        deadline = time.monotonic() + 10
        while container.exec_run(["cat", "/tmp/sdk"]).output != b"x\n":
            assert time.monotonic() < deadline
            time.sleep(0.1)

        api = client.api
        exec_id = api.exec_create(box, ["sh", "-c", "exit 5"], user="1000", privileged=False)["Id"]
        assert len(exec_id) == 64
        before = api.exec_inspect(exec_id)
        assert (before["Running"], before["ExitCode"], before["ContainerID"]) == (False, None, box)
        assert before["ProcessConfig"] == {
            "tty": False,
            "entrypoint": "sh",
            "arguments": ["-c", "exit 5"],
            "privileged": False,
            "user": "1000",
        }
        assert (before["OpenStdin"], before["OpenStdout"], before["OpenStderr"]) == (False, True, True)
        assert api.exec_start(exec_id) == b""
        after = api.exec_inspect(exec_id)
        assert (after["Running"], after["ExitCode"]) == (False, 5) and after["Pid"] > 0
        with pytest.raises(sdk.errors.APIError) as again:
            api.exec_start(exec_id)
        assert again.value.status_code == 409 and "has already run" in str(again.value)
        with pytest.raises(sdk.errors.NotFound, match="No such exec instance: nope"):
            api.exec_inspect("nope")

        sized = api.exec_create(box, ["sh", "-c", "busybox sleep 1; busybox stty size"], tty=True)["Id"]
        sock = api.exec_start(sized, tty=True, socket=True)
        api.exec_resize(sized, height=11, width=44)
        raw = sock._sock
        output = b""
        while chunk := raw.recv(4096):
            output += chunk
        sock.close()
        assert output == b"11 44\r\n"

        # the detach keys (ctrl-p ctrl-q by default) end a terminal's session, not its process
        held = api.exec_create(box, ["sh", "-c", "echo ready; exec busybox sleep 124"], tty=True, stdin=True)[
            "Id"
        ]
        sock = api.exec_start(held, tty=True, socket=True)
        raw = sock._sock
        output = b""
        while b"ready" not in output:
            output += raw.recv(4096)
        raw.sendall(b"\x10\x11")
        while raw.recv(4096):
            pass
        sock.close()
        assert api.exec_inspect(held)["Running"] is True
    finally:
        client.close()


def test_the_raw_api(service: str, box: str) -> None:
    status, reply = _request(service, "POST", f"/v1.45/containers/{box}/exec", {"Cmd": []})
    assert status == 400 and b'"No exec command specified"' in reply
    status, reply = _request(service, "POST", "/containers/nosuch/exec", {"Cmd": ["true"]})
    assert status == 404 and b"No such container: nosuch" in reply
    status, reply = _request(
        service,
        "POST",
        f"/containers/{box}/exec",
        {"Cmd": ["sh", "-c", "echo hi; echo ho >&2"], "AttachStdout": True},
    )
    assert status == 201
    exec_id = json.loads(reply.partition(b"\r\n\r\n")[2])["Id"]
    # No Upgrade header: a 200 whose body is the stream itself, until the process ends
    status, reply = _request(service, "POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": False})
    head, _, body = reply.partition(b"\r\n\r\n")
    assert status == 200 and b"application/vnd.docker.multiplexed-stream" in head
    assert body == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"  # stderr was not attached
    assert _request(service, "POST", "/exec/nope/resize?h=1&w=2")[0] == 404
    status, reply = _request(service, "POST", f"/exec/{exec_id}/resize?h=x&w=2")
    assert status == 400 and b'strconv.Atoi: parsing \\"x\\": invalid syntax' in reply


def test_container_resize(engine: Pinnace, service: str) -> None:
    import docker as sdk

    script = 'trap "busybox stty size > /tmp/size" WINCH; while :; do busybox sleep 0.1; done'
    engine.run("run", "-d", "-t", "--name", "term", "--network", "none", "busybox", "sh", "-c", script)
    engine.run("create", "--name", "idle", "--network", "none", "busybox", "true")
    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        client.api.resize("term", height=21, width=77)
        deadline = time.monotonic() + 10
        while (size := engine.run("exec", "term", "cat", "/tmp/size", check=False).stdout) != "21 77\n":
            assert time.monotonic() < deadline, size
            time.sleep(0.1)
        with pytest.raises(sdk.errors.APIError) as refused:
            client.api.resize("idle", height=1, width=1)
        assert refused.value.status_code == 409 and "is not running" in str(refused.value)
    finally:
        client.close()


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_exec_in_a_runc_container(engine: Pinnace, service: str) -> None:
    import docker as sdk

    engine.run(
        "run",
        "-d",
        "--name",
        "svc",
        "--runtime",
        "runc",
        "--network",
        "none",
        "busybox",
        "busybox",
        "sleep",
        "300",
    )
    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        container = client.containers.get("svc")
        result = container.exec_run(["sh", "-c", "echo $((6*7)); exit 4"])
        assert (result.exit_code, result.output) == (4, b"42\n")
        assert container.exec_run(["busybox", "tty"], tty=True).output.startswith(b"/dev/pts/")
        detached = client.api.exec_create("svc", ["sh", "-c", "exit 6"])["Id"]
        client.api.exec_start(detached, detach=True)
        deadline = time.monotonic() + 10
        while (state := client.api.exec_inspect(detached))["Running"] or state["ExitCode"] is None:
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
        assert state["ExitCode"] == 6
    finally:
        client.close()


def test_an_exec_is_forgotten_with_its_container(engine: Pinnace, service: str) -> None:
    engine.run("run", "-d", "--name", "short", "--network", "none", "busybox", "busybox", "sleep", "60")
    status, reply = _request(service, "POST", "/containers/short/exec", {"Cmd": ["true"]})
    assert status == 201
    exec_id = json.loads(reply.partition(b"\r\n\r\n")[2])["Id"]
    assert _request(service, "GET", f"/exec/{exec_id}/json")[0] == 200
    engine.run("rm", "-f", "short")
    status, reply = _request(service, "GET", f"/exec/{exec_id}/json")
    assert status == 404 and f"No such exec instance: {exec_id}".encode() in reply


@needs_docker
def test_docker_exec_detached_with_a_terminal(service: str, box: str) -> None:
    assert docker(service, "exec", "-dt", "box", "sh", "-c", "tty > /tmp/tty; busybox sleep 1; echo done > /tmp/end").stdout == ""
    deadline = time.monotonic() + 20
    while docker(service, "exec", "box", "cat", "/tmp/end", check=False).stdout != "done\n":  # not hung up
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert docker(service, "exec", "box", "cat", "/tmp/tty").stdout.startswith("/dev/pts/")
