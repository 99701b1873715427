"""The embedded DNS of user-defined networks: names, aliases and short IDs; other names forwarded upstream."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import Pinnace
from tests.integration.test_container_network import _veths, net

pytestmark = pytest.mark.root

pytest.importorskip("pyroute2")
pytest.importorskip("nftables")
pytest.importorskip("dns.message")

__all__ = ["net"]

UPSTREAM = "127.0.0.77"


@pytest.fixture
def upstream() -> Iterator[list[str]]:
    """A resolver on 127.0.0.77:53 that knows ``example.test`` (192.0.2.99); the names it was asked."""
    import dns.message
    import dns.rrset

    asked: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((UPSTREAM, 53))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, client = sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            asked.append(query.question[0].name.to_text())
            reply = dns.message.make_response(query)
            if query.question[0].name.to_text() == "example.test." and query.question[0].rdtype == 1:
                reply.answer.append(dns.rrset.from_text("example.test.", 60, "IN", "A", "192.0.2.99"))
            sock.sendto(reply.to_wire(), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield asked
    stop.set()
    thread.join()
    sock.close()


def test_names_on_a_user_network_and_forwarding(net: tuple[Pinnace, str, str], upstream: list[str]) -> None:
    engine, bridge, prefix = net
    config = json.loads((engine.root / "daemon.json").read_text())
    (engine.root / "daemon.json").write_text(json.dumps({**config, "dns": [UPSTREAM]}))
    subnet = f"10.{prefix.split('.')[1]}.{(int(prefix.split('.')[2]) + 1) % 256}"
    engine.run(
        "network",
        "create",
        "--subnet",
        f"{subnet}.0/24",
        "-o",
        f"com.docker.network.bridge.name=pnt{os.urandom(3).hex()}",
        "app",
    )
    cid = engine.run(
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "app",
        "--network-alias",
        "database",
        "busybox",
        "sh",
        "-c",
        "sleep 600",
    ).stdout.strip()
    ip = engine.run("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "db").stdout.strip()
    script = (
        "cat /etc/resolv.conf; for n in db database db.app "
        + cid[:12]
        + " example.test; do busybox nslookup $n; done"
    )
    out = engine.run("run", "--rm", "--network", "app", "busybox", "sh", "-c", script).stdout
    assert out.startswith("nameserver 127.0.0.11\n")
    assert out.count(f"Address: {ip}") == 4  # name, alias, name.network, short ID
    assert "Address: 192.0.2.99" in out  # forwarded upstream
    assert "example.test." in upstream and "db." not in upstream
    # The default bridge has no embedded DNS (docker's): the host's resolvers, and no names.
    out = engine.run("run", "--rm", "--network", "bridge", "busybox", "cat", "/etc/resolv.conf").stdout
    assert "127.0.0.11" not in out
    before = _veths()
    engine.run("rm", "-f", "db")
    assert len(before - _veths()) == 1  # the DNS server let the namespace go, and its veth with it


def test_a_live_connect_updates_hosts_resolv_conf_and_names(net: tuple[Pinnace, str, str]) -> None:
    engine, _bridge, prefix = net
    subnet = f"10.{prefix.split('.')[1]}.{(int(prefix.split('.')[2]) + 1) % 256}"
    bridge_name = f"pnt{os.urandom(3).hex()}"
    engine.run("network", "create", "--subnet", f"{subnet}.0/24", "-o", f"com.docker.network.bridge.name={bridge_name}", "app")  # fmt: skip
    engine.run("run", "-d", "--name", "db", "--network", "app", "busybox", "sh", "-c", "sleep 600")
    db_ip = engine.run("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "db").stdout.strip()
    engine.run("run", "-d", "--name", "web", "--hostname", "webhost", "busybox", "sh", "-c", "sleep 600")
    own = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()

    def cat(path: str) -> str:
        return engine.run("exec", "web", "cat", path).stdout

    assert "127.0.0.11" not in cat("/etc/resolv.conf")  # the default bridge: the host's resolvers
    engine.run("exec", "web", "sh", "-c", "echo '192.0.2.5 mine' >> /etc/hosts")  # the user's own line

    engine.run("network", "connect", "app", "web")
    web_ip = engine.run("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "web").stdout.strip()
    assert cat("/etc/resolv.conf").startswith("nameserver 127.0.0.11\n")
    hosts = cat("/etc/hosts").splitlines()
    assert hosts[-3:] == [f"{own}\twebhost", "192.0.2.5 mine", f"{web_ip}\twebhost"]
    out = engine.run("exec", "web", "busybox", "nslookup", "db").stdout
    assert f"Address: {db_ip}" in out  # the embedded DNS answers in web's namespace now
    out = engine.run("exec", "db", "busybox", "nslookup", "web").stdout
    assert f"Address: {web_ip}" in out  # and db finds web by name

    engine.run("network", "disconnect", "app", "web")
    assert cat("/etc/hosts").splitlines()[-2:] == [f"{own}\twebhost", "192.0.2.5 mine"]
    assert cat("/etc/resolv.conf").startswith("nameserver 127.0.0.11\n")  # docker keeps its resolver
    engine.run("network", "connect", "app", "web")  # again: the resolver is there already
    assert f"Address: {db_ip}" in engine.run("exec", "web", "busybox", "nslookup", "db").stdout


def test_an_ipv6_network_addresses_routes_names(net: tuple[Pinnace, str, str]) -> None:
    engine, _bridge, prefix = net
    subnet = f"10.{prefix.split('.')[1]}.{(int(prefix.split('.')[2]) + 1) % 256}"
    import random

    # groups without leading zeros: the prefix then reads as the kernel and inspect print it
    v6 = f"fd{os.urandom(1).hex()}:{random.randint(0x1000, 0xFFFF):x}:{random.randint(0x1000, 0xFFFF):x}:1"
    bridge = f"pnt{os.urandom(3).hex()}"
    engine.run(
        "network", "create", "--subnet", f"{subnet}.0/24", "--ipv6", "--subnet", f"{v6}::/64",
        "-o", f"com.docker.network.bridge.name={bridge}", "six",
    )  # fmt: skip
    engine.run("run", "-d", "--name", "six-a", "--network", "six", "busybox", "sh", "-c", "sleep 600")
    engine.run("run", "-d", "--name", "six-b", "--network", "six", "busybox", "sh", "-c", "sleep 600")
    settings = json.loads(engine.run("inspect", "six-a").stdout)[0]["NetworkSettings"]
    six = settings["Networks"]["six"]
    assert six["GlobalIPv6Address"] == f"{v6}::2" and six["GlobalIPv6PrefixLen"] == 64
    assert six["IPv6Gateway"] == f"{v6}::1"
    assert settings["GlobalIPv6Address"] == ""  # the deprecated top-level fields are the default bridge's
    addresses = engine.run("exec", "six-a", "busybox", "ip", "-o", "-6", "addr", "show", "eth0").stdout
    (global_line,) = [line for line in addresses.splitlines() if f"inet6 {v6}::2/64" in line]
    assert "tentative" not in global_line  # usable at once: no duplicate address detection
    routes = engine.run("exec", "six-a", "busybox", "ip", "-6", "route").stdout
    assert f"default via {v6}::1 dev eth0" in routes
    hostname = json.loads(engine.run("inspect", "six-a").stdout)[0]["Config"]["Hostname"]
    assert f"{v6}::2\t{hostname}\n" in engine.run("exec", "six-a", "cat", "/etc/hosts").stdout
    # container to container over IPv6, and to the host's end of the bridge
    ping = engine.run("exec", "six-b", "busybox", "ping", "-6", "-c", "1", "-W", "2", f"{v6}::2", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert (
        engine.run(
            "exec", "six-b", "busybox", "ping", "-6", "-c", "1", "-W", "2", f"{v6}::1", check=False
        ).returncode
        == 0
    )
    # the embedded DNS answers AAAA with the IPv6 address, A with the IPv4 one
    out = engine.run("exec", "six-b", "busybox", "nslookup", "-type=aaaa", "six-a").stdout
    assert f"Address: {v6}::2" in out
    out = engine.run("exec", "six-b", "busybox", "nslookup", "-type=a", "six-a").stdout
    assert f"Address: {six['IPAddress']}" in out and v6 not in out
    engine.run("rm", "-f", "six-a", "six-b")
    engine.run("network", "rm", "six")
    assert not os.path.exists(f"/sys/class/net/{bridge}")
