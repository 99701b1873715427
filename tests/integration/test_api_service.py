"""``pinnace system service`` driven by the real docker CLI and the docker SDK for Python: version
negotiation, info, images and containers made by the daemonless CLI on the same store, errors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = pytest.mark.root


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


needs_docker = pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")


@needs_docker
def test_the_docker_cli_negotiates_and_reads_the_store(engine: Pinnace, service: str) -> None:
    version = json.loads(docker(service, "version", "--format", "{{json .Server}}").stdout)
    assert version["ApiVersion"] == "1.45" and version["MinAPIVersion"] == "1.24"
    assert version["Platform"]["Name"] == "pinnace"
    info = json.loads(docker(service, "info", "--format", "{{json .}}").stdout)
    assert info["OSType"] == "linux" and info["Images"] == 1 and info["Containers"] == 0
    assert docker(service, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "busybox:latest\n"
    engine.run("create", "--name", "made-by-cli", "--network", "none", "--label", "k=v", "busybox", "sh")
    listed = docker(service, "ps", "-a", "--format", "{{.Names}}|{{.Image}}|{{.Status}}|{{.Labels}}").stdout
    assert listed == "made-by-cli|busybox|Created|k=v\n"
    assert docker(service, "ps", "--format", "{{.Names}}").stdout == ""  # not running
    state = docker(
        service, "inspect", "--format", "{{.State.Status}} {{.Name}} {{.Config.Cmd}}", "made-by-cli"
    )
    assert state.stdout == "created /made-by-cli [sh]\n"
    image = docker(service, "image", "inspect", "--format", "{{.RepoTags}}", "busybox")
    assert image.stdout == "[busybox:latest]\n"
    missing = docker(service, "inspect", "nothing-here", check=False)
    assert missing.returncode == 1 and "No such object: nothing-here" in missing.stderr
    assert docker(service, "ps", "-a", "--filter", "label=k=v", "-q").stdout.strip() != ""
    assert docker(service, "ps", "-a", "--filter", "label=k=other", "-q").stdout == ""


def test_the_docker_sdk(engine: Pinnace, service: str) -> None:
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        assert client.ping() is True
        assert client.version()["ApiVersion"] == "1.45"
        assert [i.tags for i in client.images.list()] == [["busybox:latest"]]
        engine.run("create", "--name", "sdk-sees-me", "--network", "none", "busybox", "sh")
        found = client.containers.list(all=True)
        assert [c.name for c in found] == ["sdk-sees-me"] and found[0].status == "created"
        assert client.containers.get("sdk-sees-me").attrs["Config"]["Cmd"] == ["sh"]
        with pytest.raises(sdk.errors.NotFound):
            client.containers.get("nope")
        with pytest.raises(sdk.errors.ImageNotFound):
            client.images.get("nope:1")
    finally:
        client.close()


def test_raw_paths_versions_and_the_socket(engine: Pinnace, tmp_path: Path) -> None:
    import http.client
    import socket
    import stat

    class Unix(http.client.HTTPConnection):
        def __init__(self, path: str) -> None:
            super().__init__("localhost")
            self.path = path

        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(self.path)

    with contextlib.contextmanager(serving)(engine, tmp_path / "api") as host:
        path = host[len("unix://") :]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # root only by default
        for method, url, status in (
            ("HEAD", "/_ping", 200),
            ("GET", "/v1.41/_ping", 200),
            ("GET", "/v1.45/images/json", 200),
            ("GET", "/containers/json?filters=notjson", 400),
            ("GET", "/v1.45/containers/nope/json", 404),
            ("GET", "/v1.45/no/such/endpoint", 404),
        ):
            conn = Unix(path)
            conn.request(method, url)
            reply = conn.getresponse()
            body = reply.read()
            assert reply.status == status, (url, body)
            assert reply.getheader("Api-Version") == "1.45"
            if status >= 400:
                assert "message" in json.loads(body)
            conn.close()
    assert not os.path.exists(path)  # the socket goes with the service


@needs_docker
def test_docker_run_logs_stop_and_rm_through_the_service(engine: Pinnace, service: str) -> None:
    out = docker(service, "run", "--rm", "--network", "none", "busybox", "busybox", "echo", "through the API")
    assert out.stdout == "through the API\n"
    failed = docker(
        service,
        "run",
        "--network",
        "none",
        "--name",
        "fails",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
        check=False,
    )
    assert (failed.returncode, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
    logs = docker(service, "logs", "fails")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    piped = subprocess.run(
        ["docker", "run", "-i", "--rm", "--network", "none", "busybox", "busybox", "cat"],
        input="fed through stdin\n", capture_output=True, text=True, timeout=60,
        env={**os.environ, "DOCKER_HOST": service, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"},
    )  # fmt: skip
    assert piped.stdout == "fed through stdin\n", piped.stderr
    cid = docker(
        service, "run", "-d", "--network", "none", "--name", "background", "busybox", "busybox", "sleep", "60"
    ).stdout.strip()
    assert docker(service, "ps", "--format", "{{.ID}} {{.Names}}").stdout == f"{cid[:12]} background\n"
    assert "sleep" in docker(service, "top", "background").stdout
    docker(service, "stop", "-t", "1", "background")
    assert docker(service, "inspect", "--format", "{{.State.Status}}", "background").stdout == "exited\n"
    docker(service, "rm", "background", "fails")
    assert docker(service, "ps", "-aq").stdout == ""  # --rm containers went with their runs
    assert engine.run("ps", "-aq").stdout == ""  # and the daemonless CLI on the same store agrees


def test_the_docker_sdk_runs_containers(engine: Pinnace, service: str) -> None:
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        out = client.containers.run("busybox", ["busybox", "echo", "sdk"], network_mode="none", remove=True)
        assert out == b"sdk\n"
        c = client.containers.run(
            "busybox", ["sh", "-c", "echo a; echo b >&2"], network_mode="none", detach=True
        )
        assert c.wait()["StatusCode"] == 0
        assert c.logs(stdout=True, stderr=False) == b"a\n" and c.logs(stdout=False, stderr=True) == b"b\n"
        tty = client.containers.run(
            "busybox", ["busybox", "echo", "tty"], network_mode="none", tty=True, detach=True
        )
        assert tty.wait()["StatusCode"] == 0 and tty.logs() == b"tty\r\n"
        with pytest.raises(sdk.errors.ContainerError):
            client.containers.run("busybox", ["sh", "-c", "exit 4"], network_mode="none", remove=True)
        for container in client.containers.list(all=True):
            container.remove(force=True)
        assert client.containers.list(all=True) == []
    finally:
        client.close()


@needs_docker
def test_images_and_volumes_through_the_docker_cli(engine: Pinnace, service: str, tmp_path: Path) -> None:
    from tests.helpers.pinnace_registry import serving as registry

    with contextlib.contextmanager(registry)(tmp_path / "registry") as host:
        engine.run("tag", "busybox", f"{host}/lib/busybox:1")
        engine.run("push", f"{host}/lib/busybox:1")
        engine.run("rmi", f"{host}/lib/busybox:1")
        pulled = docker(service, "pull", f"{host}/lib/busybox:1")
        assert "Status: Downloaded newer image" in pulled.stdout
        missing = docker(service, "pull", f"{host}/lib/nothing:1", check=False)
        assert missing.returncode == 1 and "name unknown" in missing.stderr
        # pull -a: no tag in the request, so every tag of the repository (dockerd's empty tag)
        engine.run("tag", "busybox", f"{host}/lib/busybox:2")
        engine.run("push", f"{host}/lib/busybox:2")
        engine.run("rmi", f"{host}/lib/busybox:1", f"{host}/lib/busybox:2")
        everything = docker(service, "pull", "-a", f"{host}/lib/busybox")
        assert f"Status: Downloaded newer image for {host}/lib/busybox\n" in everything.stdout
        # docker images REPO: only the names that match, though busybox:latest is the same image
        listed = docker(service, "images", "--format", "{{.Repository}}:{{.Tag}}", f"{host}/lib/busybox")
        assert sorted(listed.stdout.split()) == [f"{host}/lib/busybox:1", f"{host}/lib/busybox:2"]
    docker(service, "tag", "busybox", "renamed:2")
    assert "renamed:2" in docker(service, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "Untagged: renamed:2" in docker(service, "rmi", "renamed:2").stdout
    assert docker(service, "history", "-q", "busybox").stdout.strip() != ""
    docker(service, "volume", "create", "--label", "team=x", "data")
    assert docker(service, "volume", "ls", "--format", "{{.Name}}").stdout == "data\n"
    assert docker(service, "volume", "inspect", "--format", "{{.Labels}}", "data").stdout == "map[team:x]\n"
    out = docker(
        service,
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    )
    assert out.returncode == 0
    assert (
        engine.run("run", "--rm", "--network", "none", "-v", "data:/data", "busybox", "cat", "/data/f").stdout
        == "kept\n"
    )
    docker(service, "volume", "rm", "data")
    assert docker(service, "volume", "ls", "-q").stdout == ""


@needs_docker
def test_a_large_stdin_through_cat_comes_back_whole(service: str, tmp_path: Path) -> None:
    """The monitor never blocks on the container's stdin pipe: with 1.3 MB sent at once, cat blocked
    writing output the monitor had to read while the monitor waited for cat to read (a deadlock)."""
    data = os.urandom(1_000_000).hex()[:1_300_000].encode()
    env = {**os.environ, "DOCKER_HOST": service, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}
    proc = subprocess.run(
        ["docker", "run", "-i", "--rm", "--network", "none", "busybox", "cat"],
        input=data, capture_output=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data
