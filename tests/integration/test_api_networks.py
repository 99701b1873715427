"""Networks, ``system df``, events and ``login`` through ``pinnace system service``, driven by the real docker
CLI and the docker SDK for Python.

Every network a test makes has a bridge of its own (``pnt`` + 6 random hex digits, as the other network
tests name theirs, so the suite's leak check sees them) and a private 10.231.X.0/24; the ``api`` fixture
removes the containers, the networks and their bridges at the end.  The store has no default bridge.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed"),
]

HTTPD = "mkdir -p /w; echo hello from $(hostname) > /w/index.html; exec busybox httpd -f -p 80 -h /w"


@dataclass
class Api:
    engine: Pinnace
    host: str  # unix://.../pinnace.sock
    third: int  # the X of this test's first 10.231.X.0/24
    bridges: list[str]
    config: Path  # DOCKER_CONFIG of the docker CLI (login writes there)

    def docker(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args], input=stdin, capture_output=True, text=True, timeout=60, env=self.env(),
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.config)}

    def subnet(self, n: int = 0) -> str:
        """The test's ``n``-th private subnet: 10.231.(X+n).0/24."""
        return f"10.231.{(self.third + n) % 256}.0/24"

    def bridge(self) -> str:
        name = f"pnt{os.urandom(3).hex()}"
        self.bridges.append(name)
        return name

    def create(self, name: str, n: int = 0, *extra: str) -> str:
        """``docker network create`` of a network on its own bridge and subnet; its ID."""
        out = self.docker(
            "network", "create", "--subnet", self.subnet(n), "-o",
            f"com.docker.network.bridge.name={self.bridge()}", *extra, name,
        )  # fmt: skip
        return out.stdout.strip()


@pytest.fixture
def api(engine: Pinnace, tmp_path: Path) -> Iterator[Api]:
    from pinnace.network import nat, plumbing

    with contextlib.contextmanager(serving)(engine, tmp_path / "api") as host:
        state = Api(engine, host, random.randint(0, 250), [], tmp_path / "docker-config")
        try:
            yield state
        finally:
            ids = engine.run("ps", "-a", "-q", "--no-trunc").stdout.split()
            if ids:
                engine.run("rm", "-f", *ids)
            left = engine.run("network", "ls", "-q", "--filter", "type=custom").stdout.split()
            if left:
                engine.run("network", "rm", *left)
            for bridge in state.bridges:
                nat.remove_network(bridge)
                plumbing.remove_bridge(bridge)
    assert not set(state.bridges) & set(os.listdir("/sys/class/net"))


