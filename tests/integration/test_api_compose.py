"""``pinnace system service`` driven by docker compose (the ``docker-compose`` 1.29.2 command, on docker-py)
and by the docker CLI's ``run --rm``: the wait conditions, labels filters, networks with aliases, named
volumes, healthchecks and a restart of the service under running containers.

Every compose project has a name, a bridge (``pnc`` + 6 random hex digits) and a private 10.232.X.0/24 of
its own; each test takes it down (``down -v``) and then removes by label, through the service, whatever is
left.  The store has no default bridge.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
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

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed (setup.sh --test)"
)


def _env(host: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKER_HOST": host,
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "COMPOSE_INTERACTIVE_NO_CLI": "1",
    }


def docker(
    host: str, tmp_path: Path, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, env=_env(host, tmp_path)
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def service(engine: Pinnace, tmp_path: Path) -> Iterator[str]:
    yield from serving(engine, tmp_path / "api")


# --------------------------------------------------------------------------- docker run --rm


@pytest.mark.parametrize("code", [0, 3])
def test_run_rm_returns_the_exit_code_and_removes(
    engine: Pinnace, service: str, tmp_path: Path, code: int
) -> None:
    run = docker(
        service, tmp_path, "run", "--rm", "--name", f"rm{code}", "--network", "none", "busybox",
        "sh", "-c", f"echo out{code}; exit {code}", check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout) == (code, f"out{code}\n"), run.stderr
    assert docker(service, tmp_path, "ps", "-a", "-q", "--filter", f"name=rm{code}").stdout == ""
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_run_rm_of_a_container_that_cannot_start(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """dockerd removes a ``--rm`` container whose start failed; docker's CLI waits for that, then exits 127."""
    run = docker(
        service,
        tmp_path,
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "no-such-command",
        check=False,
        timeout=30,
    )
    assert run.returncode == 127 and "executable file not found" in run.stderr, run.stderr
    assert engine.run("ps", "-a", "-q").stdout == ""


