"""Benchmarks of networking: start-up on a bridge, and traffic through a published port.

Every engine puts its containers on a bridge network of its own, with its own
Linux bridge and a random ``10.2xx.y.0/24`` subnet that no host route or
address overlaps, never an engine's host-wide default:

- pinnace: its default network ``bridge`` (``--network bridge``), configured
  by ``daemon.json`` in the session's store (``{"bridge": "pntXXXXXX", "bip":
  "10.2xx.y.1/24"}``). pinnace makes the bridge and its nftables rules on
  first use; when the case ends they are removed by pinnace's own
  ``nat.remove_network`` and ``plumbing.remove_bridge`` (no ``network rm``
  removes the default network), and checked gone.
- podman: a network created in set-up (``network create --disable-dns
  --subnet ...``), which with podman 4.3's CNI backend has the plugins of its
  default network ``podman`` (bridge, portmap, firewall, tuning; no DNS)
  but a bridge name podman picks free (``cni-podmanN``) and our subnet, not
  ``cni-podman0`` on 10.88.0.0/16. ``network rm`` at the end.
- docker: the private dockerd (bench/dockerd.py) runs with ``--bridge=none``
  and ``--iptables=false``, so it has no default network: a user-defined
  bridge network is created in set-up (``network create --subnet ... -o
  com.docker.network.bridge.name=pntXXXXXX``), and removed at the end. Next
  to the default bridge, a user-defined network adds docker's embedded DNS
  server to every container's start, while ``--iptables=false`` spares it
  the firewall rules docker would otherwise write; ports are published by
  docker-proxy, which docker also uses for 127.0.0.1 when iptables is on.
  A docker daemon that was already running is used with its own default
  network ``bridge`` instead.

After set-up, one untimed ``run --rm`` on the network: what a network costs
once (pinnace and podman make the bridge on first use) is not in the samples.

``run-bridge``
    ``run --rm --network bridge IMAGE true`` (the network above for the
    peers): start-up latency on a bridge. ``run-rm`` is the same without
    networking. Target as ``run-rm``'s: at most a third of podman's time.
``bridge-ovh``
    what the bridge adds to that: a sample is the wall time of ``run --rm
    --network bridge IMAGE true`` minus that of ``run --rm --network none
    IMAGE true``, run back to back (alternately first), so that both see the
    same machine. Target: pinnace's overhead below podman's. (``run-bridge``
    minus ``run-rm`` would mix medians of two cases run minutes apart.)
``tcp-publish``
    TCP throughput from the host to a published port: a ``sleep`` container
    runs with ``-p 127.0.0.1:HOSTPORT:5201``; every run, ``iperf3 -s -1 -p
    5201`` is started in the container's network namespace (``nsenter
    --net=`` its ``NetworkSettings.SandboxKey``; the busybox image has no
    iperf3, and the data path is the namespace's), then ``iperf3 -c
    127.0.0.1 -p HOSTPORT -t 10 -J`` (``-t 3`` with ``--quick``) on the host.
    The ``veth`` pseudo-tool is pinnace with the client connecting to the
    container's own address on the bridge: no published port, no NAT, one
    veth, its line rate. The ``host`` pseudo-tool runs the same over the
    loopback, the server bound to 127.0.0.1. A sample is the time one Gbit
    takes, in ms (1000 / the receiver's Gbit/s in iperf3's JSON): the
    runner counts the lowest median as the best and checks targets as upper
    bounds, so a rate is recorded as its inverse; Gbit/s = 1000 / the
    figure. Target: within 10 % of the veth's line rate: at most 1/0.9 of
    ``veth``'s time per Gbit.
``tcp-c2c``
    TCP between two containers on the same bridge: the server as above in
    the first container's namespace, the client (``nsenter`` into the
    second's) to the first's address. ``host``: the loopback.
``http-conns``
    connections per second to a published busybox ``httpd`` (``-p
    127.0.0.1:HOSTPORT:80``): ``wrk -t 2 -c 16 -d 10s`` (3 s with
    ``--quick``) on the host. busybox's httpd closes every connection after
    its one response, so each request is a new connection through the
    published port. ``host`` runs the same httpd on the host's loopback. A
    sample is µs per connection (10^6 / wrk's Requests/sec). Target: at
    least docker's rate.

Ports are published on 127.0.0.1 only, and the host's servers bind to it:
nothing listens on the machine's other addresses. Host ports are drawn at
random below the kernel's ephemeral range, free on every address and
published by no pinnace store (pinnace's DNAT binds nothing that would show).

When a case ends, every container is removed (``rm -f``; its processes
checked gone and its cgroups removed, density.py's ``Fleet``), every server
stopped by its pid, then the network; its bridge must be gone from the host,
and nftables must name it nowhere, else the tool is reported. pinnace's
table ``ip pinnace`` goes too when this case made it and nothing else uses
it by then (other pinnace stores share it). The network namespace, bridges
and firewall are the host's, outside the runner's mount sandbox: what
podman's CNI plugins leave behind after every podman run (their empty
chains CNI-FORWARD, CNI-ADMIN and CNI-HOSTPORT-* in iptables' filter and nat
tables) stays, as shared chains other podman users may rely on.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import random
import re
import socket
import string
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import data
from bench.cases import Context, Step, Target, case
from bench.density import IMAGE, fleet, on_close, stop_store_processes
from bench.tools import CommandFailed, Session, ToolError
from bench.volumes import prepare_engine

ENGINES = ("pinnace", "podman", "docker")
WITH_HOST = (*ENGINES, "host")
# The network created for a peer (pinnace uses its default network "bridge").
NETWORK = "pinnace-bench-net"
# pinnace's nftables table (pinnace.network.nat.TABLE).
PINNACE_TABLE = "pinnace"
BRIDGE_PREFIX = "pnt"
# Where subnets are drawn from: 10.200.0.0 - 10.255.255.255, one /24 each.
SECOND_OCTETS = range(200, 256)
IPERF_PORT = 5201
HTTP_PORT = 80
# Host ports are drawn below the kernel's ephemeral range (32768-60999 by default),
# so that no client's source port takes one a port is published on.
HOST_PORTS = range(20000, 32000)
SECONDS = 10
QUICK_SECONDS = 3
WRK_THREADS = 2
WRK_CONNECTIONS = 16
# How long a server may take to listen, and a one-off iperf3 server to exit after its test.
SERVER_TIMEOUT = 15.0
# "Within 10 % of the line rate": at most this many times the host's time per Gbit.
LINE_RATE = 1 / 0.9
# wrk's connect errors and timeouts tolerated, as a share of its requests.
WRK_ERRORS = 0.01

Rng = random.Random


# -- addresses, names and ports --------------------------------------------------------------------


def host_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of the host's routes (every table) and addresses: what a subnet must not overlap."""
    found: list[ipaddress.IPv4Network] = []
    for argv in (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-4", "addr", "show"]):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ToolError(f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stderr.strip()}")
        for entry in json.loads(proc.stdout or "[]"):
            prefixes = [entry.get("dst", "")]
            prefixes += [f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", ()) if "local" in a]
            for prefix in prefixes:
                if prefix and prefix != "default":
                    with contextlib.suppress(ValueError):
                        found.append(ipaddress.IPv4Network(prefix, strict=False))
    return found


def free_subnet(taken: Iterable[ipaddress.IPv4Network], rng: Rng) -> ipaddress.IPv4Network:
    """A random 10.2xx.y.0/24 that overlaps none of taken."""
    busy = list(taken)
    for _ in range(1000):
        net = ipaddress.IPv4Network(f"10.{rng.choice(SECOND_OCTETS)}.{rng.randrange(256)}.0/24")
        if not any(net.overlaps(other) for other in busy):
            return net
    raise ToolError("no free 10.2xx.y.0/24 subnet: the host's routes cover them")


def bridge_name(rng: Rng, exists: Callable[[str], bool] | None = None) -> str:
    """``pnt`` and six random characters (within IFNAMSIZ), naming no interface of the host."""
    exists = exists or (lambda name: Path("/sys/class/net", name).exists())
    alphabet = string.ascii_lowercase + string.digits
    for _ in range(100):
        name = BRIDGE_PREFIX + "".join(rng.choice(alphabet) for _ in range(6))
        if not exists(name):
            return name
    raise ToolError("no free bridge name")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on TCP port on any address (a bind to the wildcard succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port(taken: Iterable[int], rng: Rng, is_free: Callable[[int], bool] = port_is_free) -> int:
    """A random host port below the ephemeral range that is free and not in taken."""
    busy = set(taken)
    for _ in range(1000):
        port = rng.choice(HOST_PORTS)
        if port not in busy and is_free(port):
            return port
    raise ToolError("no free host port")


@dataclass
class Allocations:
    """What the sessions of one case took, so that no two get the same subnet, bridge or port."""

    rng: Rng = field(default_factory=random.SystemRandom)
    subnets: list[ipaddress.IPv4Network] = field(default_factory=list)
    bridges: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    def subnet(self) -> ipaddress.IPv4Network:
        net = free_subnet([*host_networks(), *self.subnets], self.rng)
        self.subnets.append(net)
        return net

    def bridge(self) -> str:
        name = bridge_name(self.rng, lambda n: n in self.bridges or Path("/sys/class/net", n).exists())
        self.bridges.add(name)
        return name

    def port(self) -> int:
        # pinnace publishes by DNAT, binding nothing: a port another pinnace store publishes
        # would look free, and take this one's traffic.
        dnat = pinnace_published_ports()
        port = free_port(self.ports | dnat, self.rng)
        self.ports.add(port)
        return port


def pinnace_published_ports() -> set[int]:
    """The host ports any pinnace store publishes now (none where nftables cannot be read)."""
    try:
        from pinnace.network import nat

        return {p.host_port for p in nat.published()}
    except Exception:  # no nftables binding, no permission: nothing to avoid that we could see
        return set()


def allocations(ctx: Context) -> Allocations:
    return ctx.once("network-allocations", Allocations)


# -- networks --------------------------------------------------------------------------------------


def pinnace_root(s: Session) -> Path:
    """The store pinnace's session runs on (its ``--root``), where daemon.json goes."""
    args = list(s.prefix)
    if "--root" not in args[:-1]:
        raise ToolError(f"{s.name}: no --root in {args}")
    return Path(args[args.index("--root") + 1])


def write_daemon_json(root: Path, bridge: str, subnet: ipaddress.IPv4Network) -> dict[str, str]:
    """The default network's bridge and address (the subnet's first host) in root/daemon.json."""
    config = {"bridge": bridge, "bip": f"{next(subnet.hosts())}/{subnet.prefixlen}"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "daemon.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
    return config


def remove_pinnace_bridge(bridge: str) -> None:
    """Remove the bridge of pinnace's default network and its nftables rules (published ports too)."""
    from pinnace.network import nat, plumbing

    nat.remove_network(bridge)
    plumbing.remove_bridge(bridge)


def pinnace_table() -> list[dict[str, Any]] | None:
    """The objects of nftables' table ``ip pinnace`` (``nft -j``), or None when there is none."""
    proc = subprocess.run(
        ["nft", "-j", "list", "table", "ip", PINNACE_TABLE], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    objects: list[dict[str, Any]] = json.loads(proc.stdout).get("nftables", [])
    return objects


def table_idle(objects: Sequence[dict[str, Any]]) -> bool:
    """Whether pinnace's table serves nothing: no element in a set or map, no bridge's chain (``KIND__BRIDGE``)."""
    for obj in objects:
        for kind in ("set", "map"):
            if obj.get(kind, {}).get("elem"):
                return False
        if "__" in obj.get("chain", {}).get("name", ""):
            return False
    return True


def remove_idle_pinnace_table() -> None:
    """Delete pinnace's nftables table if nothing uses it any more (pinnace's own clean-up does so too)."""
    from pinnace.network import nat

    objects = pinnace_table()
    if objects is not None and table_idle(objects):
        nat.cleanup((), ())


def bridge_left(bridge: str) -> str:
    """What is left of bridge on the host: the interface, nftables rules naming it; "" when none."""
    left = []
    if Path("/sys/class/net", bridge).exists():
        left.append("the interface")
    proc = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False)
    if re.search(rf"\b{re.escape(bridge)}\b", proc.stdout):
        left.append("nftables rules")
    return " and ".join(left)


def check_bridge_gone(s: Session, bridge: str) -> None:
    left = bridge_left(bridge)
    if left:
        raise ToolError(f"{s.name}: {left} of bridge {bridge} left after the case")


def _pinnace_network(ctx: Context, s: Session, alloc: Allocations) -> str:
    bridge, subnet = alloc.bridge(), alloc.subnet()
    config = write_daemon_json(pinnace_root(s), bridge, subnet)
    table_before = pinnace_table() is not None

    def remove() -> None:
        # The zygote that forks monitors outlives the containers by design; it names the store.
        stop_store_processes(str(s.workdir))
        remove_pinnace_bridge(bridge)
        if not table_before:
            remove_idle_pinnace_table()  # made for this case: gone again unless others use it now
        check_bridge_gone(s, bridge)

    on_close(s, remove)
    ctx.notes.append(f"pinnace: default network bridge, daemon.json {json.dumps(config)}")
    return "bridge"


def _podman_network(ctx: Context, s: Session, alloc: Allocations) -> str:
    subnet = alloc.subnet()
    s.run("network", "create", "--disable-dns", "--subnet", str(subnet), NETWORK)
    bridge = s.run("network", "inspect", "--format", "{{.NetworkInterface}}", NETWORK).strip()

    def remove() -> None:
        s.run("network", "rm", "--force", NETWORK)
        if bridge and Path("/sys/class/net", bridge).exists():
            # The network's own bridge (podman made it for its first container), if rm left it.
            subprocess.run(
                ["ip", "link", "delete", bridge, "type", "bridge"], capture_output=True, check=False
            )
        if bridge:
            check_bridge_gone(s, bridge)

    on_close(s, remove)
    ctx.notes.append(
        f"podman: network {NETWORK} (CNI: bridge {bridge}, {subnet}, the plugins of its default network, no DNS)"
    )
    return NETWORK


def _docker_network(ctx: Context, s: Session, alloc: Allocations) -> str:
    try:
        s.run("network", "inspect", "bridge")
    except CommandFailed:
        pass
    else:
        ctx.notes.append("docker: its daemon's default network bridge (a daemon that was already running)")
        return "bridge"
    bridge, subnet = alloc.bridge(), alloc.subnet()
    option = f"com.docker.network.bridge.name={bridge}"
    s.run("network", "create", "--driver", "bridge", "--subnet", str(subnet), "-o", option, NETWORK)

    def remove() -> None:
        s.run("network", "rm", NETWORK)
        check_bridge_gone(s, bridge)

    on_close(s, remove)
    ctx.notes.append(
        f"docker: user-defined network {NETWORK} (bridge {bridge}, {subnet}): the private dockerd "
        "has --bridge=none, so no default network; and --iptables=false, so no firewall rules"
    )
    return NETWORK


_NETWORKS = {
    "pinnace": _pinnace_network,
    "veth": _pinnace_network,
    "podman": _podman_network,
    "docker": _docker_network,
}


def bridge_network(ctx: Context, s: Session) -> str:
    """Import the image, make the session's bridge network (removed at the end), run once on it.

    Returns what ``--network`` names: pinnace's default network ``bridge``,
    a peer's network (see the module doc).
    """
    prepare_engine(ctx, s)
    make = _NETWORKS.get(s.name)
    if make is None:
        raise ToolError(f"{s.name}: no bridge network for this tool")
    network = make(ctx, s, allocations(ctx))
    # The network's one-off cost (pinnace and podman make the bridge on first use) stays untimed.
    s.run("run", "--rm", "--network", network, IMAGE, "true")
    return network


def wall_time(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall time of one run of argv; CommandFailed if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return elapsed


@case(
    "run-bridge",
    "run --rm --network bridge busybox true (create, start on a bridge, wait, remove)",
    ENGINES,
    Target("at most a third of podman's time, as run-rm", 1 / 3, ("podman",)),
)
def run_bridge(ctx: Context, s: Session) -> Step:
    network = bridge_network(ctx, s)
    return Step(s.argv("run", "--rm", "--network", network, IMAGE, "true"))


def paired_overhead(on: Sequence[str], off: Sequence[str], env: dict[str, str]) -> Callable[[], float]:
    """A measure: wall time of on minus that of off, run back to back, the first alternating."""
    turns = itertools.count()

    def measure() -> float:
        first_on = next(turns) % 2 == 1
        times = {}
        for which, argv in ((True, on), (False, off)) if first_on else ((False, off), (True, on)):
            times[which] = wall_time(argv, env)
        return times[True] - times[False]

    return measure


@case(
    "bridge-ovh",
    "what --network bridge adds to run --rm busybox true (paired with --network none)",
    ENGINES,
    Target("bridge overhead below podman's", 1.0, ("podman",)),
)
def bridge_overhead(ctx: Context, s: Session) -> Step:
    network = bridge_network(ctx, s)
    on = s.argv("run", "--rm", "--network", network, IMAGE, "true")
    off = s.argv("run", "--rm", "--network", "none", IMAGE, "true")
    return Step(on, measure=paired_overhead(on, off, dict(s.env)))


# -- servers and clients ---------------------------------------------------------------------------


def listens(table: str, port: int) -> bool:
    """Whether a /proc/PID/net/tcp{,6} table has a socket listening on port."""
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


def listening(pid: int, port: int, program: str) -> bool:
    """Whether process pid, once it is program (nsenter execs it), listens on port in its namespace."""
    try:
        if os.path.basename(os.readlink(f"/proc/{pid}/exe")) != program:
            return False
        tables = [Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6")]
    except OSError:
        return False
    return any(listens(t, port) for t in tables)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no output)"
    return lines[-1] if lines else "(no output)"


class Server:
    """A server process this case starts (iperf3, httpd), stopped by its pid, never by name."""

    def __init__(self, argv: Sequence[str], port: int, log: Path) -> None:
        self.argv = list(argv)
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, program: str, timeout: float = SERVER_TIMEOUT) -> None:
        """Start it, and return once it listens on its port; ToolError if it exits or never does."""
        self.stop()
        with open(self.log, "wb") as log:
            self.proc = proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not listening(proc.pid, self.port, program):
            if proc.poll() is not None:
                self.proc = None
                raise ToolError(f"`{' '.join(self.argv)}` exited {proc.returncode}: {_last_line(self.log)}")
            if time.monotonic() > deadline:
                self.stop()
                raise ToolError(f"`{' '.join(self.argv)}` did not listen on {self.port} in {timeout:.0f} s")
            time.sleep(0.01)

    def finish(self, timeout: float = SERVER_TIMEOUT) -> None:
        """Wait for a one-off server to exit after its client; ToolError (and SIGKILL by pid) if it does not."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ToolError(f"`{' '.join(self.argv)}` did not exit after its test (killed)") from None
        if proc.returncode != 0:
            raise ToolError(f"`{' '.join(self.argv)}` exited {proc.returncode}: {_last_line(self.log)}")

    def stop(self) -> None:
        """SIGKILL it by pid if it still runs (our own child: its pid is not reused before the wait)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def gbits(report: str) -> float:
    """The receiver's Gbit/s in ``iperf3 -J``'s report; ToolError when the test failed or moved nothing."""
    try:
        doc = json.loads(report)
    except ValueError:
        raise ToolError(f"iperf3 wrote no JSON report: {report.strip()[-200:]!r}") from None
    if not isinstance(doc, dict):
        raise ToolError("iperf3's report is not a JSON object")
    if doc.get("error"):
        raise ToolError(f"iperf3: {doc['error']}")
    try:
        bps = float(doc["end"]["sum_received"]["bits_per_second"])
    except (KeyError, TypeError, ValueError):
        raise ToolError("iperf3's report has no end.sum_received.bits_per_second") from None
    if bps <= 0:
        raise ToolError("iperf3 received nothing")
    return bps / 1e9


def run_iperf_client(argv: Sequence[str], env: dict[str, str], seconds: int) -> float:
    """Run ``iperf3 -c ... -J`` and return the Gbit/s the server received."""
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60
    )
    rate = gbits(proc.stdout)  # -J reports failures in the JSON, with "error"
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return rate


_WRK_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)
_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_BAD = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def wrk_rate(report: str) -> float:
    """Requests per second from wrk's report; ToolError on error responses or too many failed connections.

    busybox's httpd closes each connection after its response, which wrk may
    count as read errors: those are the protocol, not failures.
    """
    rate, requests = _WRK_RATE.search(report), _WRK_REQUESTS.search(report)
    if rate is None or requests is None:
        raise ToolError(f"no Requests/sec in wrk's report: {report.strip()[-200:]!r}")
    bad = _WRK_BAD.search(report)
    if bad:
        raise ToolError(f"wrk: {bad.group(1)} responses were not 2xx or 3xx")
    errors = _WRK_SOCKET.search(report)
    if errors:
        failed = int(errors.group(1)) + int(errors.group(4))
        if failed > WRK_ERRORS * max(1, int(requests.group(1))):
            raise ToolError(f"wrk: {errors.group(0)} of {requests.group(1)} requests")
    value = float(rate.group(1))
    if value <= 0:
        raise ToolError("wrk completed no request")
    return value


def run_wrk(argv: Sequence[str], env: dict[str, str], seconds: int) -> float:
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60
    )
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return wrk_rate(proc.stdout)