def test_network_create_ls_inspect_rm_and_prune(api: Api) -> None:
    net_id = api.create(
        "front", 0, "--gateway", api.subnet(0).replace(".0/24", ".254"), "--label", "tier=web"
    )
    assert len(net_id) == 64
    ls = api.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout
    assert ls == "front bridge local\nhost host local\nnone null local\n"
    assert (
        api.docker("network", "ls", "-q", "--no-trunc", "--filter", "label=tier=web").stdout == net_id + "\n"
    )
    assert api.docker("network", "ls", "-q", "--filter", "name=fro").stdout == net_id[:12] + "\n"
    assert (
        api.docker("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}").stdout
        == "host\nnone\n"
    )
    assert api.docker("network", "ls", "-q", "--filter", "driver=null").stdout.strip() != ""
    bad = api.docker("network", "ls", "--filter", "type=odd", check=False)
    assert bad.returncode == 1 and "Error response from daemon: invalid filter: 'type'='odd'" in bad.stderr

    [doc] = json.loads(api.docker("network", "inspect", "front").stdout)
    assert (doc["Name"], doc["Id"], doc["Driver"], doc["Scope"]) == ("front", net_id, "bridge", "local")
    assert doc["IPAM"]["Config"] == [
        {"Subnet": api.subnet(0), "Gateway": api.subnet(0).replace(".0/24", ".254")}
    ]
    assert doc["Labels"] == {"tier": "web"} and doc["Containers"] == {}
    assert doc["Options"]["com.docker.network.bridge.name"] == api.bridges[0]
    assert (doc["Internal"], doc["EnableIPv6"], doc["Attachable"], doc["Ingress"]) == (
        False,
        False,
        False,
        False,
    )
    assert api.docker("network", "inspect", "-f", "{{.Id}}", net_id[:10]).stdout == net_id + "\n"

    dup = api.docker("network", "create", "--subnet", api.subnet(1), "front", check=False)
    assert dup.returncode == 1
    assert dup.stderr == "Error response from daemon: network with name front already exists\n"
    missing = api.docker("network", "inspect", "nope", check=False)
    assert missing.returncode == 1 and "network nope not found" in missing.stderr
    predefined = api.docker("network", "rm", "host", check=False)
    assert predefined.returncode == 1
    assert "host is a pre-defined network and cannot be removed" in predefined.stderr

    assert api.docker("network", "rm", "front").stdout == "front\n"
    gone = api.docker("network", "rm", "front", check=False)
    assert gone.returncode == 1 and "Error response from daemon: network front not found\n" in gone.stderr

    api.create("spare1", 2, "--label", "keep=no")
    api.create("spare2", 3)
    pruned = api.docker("network", "prune", "-f", "--filter", "label=keep=no").stdout
    assert pruned == "Deleted Networks:\nspare1\n\n"
    assert api.docker("network", "prune", "-f").stdout == "Deleted Networks:\nspare2\n\n"
    assert api.docker("network", "ls", "--format", "{{.Name}}").stdout == "host\nnone\n"
    # The daemonless CLI sees the same store.
    assert api.engine.run("network", "ls", "--format", "{{.Name}}").stdout == "host\nnone\n"


def test_containers_on_a_network_talk_by_name_and_connect_disconnect(api: Api) -> None:
    api.create("app", 0)
    api.docker("run", "-d", "--name", "web", "--network", "app", "busybox", "sh", "-c", HTTPD)
    fetch = "for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O - http://$0/ && exit 0; busybox sleep 0.3; done; exit 1"
    out = api.docker("run", "--rm", "--network", "app", "busybox", "sh", "-c", fetch, "web").stdout
    assert out.startswith("hello from ")
    ping = api.docker(
        "run", "--rm", "--network", "app", "busybox", "busybox", "ping", "-c1", "-W2", "web"
    ).stdout
    assert "1 packets received" in ping
    [doc] = json.loads(api.docker("network", "inspect", "app").stdout)
    [(cid, endpoint)] = doc["Containers"].items()
    assert endpoint["Name"] == "web" and endpoint["IPv4Address"].startswith(api.subnet(0)[:-5])
    assert endpoint["IPv4Address"].endswith("/24") and len(endpoint["EndpointID"]) == 64
    assert api.docker("inspect", "-f", "{{.Id}}", "web").stdout.strip() == cid

    in_use = api.docker("network", "rm", "app", check=False)
    assert in_use.returncode == 1
    assert in_use.stderr.startswith("Error response from daemon: error while removing network: network app ")
    assert "has active endpoints" in in_use.stderr

    api.create("back", 1)
    ip = api.subnet(1).replace(".0/24", ".77")
    api.docker("network", "connect", "--alias", "website", "--ip", ip, "back", "web")
    networks = json.loads(api.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "web").stdout)
    assert sorted(networks) == ["app", "back"] and networks["back"]["IPAddress"] == ip
    out = api.docker("run", "--rm", "--network", "back", "busybox", "sh", "-c", fetch, "website").stdout
    assert out.startswith("hello from ")
    twice = api.docker("network", "connect", "back", "web", check=False)
    assert twice.returncode == 1 and "endpoint with name web already exists in network back" in twice.stderr
    nobody = api.docker("network", "connect", "back", "nobody", check=False)
    assert nobody.returncode == 1 and "No such container: nobody" in nobody.stderr

    api.docker("network", "disconnect", "back", "web")
    networks = json.loads(api.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "web").stdout)
    assert sorted(networks) == ["app"]
    assert json.loads(api.docker("network", "inspect", "-f", "{{json .Containers}}", "back").stdout) == {}
    again = api.docker("network", "disconnect", "back", "web", check=False)
    assert again.returncode == 1 and "is not connected to" in again.stderr
    api.docker("network", "rm", "back")
    api.docker("rm", "-f", "web")
    api.docker("network", "rm", "app")


