"""The network commands end to end (network create/ls/inspect/rm/prune) through the real ``pinnace``.

Every test runs on a private store whose daemon.json names its own bridge
("pnt" + 6 random hex digits) and a random private 10.2xx.0.0/16 pool (the
default bridge takes its first /24), never docker's defaults.  The ``nets``
fixture removes every network a test made (none may refuse) and checks no
interface of the test's is left on the host.  A container "connected" to a
network is an ``endpoints`` row, as the container code writes it, so these
tests need no container; the fixture drops those rows first.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root

USER = "c" * 64  # the container a "used" network is used by
ID = re.compile(r"[0-9a-f]{64}")


@dataclass
class Store:
    p: Pinnace
    bridge: str  # the default bridge's interface name
    net: str  # "10.2xx": the pool is 10.2xx.0.0/16, the default bridge 10.2xx.0.0/24

    def ids(self, *args: str) -> list[str]:
        return self.p.run("network", "ls", "-q", "--no-trunc", *args).stdout.split()

    def names(self, *args: str) -> list[str]:
        return self.p.run("network", "ls", "--format", "{{.Name}}", *args).stdout.split()

    def inspect(self, ref: str) -> dict[str, object]:
        [doc] = json.loads(self.p.run("network", "inspect", ref).stdout)
        assert isinstance(doc, dict)
        return doc

    def use(self, network_id: str, ip: str, container: str = USER) -> None:
        """Connect ``container`` to the network: the row its create writes."""
        with closing(sqlite3.connect(self.p.root / "pinnace.db")) as conn, conn:
            conn.execute(
                "INSERT INTO endpoints (network, container, ip, mac) VALUES (?, ?, ?, ?)",
                (network_id, container, ip, "02:42:00:00:00:00"),
            )

    def release(self) -> None:
        with closing(sqlite3.connect(self.p.root / "pinnace.db")) as conn, conn:
            conn.execute("DELETE FROM endpoints WHERE container = ?", (USER,))


def _bridges(p: Pinnace) -> set[str]:
    """The interfaces this store's networks have (had): their recorded bridges and br-<id> of every one created."""
    with closing(sqlite3.connect(p.root / "pinnace.db")) as conn:
        names = {row[0] for row in conn.execute("SELECT bridge FROM networks WHERE bridge IS NOT NULL")}
        created = conn.execute("SELECT actor_id FROM events WHERE type = 'network' AND action = 'create'")
        names.update("br-" + row[0][:12] for row in created)
    return names


@pytest.fixture
def nets(pinnace: Pinnace) -> Iterator[Store]:
    """A store with its own bridge and pool; at the end every custom network is removed, and its interfaces."""
    pinnace.root.mkdir(parents=True, exist_ok=True)
    store = Store(pinnace, f"pnt{os.urandom(3).hex()}", f"10.{random.randint(210, 250)}")
    (pinnace.root / "daemon.json").write_text(
        json.dumps(
            {
                "bridge": store.bridge,
                "bip": f"{store.net}.0.1/24",
                "default-address-pools": [{"base": f"{store.net}.0.0/16", "size": 24}],
            }
        )
    )
    yield store
    if not (pinnace.root / "pinnace.db").exists():
        return
    store.release()
    bridges = _bridges(pinnace)
    left = store.names("--filter", "type=custom")
    if left:
        pinnace.run("network", "rm", *left)
    assert store.names("--filter", "type=custom") == []
    # no container ran: the default bridge was never needed; the others went with their networks
    assert not bridges & set(os.listdir("/sys/class/net"))


def in_pool(store: Store, subnet: str) -> ipaddress.IPv4Network:
    net = ipaddress.ip_network(subnet)
    assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network(f"{store.net}.0.0/16"))
    assert net != ipaddress.ip_network(f"{store.net}.0.0/24")  # the default bridge's
    return net


# --------------------------------------------------------------------------- ls