def http_ready(port: int, timeout: float = SERVER_TIMEOUT) -> None:
    """Wait until http://127.0.0.1:port/ answers 200; ToolError after timeout."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({})
    )  # never a proxy from the environment
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                if reply.status == 200:
                    return
                last = f"HTTP {reply.status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise ToolError(f"http://127.0.0.1:{port}/ did not answer in {timeout:.0f} s: {last}")


def seconds(ctx: Context) -> int:
    return QUICK_SECONDS if ctx.quick else SECONDS


def bridge_containers(
    ctx: Context, s: Session, prefix: str, count: int, *flags: str, command: Sequence[str] = ("sleep", "3600")
) -> list[str]:
    """count containers on the session's bridge network, run with flags.

    Removed (rm -f, their processes checked gone) when the session closes, before the network.
    """
    network = bridge_network(ctx, s)
    containers = fleet(s, prefix, count)
    for name in containers.names:
        s.run("run", "-d", "--name", name, "--network", network, *flags, IMAGE, *command)
    containers.track()
    return list(containers.names)


def published_container(
    ctx: Context, s: Session, prefix: str, container_port: int, *command: str
) -> tuple[str, int]:
    """A container on the session's bridge, container_port published on 127.0.0.1; (its name, the host port)."""
    port = allocations(ctx).port()
    publish = f"127.0.0.1:{port}:{container_port}"
    (name,) = bridge_containers(ctx, s, prefix, 1, "-p", publish, command=command)
    return name, port


