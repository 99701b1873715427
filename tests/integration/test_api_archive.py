"""The Engine API's container filesystem and resource endpoints, driven by the real docker CLI and the
docker SDK: ``cp`` both ways (archive HEAD/GET/PUT), ``diff``, ``export``, ``stats``, ``update`` and
``container prune``."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed"),
]


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


def docker(
    host: str, *args: str, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}
    proc = subprocess.run(["docker", *args], capture_output=True, timeout=60, env=env, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr!r}")
    return proc


def out(host: str, *args: str) -> str:
    return docker(host, *args).stdout.decode()


def running(engine: Pinnace, name: str) -> None:
    engine.run("run", "-d", "--name", name, "--network", "none", "busybox", "busybox", "sleep", "60")


def sdk_client(host: str):  # type: ignore[no-untyped-def]
    import docker as sdk

    return sdk.DockerClient(base_url=host, version="auto")


def test_cp_a_file_and_a_directory_both_ways(engine: Pinnace, service: str, tmp_path: Path) -> None:
    running(engine, "c1")
    local = tmp_path / "local"
    (local / "tree" / "sub").mkdir(parents=True)
    (local / "hello.txt").write_text("hello from the host\n")
    (local / "tree" / "sub" / "deep.txt").write_text("deep\n")
    docker(service, "cp", str(local / "hello.txt"), "c1:/tmp/")
    docker(service, "cp", str(local / "tree"), "c1:/tmp/tree")
    assert engine.run("exec", "c1", "cat", "/tmp/hello.txt").stdout == "hello from the host\n"
    assert engine.run("exec", "c1", "cat", "/tmp/tree/sub/deep.txt").stdout == "deep\n"
    # and back: a file renamed on the way, a directory into an existing one
    back = tmp_path / "back"
    back.mkdir()
    docker(service, "cp", "c1:/tmp/hello.txt", str(back / "renamed.txt"))
    docker(service, "cp", "c1:/tmp/tree", str(back))
    assert (back / "renamed.txt").read_text() == "hello from the host\n"
    assert (back / "tree" / "sub" / "deep.txt").read_text() == "deep\n"
    engine.run("exec", "c1", "sh", "-c", "echo made inside > /etc/inside.txt")
    docker(service, "cp", "c1:/etc/inside.txt", str(back))
    assert (back / "inside.txt").read_text() == "made inside\n"


def test_cp_tar_streams_and_a_missing_path(engine: Pinnace, service: str, tmp_path: Path) -> None:
    running(engine, "c2")
    engine.run("exec", "c2", "sh", "-c", "echo streamed > /tmp/s.txt")
    tar = docker(service, "cp", "c2:/tmp/s.txt", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        member = t.getmember("s.txt")
        assert member.isfile() and t.extractfile(member).read() == b"streamed\n"  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"from stdin\n"
        info = tarfile.TarInfo("in/stdin.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    docker(service, "cp", "-", "c2:/tmp", input=buf.getvalue())
    assert engine.run("exec", "c2", "cat", "/tmp/in/stdin.txt").stdout == "from stdin\n"
    missing = docker(service, "cp", "c2:/no/such/file", str(tmp_path), check=False)
    assert missing.returncode == 1
    assert b"Could not find the file /no/such/file in container c2" in missing.stderr
    nobody = docker(service, "cp", "nobody:/etc/hostname", str(tmp_path), check=False)
    assert nobody.returncode == 1 and b"No such container" in nobody.stderr


def test_cp_into_a_stopped_container(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("create", "--name", "stopped", "--network", "none", "busybox", "cat", "/tmp/later.txt")
    (tmp_path / "later.txt").write_text("copied while stopped\n")
    docker(service, "cp", str(tmp_path / "later.txt"), "stopped:/tmp/later.txt")
    assert docker(service, "start", "-a", "stopped").stdout == b"copied while stopped\n"


def test_a_symlink_to_root_does_not_escape(engine: Pinnace, service: str, tmp_path: Path) -> None:
    running(engine, "c3")
    engine.run("exec", "c3", "sh", "-c", "busybox ln -s / /escape && echo inside > /marker")
    (tmp_path / "payload.txt").write_text("payload\n")
    # into the container through the link: lands in the container's root, never the host's
    docker(service, "cp", str(tmp_path / "payload.txt"), "c3:/escape/pinnace-payload.txt")
    assert not Path("/pinnace-payload.txt").exists()
    assert engine.run("exec", "c3", "cat", "/pinnace-payload.txt").stdout == "payload\n"
    # out of it: the container's /marker, read through the link, not the host's
    docker(service, "cp", "c3:/escape/marker", str(tmp_path / "marker"))
    assert (tmp_path / "marker").read_text() == "inside\n"
    # the link itself comes out as a link
    tar = docker(service, "cp", "c3:/escape", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        (member,) = t.getmembers()
        assert member.issym() and member.linkname == "/"


def test_diff_and_export(engine: Pinnace, service: str) -> None:
    engine.run(
        "run", "--name", "changed", "--network", "none", "busybox",
        "sh", "-c", "echo new > /tmp/new.txt && busybox rm /bin/true",
    )  # fmt: skip
    lines = out(service, "diff", "changed").splitlines()
    assert "A /tmp/new.txt" in lines and "D /bin/true" in lines and "C /tmp" in lines
    env = {**os.environ, "DOCKER_HOST": service, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}
    pipeline = subprocess.run(
        "docker export changed | tar t", shell=True, capture_output=True, text=True, env=env, timeout=60
    )
    assert pipeline.returncode == 0, pipeline.stderr
    names = {n.rstrip("/") for n in pipeline.stdout.splitlines()}
    assert {"tmp/new.txt", "bin/sh", "etc"} <= names and "bin/true" not in names
    missing = docker(service, "export", "nothing", check=False)
    assert missing.returncode == 1 and b"No such container: nothing" in missing.stderr


def test_stats(engine: Pinnace, service: str) -> None:
    running(engine, "busy")
    line = out(service, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "busy")
    name, usage = line.strip().split(" ", 1)
    assert name == "busy"
    used, _, limit = usage.partition(" / ")
    assert used.endswith("B") and limit.endswith("B") and not used.startswith("0B"), usage
    client = sdk_client(service)
    try:
        container = client.containers.get("busy")
        doc = container.stats(stream=False)
        for key in ("read", "preread", "pids_stats", "blkio_stats", "cpu_stats", "precpu_stats",
                    "memory_stats", "name", "id"):  # fmt: skip
            assert key in doc, key
        assert doc["name"] == "/busy" and doc["id"] == container.id
        cpu = doc["cpu_stats"]
        for key in ("total_usage", "usage_in_kernelmode", "usage_in_usermode"):
            assert key in cpu["cpu_usage"]
        assert cpu["online_cpus"] == os.cpu_count() and cpu["system_cpu_usage"] > 0
        assert set(cpu["throttling_data"]) == {"periods", "throttled_periods", "throttled_time"}
        assert doc["precpu_stats"]["system_cpu_usage"] > 0  # two readings: the CPU % can be computed
        assert doc["memory_stats"]["usage"] > 0 and doc["memory_stats"]["limit"] > 0
        assert doc["pids_stats"]["current"] >= 1
        one = container.stats(stream=False, one_shot=True)
        assert one["preread"] == "0001-01-01T00:00:00Z" and one["cpu_stats"]["cpu_usage"]["total_usage"] > 0
        streamed = container.stats(stream=True, decode=True)
        first, second = next(streamed), next(streamed)
        assert second["preread"] == first["read"]
        streamed.close()
        engine.run("create", "--name", "idle", "--network", "none", "busybox", "true")
        idle = client.containers.get("idle").stats(stream=False)
        assert (
            idle["name"] == "/idle" and idle["memory_stats"] == {} and idle["read"] == "0001-01-01T00:00:00Z"
        )
    finally:
        client.close()


def test_update(engine: Pinnace, service: str) -> None:
    running(engine, "limited")
    assert out(service, "update", "--memory", "64m", "--memory-swap", "128m", "limited") == "limited\n"
    assert out(service, "inspect", "--format", "{{.HostConfig.Memory}}", "limited") == f"{64 << 20}\n"
    container_id = out(service, "inspect", "--format", "{{.Id}}", "limited").strip()
    if Path("/sys/fs/cgroup/memory").is_dir():  # cgroup v1: the running container has it at once
        limit = Path("/sys/fs/cgroup/memory/pinnace") / container_id / "memory.limit_in_bytes"
        assert limit.read_text().strip() == str(64 << 20)
    out(
        service, "update", "--restart", "on-failure:3", "--pids-limit", "50", "--cpu-shares", "512", "limited"
    )
    policy = json.loads(out(service, "inspect", "--format", "{{json .HostConfig}}", "limited"))
    assert policy["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert policy["PidsLimit"] == 50 and policy["CpuShares"] == 512
    bad = docker(service, "update", "--cpus", "1", "--cpu-quota", "1000", "limited", check=False)
    assert bad.returncode == 1
    nobody = docker(service, "update", "--memory", "64m", "nobody", check=False)
    assert nobody.returncode == 1 and b"No such container: nobody" in nobody.stderr
    client = sdk_client(service)
    try:
        assert client.containers.get("limited").update(mem_limit="96m") == {"Warnings": []}
        assert client.containers.get("limited").attrs["HostConfig"]["Memory"] == 96 << 20
    finally:
        client.close()


def test_container_prune(engine: Pinnace, service: str) -> None:
    running(engine, "keeps-running")
    engine.run("create", "--name", "old1", "--network", "none", "busybox", "true")
    engine.run("create", "--name", "labelled", "--label", "keep=yes", "--network", "none", "busybox", "true")
    old_id = engine.run("inspect", "--format", "{{.Id}}", "old1").stdout.strip()
    pruned = out(service, "container", "prune", "-f", "--filter", "label!=keep=yes")
    assert pruned.startswith(f"Deleted Containers:\n{old_id}\n\nTotal reclaimed space: "), pruned
    names = set(out(service, "ps", "-a", "--format", "{{.Names}}").split())
    assert names == {"keeps-running", "labelled"}
    assert out(service, "container", "prune", "-f", "--filter", "label=keep=yes").startswith(
        "Deleted Containers:"
    )
    assert out(service, "container", "prune", "-f") == "Total reclaimed space: 0B\n"
    assert out(service, "ps", "-a", "--format", "{{.Names}}") == "keeps-running\n"


def test_sdk_put_and_get_archive(engine: Pinnace, service: str) -> None:
    import docker as sdk

    running(engine, "arch")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        big = os.urandom(3 << 20)  # larger than a chunk: streamed both ways
        info = tarfile.TarInfo("big.bin")
        info.size = len(big)
        info.uid = info.gid = 1234
        t.addfile(info, io.BytesIO(big))
    client = sdk_client(service)
    try:
        container = client.containers.get("arch")
        assert container.put_archive("/tmp", buf.getvalue()) is True
        assert engine.run("exec", "arch", "busybox", "stat", "-c", "%u %s", "/tmp/big.bin").stdout == (
            f"1234 {len(big)}\n"
        )  # the tar's owner kept, as dockerd without copyUIDGID
        chunks, stat = container.get_archive("/tmp/big.bin")
        assert stat["name"] == "big.bin" and stat["size"] == len(big) and stat["mode"] == 0o644
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
            assert t.extractfile("big.bin").read() == big  # type: ignore[union-attr]
        _, dir_stat = container.get_archive("/tmp")
        assert dir_stat["mode"] & (1 << 31) and dir_stat["name"] == "tmp"  # Go's os.ModeDir
        _, link_stat = container.get_archive("/bin/sh")
        assert link_stat["mode"] & (1 << 27) or link_stat["linkTarget"] == ""
        with pytest.raises(sdk.errors.NotFound) as missing:
            container.get_archive("/no/such")
        assert "Could not find the file /no/such in container" in str(missing.value)
        with pytest.raises(sdk.errors.NotFound):
            container.put_archive("/no/such/dir", buf.getvalue())
        with pytest.raises(sdk.errors.APIError) as not_dir:
            container.put_archive("/tmp/big.bin", buf.getvalue())
        assert not_dir.value.status_code == 400 and "extraction point is not a directory" in str(
            not_dir.value
        )
    finally:
        client.close()


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)


def request(host: str, method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = _Unix(host[len("unix://") :])
    try:
        conn.request(method, url, body=body, headers={"Content-Type": "application/json"} if body else {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def test_raw_requests_and_errors(engine: Pinnace, service: str) -> None:
    engine.run("create", "--name", "raw", "--network", "none", "busybox", "true")
    status, _, body = request(service, "GET", "/v1.45/containers/raw/archive")
    assert status == 400 and json.loads(body) == {"message": "bad parameter: pathcannot be empty"}
    status, headers, body = request(service, "HEAD", "/containers/raw/archive?path=/bin")
    assert status == 200 and body == b""
    found = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert found["name"] == "bin" and found["mode"] & (1 << 31) and found["mtime"].endswith("Z")
    assert request(service, "HEAD", "/containers/raw/archive?path=/nothing")[0] == 404
    assert request(service, "HEAD", "/containers/nobody/archive?path=/")[0] == 404
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        t.addfile(tarfile.TarInfo("bin"), io.BytesIO(b""))  # a file where the container has a directory
    url = "/containers/raw/archive?path=/&noOverwriteDirNonDir=true"
    status, _, body = request(service, "PUT", url, tar.getvalue())
    assert status == 400
    assert json.loads(body)["message"] == 'cannot overwrite directory "/bin" with non-directory "/"'
    status, _, body = request(service, "GET", "/containers/raw/changes")
    assert status == 200 and json.loads(body) is None  # nothing changed: dockerd's null
    status, _, body = request(service, "GET", "/containers/raw/stats?stream=true&one-shot=true")
    assert status == 400 and json.loads(body)["message"] == "cannot have stream=true and one-shot=true"
    status, _, body = request(service, "POST", "/containers/raw/update", b'{"Memory": "64m"}')
    assert status == 400
    assert json.loads(body)["message"] == (
        "json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64"
    )
    status, _, body = request(service, "POST", "/containers/raw/update", b'{"Memory": 1000}')
    assert status == 400 and "Minimum memory limit allowed is 6MB" in json.loads(body)["message"]
    status, _, body = request(
        service, "POST", "/containers/prune?filters=" + '{"name":["x"]}'.replace('"', "%22")
    )
    assert status == 400 and "invalid filter 'name'" in json.loads(body)["message"]
    status, _, body = request(service, "POST", "/containers/prune")
    doc = json.loads(body)
    assert status == 200 and len(doc["ContainersDeleted"]) == 1 and doc["SpaceReclaimed"] >= 0


def test_a_client_leaving_mid_archive_leaves_nothing_mounted(engine: Pinnace, service: str) -> None:
    from pinnace.mount.flags import mount_points

    engine.run(
        "run", "--name", "bigfile", "--network", "none", "busybox",
        "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1048576", "count=64",
    )  # fmt: skip
    conn = _Unix(service[len("unix://") :])
    conn.request("GET", "/containers/bigfile/archive?path=/big")
    reply = conn.getresponse()
    assert reply.status == 200 and reply.getheader("Content-Type") == "application/x-tar"
    assert len(reply.read(1 << 16)) == 1 << 16
    assert [m for m in mount_points() if m.startswith(str(engine.root))]  # mounted while it streams
    conn.close()  # gone long before the 64 MiB
    deadline = time.monotonic() + 10
    while [m for m in mount_points() if m.startswith(str(engine.root))]:
        assert time.monotonic() < deadline, "the stopped container's root stayed mounted"
        time.sleep(0.1)
    assert request(service, "GET", "/_ping")[0] == 200  # the service is fine
    status, _, body = request(service, "GET", "/containers/bigfile/export")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert t.getmember("big").size == 64 << 20
