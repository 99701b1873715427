"""The network service against a real metadata database in tmp_path: networks, endpoints, events, concurrency.

Containers are fake IDs: an endpoint is a row, made and released through
``connect``/``disconnect`` exactly as the container code will.  Nothing is
made on the host (the service never touches interfaces).  Each store gets
a daemon.json with a random private 10.2xx.0.0/16 pool; host routes are
replaced by a fixed list unless a test is about them.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.errors import Conflict, InvalidArgument, NotFound, PinnaceError, Unavailable
from pinnace.events import read_events
from pinnace.meta.db import Database
from pinnace.network import ipam
from pinnace.network.records import NetworkRecord
from pinnace.network.service import NetworkService


def cid(n: int) -> str:
    return f"{n:064x}"


class Store:
    def __init__(self, root: Path, octet: int) -> None:
        self.root = root
        self.octet = octet
        self.net = f"10.{octet}"
        self.bridge = f"pnt{random.randbytes(3).hex()}"
        (root / "daemon.json").write_text(
            f'{{"bridge": "{self.bridge}", "bip": "{self.net}.0.1/24",'
            f' "default-address-pools": [{{"base": "{self.net}.0.0/16", "size": 24}}]}}'
        )
        self.db = Database(root / "pinnace.db")
        self.removed: list[str] = []
        self.service = self.open()

    def open(self) -> NetworkService:
        return NetworkService(
            self.db,
            str(self.root),
            names=lambda c: f"name-{c[:4]}",
            on_remove=lambda r: self.removed.append(r.name),
        )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(ipam, "host_routes", lambda *a, **k: [])
    s = Store(tmp_path, random.randint(210, 250))
    yield s
    s.db.close()


# --------------------------------------------------------------------------- networks


def test_predefined_networks(store: Store) -> None:
    svc = store.service
    names = [(r.name, r.driver) for r in svc.list()]
    assert names == [("bridge", "bridge"), ("host", "host"), ("none", "null")]
    bridge = svc.default()
    assert bridge.subnet == f"{store.net}.0.0/24" and bridge.gateway == f"{store.net}.0.1"
    assert bridge.bridge == store.bridge and bridge.predefined
    assert svc.get("bridge") == bridge == svc.get(bridge.id) == svc.get(bridge.id[:5])
    for name in ("bridge", "host", "none"):
        with pytest.raises(Conflict, match=f"^{name} is a pre-defined network and cannot be removed$"):
            svc.remove(name)
        with pytest.raises(Conflict, match=f"^operation is not permitted on predefined {name} network $"):
            svc.create(name)
    assert svc.mtu(bridge) == 1500
    # made once: another service on the store sees the same networks
    assert [r.id for r in store.open().list()] == [r.id for r in svc.list()]


def test_default_bridge_without_bip_avoids_host_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []

    def routes(version: int = 4, *, exclude_device: str = "", proc: str = "") -> list[ipam.Net]:
        seen.append(exclude_device)
        return [ipam.network("172.17.0.0/16")]

    monkeypatch.setattr(ipam, "host_routes", routes)
    (tmp_path / "daemon.json").write_text('{"bridge": "pntdefault"}')
    db = Database(tmp_path / "pinnace.db")
    try:
        svc = NetworkService(db, str(tmp_path))
        bridge = svc.default()
        assert bridge.subnet == "172.18.0.0/16" and bridge.gateway == "172.18.0.1"
        assert seen == ["pntdefault"]  # its own bridge's routes do not count
        assert bridge.options["com.docker.network.bridge.name"] == "pntdefault"
        assert bridge.options["com.docker.network.bridge.default_bridge"] == "true"
    finally:
        db.close()


def test_no_default_bridge(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text('{"bridge": "none"}')
    db = Database(tmp_path / "pinnace.db")
    try:
        svc = NetworkService(db, str(tmp_path))
        assert [r.name for r in svc.list()] == ["host", "none"]
        with pytest.raises(NotFound, match="^network bridge not found$"):
            svc.default()
    finally:
        db.close()


def test_create_allocates_from_the_pools(store: Store) -> None:
    svc = store.service
    a = svc.create("a")
    b = svc.create("b", labels={"k": "v"}, internal=True)
    assert a.subnet == f"{store.net}.1.0/24" and a.gateway == f"{store.net}.1.1"
    assert b.subnet == f"{store.net}.2.0/24" and b.internal and dict(b.labels) == {"k": "v"}
    assert a.bridge == "br-" + a.id[:12] and len(a.id) == 64
    svc.remove("a")
    assert store.removed == ["a"]
    # the freed subnet is handed out again
    assert svc.create("c").subnet == f"{store.net}.1.0/24"


def test_create_avoids_host_routes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    busy = [ipam.network(f"{store.net}.1.0/24"), ipam.network(f"{store.net}.2.0/23")]
    monkeypatch.setattr(ipam, "host_routes", lambda *a, **k: busy)
    assert store.service.create("a").subnet == f"{store.net}.4.0/24"
    # a subnet the user names is checked against networks only, as docker does
    assert store.service.create("b", subnet=f"{store.net}.1.0/24").subnet == f"{store.net}.1.0/24"


def test_create_errors(store: Store) -> None:
    svc = store.service
    svc.create("a", subnet=f"{store.net}.10.0/24")
    with pytest.raises(Conflict, match="^network with name a already exists$"):
        svc.create("a")
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        svc.create("b", subnet=f"{store.net}.10.128/25")
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        svc.create("b", subnet=f"{store.net}.0.0/16")  # the default bridge's and a's
    with pytest.raises(InvalidArgument) as e:
        svc.create("b", subnet=f"{store.net}.11.1/24", gateway=f"{store.net}.12.1")
    assert str(e.value) == (
        "invalid network config:\n"
        f"* invalid subnet {store.net}.11.1/24: it should be {store.net}.11.0/24\n"
        f"* invalid gateway {store.net}.12.1: parent subnet {store.net}.11.1/24 doesn't contain this address"
    )
    with pytest.raises(
        InvalidArgument, match="^invalid network config:\ninvalid subnet x: invalid CIDR block notation$"
    ):
        svc.create("b", subnet="x")
    with pytest.raises(InvalidArgument, match="^every ip-range or gateway must have a corresponding subnet$"):
        svc.create("b", gateway=f"{store.net}.12.1")
    with pytest.raises(Conflict, match=r"failed to allocate gateway \(.*\.12\.0\): Address already in use"):
        svc.create("b", subnet=f"{store.net}.12.0/24", gateway=f"{store.net}.12.0")
    with pytest.raises(NotFound, match='^plugin "weave" not found$'):
        svc.create("b", driver="weave")
    with pytest.raises(Conflict, match='^only one instance of "host" network is allowed$'):
        svc.create("b", driver="host")
    with pytest.raises(InvalidArgument, match="^invalid name:  $"):
        svc.create(" ")
    with pytest.raises(InvalidArgument, match="invalid bridge name"):
        svc.create("b", options={"com.docker.network.bridge.name": "x" * 16})
    with pytest.raises(InvalidArgument, match="^invalid MTU number: big$"):
        svc.create("b", options={"com.docker.network.driver.mtu": "big"})
    named = svc.create(
        "b", options={"com.docker.network.bridge.name": "pntnamed", "com.docker.network.driver.mtu": "1400"}
    )
    assert named.bridge == "pntnamed" and svc.mtu(named) == 1400
    with pytest.raises(
        Conflict, match=r"^cannot create network \w+ \(pntnamed\): conflicts with network .*same bridge name$"
    ):
        svc.create("c", options={"com.docker.network.bridge.name": "pntnamed"})
    assert [r.name for r in svc.list({"type": ["custom"]})] == ["a", "b"]


def test_pools_exhausted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipam, "host_routes", lambda *a, **k: [])
    (tmp_path / "daemon.json").write_text(
        '{"bridge": "pntfull", "bip": "10.209.0.1/24", "default-address-pools": [{"base": "10.209.0.0/23", "size": 24}]}'
    )
    db = Database(tmp_path / "pinnace.db")
    try:
        svc = NetworkService(db, str(tmp_path))
        assert svc.create("one").subnet == "10.209.1.0/24"
        with pytest.raises(
            Unavailable, match="^could not find an available, non-overlapping IPv4 address pool"
        ):
            svc.create("two")
    finally:
        db.close()


def test_ipv6_networks(store: Store) -> None:
    svc = store.service
    auto = svc.create("v6", ipv6=True)
    assert auto.ipv6 and auto.subnet6.startswith("fd") and auto.subnet6.endswith("::/64")
    assert auto.gateway6 == auto.subnet6.replace("::/64", "::1")
    given = svc.create("v6b", ipv6=True, subnet6="fd00:2a::/64", gateway6="fd00:2a::fe")
    assert (given.subnet6, given.gateway6) == ("fd00:2a::/64", "fd00:2a::fe")
    with pytest.raises(Conflict, match="^Pool overlaps"):
        svc.create("v6c", ipv6=True, subnet6="fd00:2a::/48")
    ep = svc.connect("v6b", cid(1))
    assert ep.ip6 == "fd00:2a::1"  # the gateway is elsewhere: ::1 is free
    doc = svc.inspect(svc.get("v6b"))
    assert doc["EnableIPv6"] is True
    assert doc["IPAM"]["Config"][1] == {"Subnet": "fd00:2a::/64", "Gateway": "fd00:2a::fe"}
    assert doc["Containers"][cid(1)]["IPv6Address"] == "fd00:2a::1/64"


def test_find_network(store: Store) -> None:
    svc = store.service
    a = svc.create("a")
    assert svc.get(a.id) == a == svc.get("a") == svc.get(a.id[:12])
    with pytest.raises(NotFound, match="^network nosuch not found$"):
        svc.get("nosuch")
    # a network named like another's ID prefix: the name wins, as docker's FindNetwork
    b = svc.create(a.id[:6])
    assert svc.get(a.id[:6]) == b
    with pytest.raises(
        InvalidArgument, match=r"^network  is ambiguous \(\d+ matches found based on ID prefix\)$"
    ):
        svc.get("")


def test_list_filters(store: Store) -> None:
    svc = store.service
    a = svc.create("front", labels={"tier": "web", "env": "prod"})
    svc.create("back", labels={"tier": "db"})
    svc.connect("back", cid(1))

    def names(**filters: list[str]) -> list[str]:
        return [r.name for r in svc.list({k.replace("_", "!"): v for k, v in filters.items()})]

    assert names() == ["back", "bridge", "front", "host", "none"]
    assert names(name=["fr"]) == ["front"]  # a regular expression, unanchored
    assert names(name=["^b"]) == ["back", "bridge"]
    assert names(name=["["]) == []  # an invalid expression matches nothing
    assert names(id=[a.id[:8]]) == ["front"]
    assert names(driver=["null", "host"]) == ["host", "none"]
    assert names(label=["tier"]) == ["back", "front"]
    assert names(label=["tier=web", "env=prod"]) == ["front"]
    assert names(scope=["local"]) == names()
    assert names(scope=["swarm"]) == []
    assert names(type=["builtin"]) == ["bridge", "host", "none"]
    assert names(type=["custom"]) == ["back", "front"]
    assert names(type=["custom", "builtin"]) == names()
    assert names(dangling=["true"]) == ["front"]
    assert names(dangling=["0"]) == ["back", "bridge", "host", "none"]
    with pytest.raises(InvalidArgument, match="^invalid filter 'until'$"):
        svc.list({"until": ["1h"]})
    with pytest.raises(InvalidArgument, match=r"^invalid filter: 'type'='x'$"):
        svc.list({"type": ["x"]})
    with pytest.raises(InvalidArgument, match='^got more than one value for filter key "dangling"$'):
        svc.list({"dangling": ["true", "false"]})
    with pytest.raises(InvalidArgument, match="^invalid value for filter 'dangling'"):
        svc.list({"dangling": ["yes"]})


# --------------------------------------------------------------------------- endpoints


def test_connect_lowest_free_and_release(store: Store) -> None:
    svc = store.service
    net = svc.create("n")
    base = net.subnet.rsplit(".", 2)[0]
    eps = [svc.connect("n", cid(i)) for i in range(3)]
    assert [e.ip for e in eps] == [f"{base}.1.2", f"{base}.1.3", f"{base}.1.4"]
    assert eps[0].mac == ipam.mac_address(eps[0].ip)
    assert eps[0].network == net.id and eps[0].container == cid(0)
    assert svc.endpoint_of(net.id, cid(1)) == eps[1]
    assert svc.endpoints(cid(1)) == [eps[1]]
    released = svc.disconnect("n", cid(1))
    assert released == eps[1]
    assert svc.endpoint_of(net.id, cid(1)) is None
    # the released address is the next one handed out
    assert svc.connect("n", cid(9)).ip == f"{base}.1.3"
    with pytest.raises(NotFound, match=f"^container {cid(1)} is not connected to network n$"):
        svc.disconnect("n", cid(1))
    with pytest.raises(Conflict, match="^endpoint with name name-0000 already exists in network n$"):
        svc.connect("n", cid(0))


def test_connect_on_the_default_bridge(store: Store) -> None:
    svc = store.service
    ep = svc.connect("bridge", cid(1))
    assert ep.ip == f"{store.net}.0.2"
    with pytest.raises(InvalidArgument) as e:
        svc.connect("bridge", cid(2), ip=f"{store.net}.0.9", aliases=["web"])
    assert str(e.value) == (
        "invalid endpoint settings:\n"
        "* user specified IP address is supported on user defined networks only\n"
        "* network-scoped alias is supported only for containers in user defined networks"
    )
    with pytest.raises(
        Conflict, match="^container cannot be disconnected from host network or connected to host network$"
    ):
        svc.connect("host", cid(2))
    with pytest.raises(Conflict, match=r"private \(none\) mode"):
        svc.connect("none", cid(2))


def test_static_addresses_aliases_and_mac(store: Store) -> None:
    svc = store.service
    net = svc.create("n", subnet=f"{store.net}.20.0/24", ip_range=f"{store.net}.20.128/25")
    # dynamic addresses come from the range, static ones from anywhere in the subnet
    assert svc.connect("n", cid(1)).ip == f"{store.net}.20.128"
    ep = svc.connect(
        "n", cid(2), ip=f"{store.net}.20.7", aliases=["web", "web", "db"], mac="02:42:AA:BB:CC:DD"
    )
    assert (ep.ip, ep.aliases, ep.mac) == (f"{store.net}.20.7", ("web", "db"), "02:42:aa:bb:cc:dd")
    for taken in (f"{store.net}.20.7", f"{store.net}.20.1", f"{store.net}.20.0", f"{store.net}.20.255"):
        with pytest.raises(InvalidArgument, match="^Address already in use$"):
            svc.connect("n", cid(3), ip=taken)
    with pytest.raises(InvalidArgument) as e:
        svc.connect("n", cid(3), ip=f"{store.net}.21.7")
    assert str(e.value) == (
        f"invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {store.net}.21.7"
    )
    with pytest.raises(InvalidArgument) as e:
        svc.connect("n", cid(3), ip="bogus")
    assert str(e.value) == (
        "invalid endpoint settings:\n* invalid IPv4 address: bogus\n"
        "* no configured subnet or ip-range contain the IP address bogus"
    )
    with pytest.raises(InvalidArgument, match="^invalid MAC address 02:42$"):
        svc.connect("n", cid(3), mac="02:42")
    assert svc.endpoint_of(net.id, cid(3)) is None  # nothing was taken by the refusals


def test_address_exhaustion(store: Store) -> None:
    svc = store.service
    net = svc.create("small", subnet=f"{store.net}.30.0/29")
    for i in range(5):
        svc.connect("small", cid(i))
    with pytest.raises(Unavailable) as e:
        svc.connect("small", cid(9))
    assert str(e.value) == f"no available IPv4 addresses on this network's address pools: small ({net.id})"
    svc.disconnect("small", cid(2))
    assert svc.connect("small", cid(9)).ip == f"{store.net}.30.4"


def test_remove_refused_while_connected(store: Store) -> None:
    svc = store.service
    net = svc.create("n")
    svc.connect("n", cid(1))
    with pytest.raises(Conflict) as e:
        svc.remove("n")
    assert str(e.value) == f"error while removing network: network n id {net.id} has active endpoints"
    assert store.removed == []
    assert svc.prune() == []
    released = svc.disconnect_all(cid(1))
    assert [ep.network for ep in released] == [net.id]
    assert svc.prune() == ["n"]
    assert store.removed == ["n"]


def test_on_remove_failure_keeps_the_network(store: Store) -> None:
    def fail(rec: NetworkRecord) -> None:
        raise Unavailable(f"delete bridge {rec.bridge}: busy")

    svc = NetworkService(store.db, str(store.root), on_remove=fail)
    svc.create("n")
    with pytest.raises(Unavailable, match="busy"):
        svc.remove("n")
    assert svc.get("n").name == "n"


def test_prune_filters(store: Store) -> None:
    svc = store.service
    svc.create("keep", labels={"keep": "1"})
    svc.create("old", labels={"team": "a"})
    svc.create("other", labels={"team": "b"})
    with pytest.raises(InvalidArgument, match="^invalid filter 'dangling'$"):
        svc.prune({"dangling": ["true"]})
    with pytest.raises(InvalidArgument, match="^more than one until filter specified$"):
        svc.prune({"until": ["1h", "2h"]})
    assert svc.prune({"until": ["1h"]}) == []  # all made just now
    assert svc.prune({"label": ["team=a"]}) == ["old"]
    assert svc.prune({"label!": ["keep"]}) == ["other"]
    assert [r.name for r in svc.list({"type": ["custom"]})] == ["keep"]


def test_inspect_document(store: Store) -> None:
    svc = store.service
    net = svc.create(
        "n", subnet=f"{store.net}.40.0/24", ip_range=f"{store.net}.40.128/25", labels={"b": "2", "a": "1"}
    )
    svc.connect("n", cid(2))
    svc.connect("n", cid(1), ip=f"{store.net}.40.9")
    doc = svc.inspect(svc.get("n"))
    assert list(doc) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert doc["Id"] == net.id and doc["Created"] == net.created and doc["Created"].endswith("Z")
    assert doc["IPAM"] == {
        "Driver": "default",
        "Options": {},
        "Config": [
            {
                "Subnet": f"{store.net}.40.0/24",
                "IPRange": f"{store.net}.40.128/25",
                "Gateway": f"{store.net}.40.1",
            }
        ],
    }
    assert list(doc["Labels"]) == ["a", "b"]
    assert list(doc["Containers"]) == [cid(1), cid(2)]
    one = doc["Containers"][cid(1)]
    assert one["Name"] == "name-0000"
    assert one["IPv4Address"] == f"{store.net}.40.9/24" and one["IPv6Address"] == ""
    assert one["MacAddress"] == ipam.mac_address(f"{store.net}.40.9")
    assert len(one["EndpointID"]) == 64
    host = svc.inspect(svc.get("host"))
    assert host["IPAM"] == {"Driver": "default", "Options": None, "Config": []} and host["Driver"] == "host"


def test_events(store: Store) -> None:
    svc = store.service
    net = svc.create("n")
    svc.connect("n", cid(1))
    svc.disconnect("n", cid(1))
    svc.remove("n")
    events = [(e.type, e.action, e.actor_id, dict(e.attributes)) for e in read_events(store.db)]
    attrs = {"name": "n", "type": "bridge"}
    assert events == [
        ("network", "create", net.id, attrs),
        ("network", "connect", net.id, {"container": cid(1), **attrs}),
        ("network", "disconnect", net.id, {"container": cid(1), **attrs}),
        ("network", "destroy", net.id, attrs),
    ]


def test_connect_inside_a_callers_transaction(store: Store) -> None:
    svc = store.service
    svc.create("n")
    with store.db.tx() as conn:
        rec, ep = svc.connect_in(conn, "n", cid(1))
    assert svc.endpoint_of(rec.id, cid(1)) == ep
    with pytest.raises(PinnaceError), store.db.tx() as conn:
        svc.connect_in(conn, "n", cid(2))
        raise Conflict("the container's create failed")
    assert svc.endpoint_of(rec.id, cid(2)) is None  # rolled back with it


CONNECTER = """
import sys
from pinnace.meta.db import Database
from pinnace.network import ipam
from pinnace.network.service import NetworkService
ipam.host_routes = lambda *a, **k: []
root, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = Database(root + "/pinnace.db")
svc = NetworkService(db, root)
for i in range(first, first + count):
    svc.connect("shared", f"{i:064x}")
    if i % 3 == 0:
        svc.disconnect("shared", f"{i:064x}")
        svc.connect("shared", f"{i:064x}")
"""


def test_concurrent_processes_never_share_an_address(store: Store) -> None:
    svc = store.service
    net = svc.create("shared", subnet=f"{store.net}.50.0/24")
    procs = [
        subprocess.Popen([sys.executable, "-c", CONNECTER, str(store.root), str(k * 100), "15"])
        for k in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    ips = [ep.ip for ep in store.open().records.endpoints(net.id)]
    assert len(ips) == 60 and len(set(ips)) == 60
    # lowest free: exactly .2 to .61, with no gap left by the disconnects
    assert sorted(int(ip.rsplit(".", 1)[1]) for ip in ips) == list(range(2, 62))
