"""bench/network.py's parts, on stand-in engines, the host's loopback and canned reports: no engine, no peers."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data, network, runner  # noqa: E402
from bench.cases import Context  # noqa: E402
from bench.density import IMAGE  # noqa: E402
from bench.tools import TOOLS, Session, ToolError  # noqa: E402

needs_busybox = pytest.mark.skipif(not data.BUSYBOX.is_file(), reason="needs busybox-static")
Net = ipaddress.IPv4Network


# -- subnets, names, ports ----------------------------------------------------------------------------


def test_free_subnet_is_a_random_10_2xx_24_clear_of_what_is_taken() -> None:
    rng = random.Random(1)
    taken = [Net("10.200.0.0/14"), Net("10.240.0.0/12")]  # 10.200-203 and 10.240-255
    seen = {network.free_subnet(taken, rng) for _ in range(200)}
    assert len(seen) > 100
    for net in seen:
        assert net.prefixlen == 24 and 204 <= int(str(net).split(".")[1]) < 240
        assert not any(net.overlaps(t) for t in taken)
    with pytest.raises(ToolError, match="no free"):
        network.free_subnet([Net("10.0.0.0/8")], rng)


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2")
def test_host_networks_include_the_loopback() -> None:
    assert any(Net("127.0.0.1/32").subnet_of(n) for n in network.host_networks())


def test_bridge_names_fit_ifnamsiz_and_name_no_interface() -> None:
    rng = random.Random(2)
    name = network.bridge_name(rng)
    assert name.startswith("pnt") and len(name) == 9 <= 15 and name.isalnum()
    taken = {network.bridge_name(random.Random(3))}
    assert network.bridge_name(random.Random(3), lambda n: n in taken) not in taken
    with pytest.raises(ToolError):
        network.bridge_name(rng, lambda n: True)


def test_free_port_is_below_the_ephemeral_range_and_not_taken() -> None:
    rng = random.Random(4)
    busy = set(range(20000, 31000))
    port = network.free_port(busy, rng, is_free=lambda p: p != 31995)
    assert 31000 <= port < 32000 and port != 31995
    with pytest.raises(ToolError):
        network.free_port((), rng, is_free=lambda p: False)


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not network.port_is_free(sock.getsockname()[1])


def test_allocations_give_every_session_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "host_networks", lambda: [Net("10.200.0.0/13")])
    alloc = network.Allocations(random.Random(5))
    subnets = [alloc.subnet() for _ in range(20)]
    assert len(set(subnets)) == 20 and not any(s.subnet_of(Net("10.200.0.0/13")) for s in subnets)
    assert len({alloc.bridge() for _ in range(20)}) == 20
    assert len({alloc.port() for _ in range(20)}) == 20


def test_daemon_json_is_one_pinnace_reads(tmp_path: Path) -> None:
    from pinnace.network import config

    written = network.write_daemon_json(tmp_path / "root", "pntabcdef", Net("10.222.7.0/24"))
    assert written == {"bridge": "pntabcdef", "bip": "10.222.7.1/24"}
    loaded = config.load(str(tmp_path / "root"))
    assert (loaded.bridge, loaded.bip) == ("pntabcdef", "10.222.7.1/24")


def test_pinnace_root_is_the_sessions_store(tmp_path: Path) -> None:
    s = Session("pinnace", ("pinnace", "--root", "/x/root", "--runroot", "/x/run"), {}, tmp_path)
    assert network.pinnace_root(s) == Path("/x/root")
    with pytest.raises(ToolError, match="no --root"):
        network.pinnace_root(Session("pinnace", ("pinnace",), {}, tmp_path))


def test_an_idle_pinnace_table_has_no_element_and_no_bridge_chain() -> None:
    base = [
        {"table": {"family": "ip", "name": "pinnace"}},
        {"set": {"name": "bridges", "type": "ifname"}},
        {"map": {"name": "published_addr", "map": "ipv4_addr"}},
        {"chain": {"name": "forward"}},
    ]
    assert network.table_idle(base)
    assert not network.table_idle([*base, {"set": {"name": "bridges", "elem": ["pntx"]}}])
    assert not network.table_idle([*base, {"map": {"name": "published_port", "elem": [[1, 2]]}}])
    assert not network.table_idle([*base, {"chain": {"name": "forward-in__pntx"}}])


# -- reports ---------------------------------------------------------------------------------------


def test_gbits_is_what_the_receiver_got() -> None:
    report = {"end": {"sum_sent": {"bits_per_second": 9e9}, "sum_received": {"bits_per_second": 8.5e9}}}
    assert network.gbits(json.dumps(report)) == 8.5
    with pytest.raises(ToolError, match="iperf3: unable to connect"):
        network.gbits(json.dumps({"start": {}, "error": "unable to connect to server"}))
    with pytest.raises(ToolError, match="no JSON"):
        network.gbits("iperf3: error\n")
    with pytest.raises(ToolError, match="received nothing"):
        network.gbits(json.dumps({"end": {"sum_received": {"bits_per_second": 0}}}))
    with pytest.raises(ToolError, match="no end.sum_received"):
        network.gbits(json.dumps({"end": {}}))


WRK = """Running 3s test @ http://127.0.0.1:20001/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.07ms    8.18ms 213.46ms   99.43%
    Req/Sec     3.05k     0.98k    4.94k    63.33%
  18271 requests in 3.01s, 3.66MB read
{extra}Requests/sec:   6062.97
Transfer/sec:      1.21MB
"""


def test_wrk_rate_checks_the_responses_and_failed_connections() -> None:
    assert network.wrk_rate(WRK.format(extra="")) == 6062.97
    # busybox's httpd closes every connection: read errors are its protocol.
    reads = "  Socket errors: connect 0, read 18271, write 0, timeout 0\n"
    assert network.wrk_rate(WRK.format(extra=reads)) == 6062.97
    few = "  Socket errors: connect 100, read 0, write 0, timeout 50\n"
    assert network.wrk_rate(WRK.format(extra=few)) == 6062.97  # under 1 %
    many = "  Socket errors: connect 200, read 0, write 0, timeout 0\n"
    with pytest.raises(ToolError, match="connect 200"):
        network.wrk_rate(WRK.format(extra=many))
    with pytest.raises(ToolError, match="12 responses were not 2xx"):
        network.wrk_rate(WRK.format(extra="  Non-2xx or 3xx responses: 12\n"))
    with pytest.raises(ToolError, match="no Requests/sec"):
        network.wrk_rate("unable to connect to 127.0.0.1:1 Connection refused\n")


# -- servers ---------------------------------------------------------------------------------------


def test_listens_reads_the_kernels_socket_table() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
        "   1: 0100007F:5C24 0100007F:BBC8 06 00000000:00000000 03:00000611 00000000     0        0 0\n"
    )
    assert network.listens(table, 5201)
    assert not network.listens(table, 0x5C24)  # TIME_WAIT, not listening
    assert not network.listens(table, 80)


def test_listening_is_per_process_and_program() -> None:
    me = os.path.basename(os.readlink("/proc/self/exe"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert not network.listening(os.getpid(), port, me)
        sock.listen()
        assert network.listening(os.getpid(), port, me)
        assert not network.listening(os.getpid(), port, "iperf3")  # not yet exec'd, say


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _pid(server: network.Server) -> int | None:
    """The server's process, if it holds one (a function: mypy would narrow server.proc for good)."""
    return None if server.proc is None else server.proc.pid