def test_the_sdk_networks(api: Api) -> None:
    import docker as sdk

    client = sdk.DockerClient(base_url=api.host, version="auto")
    try:
        ipam = sdk.types.IPAMConfig(pool_configs=[sdk.types.IPAMPool(subnet=api.subnet(0))])
        net = client.networks.create(
            "sdknet", driver="bridge", ipam=ipam, labels={"made": "sdk"},
            options={"com.docker.network.bridge.name": api.bridge()},
        )  # fmt: skip
        got = client.networks.get("sdknet")
        assert got.id == net.id and got.attrs["Labels"] == {"made": "sdk"}
        assert got.attrs["IPAM"]["Config"][0]["Subnet"] == api.subnet(0)
        assert [n.name for n in client.networks.list(names=["sdknet"])] == ["sdknet"]
        assert [n.name for n in client.networks.list(filters={"label": "made=sdk"})] == ["sdknet"]
        c = client.containers.create("busybox", ["busybox", "sleep", "30"], network="sdknet", name="member")
        net.reload()
        assert list(net.attrs["Containers"]) == [c.id]
        with pytest.raises(sdk.errors.APIError) as refused:
            net.remove()
        assert refused.value.response.status_code == 403
        c.remove(force=True)
        net.remove()
        with pytest.raises(sdk.errors.NotFound):
            client.networks.get("sdknet")
        with pytest.raises(sdk.errors.APIError) as dup:
            client.networks.create("none")
        assert dup.value.response.status_code == 409
    finally:
        client.close()


def test_system_df(api: Api) -> None:
    api.docker("volume", "create", "used")
    api.docker("volume", "create", "idle")
    api.docker("run", "--name", "writer", "--network", "none", "-v", "used:/data", "busybox",
               "sh", "-c", "busybox dd if=/dev/zero of=/data/f bs=1024 count=64 2>/dev/null; echo x > /made")  # fmt: skip
    table = api.docker("system", "df").stdout.splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {line[:15].strip(): line[15:].split() for line in table[1:]}
    assert rows["Images"][:2] == ["1", "1"]
    assert rows["Containers"][:2] == ["1", "0"]  # exited: not active, its layer reclaimable
    assert rows["Local Volumes"][:2] == ["2", "1"]
    assert rows["Build Cache"][:2] == ["0", "0"]
    fmt = (
        "{{range .Images}}I {{.Repository}}:{{.Tag}} {{.Containers}}\n{{end}}"
        "{{range .Containers}}C {{.Names}} {{.LocalVolumes}} {{.Status}}\n{{end}}"
        "{{range .Volumes}}V {{.Name}} {{.Links}} {{.Size}}\n{{end}}"
    )
    out = api.docker("system", "df", "-v", "--format", fmt).stdout.splitlines()
    assert out[0] == "I busybox:latest 1"
    assert out[1].startswith("C writer 1 Exited (0)")
    volumes = sorted(line for line in out if line.startswith("V "))
    assert volumes[0] == "V idle 0 0B" and volumes[1].startswith("V used 1 6")  # 64 KiB and a bit
    verbose = api.docker("system", "df", "-v").stdout
    assert (
        "Images space usage:" in verbose and "writer" in verbose and "Local Volumes space usage:" in verbose
    )
    api.docker("rm", "writer")
    api.docker("volume", "rm", "used", "idle")


def _since() -> str:
    return f"{time.time_ns() // 1_000_000_000 - 1}"


