"""The ``ip pinnace`` nftables table with real traffic, inside private network namespaces.

A lab of namespaces made with ``ip netns``: ``host`` plays the host (three
bridges: two ordinary, one internal; a link to ``ext``), ``ext`` plays a
machine outside (it has no route to the containers' subnets, so an answer
from it proves masquerading), and one namespace per "container", each a
veth pair on a bridge with busybox httpd serving its name.  The library
runs inside ``host`` (a python subprocess under ``ip netns exec``); the
tests look with ``nft`` and busybox ``wget``.  Another table in ``host``
must be left exactly as it was, and the lab is removed whole at the end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.root

pytest.importorskip("nftables")
if not shutil.which("nft") or not shutil.which("ip") or not os.path.exists("/bin/busybox"):
    pytest.skip("needs nft, ip and /bin/busybox", allow_module_level=True)

BUSYBOX = "/bin/busybox"
HTTP = 80
CID = {name: (name.lower() * 64)[:64] for name in ("A1", "A2", "B1", "I1", "I2")}

OTHER_TABLES = """
table inet pntother {
    set keep {
        type ipv4_addr
        elements = { 192.0.2.1 }
    }
    chain input {
        type filter hook input priority 10; policy accept;
        ip saddr @keep drop comment "not pinnace's"
    }
    chain forward {
        type filter hook forward priority 10; policy accept;
    }
}
table ip nat {
    chain POSTROUTING {
        type nat hook postrouting priority srcnat; policy accept;
    }
}
"""


def _run(
    *argv: str, timeout: float = 20, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv}: {proc.stderr.strip()}")
    return proc


class Lab:
    """The namespaces, links and servers of one test module; every name is unique to it."""

    def __init__(self, tmp: Path) -> None:
        tag = os.urandom(3).hex()
        self.tmp = tmp
        self.net = f"10.{random.randint(210, 250)}"
        self.octet = {"A": random.randint(0, 80), "B": random.randint(81, 160), "I": random.randint(161, 240)}
        self.host = f"pnt-{tag}-host"
        self.ext = f"pnt-{tag}-ext"
        self.bridge = {k: f"pnt{k.lower()}{tag}" for k in "ABI"}
        self.ns: dict[str, str] = {}
        self.servers: list[subprocess.Popen[bytes]] = []
        self.other_tables: list[dict[str, Any]] = []
        self.host_addr = f"{self.net}.250.1"  # host's address on the outside link
        self.ext_addr = f"{self.net}.250.2"

    # addresses
    def subnet(self, net: str) -> str:
        return f"{self.net}.{self.octet[net]}.0/24"

    def gateway(self, net: str) -> str:
        return f"{self.net}.{self.octet[net]}.1"

    def ip(self, name: str) -> str:
        return f"{self.net}.{self.octet[name[0]]}.{int(name[1]) + 1}"

    # making and removing
    def up(self) -> None:
        for ns in (self.host, self.ext):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run(
            "ip",
            "-n",
            self.host,
            "link",
            "add",
            "outside",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.ext,
        )
        _run("ip", "-n", self.host, "addr", "add", f"{self.host_addr}/24", "dev", "outside")
        _run("ip", "-n", self.host, "link", "set", "outside", "up")
        _run("ip", "-n", self.ext, "addr", "add", f"{self.ext_addr}/24", "dev", "eth0")
        _run("ip", "-n", self.ext, "link", "set", "eth0", "up")
        for net, bridge in self.bridge.items():
            _run("ip", "-n", self.host, "link", "add", bridge, "type", "bridge")
            _run("ip", "-n", self.host, "addr", "add", f"{self.gateway(net)}/24", "dev", bridge)
            _run("ip", "-n", self.host, "link", "set", bridge, "up")
        for name in ("A1", "A2", "B1", "I1", "I2"):
            self.add_container(name)
        _run("ip", "netns", "exec", self.host, "nft", "-f", "-", stdin=OTHER_TABLES)
        self.serve(self.ext, "ext", 8000)

    def add_container(self, name: str) -> None:
        ns = self.ns[name] = f"{self.host}-{name.lower()}"
        veth = f"v{name.lower()}{self.bridge['A'][4:]}"
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", self.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run("ip", "-n", self.host, "link", "set", veth, "master", self.bridge[name[0]], "up")
        # Docker sets hairpin mode on the port when there is no userland proxy: with br_netfilter
        # loaded, a container's packets to its own published port are bridged back out of that port.
        _run("ip", "-n", self.host, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
        _run("ip", "-n", ns, "addr", "add", f"{self.ip(name)}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", self.gateway(name[0]))
        self.serve(ns, name, HTTP)

    def serve(self, ns: str, text: str, port: int) -> None:
        root = self.tmp / f"www-{text}"
        root.mkdir()
        (root / "index.html").write_text(text)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, BUSYBOX, "httpd", "-f", "-p", str(port), "-h", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.servers.append(proc)

    def down(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait()
        for ns in (*self.ns.values(), self.ext, self.host):
            _run("ip", "netns", "del", ns, check=False)

    # acting
    def nat(self, code: str) -> str:
        """Run ``code`` with ``nat`` and ``PortBinding`` imported, as a process inside the host namespace."""
        prelude = "from pinnace.network import nat\nfrom pinnace.network.ports import PortBinding\n"
        proc = _run("ip", "netns", "exec", self.host, sys.executable, "-c", prelude + code, check=False)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)
        return proc.stdout

    def ensure(self, net: str) -> None:
        self.nat(f"nat.ensure_network({self.bridge[net]!r}, {self.subnet(net)!r}, internal={net == 'I'})")

    def publish(self, name: str, *bindings: str) -> None:
        """Publish ``name``'s ports: bindings are PortBinding(...) argument texts."""
        ports = ", ".join(f"PortBinding({b})" for b in bindings)
        self.nat(f"nat.publish({CID[name]!r}, {self.bridge[name[0]]!r}, {self.ip(name)!r}, [{ports}])")

    def get(self, ns: str, host: str, port: int = HTTP) -> str | None:
        """busybox wget from a namespace: the page's text, or None when nothing answered in 2 s."""
        try:
            proc = _run(
                "ip", "netns", "exec", ns, BUSYBOX, "timeout", "2", BUSYBOX, "wget", "-q", "-O", "-",
                f"http://{host}:{port}/", timeout=10, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return None
        return proc.stdout if proc.returncode == 0 else None

    def nft(self, *args: str) -> str:
        return _run("ip", "netns", "exec", self.host, "nft", *args).stdout

    def table(self) -> list[dict[str, Any]] | None:
        """``ip pinnace`` as JSON objects without handles (they change with every rewrite), or None."""
        proc = _run(
            "ip", "netns", "exec", self.host, "nft", "-j", "list", "table", "ip", "pinnace", check=False
        )
        if proc.returncode != 0:
            return None
        out = []
        for obj in json.loads(proc.stdout)["nftables"]:
            if "metainfo" in obj:
                continue
            for body in obj.values():
                body.pop("handle", None)
            out.append(obj)
        return out

    def others(self) -> list[dict[str, Any]]:
        """The ruleset without ``ip pinnace``: what the library must never change."""
        out = []
        for obj in json.loads(self.nft("-j", "list", "ruleset"))["nftables"]:
            body = next(iter(obj.values()))
            if "metainfo" in obj or (
                body.get("family") == "ip" and body.get("table", body.get("name")) == "pinnace"
            ):
                continue
            out.append(obj)
        return out

    def sysctl(self, path: str) -> str:
        return _run("ip", "netns", "exec", self.host, "cat", f"/proc/sys/net/ipv4/{path}").stdout.strip()


BR_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


@pytest.fixture(scope="module", params=["plain", "br_netfilter"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab, with bridged traffic kept out of the IP hooks, then (br_netfilter loaded, as docker loads it) in."""
    if request.param == "br_netfilter" and not os.path.exists(BR_NF):
        pytest.skip("br_netfilter is not loaded (the tests do not load kernel modules)")
    lab = Lab(tmp_path_factory.mktemp("natlab"))
    try:
        lab.up()
        if os.path.exists(BR_NF):  # a per-namespace setting
            value = "1" if request.param == "br_netfilter" else "0"
            _run("ip", "netns", "exec", lab.host, "sh", "-c", f"echo {value} > {BR_NF}")
        lab.other_tables = lab.others()
        yield lab
    finally:
        lab.down()
    left = _run("ip", "netns", "list").stdout
    assert lab.host not in left and lab.ext not in left


@pytest.fixture
def fresh(lab: Lab) -> Iterator[Lab]:
    """No ``ip pinnace`` table at the start; the other tables unchanged at the end."""
    _run("ip", "netns", "exec", lab.host, "nft", "delete", "table", "ip", "pinnace", check=False)
    yield lab
    assert lab.others() == lab.other_tables


def _elements(table: list[dict[str, Any]], name: str) -> list[Any]:
    for obj in table:
        body = obj.get("map") or obj.get("set")
        if body and body["name"] == name:
            return list(body.get("elem", []))
    raise AssertionError(f"no set or map {name}")


# --------------------------------------------------------------------------- traffic


def test_masquerade_out_of_the_bridge(fresh: Lab) -> None:
    lab = fresh
    assert lab.get(lab.ns["A1"], lab.ext_addr, 8000) is None  # nothing set up: ext cannot answer
    lab.ensure("A")
    assert lab.sysctl("ip_forward") == "1"
    assert lab.get(lab.ns["A1"], lab.ext_addr, 8000) == "ext"  # ext has no route back: masqueraded
    assert lab.get(lab.ns["A2"], lab.ip("A1")) == "A1"  # same bridge
    assert lab.get(lab.ns["A1"], lab.gateway("A")) is None  # nothing listens on the host


def test_published_port_from_outside_from_the_host_and_from_loopback(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 8080, 80")
    lab.publish("A2", "'127.0.0.1', 8081, 80")
    assert lab.sysctl(f"conf/{lab.bridge['A']}/route_localnet") == "1"
    assert lab.get(lab.ext, lab.host_addr, 8080) == "A1"  # from outside, to the host's address
    assert lab.get(lab.host, lab.host_addr, 8080) == "A1"  # from the host itself
    assert lab.get(lab.host, "127.0.0.1", 8080) == "A1"  # loopback
    assert lab.get(lab.host, "127.0.0.1", 8081) == "A2"  # bound to loopback only
    assert lab.get(lab.ext, lab.host_addr, 8081) is None  # ... so not from outside
    assert lab.get(lab.host, lab.host_addr, 8081) is None


def test_udp_port(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 5353, 53, 'udp'")
    server = subprocess.Popen(
        [
            "ip", "netns", "exec", lab.ns["A1"], sys.executable, "-c",
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 53))\n"
            "print('ready', flush=True)\ndata, peer = s.recvfrom(64)\ns.sendto(data.upper(), peer)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        client = (
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(3)\n"
            f"s.sendto(b'ping', ({lab.host_addr!r}, 5353))\nprint(s.recvfrom(64)[0].decode())\n"
        )
        answer = _run("ip", "netns", "exec", lab.ext, sys.executable, "-c", client).stdout.strip()
        assert answer == "PING"
    finally:
        server.kill()
        server.wait()


def test_hairpin(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 8080, 80")
    assert lab.get(lab.ns["A1"], lab.gateway("A"), 8080) == "A1"  # its own port, through the gateway
    assert lab.get(lab.ns["A1"], lab.host_addr, 8080) == "A1"  # through another host address
    assert lab.get(lab.ns["A2"], lab.host_addr, 8080) == "A1"  # a neighbour on the same bridge


def test_isolation_between_bridges(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.ensure("B")
    lab.publish("A1", "'', 8080, 80")
    assert lab.get(lab.ns["B1"], lab.ip("A1")) is None  # another network: dropped
    assert lab.get(lab.ns["A1"], lab.ip("B1")) is None
    assert lab.get(lab.ns["B1"], lab.host_addr, 8080) == "A1"  # a published port is for everyone
    assert lab.get(lab.ns["B1"], lab.ext_addr, 8000) == "ext"
    # From outside, straight to a container address (with a route to it): dropped.
    _run("ip", "-n", lab.ext, "route", "add", lab.subnet("A"), "via", lab.host_addr)
    try:
        assert lab.get(lab.ext, lab.ip("A1")) is None
        assert lab.get(lab.ext, lab.host_addr, 8080) == "A1"
    finally:
        _run("ip", "-n", lab.ext, "route", "del", lab.subnet("A"), "via", lab.host_addr)


def test_internal_network(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.ensure("I")
    assert lab.get(lab.ns["I1"], lab.ip("I2")) == "I2"  # within the network
    assert lab.get(lab.ns["I1"], lab.ext_addr, 8000) is None  # no way out
    assert lab.get(lab.ns["I1"], lab.ip("A1")) is None
    assert lab.get(lab.ns["A1"], lab.ip("I1")) is None  # no way in
    assert "masquerade" not in lab.nft(
        "list", "chain", "ip", "pinnace", f"postrouting-out__{lab.bridge['I']}"
    )


def test_no_route_to_host_loopback_from_a_bridge(fresh: Lab) -> None:
    """route_localnet on the bridge must not open the host's 127.0.0.1 services to a container.

    The container routes 127.0.0.2 to its gateway (it needs route_localnet
    itself and no local 127/8 route, which a root process there can arrange).
    """
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 8080, 80")
    lab.serve(lab.host, "host-loopback", 8099)
    lab.add_container("A3")
    ns = lab.ns["A3"]
    _run("ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet")
    _run("ip", "-n", ns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local")
    _run("ip", "-n", ns, "route", "add", "127.0.0.2/32", "via", lab.gateway("A"))
    assert lab.get(lab.host, "127.0.0.2", 8099) == "host-loopback"
    assert lab.get(ns, lab.host_addr, 8080) == "A1"  # the container's routing works
    assert lab.get(ns, "127.0.0.2", 8099) is None


# --------------------------------------------------------------------------- exactly its rules


def test_ensure_network_is_idempotent(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 8080, 80")
    first = lab.table()
    lab.ensure("A")
    assert lab.table() == first
    assert lab.get(lab.ext, lab.host_addr, 8080) == "A1"  # published ports survive a rerun


def test_ensure_network_writes_only_what_is_missing(fresh: Lab) -> None:
    """On an intact table a rerun writes nothing (the rules keep their handles); a flushed chain, a
    lost element or another subnet makes it rewrite the bridge's rules whole."""
    lab = fresh
    bridge = lab.bridge["A"]
    lab.ensure("A")
    whole = lab.table()
    listing = lab.nft("-a", "list", "table", "ip", "pinnace")
    lab.ensure("A")
    assert lab.nft("-a", "list", "table", "ip", "pinnace") == listing  # same handles: nothing rewritten
    lab.nft("flush", "chain", "ip", "pinnace", f"postrouting-out__{bridge}")  # the masquerade is lost
    assert lab.get(lab.ns["A1"], lab.ext_addr, 8000) is None
    lab.ensure("A")
    assert lab.table() == whole
    assert lab.get(lab.ns["A1"], lab.ext_addr, 8000) == "ext"
    lab.nft("delete", "element", "ip", "pinnace", "forward_in", f"{{ {bridge} }}")
    lab.ensure("A")
    assert lab.table() == whole
    lab.nat(f"nat.ensure_network({bridge!r}, '10.99.7.0/24', internal=False)")
    assert '"addr": "10.99.7.0"' in json.dumps(lab.table())
    lab.ensure("A")
    assert lab.table() == whole


def test_unpublish_removes_exactly_its_rules(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    before = lab.table()
    lab.publish("A2", "'', 8081, 80", "'127.0.0.1', 9091, 80, 'udp'")
    with_a2 = lab.table()
    lab.publish("A1", "'', 8080, 80", "'127.0.0.1', 9090, 80", "'', 8082, 80, 'sctp'")
    assert lab.get(lab.ext, lab.host_addr, 8080) == "A1"
    published = json.loads(lab.nat("import json; print(json.dumps([p.__dict__ for p in nat.published()]))"))
    assert sorted((p["container_id"][:2], p["host_ip"], p["proto"], p["host_port"]) for p in published) == [
        ("a1", "", "sctp", 8082),
        ("a1", "", "tcp", 8080),
        ("a1", "127.0.0.1", "tcp", 9090),
        ("a2", "", "tcp", 8081),
        ("a2", "127.0.0.1", "udp", 9091),
    ]
    lab.nat(f"nat.unpublish({CID['A1']!r})")
    assert lab.table() == with_a2
    assert lab.get(lab.ext, lab.host_addr, 8080) is None
    assert lab.get(lab.ext, lab.host_addr, 8081) == "A2"
    lab.nat(f"nat.unpublish({CID['A2']!r})")
    lab.nat(f"nat.unpublish({CID['A2']!r})")  # twice is fine
    assert lab.table() == before


def test_a_port_is_published_once(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.ensure("B")
    lab.publish("A1", "'', 8080, 80", "'127.0.0.1', 9090, 80")
    before = lab.table()
    attempt = (
        "try:\n    nat.publish({cid!r}, {br!r}, {ip!r}, [PortBinding('', 7070, 80), {binding}])\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    for binding, message in (
        ("PortBinding('', 8080, 80)", "Bind for 0.0.0.0:8080 failed: port is already allocated"),
        ("PortBinding('127.0.0.1', 8080, 80)", "Bind for 127.0.0.1:8080 failed: port is already allocated"),
        ("PortBinding('', 9090, 80)", "Bind for 0.0.0.0:9090 failed: port is already allocated"),
        ("PortBinding('', 7070, 81)", "Bind for 0.0.0.0:7070 failed: port is already allocated"),
    ):
        code = attempt.format(cid=CID["B1"], br=lab.bridge["B"], ip=lab.ip("B1"), binding=binding)
        assert lab.nat(code).strip() == f"Conflict {message}"
        assert lab.table() == before  # all or nothing
    # The kernel refuses the duplicate even when the check before it saw nothing (a race).
    race = attempt.format(
        cid=CID["B1"], br=lab.bridge["B"], ip=lab.ip("B1"), binding="PortBinding('', 8080, 80)"
    )
    assert (
        lab.nat("real = nat._table\ncalls = []\n"
                "def blind():\n    calls.append(1)\n    return [] if len(calls) == 1 else real()\n"
                "nat._table = blind\n" + race).strip()
        == "Conflict Bind for 0.0.0.0:8080 failed: port is already allocated"
    )  # fmt: skip
    assert lab.table() == before
    # Another protocol, or another host address, is another port.
    lab.publish("B1", "'', 8080, 80, 'udp'", "'127.0.0.2', 9090, 80")
    assert lab.get(lab.host, "127.0.0.1", 9090) == "A1"
    assert lab.get(lab.host, "127.0.0.2", 9090) == "B1"


def test_remove_network_leaves_no_trace_of_the_bridge(fresh: Lab) -> None:
    lab = fresh
    lab.ensure("A")
    lab.ensure("I")
    lab.publish("A1", "'', 8080, 80")
    before = lab.table()
    lab.ensure("B")
    lab.publish("B1", "'', 8083, 80", "'127.0.0.1', 8084, 80")
    assert lab.get(lab.ext, lab.host_addr, 8083) == "B1"
    lab.nat(f"nat.remove_network({lab.bridge['B']!r})")
    assert lab.table() == before
    assert lab.bridge["B"] not in lab.nft("list", "table", "ip", "pinnace")
    assert lab.get(lab.ext, lab.host_addr, 8080) == "A1"  # the others still work
    assert lab.get(lab.ns["A1"], lab.ext_addr, 8000) == "ext"
    lab.nat(f"nat.remove_network({lab.bridge['B']!r})")  # twice is fine
    assert lab.table() == before


def test_cleanup_after_a_crash(fresh: Lab) -> None:
    lab = fresh
    lab.nat("nat.cleanup([], [])")  # no table: nothing to do
    for net in "ABI":
        lab.ensure(net)
    lab.publish("A1", "'', 8080, 80")
    lab.publish("A2", "'', 8081, 80")
    lab.publish("B1", "'', 8083, 80")
    # A port published on a bridge whose rules were never made (a crash in between).
    lab.nat(f"nat.publish({CID['I1']!r}, 'pntghost', {lab.ip('I1')!r}, [PortBinding('', 8085, 80)])")
    # Only bridge A and container A2 survived the crash.
    lab.nat(f"nat.cleanup([{lab.bridge['A']!r}], [{CID['A2']!r}, {CID['I1']!r}])")
    listing = lab.nft("list", "table", "ip", "pinnace")
    assert lab.bridge["B"] not in listing and lab.bridge["I"] not in listing
    assert CID["A1"] not in listing and CID["B1"] not in listing and CID["A2"] in listing
    assert "pntghost" not in listing
    assert lab.get(lab.ext, lab.host_addr, 8081) == "A2"
    assert lab.get(lab.ext, lab.host_addr, 8080) is None
    assert [e[0]["elem"]["val"]["concat"] for e in _elements(lab.table() or [], "published_addr")] == [
        ["tcp", 8081]
    ]
    # Nothing alive: the table goes.
    lab.nat("nat.cleanup([], [])")
    assert lab.table() is None
    lab.nat("nat.remove_network('pntnothing'); nat.unpublish('x'); print(nat.published())")


def test_a_deletion_that_lost_a_race_is_retried(fresh: Lab) -> None:
    """Two processes remove the same ports: the second's batch names keys already gone; it reads again."""
    lab = fresh
    lab.ensure("A")
    lab.publish("A1", "'', 8080, 80")
    before = lab.table()
    lab.publish("A2", "'', 8081, 80")
    stale = (
        "real = nat._table\nsnapshot = real()\ncalls = []\n"
        "def stale():\n    calls.append(1)\n    return snapshot if len(calls) == 1 else real()\n"
        f"nat.unpublish({CID['A2']!r})\nnat._table = stale\nnat.unpublish({CID['A2']!r})\nprint(len(calls))\n"
    )
    assert lab.nat(stale).strip() == "2"
    assert lab.table() == before