@needs_busybox
def test_a_server_is_started_until_it_listens_and_stopped_by_its_pid(tmp_path: Path) -> None:
    port = network.free_port((), random.Random(), network.port_is_free)
    httpd = [str(data.BUSYBOX), "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(tmp_path)]
    server = network.Server(httpd, port, tmp_path / "log")
    server.start("busybox")
    pid = _pid(server)
    assert pid is not None and network.listening(pid, port, "busybox")
    # A one-off server must exit after its client; one that does not is killed and reported.
    with pytest.raises(ToolError, match="did not exit after its test"):
        server.finish(timeout=0.2)
    assert not _alive(pid) and _pid(server) is None
    server.start("busybox")
    pid = _pid(server)
    assert pid is not None
    server.stop()
    assert not _alive(pid) and _pid(server) is None
    server.stop()  # twice is fine


@needs_busybox
def test_a_server_that_exits_or_never_listens_is_reported(tmp_path: Path) -> None:
    failing = network.Server(
        [str(data.BUSYBOX), "sh", "-c", "echo no such port >&2; exit 3"], 1, tmp_path / "a"
    )
    with pytest.raises(ToolError, match="exited 3: no such port"):
        failing.start("busybox")
    mute = network.Server([str(data.BUSYBOX), "sleep", "30"], 1, tmp_path / "b")
    with pytest.raises(ToolError, match="did not listen on 1"):
        mute.start("busybox", timeout=0.3)
    assert _pid(mute) is None


def test_paired_overhead_is_on_minus_off_and_alternates(tmp_path: Path) -> None:
    log = tmp_path / "order"
    on = ["sh", "-c", f"echo on >> {log}; sleep 0.2"]
    off = ["sh", "-c", f"echo off >> {log}"]
    measure = network.paired_overhead(on, off, {"PATH": os.environ["PATH"]})
    samples = [measure() for _ in range(3)]
    assert all(0.15 < x < 1.0 for x in samples)
    assert log.read_text().split() == ["off", "on", "on", "off", "off", "on"]


# -- stand-in engines ------------------------------------------------------------------------------


def fake_engine(tmp_path: Path, *, has_bridge: bool = False) -> tuple[Path, Path]:
    """A stand-in engine logging its calls: networks are created and removed, `run` succeeds."""
    calls = tmp_path / "calls"
    tool = tmp_path / "tool"
    tool.write_text(
        "#!/bin/sh\n"
        '[ "$1" != --root ] || shift 2\n'
        f'echo "$*" >> {calls}\n'
        'case "$1 $2" in\n'
        f'"network inspect") [ "$3" != bridge ] || exit {0 if has_bridge else 1}; echo cni-fake9 ;;\n'
        'esac\n'
    )  # fmt: skip
    tool.chmod(0o755)
    return tool, calls


def engine_session(tool: Path, tmp_path: Path, name: str) -> tuple[Session, Context]:
    prefix = (str(tool), "--root", str(tmp_path / "w" / "root")) if name == "pinnace" else (str(tool),)
    session = Session(name, prefix, {"PATH": os.environ["PATH"]}, tmp_path / "w")
    session.workdir.mkdir()
    return session, Context(tmp_path / "shared", tmp_path / "cache", True, {name: session})


@pytest.fixture
def no_host_state(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host's routes and pinnace's firewall stood in for; what would be removed is recorded."""
    removed: list[str] = []
    monkeypatch.setattr(network, "host_networks", list)
    monkeypatch.setattr(network, "pinnace_table", lambda: None)
    monkeypatch.setattr(network, "remove_pinnace_bridge", lambda bridge: removed.append(f"bridge {bridge}"))
    monkeypatch.setattr(network, "remove_idle_pinnace_table", lambda: removed.append("table"))
    return removed


def logged(calls: Path) -> list[str]:
    """The calls after the image's import."""
    lines = calls.read_text().splitlines()
    assert lines[0].startswith("import ")
    return lines[1:]


@needs_busybox
def test_pinnace_runs_on_its_default_network_configured_and_removed(
    tmp_path: Path, no_host_state: list[str]
) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path, "pinnace")
    step = network.run_bridge(ctx, session)
    assert step.argv[-6:] == ["run", "--rm", "--network", "bridge", IMAGE, "true"]
    config = json.loads((tmp_path / "w" / "root" / "daemon.json").read_text())
    bridge = config["bridge"]
    assert bridge.startswith("pnt") and len(bridge) <= 15
    bip = ipaddress.IPv4Interface(config["bip"])
    assert bip.network.prefixlen == 24 and str(bip.ip).startswith("10.2") and str(bip.ip).endswith(".1")
    session.close()
    assert no_host_state == [f"bridge {bridge}", "table"]  # the table was not there before
    assert logged(calls) == [f"run --rm --network bridge {IMAGE} true"]  # untimed, once


@needs_busybox
def test_podman_gets_a_network_like_its_default_and_removes_it(
    tmp_path: Path, no_host_state: list[str]
) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path, "podman")
    step = network.bridge_overhead(ctx, session)
    assert step.measure is not None
    assert step.argv == [str(tool), "run", "--rm", "--network", network.NETWORK, IMAGE, "true"]
    step.measure()
    session.close()
    create, inspect, *rest = logged(calls)
    assert create.startswith("network create --disable-dns --subnet 10.2") and create.endswith(
        network.NETWORK
    )
    assert inspect == f"network inspect --format {{{{.NetworkInterface}}}} {network.NETWORK}"
    on, off = f"run --rm --network {network.NETWORK} {IMAGE} true", f"run --rm --network none {IMAGE} true"
    assert rest == [on, off, on, f"network rm --force {network.NETWORK}"]
    assert "bridge cni-fake9" in " ".join(ctx.notes)


