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
        f"busybox wget -q -T 2 -O - http://{second}.50/",
        check=False,
    )
    assert proc.returncode != 0  # another network: dropped
    proc = engine.run("network", "rm", "back", check=False)
    assert proc.returncode == 1 and "has active endpoints" in proc.stderr
    engine.run("rm", "-f", "api")