def sandbox_key(s: Session, name: str) -> str:
    """The container's network namespace (``NetworkSettings.SandboxKey``), checked to exist here."""
    key = s.run("inspect", "--format", "{{.NetworkSettings.SandboxKey}}", name).strip()
    if not key or not Path(key).exists():
        raise ToolError(f"{s.name}: container {name}'s SandboxKey {key!r} is not a file here")
    return key


def container_ip(s: Session, name: str) -> str:
    """The container's IPv4 address on its (one) network."""
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    found = s.run("inspect", "--format", template, name).split()
    if not found:
        raise ToolError(f"{s.name}: container {name} has no IP address")
    return found[0]


def iperf_server_in(s: Session, name: str) -> list[str]:
    """``iperf3 -s -1`` in the container's network namespace (``nsenter``: the busybox image has no iperf3)."""
    return ["nsenter", f"--net={sandbox_key(s, name)}", "iperf3", "-s", "-1", "-p", str(IPERF_PORT)]


def iperf_client(address: str, port: int, duration: int) -> list[str]:
    return ["iperf3", "-c", address, "-p", str(port), "-t", str(duration), "-J"]


def iperf_step(
    s: Session, server_argv: Sequence[str], listen_port: int, client_argv: Sequence[str], duration: int
) -> Step:
    """Before each sample a one-off iperf3 server (server_argv) listens; a sample is the client's ms per Gbit."""
    server = Server(server_argv, listen_port, s.workdir / "iperf3-server.log")
    on_close(s, server.stop)
    env = dict(s.env)

    def measure() -> float:
        try:
            rate = run_iperf_client(client_argv, env, duration)
        except BaseException:
            server.stop()
            raise
        server.finish()
        return 1000.0 / rate

    return Step(list(client_argv), prepare=lambda: server.start("iperf3"), measure=measure)