@needs_busybox
def test_docker_without_a_default_bridge_gets_a_user_defined_one(
    tmp_path: Path, no_host_state: list[str]
) -> None:
    tool, calls = fake_engine(tmp_path)
    session, ctx = engine_session(tool, tmp_path, "docker")
    network.run_bridge(ctx, session)
    session.close()
    probe, create, run, remove = logged(calls)
    assert probe == "network inspect bridge"
    words = create.split()
    assert (
        words[:5] == ["network", "create", "--driver", "bridge", "--subnet"] and words[-1] == network.NETWORK
    )
    option = words[words.index("-o") + 1]
    assert option.startswith("com.docker.network.bridge.name=pnt")
    assert run == f"run --rm --network {network.NETWORK} {IMAGE} true"
    assert remove == f"network rm {network.NETWORK}"


@needs_busybox
def test_docker_with_its_default_bridge_uses_it(tmp_path: Path, no_host_state: list[str]) -> None:
    tool, calls = fake_engine(tmp_path, has_bridge=True)
    session, ctx = engine_session(tool, tmp_path, "docker")
    step = network.run_bridge(ctx, session)
    session.close()
    assert step.argv[-4:] == ["--network", "bridge", IMAGE, "true"]
    assert logged(calls) == ["network inspect bridge", f"run --rm --network bridge {IMAGE} true"]


