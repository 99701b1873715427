"""Containers on bridge networks with real traffic: addresses, names in /etc/hosts, published ports, cleanup.

Each test's store has its own daemon.json (a bridge named ``pnt`` + random
hex, a random 10.2xx.y.0/24), and at the end no veth, bridge or nftables
element of that store may be left.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root

pytest.importorskip("pyroute2")
pytest.importorskip("nftables")

BB = "busybox"
HTTPD = "mkdir -p /w; echo hello from $(hostname) > /w/index.html; exec busybox httpd -f -p 80 -h /w"


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _veths() -> set[str]:
    return {n for n in _links() if n.startswith("pnv")}


def _nft_table() -> str:
    proc = subprocess.run(
        ["nft", "list", "table", "ip", "pinnace"], capture_output=True, text=True, check=False
    )
    return proc.stdout


@pytest.fixture
def net(engine: Pinnace) -> Iterator[tuple[Pinnace, str, str]]:
    """(engine, bridge, "10.x.y") for a store whose default bridge network is private to the test."""
    from pinnace.network import nat, plumbing

    bridge = f"pnt{os.urandom(3).hex()}"
    prefix = f"10.{random.randint(210, 250)}.{random.randint(0, 255)}"
    (engine.root / "daemon.json").write_text(json.dumps({"bridge": bridge, "bip": f"{prefix}.1/24"}))
    before = _links()
    yield engine, bridge, prefix
    ids = engine.run("ps", "-a", "-q", "--no-trunc").stdout.split()
    if ids:
        engine.run("rm", "-f", *ids)
    for name in engine.run("network", "ls", "-q", "--filter", "type=custom").stdout.split():
        engine.run("network", "rm", name)
    leftover = [n for n in _links() - before if n.startswith("pnv")]
    nat.remove_network(bridge)
    plumbing.remove_bridge(bridge)
    assert leftover == []
    assert bridge not in _nft_table()


def _http(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode().partition("\r\n\r\n")[2]


def _until_http(host: str, port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            return _http(host, port)
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on {host}:{port}"
            time.sleep(0.1)


def test_containers_on_the_default_bridge_talk(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    engine.run("run", "-d", "--name", "web", "--network", "bridge", BB, "sh", "-c", HTTPD)
    info = json.loads(engine.run("inspect", "web").stdout)[0]["NetworkSettings"]
    ip = info["IPAddress"]
    assert ip.startswith(prefix + ".") and info["Gateway"] == f"{prefix}.1" and info["IPPrefixLen"] == 24
    assert info["Networks"]["bridge"]["IPAddress"] == ip
    assert info["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    out = engine.run(
        "run", "--rm", "--network", "bridge", BB, "sh", "-c", f"busybox wget -q -O - http://{ip}/"
    ).stdout
    assert out.startswith("hello from ")
    hosts = engine.run("exec", "web", "cat", "/etc/hosts").stdout
    assert hosts.splitlines()[-1].startswith(f"{ip}\t")
    # to the host: its address on the bridge answers
    assert engine.run("exec", "web", "busybox", "ping", "-c", "1", "-W", "2", f"{prefix}.1").returncode == 0


def test_published_ports_from_loopback_and_the_host_address(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    fixed = random.randint(20000, 29999)
    engine.run(
        "run",
        "-d",
        "--name",
        "pub",
        "--network",
        "bridge",
        "-p",
        f"127.0.0.1:{fixed}:80",
        "-p",
        "80",
        BB,
        "sh",
        "-c",
        HTTPD,
    )
    assert _until_http("127.0.0.1", fixed).startswith("hello from ")
    lines = engine.run("port", "pub").stdout.splitlines()
    assert lines[0] == f"80/tcp -> 127.0.0.1:{fixed}"
    random_port = int(lines[1].rpartition(":")[2])
    assert lines[1] == f"80/tcp -> 0.0.0.0:{random_port}"
    assert _until_http(f"{prefix}.1", random_port).startswith("hello from ")  # another host address
    assert engine.run("port", "pub", "80/tcp").stdout.splitlines() == [
        f"127.0.0.1:{fixed}",
        f"0.0.0.0:{random_port}",
    ]
    proc = engine.run("port", "pub", "81", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "Error: No public port '81/tcp' published for pub"
    ps = engine.run("ps", "--format", "{{.Ports}}").stdout.strip()
    assert ps == f"127.0.0.1:{fixed}->80/tcp, 0.0.0.0:{random_port}->80/tcp"
    # hairpin: a container reaching a published port through the host's address
    out = engine.run(
        "run",
        "--rm",
        "--network",
        "bridge",
        BB,
        "sh",
        "-c",
        f"busybox wget -q -O - http://{prefix}.1:{random_port}/",
    ).stdout
    assert out.startswith("hello from ")
    own = engine.run(
        "exec", "pub", "busybox", "wget", "-q", "-O", "-", f"http://{prefix}.1:{random_port}/"
    ).stdout
    assert own.startswith("hello from ")  # a container reaching its own published port
    engine.run("rm", "-f", "pub")
    assert str(fixed) not in _nft_table()
    with pytest.raises(OSError):
        _http("127.0.0.1", fixed)


def test_stop_unplugs_and_start_keeps_the_address(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    before = _veths()
    engine.run("run", "-d", "--name", "keep", "--network", "bridge", BB, "sh", "-c", "sleep 600")
    ip = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keep").stdout.strip()
    assert len(_veths() - before) == 1
    assert engine.run("ps", "--format", "{{.Names}} {{.Networks}}").stdout == "keep bridge\n"
    engine.run("stop", "-t", "0", "keep")
    engine.run("ps", "-a")  # notices the exit: the veth goes
    assert _veths() - before == set()
    assert engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keep").stdout.strip() == ""
    engine.run("start", "keep")
    assert engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "keep").stdout.strip() == ip


def test_user_defined_networks_are_isolated(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    second = f"10.{random.randint(210, 250)}.{random.randint(0, 255)}"
    engine.run(
        "network",
        "create",
        "--subnet",
        f"{second}.0/24",
        "-o",
        f"com.docker.network.bridge.name=pnt{os.urandom(3).hex()}",
        "back",
    )
    engine.run(
        "run", "-d", "--name", "api", "--network", "back", "--ip", f"{second}.50", BB, "sh", "-c", HTTPD
    )
    assert (
        engine.run("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "api").stdout.strip()
        == f"{second}.50"
    )
    out = engine.run(
        "run", "--rm", "--network", "back", BB, "sh", "-c", f"busybox wget -q -O - http://{second}.50/"
    ).stdout
    assert out.startswith("hello from ")
    proc = engine.run(
        "run",
        "--rm",
        "--network",
        "bridge",
        BB,
        "sh",
        "-c",
        # sh stays PID 1 (wget as PID 1 would ignore timeout's SIGTERM); busybox's wget -T crashes
        f"busybox timeout 3 busybox wget -q -O - http://{second}.50/; exit $?",
        check=False,
    )
    assert proc.returncode == 143  # another network: dropped (timeout's SIGTERM)
    proc = engine.run("network", "rm", "back", check=False)
    assert proc.returncode == 1 and "has active endpoints" in proc.stderr
    engine.run("rm", "-f", "api")


# --------------------------------------------------------------------------- network connect / disconnect


def _user_network(engine: Pinnace, name: str) -> str:
    """A user-defined network with a random private subnet and bridge; its "10.x.y" prefix."""
    prefix = f"10.{random.randint(210, 250)}.{random.randint(0, 255)}"
    engine.run(
        "network",
        "create",
        "--subnet",
        f"{prefix}.0/24",
        "-o",
        f"com.docker.network.bridge.name=pnt{os.urandom(3).hex()}",
        name,
    )
    return prefix


def _id(engine: Pinnace, ref: str, kind: str = "") -> str:
    args = ("network", "inspect") if kind == "network" else ("inspect",)
    return engine.run(*args, "-f", "{{.Id}}", ref).stdout.strip()


def _in(engine: Pinnace, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return engine.run("exec", container, "busybox", *argv, check=False)


def _routes(engine: Pinnace, container: str) -> list[str]:
    """``ip route`` in the container, one route a line, spaces normalized."""
    return [" ".join(line.split()) for line in _in(engine, container, "ip", "route").stdout.splitlines()]


def _addresses(engine: Pinnace, container: str) -> set[str]:
    """The container's IPv4 addresses as ``ethN a.b.c.d/len``."""
    out = _in(engine, container, "ip", "-4", "-o", "addr").stdout.splitlines()
    return {f"{line.split()[1]} {line.split()[3]}" for line in out if line.split()[1] != "lo"}