def test_run_rm_detached_then_wait_removed(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """The SDK's wait(condition=removed) on a ``-d --rm`` container: its exit code once the monitor removed it."""
    import docker as sdk

    client = sdk.DockerClient(base_url=service, version="auto")
    try:
        container = client.containers.run(
            "busybox", ["sh", "-c", "busybox sleep 0.5; exit 7"], detach=True, auto_remove=True,
            network_mode="none",
        )  # fmt: skip
        assert container.wait(condition="removed", timeout=30) == {"StatusCode": 7, "Error": None}
        with pytest.raises(sdk.errors.NotFound):
            client.containers.get(container.id)
    finally:
        client.close()


# --------------------------------------------------------------------------- docker compose

COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo ok > /data/ready; exec busybox httpd -f -p 80 -h /data"]
    volumes: ["data:/data"]
    networks: [net]
    healthcheck:
      test: ["CMD", "busybox", "test", "-f", "/data/ready"]
      interval: 1s
      timeout: 5s
      retries: 30
  web:
    image: busybox
    command:
      - sh
      - -c
      - >-
        echo volume says $$(cat /data/ready);
        echo from-web > /data/web.txt;
        echo db says $$(busybox wget -q -O - http://db/web.txt);
        exec busybox sleep 300
    depends_on:
      db: {condition: service_healthy}
    volumes: ["data:/data"]
    networks: [net]
networks:
  net:
    driver_opts: {com.docker.network.bridge.name: BRIDGE}
    ipam:
      config: [{subnet: SUBNET}]
volumes:
  data: {}
"""


class Project:
    """A compose project of the test's own: its directory, name, bridge and subnet."""

    def __init__(self, host: str, tmp_path: Path, text: str = COMPOSE_FILE) -> None:
        self.host = host
        self.tmp_path = tmp_path
        self.name = f"pnc{os.urandom(3).hex()}"
        self.bridge = f"pnc{os.urandom(3).hex()}"
        self.subnet = f"10.232.{random.randint(0, 255)}.0/24"
        self.dir = tmp_path / "project"
        self.dir.mkdir()
        text = text.replace("BRIDGE", self.bridge).replace("SUBNET", self.subnet)
        (self.dir / "docker-compose.yml").write_text(text)

    def compose(
        self, *args: str, check: bool = True, timeout: float = 120, api: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """``docker-compose -p NAME ARGS`` in the project's directory (``api``: its COMPOSE_API_VERSION)."""
        env = _env(self.host, self.tmp_path)
        if api:
            env["COMPOSE_API_VERSION"] = api
        proc = subprocess.run(
            ["docker-compose", "--ansi", "never", "-p", self.name, *args], cwd=self.dir, capture_output=True,
            text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def leftovers(self) -> dict[str, list[str]]:
        """What the service still has of the project, found by compose's project label."""
        import docker as sdk

        label = f"com.docker.compose.project={self.name}"
        client = sdk.DockerClient(base_url=self.host, version="auto")
        try:
            return {
                "containers": [c.id for c in client.containers.list(all=True, filters={"label": label})],
                "networks": [n.id for n in client.networks.list(filters={"label": label})],
                "volumes": [v.name for v in client.volumes.list(filters={"label": label})],
            }
        finally:
            client.close()

    def clean(self) -> None:
        """``down -v``, then whatever it left, removed by label through the service; the bridge last."""
        import docker as sdk

        from pinnace.network import nat, plumbing

        with contextlib.suppress(Exception):
            self.compose("down", "-v", "-t", "1", check=False, timeout=60)
        client = sdk.DockerClient(base_url=self.host, version="auto")
        try:
            left = self.leftovers()
            for cid in left["containers"]:
                with contextlib.suppress(sdk.errors.APIError):
                    client.api.remove_container(cid, force=True, v=True)
            for nid in left["networks"]:
                with contextlib.suppress(sdk.errors.APIError):
                    client.api.remove_network(nid)
            for name in left["volumes"]:
                with contextlib.suppress(sdk.errors.APIError):
                    client.api.remove_volume(name, force=True)
        finally:
            client.close()
        nat.remove_network(self.bridge)
        plumbing.remove_bridge(self.bridge)


@pytest.fixture
def project(service: str, tmp_path: Path) -> Iterator[Project]:
    state = Project(service, tmp_path)
    try:
        yield state
    finally:
        state.clean()
    assert state.bridge not in os.listdir("/sys/class/net")


def _eventually(what: str, check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@needs_compose
def test_compose_up_ps_logs_down(project: Project) -> None:
    up = project.compose("up", "-d")
    assert f"Creating {project.name}_db_1" in up.stderr and f"Creating {project.name}_web_1" in up.stderr

    ps = project.compose("ps")
    lines = {line.split()[0]: line for line in ps.stdout.splitlines()[2:] if line.strip()}
    assert set(lines) == {f"{project.name}_db_1", f"{project.name}_web_1"}, ps.stdout
    assert "(healthy)" in lines[f"{project.name}_db_1"] and "Up" in lines[f"{project.name}_web_1"]
    assert project.compose("ps", "-q").stdout.split().__len__() == 2

    def logged() -> bool:
        return "db says from-web" in project.compose("logs", "--no-color", "web").stdout

    _eventually("web's log", logged)
    log = project.compose("logs", "--no-color", "web").stdout
    assert "volume says ok" in log and "db says from-web" in log

    reached = project.compose(
        "exec", "-T", "web", "sh", "-c", "busybox wget -q -O - http://db/ready; exit 3", check=False
    )
    assert (reached.returncode, reached.stdout) == (3, "ok\n"), reached.stderr

    left = project.leftovers()
    assert len(left["containers"]) == 2 and len(left["networks"]) == 1 and len(left["volumes"]) == 1

    down = project.compose("down", "-v", "-t", "1")
    assert f"Removing network {project.name}_net" in down.stderr
    assert f"Removing volume {project.name}_data" in down.stderr
    assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
    assert project.bridge not in os.listdir("/sys/class/net")


@needs_compose
def test_compose_recreate_keeps_the_volume_with_api_1_44(project: Project) -> None:
    """compose 1.x reads an image's ContainerConfig when it recreates: dockerd serves it before API 1.45
    (and omits it from 1.45 on, where compose 1.29.2 fails as it does with dockerd 26+)."""
    project.compose("up", "-d")
    first = project.leftovers()["containers"]
    recreate = project.compose("up", "-d", "--force-recreate", "-t", "1", api="1.44")
    assert f"Recreating {project.name}_db_1" in recreate.stderr, recreate.stderr
    assert not set(first) & set(project.leftovers()["containers"])

    def logged() -> bool:
        return "db says from-web" in project.compose("logs", "--no-color", "web").stdout

    _eventually("the new web's log", logged)
    assert "volume says ok" in project.compose("logs", "--no-color", "web").stdout


def test_image_inspect_has_container_config_before_api_1_45(service: str) -> None:
    import docker as sdk

    for version, legacy in (("1.44", True), ("1.45", False)):
        client = sdk.APIClient(base_url=service, version=version)
        try:
            doc = client.inspect_image("busybox")
        finally:
            client.close()
        assert ("ContainerConfig" in doc, "Container" in doc) == (legacy, legacy), version
        if legacy:
            assert doc["ContainerConfig"]["Cmd"] is None and doc["Container"] == ""
        assert doc["Config"]["Cmd"] == ["sh"]


COMPOSE_EXIT = """\
version: "2.4"
services:
  a:
    image: busybox
    network_mode: none
    command: ["sh", "-c", "echo hello from a; busybox sleep 1; exit 5"]
  b:
    image: busybox
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "echo hello from b; exec busybox sleep 30"]
"""


@needs_compose
def test_compose_up_attached_exit_code_from(service: str, tmp_path: Path) -> None:
    """``up`` in the foreground: attach to both, a's exit ends it with a's code, b is stopped."""
    project = Project(service, tmp_path, COMPOSE_EXIT)
    try:
        up = project.compose("up", "--exit-code-from", "a", check=False)
        assert up.returncode == 5, up.stderr
        assert "a_1  | hello from a" in up.stdout and "b_1  | hello from b" in up.stdout
        states = project.compose("ps").stdout
        assert "Exit 5" in states and "Exit 137" in states
    finally:
        project.clean()


# --------------------------------------------------------------------------- waits and service restarts


def test_a_cancelled_wait_stops_polling(engine: Pinnace) -> None:
    """ContainerService.wait asks ``cancelled`` at every poll: the API's waiter ends when its client goes."""
    from pinnace.engine import Config, Engine
    from pinnace.errors import Unavailable

    cid = engine.run("run", "-d", "--network", "none", "busybox", "busybox", "sleep", "30").stdout.strip()
    service = Engine(Config(str(engine.root), str(engine.runroot))).containers
    asked: list[float] = []

    def cancelled() -> bool:
        asked.append(time.monotonic())
        return len(asked) >= 3

    started = time.monotonic()
    with pytest.raises(Unavailable, match="cancelled"):
        service.wait(cid, condition="next-exit", cancelled=cancelled)
    assert len(asked) == 3 and time.monotonic() - started < 5
    with pytest.raises(Exception, match="invalid condition"):
        service.wait(cid, condition="sometime")
    engine.run("rm", "-f", cid)


def test_containers_outlive_a_service_restart(engine: Pinnace, tmp_path: Path) -> None:
    """A ``-d`` container keeps running when the service stops; the next service follows its log and attaches."""
    loop = "i=0; while true; do echo tick $i; i=$((i+1)); busybox sleep 0.2; done"
    with contextlib.contextmanager(serving)(engine, tmp_path / "api1") as first:
        cid = docker(
            first, tmp_path, "run", "-d", "--network", "none", "busybox", "sh", "-c", loop
        ).stdout.strip()
    with contextlib.contextmanager(serving)(engine, tmp_path / "api2") as second:
        state = docker(
            second, tmp_path, "inspect", "--format", "{{.State.Status}} {{.State.Pid}}", cid
        ).stdout
        assert state.startswith("running ") and os.path.exists(f"/proc/{state.split()[1]}")
        for args in (["logs", "-f", "--tail", "1", cid], ["attach", "--no-stdin", "--sig-proxy=false", cid]):
            proc = subprocess.Popen(
                ["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=_env(second, tmp_path), start_new_session=True,
            )  # fmt: skip
            try:
                assert proc.stdout is not None
                seen = [proc.stdout.readline() for _ in range(3)]
            finally:
                proc.kill()
                proc.wait(timeout=10)
            numbers = [int(line.split()[1]) for line in seen]
            assert all(line.startswith("tick ") for line in seen) and numbers == sorted(numbers), seen
        docker(second, tmp_path, "rm", "-f", cid)


# --------------------------------------------------------------------------- containers endpoints


def test_sizes_and_a_stop_right_after_a_kill(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """``ps -s`` and ``inspect -s`` show the writable layer's size; ``stop`` of a container that is dying
    (killed, its monitor not done yet) succeeds as dockerd's does."""
    cid = docker(
        service, tmp_path, "run", "-d", "--network", "none", "busybox", "sh", "-c",
        "echo hi > /f; exec busybox sleep 30",
    ).stdout.strip()  # fmt: skip
    _eventually("the file", lambda: docker(service, tmp_path, "diff", cid, check=False).stdout.strip() != "")
    sizes = docker(
        service, tmp_path, "inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", cid
    ).stdout.split()
    assert int(sizes[0]) >= 3 and int(sizes[1]) > int(sizes[0])
    assert docker(service, tmp_path, "inspect", "--format", "{{.SizeRw}}", cid).stdout == "<nil>\n"
    row = docker(service, tmp_path, "ps", "-s", "--format", "{{.Size}}").stdout
    assert "(virtual " in row and not row.startswith("0B"), row
    docker(service, tmp_path, "rm", "-f", cid)
    for n in range(3):
        cid = docker(
            service, tmp_path, "run", "-d", "--network", "none", "busybox", "busybox", "sleep", "30"
        ).stdout.strip()
        docker(service, tmp_path, "kill", cid)
        assert docker(service, tmp_path, "stop", cid).stdout == f"{cid}\n", n
        status = docker(
            service, tmp_path, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid
        )
        assert status.stdout == "exited 137\n"
        docker(service, tmp_path, "rm", cid)


def test_volume_prune(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """``docker volume prune``: anonymous unused volumes only; ``-a``: named ones too; used ones stay."""
    import docker as sdk

    docker(service, tmp_path, "volume", "create", "named")
    docker(service, tmp_path, "volume", "create", "kept")
    cid = docker(
        service, tmp_path, "create", "--network", "none", "-v", "/anon", "-v", "kept:/k", "busybox", "true"
    ).stdout.strip()
    anon = [
        m["Name"]
        for m in json.loads(docker(service, tmp_path, "inspect", "--format", "{{json .Mounts}}", cid).stdout)
        if m["Destination"] == "/anon"
    ]
    docker(service, tmp_path, "rm", cid)  # without -v: its anonymous volume stays, unused
    out = docker(service, tmp_path, "volume", "prune", "-f").stdout
    assert anon[0] in out and "named" not in out
    out = docker(service, tmp_path, "volume", "prune", "-a", "-f", "--filter", "label!=nothing").stdout
    assert "named" in out and "kept" in out
    assert docker(service, tmp_path, "volume", "ls", "-q").stdout == ""
    client = sdk.APIClient(base_url=service, version="1.41")  # before 1.42 every unused volume goes
    try:
        docker(service, tmp_path, "volume", "create", "old-api")
        assert client.prune_volumes()["VolumesDeleted"] == ["old-api"]
        with pytest.raises(sdk.errors.APIError, match="invalid filter"):
            client.prune_volumes(filters={"dangling": "true"})
    finally:
        client.close()