def test_ls_predefined_networks(nets: Store) -> None:
    out = nets.p.run("network", "ls").stdout
    lines = out.splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    rows = [line.split() for line in lines[1:]]
    assert [r[1:] for r in rows] == [
        ["bridge", "bridge", "local"],
        ["host", "host", "local"],
        ["none", "null", "local"],
    ]
    assert all(re.fullmatch(r"[0-9a-f]{12}", r[0]) for r in rows)
    assert nets.p.run("network", "list").stdout == out  # docker's alias
    assert [i[:12] for i in nets.ids()] == [r[0] for r in rows]
    assert nets.p.run("network", "ls", "-q").stdout.split() == [r[0] for r in rows]
    bridge = nets.inspect("bridge")
    assert bridge["IPAM"] == {
        "Driver": "default",
        "Options": None,
        "Config": [{"Subnet": f"{nets.net}.0.0/24", "Gateway": f"{nets.net}.0.1"}],
    }
    assert bridge["Options"]["com.docker.network.bridge.name"] == nets.bridge  # type: ignore[index]
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"  # type: ignore[index]


def test_ls_filters_and_formats(nets: Store) -> None:
    front = nets.p.run("network", "create", "--label", "tier=web", "front").stdout.strip()
    back = nets.p.run("network", "create", "--label", "tier=db", "--internal", "back").stdout.strip()
    nets.use(back, f"{nets.net}.99.2")
    assert nets.names() == ["back", "bridge", "front", "host", "none"]
    assert nets.names("-f", "type=custom") == ["back", "front"]
    assert nets.names("-f", "type=builtin") == ["bridge", "host", "none"]
    assert nets.names("-f", "name=fr") == ["front"]
    assert nets.names("--filter", "id=" + front[:10]) == ["front"]
    assert nets.names("-f", "label=tier=db") == ["back"]
    assert nets.names("-f", "driver=null") == ["none"]
    assert nets.names("-f", "dangling=true") == ["front"]
    assert nets.names("-f", "scope=local", "-f", "type=custom") == ["back", "front"]
    proc = nets.p.run("network", "ls", "-f", "bogus=1", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter 'bogus'\n")
    proc = nets.p.run("network", "ls", "-f", "type=x", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter: 'type'='x'\n")
    proc = nets.p.run("network", "ls", "-f", "nonsense", check=False)
    assert proc.returncode == 125
    assert proc.stderr.startswith('invalid argument "nonsense" for "-f, --filter" flag: bad format of filter')
    out = nets.p.run(
        "network",
        "ls",
        "-f",
        "type=custom",
        "--format",
        '{{.Name}} {{.Internal}} {{.IPv6}} {{.Labels}} {{.Label "tier"}}',
    ).stdout
    assert out == "back true false tier=db db\nfront false false tier=web web\n"
    out = nets.p.run("network", "ls", "-f", "name=front", "--format", "table {{.ID}}\t{{.Name}}").stdout
    assert out == f"NETWORK ID     NAME\n{front[:12]}   front\n"
    out = nets.p.run("network", "ls", "-f", "name=front", "--no-trunc", "--format", "{{.ID}}").stdout
    assert out == front + "\n"
    created = nets.p.run("network", "ls", "-f", "name=front", "--format", "{{.CreatedAt}}").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\n", created)
    [row] = nets.p.run("network", "ls", "-f", "name=front", "--format", "json").stdout.splitlines()
    assert json.loads(row)["Name"] == "front"
    raw = nets.p.run("network", "ls", "-f", "name=front", "--format", "raw").stdout
    assert raw == f"network_id: {front[:12]}\nname: front\ndriver: bridge\nscope: local\n\n"


# --------------------------------------------------------------------------- create


def test_create_and_inspect(nets: Store) -> None:
    proc = nets.p.run("network", "create", "one")
    one = proc.stdout.strip()
    assert ID.fullmatch(one) and proc.stdout == one + "\n"
    doc = nets.inspect("one")
    assert list(doc) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert (doc["Name"], doc["Id"], doc["Scope"], doc["Driver"]) == ("one", one, "local", "bridge")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(doc["Created"]))
    assert (doc["Containers"], doc["Options"], doc["Labels"]) == ({}, {}, {})
    ipam = doc["IPAM"]
    assert isinstance(ipam, dict) and ipam["Driver"] == "default" and ipam["Options"] == {}
    [config] = ipam["Config"]
    subnet = in_pool(nets, config["Subnet"])
    assert config["Gateway"] == str(subnet.network_address + 1)
    two = nets.inspect(nets.p.run("network", "create", "two").stdout.strip())
    [config2] = two["IPAM"]["Config"]  # type: ignore[index]
    assert not in_pool(nets, config2["Subnet"]).overlaps(subnet)
    # the lookups docker allows: name, ID, ID prefix
    assert nets.inspect(one[:7])["Name"] == "one"
    out = nets.p.run(
        "network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", one
    ).stdout
    assert out == f"one {subnet}\n"


def test_create_with_options(nets: Store) -> None:
    bridge = f"pnt{os.urandom(3).hex()}"
    args = [
        "--subnet", f"{nets.net}.77.0/24", "--gateway", f"{nets.net}.77.254", "--ip-range", f"{nets.net}.77.128/25",
        "--label", "a=1", "--label", "b", "-o", f"com.docker.network.bridge.name={bridge}", "--internal",
        "--attachable", "opts",
    ]  # fmt: skip
    nets.p.run("network", "create", *args)
    doc = nets.inspect("opts")
    assert doc["IPAM"]["Config"] == [  # type: ignore[index]
        {"Subnet": f"{nets.net}.77.0/24", "IPRange": f"{nets.net}.77.128/25", "Gateway": f"{nets.net}.77.254"}
    ]
    assert doc["Labels"] == {"a": "1", "b": ""}
    assert doc["Options"] == {"com.docker.network.bridge.name": bridge}
    assert doc["Internal"] is True and doc["EnableIPv6"] is False


def test_create_errors(nets: Store) -> None:
    def fails(*args: str) -> tuple[int, str]:
        proc = nets.p.run("network", "create", *args, check=False)
        return proc.returncode, proc.stderr

    nets.p.run("network", "create", "--subnet", f"{nets.net}.60.0/24", "taken")
    assert fails("taken") == (1, "Error response from daemon: network with name taken already exists\n")
    assert fails("bridge") == (
        1,
        "Error response from daemon: operation is not permitted on predefined bridge network \n",
    )
    assert fails("--subnet", f"{nets.net}.60.128/25", "x") == (
        1,
        "Error response from daemon: Pool overlaps with other one on this address space\n",
    )
    assert fails("--subnet", f"{nets.net}.0.0/16", "x") == (
        1,
        "Error response from daemon: Pool overlaps with other one on this address space\n",
    )
    assert fails("--subnet", f"{nets.net}.61.1/24", "x") == (
        1,
        f"Error response from daemon: invalid network config:\ninvalid subnet {nets.net}.61.1/24: it should be {nets.net}.61.0/24\n",
    )
    assert fails("--subnet", "bogus", "x") == (
        1,
        "Error response from daemon: invalid network config:\ninvalid subnet bogus: invalid CIDR block notation\n",
    )
    # what docker's CLI checks itself: its message alone
    assert fails("--gateway", f"{nets.net}.62.1", "x") == (
        1,
        "every ip-range or gateway must have a corresponding subnet\n",
    )
    assert fails("--subnet", f"{nets.net}.62.0/24", "--gateway", f"{nets.net}.63.1", "x") == (
        1,
        f"no matching subnet for gateway {nets.net}.63.1\n",
    )
    assert fails("--subnet", f"{nets.net}.62.0/24", "--ip-range", f"{nets.net}.63.0/25", "x") == (
        1,
        f"no matching subnet for range {nets.net}.63.0/25\n",
    )
    assert fails("--subnet", f"{nets.net}.62.0/24", "--subnet", f"{nets.net}.62.0/25", "x") == (
        1,
        "multiple overlapping subnet configuration is not supported\n",
    )
    code, err = fails("--gateway", "nonsense", "x")
    assert code == 125
    assert err.startswith(
        'invalid argument "nonsense" for "--gateway" flag: invalid string being converted to IP address: nonsense\n'
    )
    code, err = fails("--ip-range", "nonsense", "x")
    assert code == 125
    assert err.startswith(
        'invalid argument "nonsense" for "--ip-range" flag: invalid string being converted to CIDR: nonsense\n'
    )
    assert fails("-d", "weave", "x") == (1, 'Error response from daemon: plugin "weave" not found\n')
    assert fails("-d", "host", "x") == (
        1,
        'Error response from daemon: only one instance of "host" network is allowed\n',
    )
    code, err = fails()
    assert code == 125 and err.startswith('"pinnace network create" requires exactly 1 argument.')
    assert nets.names("-f", "type=custom") == ["taken"]


# --------------------------------------------------------------------------- inspect


def test_inspect_several_and_missing(nets: Store) -> None:
    nets.p.run("network", "create", "a")
    proc = nets.p.run("network", "inspect", "a", "nosuch", "host", check=False)
    assert proc.returncode == 1
    assert [d["Name"] for d in json.loads(proc.stdout)] == ["a", "host"]
    assert proc.stderr == "Error response from daemon: network nosuch not found\n"
    proc = nets.p.run("network", "inspect", "nosuch", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1,
        "[]\n",
        "Error response from daemon: network nosuch not found\n",
    )
    host = nets.inspect("host")
    assert host["IPAM"] == {"Driver": "default", "Options": None, "Config": []}
    assert nets.p.run("network", "inspect", "--format", "json", "a").stdout.startswith('[{"Name":"a",')


def test_inspect_shows_connected_containers(nets: Store) -> None:
    net = nets.p.run("network", "create", "--subnet", f"{nets.net}.88.0/24", "used").stdout.strip()
    nets.use(net, f"{nets.net}.88.2")
    doc = nets.inspect("used")
    entry = doc["Containers"][USER]  # type: ignore[index]
    assert entry["IPv4Address"] == f"{nets.net}.88.2/24" and entry["IPv6Address"] == ""
    assert ID.fullmatch(entry["EndpointID"]) and entry["Name"] == ""  # no such container any more


# --------------------------------------------------------------------------- rm / prune


def test_rm(nets: Store) -> None:
    a = nets.p.run("network", "create", "a").stdout.strip()
    nets.p.run("network", "create", "b")
    used = nets.p.run("network", "create", "used").stdout.strip()
    nets.use(used, f"{nets.net}.90.2")
    proc = nets.p.run("network", "rm", a[:10], "bridge", "nosuch", "used", "b", check=False)
    assert proc.returncode == 1
    assert proc.stdout == f"{a[:10]}\nb\n"  # what was asked for, as given
    assert proc.stderr == (
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"
        "Error response from daemon: network nosuch not found\n"
        f"Error response from daemon: error while removing network: network used id {used} has active endpoints\n"
    )
    proc = nets.p.run("network", "rm", "-f", "nosuch")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    nets.release()
    assert nets.p.run("network", "remove", "used").stdout == "used\n"  # docker's alias
    assert nets.names("-f", "type=custom") == []
    code = nets.p.run("network", "rm", check=False).returncode
    assert code == 125


def test_prune(nets: Store) -> None:
    nets.p.run("network", "create", "--label", "keep=yes", "keep")
    nets.p.run("network", "create", "gone")
    used = nets.p.run("network", "create", "used").stdout.strip()
    nets.use(used, f"{nets.net}.91.2")
    proc = nets.p.run("network", "prune", input=b"n\n")
    assert proc.stdout == (
        "WARNING! This will remove all custom networks not used by at least one container.\n"
        "Are you sure you want to continue? [y/N] "
    )
    assert nets.names("-f", "type=custom") == ["gone", "keep", "used"]
    proc = nets.p.run("network", "prune", "-f", "--filter", "label!=keep")
    assert proc.stdout == "Deleted Networks:\ngone\n\n"
    proc = nets.p.run("network", "prune", "--filter", "label=keep=yes", input=b"y\n")
    assert proc.stdout.endswith("[y/N] Deleted Networks:\nkeep\n\n")
    assert nets.p.run("network", "prune", "-f").stdout == ""
    proc = nets.p.run("network", "prune", "-f", "--filter", "dangling=true", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter 'dangling'\n")
    assert nets.names() == ["bridge", "host", "none", "used"]


def test_network_group_help(nets: Store) -> None:
    out = nets.p.run("network").stdout
    assert out.startswith("Usage:  pinnace network COMMAND\n\nManage networks\n")
    for line in ("  create ", "  inspect ", "  ls ", "  prune ", "  rm "):
        assert line in out
    assert "  network     Manage networks\n" in nets.p.run("--help").stdout
    assert "--subnet strings" in nets.p.run("network", "create", "--help").stdout