def _fetch(engine: Pinnace, container: str, ip: str) -> subprocess.CompletedProcess[str]:
    # busybox's wget -T crashes (SIGSEGV) in Debian's 1.35: timeout bounds it instead
    return _in(engine, container, "timeout", "3", "busybox", "wget", "-q", "-O", "-", f"http://{ip}/")


def _networks(engine: Pinnace, container: str) -> dict[str, dict[str, object]]:
    doc = json.loads(engine.run("inspect", container).stdout)[0]
    networks: dict[str, dict[str, object]] = doc["NetworkSettings"]["Networks"]
    return networks


def test_connect_and_disconnect_a_running_container(net: tuple[Pinnace, str, str]) -> None:
    from pinnace.network.plumbing import host_ifname

    engine, bridge, prefix = net
    front = _user_network(engine, "front")
    engine.run(
        "run", "-d", "--name", "web", "--network", "front", "--ip", f"{front}.50", BB, "sh", "-c", HTTPD
    )
    engine.run("run", "-d", "--name", "client", "--network", "bridge", BB, "sh", "-c", "sleep 600")
    client, front_id = _id(engine, "client"), _id(engine, "front", "network")
    since = time.time()
    assert _fetch(engine, "client", f"{front}.50").returncode != 0  # not on that network yet

    proc = engine.run("network", "connect", "--alias", "cl,cli", "front", "client")
    assert proc.stdout == "" and proc.stderr == ""
    assert host_ifname(client, front_id) in _links()
    bridge_ip = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "client").stdout.strip()
    # the lowest free address after the gateway (web has .50)
    assert _addresses(engine, "client") == {f"eth0 {bridge_ip}/24", f"eth1 {front}.2/24"}
    routes = _routes(engine, "client")
    assert [r for r in routes if r.startswith("default")] == [f"default via {prefix}.1 dev eth0"]
    assert any(r.startswith(f"{front}.0/24 dev eth1") for r in routes)
    assert _fetch(engine, "client", f"{front}.50").stdout.startswith("hello from ")
    networks = _networks(engine, "client")
    assert sorted(networks) == ["bridge", "front"]
    assert networks["front"]["IPAddress"] == f"{front}.2" and networks["front"]["Aliases"] == ["cl", "cli"]
    assert networks["front"]["NetworkID"] == front_id and networks["front"]["Gateway"] == f"{front}.1"
    top = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "client").stdout.strip()
    assert top == networks["bridge"]["IPAddress"]  # docker's top-level fields stay the bridge's
    inspected = json.loads(engine.run("network", "inspect", "front").stdout)[0]["Containers"]
    assert inspected[client]["Name"] == "client" and inspected[client]["IPv4Address"] == f"{front}.2/24"

    proc = engine.run("network", "connect", "front", "client", check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr
        == "Error response from daemon: endpoint with name client already exists in network front\n"
    )

    engine.run("network", "disconnect", "front", "client")
    assert host_ifname(client, front_id) not in _links()
    assert _in(engine, "client", "ip", "link", "show", "eth1").returncode != 0
    assert _fetch(engine, "client", f"{front}.50").returncode != 0
    assert sorted(_networks(engine, "client")) == ["bridge"]
    assert client not in json.loads(engine.run("network", "inspect", "front").stdout)[0]["Containers"]
    # still on its own network, with its way out
    assert _in(engine, "client", "ping", "-c", "1", "-W", "2", f"{prefix}.1").returncode == 0

    proc = engine.run("network", "disconnect", "front", "client", check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr == f"Error response from daemon: container {client} is not connected to network front\n"
    )

    # the address was released, and a second connect is the next ethN
    engine.run("network", "connect", "--ip", f"{front}.9", "front", "client")
    assert _addresses(engine, "client") == {f"eth0 {bridge_ip}/24", f"eth2 {front}.9/24"}
    assert _fetch(engine, "client", f"{front}.50").stdout.startswith("hello from ")
    engine.run("network", "disconnect", "front", "client")

    until = f"{time.time():.9f}"
    events = engine.run(
        "events",
        "--since",
        f"{since:.9f}",
        "--until",
        until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}",
    ).stdout.splitlines()
    assert events == [f"{action} front {client}" for action in ("connect", "disconnect") * 2]