def loopback_iperf(ctx: Context, s: Session, duration: int) -> Step:
    """The ``host`` pseudo-tool's sample in the TCP cases: iperf3 over the host's loopback."""
    port = allocations(ctx).port()
    server = ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)]
    return iperf_step(s, server, port, iperf_client("127.0.0.1", port, duration), duration)


_MS_PER_GBIT = " ms per Gbit (Gbit/s = 1000 / it)"


@case(
    "tcp-publish",
    f"TCP host -> published port, iperf3 {SECONDS} s ({QUICK_SECONDS} s if --quick);{_MS_PER_GBIT}, vs the"
    " veth's line rate and the loopback",
    (*ENGINES, "veth", "host"),
    Target("within 10 % of the veth's line rate", LINE_RATE, ("veth",)),
    unit="ms/Gbit",
)
def tcp_publish(ctx: Context, s: Session) -> Step:
    duration = seconds(ctx)
    if s.name == "host":
        return loopback_iperf(ctx, s, duration)
    if s.name == "veth":
        (name,) = bridge_containers(ctx, s, "bench-veth", 1)
        client = iperf_client(container_ip(s, name), IPERF_PORT, duration)
    else:
        name, port = published_container(ctx, s, "bench-iperf", IPERF_PORT, "sleep", "3600")
        client = iperf_client("127.0.0.1", port, duration)
    return iperf_step(s, iperf_server_in(s, name), IPERF_PORT, client, duration)