def test_events_since_until_from_the_api_and_the_daemonless_cli(api: Api) -> None:
    since = _since()
    api.docker("run", "--name", "via-api", "--network", "none", "busybox", "true")
    api.docker("rm", "via-api")
    api.engine.run("run", "--name", "via-cli", "--network", "none", "busybox", "true")
    api.engine.run("rm", "via-cli")
    until = f"{time.time_ns() // 1_000_000_000 + 1}"
    time.sleep(1.1)  # until has passed: the stream ends at once after the replay
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    out = api.docker(
        "events", "--since", since, "--until", until, "--filter", "type=container", "--format", fmt
    )
    lines = out.stdout.splitlines()
    for name in ("via-api", "via-cli"):
        mine = [line.split()[1] for line in lines if line.endswith(" " + name)]
        assert [a for a in mine if a in ("create", "start", "die", "destroy")] == [
            "create", "start", "die", "destroy",
        ], (name, lines)  # fmt: skip
    only = api.docker(
        "events", "--since", since, "--until", until, "--filter", "container=via-cli", "--filter", "event=die",
        "--format", "{{json .}}",
    ).stdout.splitlines()  # fmt: skip
    [doc] = [json.loads(line) for line in only]
    assert doc["Type"] == "container" and doc["Action"] == "die" and doc["status"] == "die"
    assert doc["from"] == "busybox" and doc["id"] == doc["Actor"]["ID"] and doc["scope"] == "local"
    assert doc["Actor"]["Attributes"]["exitCode"] == "0" and doc["timeNano"] // 10**9 == doc["time"]
    reversed_ = api.docker("events", "--since", until, "--until", since, check=False)
    assert reversed_.returncode == 1 and "cannot be after `until` time" in reversed_.stderr


def test_events_follow_live_until_the_client_goes(api: Api) -> None:
    proc = subprocess.Popen(
        ["docker", "events", "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=api.env(),
    )  # fmt: skip
    try:
        time.sleep(1.5)  # the follower is subscribed
        api.docker("run", "--name", "live", "--network", "none", "busybox", "true")
        api.engine.run("rm", "live")
        deadline = time.monotonic() + 10
        import selectors

        sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ)
        seen: list[str] = []
        pending = b""
        # os.read, not readline: one read may hold several events, and a line left in the file
        # object's buffer is one the selector never reports again.
        while "destroy live" not in seen and time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                seen += [line.decode() for line in lines]
        assert [s for s in seen if s.split()[0] in ("create", "start", "die", "destroy")] == [
            "create live", "start live", "die live", "destroy live",
        ], seen  # fmt: skip
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
    # The service lives on after its client went away.
    assert api.docker("network", "ls", "-q").returncode == 0


def test_the_sdk_events(api: Api) -> None:
    import datetime

    import docker as sdk

    client = sdk.DockerClient(base_url=api.host, version="auto")
    try:
        since = datetime.datetime.now() - datetime.timedelta(seconds=1)
        c = client.containers.run("busybox", ["true"], network_mode="none", detach=True, name="sdk-ev")
        c.wait()
        c.remove()
        until = datetime.datetime.now() + datetime.timedelta(seconds=1)
        time.sleep(1.1)
        actions = [
            e["Action"]
            for e in client.events(decode=True, since=since, until=until, filters={"container": "sdk-ev"})
        ]
        assert [a for a in actions if a in ("create", "start", "die", "destroy")] == [
            "create",
            "start",
            "die",
            "destroy",
        ]
    finally:
        client.close()