# -- the host's loopback, end to end ---------------------------------------------------------------


def run_on_host(name: str, tmp_path: Path) -> runner.CaseResult:
    return runner.run_case(
        runner.load_cases()[name],
        {"host": TOOLS["host"]},  # the engines are unknown here: skipped
        rounds=2,
        warmup=0,
        quick=True,
        scratch=tmp_path / "s",
        cache=tmp_path / "c",
        log=lambda _: None,
    )


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")
def test_tcp_publish_on_the_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "QUICK_SECONDS", 1)
    result = run_on_host("tcp-publish", tmp_path)
    host = next(t for t in result.tools if t.tool == "host")
    assert host.status == "ok", host.reason
    assert result.case.unit == "ms/Gbit"
    assert len(host.samples) == 2 and all(0 < x < 10_000 for x in host.samples)  # > 0.1 Gbit/s
    assert not (tmp_path / "s" / "tcp-publish").exists()


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@needs_busybox
@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
def test_http_conns_on_the_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "QUICK_SECONDS", 1)
    result = run_on_host("http-conns", tmp_path)
    host = next(t for t in result.tools if t.tool == "host")
    assert host.status == "ok", host.reason
    assert len(host.samples) == 2 and all(0 < x < 100_000 for x in host.samples)  # > 10 conn/s
    time.sleep(0.1)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and str(tmp_path).encode() in _cmdline(p)]