def test_connect_a_created_container_plugs_it_at_start(net: tuple[Pinnace, str, str]) -> None:
    from pinnace.network.plumbing import host_ifname

    engine, bridge, prefix = net
    back = _user_network(engine, "back")
    engine.run("run", "-d", "--name", "db", "--network", "back", BB, "sh", "-c", HTTPD)
    db_ip = engine.run("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "db").stdout.strip()
    engine.run("create", "--name", "app", "--network", "bridge", "-p", "80", BB, "sh", "-c", HTTPD)
    app, back_id = _id(engine, "app"), _id(engine, "back", "network")
    before = _veths()
    engine.run("network", "connect", "back", "app")
    assert _veths() == before  # nothing to plug into yet
    assert app in json.loads(engine.run("network", "inspect", "back").stdout)[0]["Containers"]
    engine.run(
        "network", "connect", "back", "app"
    )  # a stopped container connected twice: as docker, no error

    engine.run("start", "app")
    assert host_ifname(app, back_id) in _links()
    settings = _networks(engine, "app")
    assert sorted(settings) == ["back", "bridge"]
    app_bridge, app_back = settings["bridge"]["IPAddress"], settings["back"]["IPAddress"]
    assert str(app_bridge).startswith(prefix + ".")
    assert _addresses(engine, "app") == {f"eth0 {app_bridge}/24", f"eth1 {app_back}/24"}
    routes = _routes(engine, "app")
    assert [r for r in routes if r.startswith("default")] == [f"default via {prefix}.1 dev eth0"]
    assert _fetch(engine, "app", db_ip).stdout.startswith("hello from ")
    # the published port is on its first network (eth0)
    port = int(engine.run("port", "app", "80").stdout.splitlines()[0].rpartition(":")[2])
    assert _until_http(f"{prefix}.1", port).startswith("hello from ")
    hosts = engine.run("exec", "app", "cat", "/etc/hosts").stdout
    assert f"{app_back}\t" in hosts  # an /etc/hosts line for each of its addresses

    engine.run("stop", "-t", "0", "app")
    engine.run("ps", "-a")
    assert _veths() == before
    proc = engine.run("network", "disconnect", "bridge", "app", check=False)
    assert proc.returncode == 0, proc.stderr
    engine.run("start", "app")  # now back alone: eth0, with the default route
    routes = _routes(engine, "app")
    assert [r for r in routes if r.startswith("default")] == [f"default via {back}.1 dev eth0"]
    assert _in(engine, "app", "ip", "link", "show", "eth1").returncode != 0
    assert sorted(_networks(engine, "app")) == ["back"]
    engine.run("stop", "-t", "0", "app")
    proc = engine.run("network", "disconnect", "bridge", "app", check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr == f"Error response from daemon: container {app} is not connected to the network bridge\n"
    )


def test_a_container_that_is_not_running_lists_its_networks(net: tuple[Pinnace, str, str]) -> None:
    """As docker: created, its networks with empty fields and no NetworkID; stopped, the NetworkID too."""
    engine, _, _ = net
    _user_network(engine, "back")
    engine.run("create", "--name", "idle", "--network", "back", "--network-alias", "db", BB, "true")
    engine.run("create", "--name", "alone", "--network", "none", BB, "true")
    entry = _networks(engine, "idle")["back"]
    assert (entry["NetworkID"], entry["EndpointID"], entry["IPAddress"], entry["Gateway"]) == ("", "", "", "")
    assert "db" in (entry["Aliases"] or [])
    assert engine.run("ps", "-a", "--filter", "name=idle", "--format", "{{.Networks}}").stdout == "back\n"
    api = json.loads(engine.run("inspect", "-f", "{{json .NetworkSettings}}", "idle").stdout)
    assert (api["IPAddress"], api["Ports"]) == ("", {})

    assert engine.run("start", "-a", "idle").returncode == 0
    entry = _networks(engine, "idle")["back"]
    assert entry["NetworkID"] == _id(engine, "back", "network")
    assert (entry["EndpointID"], entry["IPAddress"], entry["MacAddress"]) == ("", "", "")
    assert list(_networks(engine, "alone")) == ["none"]  # docker lists none and host too


def test_none_and_host_are_listed_as_networks(net: tuple[Pinnace, str, str]) -> None:
    engine, _, _ = net
    engine.run("create", "--name", "quiet", "--network", "none", BB, "true")
    quiet = _networks(engine, "quiet")["none"]
    assert (quiet["NetworkID"], quiet["EndpointID"], quiet["IPAddress"]) == ("", "", "")
    for mode in ("none", "host"):
        engine.run("run", "-d", "--name", f"on-{mode}", "--network", mode, BB, "busybox", "sleep", "60")
        entry = _networks(engine, f"on-{mode}")[mode]
        assert entry["NetworkID"] == _id(engine, mode, "network")
        assert len(str(entry["EndpointID"])) == 64 and (entry["IPAddress"], entry["Gateway"]) == ("", "")
    ps = engine.run("ps", "--format", "{{.Names}} {{.Networks}}").stdout
    assert sorted(ps.splitlines()) == ["on-host host", "on-none none"]
    engine.run("rm", "-f", "on-none", "on-host", "quiet")


def test_connect_refusals(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    _user_network(engine, "side")
    engine.run("create", "--name", "onhost", "--network", "host", BB, "true")
    engine.run("create", "--name", "alone", "--network", "none", BB, "true")
    engine.run("create", "--name", "plain", "--network", "bridge", BB, "true")
    engine.run("create", "--name", "shared", "--network", "container:plain", BB, "true")
    shared = "container sharing network namespace with another container or host cannot be connected to any other network"
    host = "container cannot be disconnected from host network or connected to host network"
    none = (
        "container cannot be connected to multiple networks with one of the networks in private (none) mode"
    )
    cases = [
        (("connect", "side", "onhost"), shared),
        (("connect", "side", "shared"), shared),
        (("connect", "side", "alone"), none),
        (("connect", "host", "plain"), host),
        (("connect", "host", "alone"), host),
        (("connect", "none", "plain"), none),
        (("disconnect", "host", "onhost"), host),
        (("connect", "nope", "plain"), "network nope not found"),
        (("connect", "side", "nope"), "No such container: nope"),
        (("disconnect", "side", "nope"), "No such container: nope"),
        (
            ("connect", "--alias", "x", "bridge", "plain"),
            "invalid endpoint settings:\nnetwork-scoped alias is supported only for containers in user defined networks",
        ),
        (
            ("connect", "--ip", "192.0.2.9", "side", "plain"),
            "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 192.0.2.9",
        ),
    ]
    for args, message in cases:
        proc = engine.run("network", *args, check=False)
        assert (proc.returncode, proc.stderr) == (1, f"Error response from daemon: {message}\n"), args
    proc = engine.run("network", "connect", "side", check=False)
    assert proc.returncode == 125 and '"pinnace network connect" requires exactly 2 arguments.' in proc.stderr
    # the refusals took nothing
    assert json.loads(engine.run("network", "inspect", "side").stdout)[0]["Containers"] == {}
    # -f: a stopped container and a network that does not exist
    proc = engine.run("network", "disconnect", "-f", "nope", "plain", check=False)
    assert proc.returncode == 1
    plain = _id(engine, "plain")
    assert (
        proc.stderr == f"Error response from daemon: container {plain} is not connected to the network nope\n"
    )


def test_disconnect_the_gateway_network_of_a_running_container(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    side = _user_network(engine, "side")
    fixed = random.randint(20000, 29999)
    engine.run(
        "run",
        "-d",
        "--name",
        "pub",
        "--network",
        "bridge",
        "-p",
        f"127.0.0.1:{fixed}:80",
        BB,
        "sh",
        "-c",
        HTTPD,
    )
    assert _until_http("127.0.0.1", fixed).startswith("hello from ")
    engine.run("network", "connect", "side", "pub")
    engine.run("network", "disconnect", "bridge", "pub")
    # its ports went with its gateway interface; it is left on side alone, with no default route
    assert str(fixed) not in _nft_table()
    with pytest.raises(OSError):
        _http("127.0.0.1", fixed)
    assert _addresses(engine, "pub") == {f"eth1 {side}.2/24"}
    assert [r for r in _routes(engine, "pub") if r.startswith("default")] == []
    settings = json.loads(engine.run("inspect", "-f", "{{json .NetworkSettings}}", "pub").stdout)
    assert sorted(settings["Networks"]) == ["side"] and settings["Ports"] == {"80/tcp": None}
    assert settings["IPAddress"] == "" and settings["Gateway"] == ""
    assert engine.run("port", "pub").stdout == ""
    # connected again, the network is its gateway again: default route and published ports
    engine.run("network", "connect", "bridge", "pub")
    ip = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pub").stdout.strip()
    assert ip.startswith(prefix + ".")
    assert _addresses(engine, "pub") == {f"eth1 {side}.2/24", f"eth2 {ip}/24"}
    assert [r for r in _routes(engine, "pub") if r.startswith("default")] == [
        f"default via {prefix}.1 dev eth2"
    ]
    assert _until_http("127.0.0.1", fixed).startswith("hello from ")
    assert engine.run("port", "pub").stdout == f"80/tcp -> 127.0.0.1:{fixed}\n"


def test_no_network_flag_means_the_default_bridge(net: tuple[Pinnace, str, str]) -> None:
    engine, _bridge, prefix = net
    engine.run("create", "--name", "plain", BB, "sh", "-c", "busybox ip -o -4 addr show eth0")
    assert json.loads(engine.run("inspect", "plain").stdout)[0]["HostConfig"]["NetworkMode"] == "bridge"
    out = engine.run("start", "-a", "plain").stdout
    assert f"inet {prefix}." in out


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_the_worker_zygote_loads_netlink_once_a_run_needs_it(net: tuple[Pinnace, str, str]) -> None:
    """Runs without a network leave netlink (pyroute2: ~17 MiB) out of the worker zygote; the first run
    on a bridge flags the store, and the worker zygote loads it for the runs after."""
    from pinnace.shim.zygote import WORKER_PID_FILE, WORKER_SOCKET_NAME, used_flag

    engine, _, _ = net
    engine.run("run", "--rm", "--network", "none", "busybox", "true")  # starts the zygotes
    deadline = time.monotonic() + 10
    while not (engine.runroot / WORKER_SOCKET_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.run("run", "--rm", "--network", "none", "busybox", "true")  # served by the worker zygote
    flag = Path(used_flag(str(engine.runroot), "netlink"))
    assert not flag.exists()
    worker = int((engine.runroot / WORKER_PID_FILE).read_text())
    lean = _rss_kib(worker)
    assert engine.run("run", "--rm", "busybox", "echo", "bridged").stdout == "bridged\n"  # the default bridge
    assert flag.exists()
    deadline = time.monotonic() + 10
    while _rss_kib(worker) < lean + 8 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rss_kib(worker) >= lean + 8 * 1024  # it loaded netlink for the next runs
    assert engine.run("run", "--rm", "busybox", "echo", "again").stdout == "again\n"


def test_the_stores_first_run_on_a_bridge_has_the_worker_zygote_load_netlink(
    net: tuple[Pinnace, str, str],
) -> None:
    """The store's first run runs in the CLI itself (there is no zygote yet; it starts them) and imports
    netlink there: it flags the store too, so the worker zygote loads netlink and the second run, the
    first the worker serves, does not pay the import again."""
    from pinnace.shim.zygote import WORKER_PID_FILE, WORKER_SOCKET_NAME, used_flag

    engine, _, _ = net
    assert not (engine.runroot / WORKER_SOCKET_NAME).exists()
    assert engine.run("run", "--rm", "busybox", "echo", "bridged").stdout == "bridged\n"
    assert Path(used_flag(str(engine.runroot), "netlink")).exists()
    deadline = time.monotonic() + 10
    while not (engine.runroot / WORKER_SOCKET_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int((engine.runroot / WORKER_PID_FILE).read_text())

    def netlink_loaded() -> bool:  # pyroute2 brings asyncio, whose C part a lean worker never maps
        return "/_asyncio." in Path(f"/proc/{worker}/maps").read_text()

    while not netlink_loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netlink_loaded()
    assert engine.run("run", "--rm", "busybox", "echo", "again").stdout == "again\n"