def test_docker_login_against_a_pinnace_registry(api: Api, tmp_path: Path) -> None:
    import bcrypt

    from tests.helpers.pinnace_registry import serving as registry

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"erin:{bcrypt.hashpw(b'right', bcrypt.gensalt(rounds=5)).decode()}\n")
    with contextlib.contextmanager(registry)(tmp_path / "registry", "--htpasswd", str(htpasswd)) as host:
        good = api.docker("login", "-u", "erin", "--password-stdin", host, stdin="right\n")
        assert "Login Succeeded" in good.stdout
        stored = json.loads((api.config / "config.json").read_text())
        assert host in stored["auths"]  # the client keeps the credentials, not the service
        bad = api.docker("login", "-u", "erin", "--password-stdin", host, stdin="wrong\n", check=False)
        assert bad.returncode == 1
        assert (
            f"Error response from daemon: login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
            in bad.stderr
        )
        import docker as sdk

        client = sdk.DockerClient(base_url=api.host, version="auto")
        try:
            reply = client.login("erin", "right", registry=host, reauth=True)
            assert reply["Status"] == "Login Succeeded"
            with pytest.raises(sdk.errors.APIError) as refused:
                client.login("erin", "nope", registry=host, reauth=True)
            assert refused.value.response.status_code == 401
        finally:
            client.close()


def test_statuses_and_messages_over_raw_http(api: Api) -> None:
    import http.client
    import socket
    from urllib.parse import quote

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(api.host[len("unix://") :])

    def request(method: str, url: str, body: object = None) -> tuple[int, bytes]:
        conn = Unix("localhost")
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, url, body=data, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        out = reply.status, reply.read()
        conn.close()
        return out

    create = {
        "Name": "raw", "Driver": "bridge", "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": api.subnet(0)}]},
        "Options": {"com.docker.network.bridge.name": api.bridge()}, "Labels": {"a": "b"},
    }  # fmt: skip
    status, body = request("POST", "/v1.45/networks/create", create)
    assert status == 201 and json.loads(body)["Warning"] == ""
    net_id = json.loads(body)["Id"]
    status, body = request("POST", "/v1.45/networks/create", {**create, "Options": {}})
    assert (status, json.loads(body)) == (409, {"message": "network with name raw already exists"})
    status, body = request("GET", "/v1.45/networks?filters=" + quote(json.dumps({"label": ["a=b"]})))
    assert status == 200 and [n["Id"] for n in json.loads(body)] == [net_id]
    status, body = request("POST", "/v1.45/networks/create", {"Name": "x", "IPAM": {"Driver": "other"}})
    assert (status, json.loads(body)) == (404, {"message": 'plugin "other" not found'})
    assert request("GET", "/v1.45/networks/nothing")[0] == 404
    assert request("DELETE", "/v1.45/networks/none")[0] == 403
    cid = api.docker("create", "--network", "raw", "--name", "holder", "busybox", "true").stdout.strip()
    status, body = request("DELETE", f"/v1.45/networks/{net_id}")
    assert status == 403 and "has active endpoints" in json.loads(body)["message"]
    status, body = request("POST", "/v1.45/networks/raw/disconnect", {"Container": cid, "Force": False})
    assert status == 200
    status, body = request("POST", "/v1.45/networks/raw/connect", {"Container": "holder", "EndpointConfig": {
        "IPAMConfig": {"IPv4Address": api.subnet(0).replace(".0/24", ".9")}, "Aliases": ["h"]}})  # fmt: skip
    assert status == 200, body
    [(held, endpoint)] = json.loads(request("GET", "/v1.45/networks/raw")[1])["Containers"].items()
    assert held == cid and endpoint["IPv4Address"] == api.subnet(0).replace(".0/24", ".9/24")
    api.docker("rm", "holder")
    assert request("DELETE", f"/v1.45/networks/{net_id}")[0] == 204
    status, body = request("GET", "/v1.45/system/df?type=volume")
    assert status == 200 and json.loads(body)["Volumes"] == [] and json.loads(body)["Images"] is None
    status, body = request("GET", "/v1.45/events?since=20&until=10")
    assert (status, json.loads(body)) == (
        400,
        {"message": "`since` time (20) cannot be after `until` time (10)"},
    )
    status, body = request("POST", "/v1.45/networks/prune")
    assert (status, json.loads(body)) == (200, {"NetworksDeleted": []})
