"""Images built and moved through ``pinnace system service``, driven by the real docker CLI (legacy
builder, ``DOCKER_BUILDKIT=0``) and the docker SDK: build, save/load, push/pull with X-Registry-Auth,
prune, import, search."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace, make_rootfs_tar
from tests.helpers.api_service import serving

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed"),
]


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


def docker(
    host: str,
    *args: str,
    check: bool = True,
    stdin: bytes | None = None,
    config: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOCKER_HOST": host,
        "DOCKER_BUILDKIT": "0",
        "DOCKER_CONFIG": str(config) if config else "/nonexistent-pinnace-docker-config",
    }
    proc = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, timeout=180, env=env, cwd=cwd, check=False
    )
    out = subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {out.returncode}: {out.stdout}\n{out.stderr}")
    return out


def context(where: Path, files: dict[str, str]) -> Path:
    where.mkdir(parents=True)
    for name, text in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
    return where


MULTI_STEP = """\
FROM busybox
ENV GREETING=hello
RUN echo built-by-run > /made.txt && echo run-output-line
COPY data.txt /data.txt
COPY . /ctx/
CMD ["sh", "-c", "cat /made.txt /data.txt; echo $GREETING; ls /ctx"]
"""


def test_legacy_docker_build_then_run(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = context(
        tmp_path / "ctx",
        {
            "Dockerfile": MULTI_STEP,
            "data.txt": "copied-data\n",
            ".dockerignore": "secret.txt\n",
            "secret.txt": "x",
        },
    )
    built = docker(service, "build", "-t", "x:1", ".", cwd=ctx)
    out = built.stdout
    assert "Step 1/6 : FROM busybox" in out
    assert "Step 3/6 : RUN echo built-by-run > /made.txt && echo run-output-line" in out
    assert "Step 6/6 : CMD" in out
    assert "\nrun-output-line\n" in out
    assert "Successfully built " in out and "Successfully tagged x:1" in out
    ran = docker(service, "run", "--rm", "--network", "none", "x:1")
    listed = ran.stdout.splitlines()
    assert listed[:3] == ["built-by-run", "copied-data", "hello"]
    assert "data.txt" in listed[3:] and "secret.txt" not in listed[3:]
    # built again: every step from the cache, the same image
    again = docker(service, "build", "-t", "x:1", ".", cwd=ctx).stdout
    assert " ---> Using cache" in again and "\nrun-output-line\n" not in again
    image_id = docker(service, "image", "inspect", "--format", "{{.Id}}", "x:1").stdout.strip()
    assert f"Successfully built {image_id[7:19]}" in again
    fresh = docker(service, "build", "--no-cache", "--label", "team=build", "-t", "x:2", ".", cwd=ctx).stdout
    assert "\nrun-output-line\n" in fresh and " ---> Using cache" not in fresh
    labels = docker(service, "image", "inspect", "--format", "{{json .Config.Labels}}", "x:2").stdout
    assert json.loads(labels) == {"team": "build"}


def test_build_args_target_quiet_and_stdin(engine: Pinnace, service: str, tmp_path: Path) -> None:
    dockerfile = (
        'FROM busybox AS first\nARG WHO=nobody\nRUN echo "first $WHO" > /who\n'
        "FROM busybox AS second\nRUN echo second > /who\n"
    )
    ctx = context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    docker(service, "build", "--build-arg", "WHO=alice", "--target", "first", "-t", "a:1", ".", cwd=ctx)
    assert docker(service, "run", "--rm", "--network", "none", "a:1", "cat", "/who").stdout == "first alice\n"
    quiet = docker(service, "build", "-q", "-t", "q:1", ".", cwd=ctx)
    image_id = docker(service, "image", "inspect", "--format", "{{.Id}}", "q:1").stdout.strip()
    assert quiet.stdout.strip() == image_id and image_id.startswith("sha256:")
    assert docker(service, "run", "--rm", "--network", "none", "q:1", "cat", "/who").stdout == "second\n"
    piped = docker(
        service, "build", "-t", "s:1", "-", stdin=b"FROM busybox\nRUN echo from-stdin > /f\n", cwd=tmp_path
    )
    assert "Successfully tagged s:1" in piped.stdout
    assert docker(service, "run", "--rm", "--network", "none", "s:1", "cat", "/f").stdout == "from-stdin\n"


def test_a_failing_run_fails_the_build(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo about-to-fail && exit 3\n"})
    failed = docker(service, "build", "-t", "bad:1", ".", cwd=ctx, check=False)
    assert failed.returncode == 3, failed
    assert "about-to-fail" in failed.stdout
    assert (
        "The command '/bin/sh -c echo about-to-fail && exit 3' returned a non-zero code: 3" in failed.stderr
    )
    missing = docker(service, "image", "inspect", "bad:1", check=False)
    assert missing.returncode == 1
    broken = context(tmp_path / "broken", {"Dockerfile": "FROM busybox\nNOPE x\n"})
    refused = docker(service, "build", ".", cwd=broken, check=False)
    assert refused.returncode == 1 and "unknown instruction" in refused.stderr.lower()


def test_the_sdk_builds_from_a_path_and_a_tar(engine: Pinnace, service: str, tmp_path: Path) -> None:
    import docker as sdk

    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo sdk-step\nLABEL made=sdk\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {
            "Dockerfile": b"FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /listing\n",
            ".dockerignore": b"ignored.txt\n",
            "ignored.txt": b"no",
            "kept.txt": b"yes",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        image, logs = client.images.build(path=str(ctx), tag="sdk:1")
        lines = [chunk.get("stream", "") for chunk in logs]
        assert "sdk:1" in image.tags and image.labels == {"made": "sdk"}
        assert any("sdk-step" in line for line in lines) and any(
            line.startswith("Step 2/3") for line in lines
        )
        image, _ = client.images.build(fileobj=buf, custom_context=True, encoding="gzip", tag="tar:1")
        listing = client.containers.run("tar:1", ["cat", "/listing"], remove=True, network_mode="none")
        assert listing.split() == [b"Dockerfile", b"kept.txt"]
        with pytest.raises(sdk.errors.BuildError, match="returned a non-zero code: 1"):
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN false\n"), tag="no:1")
    finally:
        client.close()


def test_save_and_load(engine: Pinnace, service: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": service, "DOCKER_CONFIG": "/nonexistent-pinnace-docker-config"}
    piped = subprocess.run(
        "docker save busybox | docker load", shell=True, capture_output=True, text=True, env=env, timeout=120
    )
    assert piped.returncode == 0 and piped.stdout == "Loaded image: busybox:latest\n", piped
    docker(service, "tag", "busybox", "copy:2")
    archive = tmp_path / "saved.tar"
    docker(service, "save", "-o", str(archive), "busybox", "copy:2")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "index.json" in names
    image_id = docker(service, "image", "inspect", "--format", "{{.Id}}", "copy:2").stdout
    docker(service, "rmi", "busybox", "copy:2")
    assert docker(service, "images", "-q").stdout == ""
    loaded = docker(service, "load", "-i", str(archive))
    assert sorted(loaded.stdout.splitlines()) == ["Loaded image: busybox:latest", "Loaded image: copy:2"]
    assert docker(service, "image", "inspect", "--format", "{{.Id}}", "copy:2").stdout == image_id
    missing = docker(service, "save", "-o", str(tmp_path / "nothing.tar"), "nothing:1", check=False)
    assert missing.returncode == 1 and "nothing:1" in missing.stderr
    assert not (tmp_path / "nothing.tar").exists() or (tmp_path / "nothing.tar").stat().st_size == 0
    other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
    with contextlib.contextmanager(serving)(other, tmp_path / "other-api") as second:
        assert docker(second, "images", "-q").stdout == ""
        loaded = docker(second, "load", "-i", str(archive))
        assert sorted(loaded.stdout.splitlines()) == ["Loaded image: busybox:latest", "Loaded image: copy:2"]
        assert docker(second, "image", "inspect", "--format", "{{.Id}}", "copy:2").stdout == image_id
        garbage = docker(second, "load", stdin=b"not a tar at all" * 100, check=False)
        assert garbage.returncode == 1
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        image = client.images.get("copy:2")
        by_id = b"".join(image.save())  # by ID: no name in the archive
        with tarfile.open(fileobj=io.BytesIO(by_id)) as tar:
            assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] is None  # type: ignore[arg-type]
        named = b"".join(image.save(named="copy:2"))
        client.images.remove("copy:2")
        assert [i.id for i in client.images.load(by_id)] == [image.id]
        assert "copy:2" in client.images.load(named)[0].tags
    finally:
        client.close()


def test_push_and_pull_with_registry_auth(engine: Pinnace, service: str, tmp_path: Path) -> None:
    import bcrypt

    from tests.helpers.pinnace_registry import serving as registry

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"erin:{bcrypt.hashpw(b'right', bcrypt.gensalt(rounds=5)).decode()}\n")

    def config(name: str, password: str, host: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        auth = base64.b64encode(f"erin:{password}".encode()).decode()
        (where / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
        return where

    with contextlib.contextmanager(registry)(tmp_path / "registry", "--htpasswd", str(htpasswd)) as host:
        good, bad = config("good", "right", host), config("bad", "wrong", host)
        docker(service, "tag", "busybox", f"{host}/team/bb:1")
        pushed = docker(service, "push", f"{host}/team/bb:1", config=good)
        assert f"The push refers to repository [{host}/team/bb]" in pushed.stdout
        assert "1: digest: sha256:" in pushed.stdout and ": Pushed" in pushed.stdout
        denied = docker(service, "push", f"{host}/team/bb:1", config=bad, check=False)
        assert denied.returncode == 1 and "unauthorized" in denied.stderr.lower()
        docker(service, "rmi", f"{host}/team/bb:1")
        anonymous = docker(service, "pull", f"{host}/team/bb:1", check=False)
        assert anonymous.returncode == 1
        pulled = docker(service, "pull", f"{host}/team/bb:1", config=good)
        assert f"for {host}/team/bb:1" in pulled.stdout and "Digest: sha256:" in pulled.stdout
        assert (
            docker(service, "image", "inspect", "--format", "{{.RepoTags}}", f"{host}/team/bb:1").returncode
            == 0
        )
        docker(service, "tag", "busybox", f"{host}/team/bb:2")
        every = docker(service, "push", "--all-tags", f"{host}/team/bb", config=good)
        assert "1: digest: sha256:" in every.stdout and "2: digest: sha256:" in every.stdout
        sdk_push_and_pull(service, f"{host}/team/bb")
        nothing = docker(service, "push", f"{host}/team/none:1", config=good, check=False)
        assert nothing.returncode == 1
        assert f"An image does not exist locally with the tag: {host}/team/none" in nothing.stderr


def test_prune_import_and_search(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo one > /f\n"})
    docker(service, "build", "-q", "-t", "p:1", ".", cwd=ctx)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo two > /f\n")
    docker(service, "build", "-q", "-t", "p:1", ".", cwd=ctx)  # the first image is dangling now
    dangling = docker(service, "images", "-q", "--filter", "dangling=true").stdout.split()
    assert len(dangling) == 1
    pruned = docker(service, "image", "prune", "-f")
    assert "Deleted Images:" in pruned.stdout and "Total reclaimed space:" in pruned.stdout
    assert docker(service, "images", "-q", "--filter", "dangling=true").stdout == ""
    assert "p:1" in docker(service, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    nothing = docker(service, "image", "prune", "-f")
    assert nothing.stdout == "Total reclaimed space: 0B\n"

    rootfs = make_rootfs_tar(tmp_path / "rootfs.tar", {"etc/motd": b"imported-motd\n"})
    imported = docker(service, "import", "--change", 'CMD ["cat", "/etc/motd"]', str(rootfs), "imp:1")
    assert imported.stdout.strip().startswith("sha256:")
    assert docker(service, "run", "--rm", "--network", "none", "imp:1").stdout == "imported-motd\n"
    piped = docker(service, "import", "-", "imp:2", stdin=rootfs.read_bytes())
    assert piped.returncode == 0
    assert (
        docker(service, "run", "--rm", "--network", "none", "imp:2", "cat", "/etc/motd").stdout
        == "imported-motd\n"
    )

    search = docker(service, "search", "busybox", check=False)
    assert search.returncode == 1 and "not supported" in search.stderr
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        assert client.images.prune(filters={"dangling": True}) == {"ImagesDeleted": None, "SpaceReclaimed": 0}
        with pytest.raises(sdk.errors.APIError) as refused:
            client.images.prune(filters={"colour": "red"})
        assert refused.value.status_code == 400
        with pytest.raises(sdk.errors.APIError) as unsupported:
            client.images.search("busybox")
        assert unsupported.value.status_code == 501
    finally:
        client.close()


def sdk_push_and_pull(service: str, repository: str) -> None:
    """The SDK's ``auth_config`` (X-Registry-Auth) for a push and a pull; the push's aux line."""
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        bad = {"username": "erin", "password": "wrong"}
        lines = list(client.images.push(repository, tag="2", auth_config=bad, stream=True, decode=True))
        assert "error" in lines[-1] and "unauthorized" in lines[-1]["error"].lower()
        good = {"username": "erin", "password": "right"}
        lines = list(client.images.push(repository, tag="2", auth_config=good, stream=True, decode=True))
        aux = [line["aux"] for line in lines if "aux" in line]
        assert aux and aux[0]["Tag"] == "2" and aux[0]["Digest"].startswith("sha256:") and aux[0]["Size"] > 0
        client.images.remove(f"{repository}:2")
        pulled = client.images.pull(repository, tag="2", auth_config=good)
        assert f"{repository}:2" in pulled.tags
        lines = list(client.api.pull(repository, tag="2", auth_config=bad, stream=True, decode=True))
        assert "unauthorized" in lines[-1]["errorDetail"]["message"].lower()
    finally:
        client.close()


def test_a_big_context_and_a_dockerfile_outside_it(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"small.txt": "small\n"})
    with open(ctx / "big.bin", "wb") as f:  # more than the service's request size limit (64 MiB)
        f.write(os.urandom(1 << 20) * 80)
    elsewhere = context(
        tmp_path / "elsewhere", {"Build.file": "FROM busybox\nCOPY . /ctx/\nRUN ls -l /ctx > /listing\n"}
    )
    docker(service, "build", "-f", str(elsewhere / "Build.file"), "-t", "big:1", str(ctx))
    listing = docker(service, "run", "--rm", "--network", "none", "big:1", "cat", "/listing").stdout
    assert " 83886080 " in listing and "small.txt" in listing
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("pinnace-build-*/small.txt"))