@case(
    "tcp-c2c",
    f"TCP container -> container on one bridge, iperf3;{_MS_PER_GBIT}, vs the loopback",
    WITH_HOST,
    unit="ms/Gbit",
)
def tcp_c2c(ctx: Context, s: Session) -> Step:
    duration = seconds(ctx)
    if s.name == "host":
        return loopback_iperf(ctx, s, duration)
    server, client = bridge_containers(ctx, s, "bench-c2c", 2)
    argv = [
        "nsenter",
        f"--net={sandbox_key(s, client)}",
        *iperf_client(container_ip(s, server), IPERF_PORT, duration),
    ]
    return iperf_step(s, iperf_server_in(s, server), IPERF_PORT, argv, duration)


HTTPD_SCRIPT = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"


@case(
    "http-conns",
    f"connections to a published busybox httpd, wrk {SECONDS} s ({QUICK_SECONDS} s if --quick);"
    " us per connection (conn/s = 10^6 / it), vs the loopback",
    WITH_HOST,
    Target("at least docker's connection rate", 1.0, ("docker",)),
    unit="us/conn",
)
def conn_publish(ctx: Context, s: Session) -> Step:
    duration = seconds(ctx)
    if s.name == "host":
        port = allocations(ctx).port()
        www = s.workdir / "www"
        www.mkdir(parents=True, exist_ok=True)
        (www / "index.html").write_text("ok\n", encoding="utf-8")
        argv = [str(data.BUSYBOX), "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(www)]
        server = Server(argv, port, s.workdir / "httpd.log")
        on_close(s, server.stop)
        server.start("busybox")
    else:
        _, port = published_container(ctx, s, "bench-web", HTTP_PORT, "sh", "-c", HTTPD_SCRIPT)
    http_ready(port)
    argv = [
        "wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{duration}s",
        "--timeout", "5s", f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    env = dict(s.env)
    return Step(argv, measure=lambda: 1e6 / run_wrk(argv, env, duration))
