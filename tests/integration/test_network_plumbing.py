"""Namespaces, a bridge and veth pairs made through netlink, with real traffic; nothing may be left."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.mount.flags import mount_points
from pinnace.network import plumbing

pytestmark = pytest.mark.root

pytest.importorskip("pyroute2")


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A private bridge with a random 10.2xx.y.1/24, removed at the end with everything the test made."""
    before = _links()
    name = f"pnt{os.urandom(3).hex()}"
    net = f"10.{random.randint(210, 250)}.{random.randint(0, 255)}"
    plumbing.ensure_bridge(name, f"{net}.1", 24)
    yield name, net
    plumbing.remove_bridge(name)
    assert _links() == before
    assert not [m for m in mount_points() if m.startswith(str(tmp_path))]


def _in(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net={netns}", "/bin/busybox", *argv], capture_output=True, text=True, timeout=20
    )


def test_two_namespaces_on_a_bridge_talk(bridge: tuple[str, str], tmp_path: Path) -> None:
    name, net = bridge
    spaces = [str(tmp_path / "netns" / f"c{i}") for i in range(2)]
    try:
        for i, ns in enumerate(spaces):
            plumbing.create_netns(ns)
            plumbing.attach(
                ns,
                bridge=name,
                host_name=plumbing.host_ifname(f"c{i}", "n"),
                address=f"{net}.{i + 2}",
                prefixlen=24,
                gateway=f"{net}.1",
                mac=f"02:42:0a:00:00:{i + 2:02x}",
            )
        assert f"{net}.2/24" in _in(spaces[0], "ip", "addr", "show", "eth0").stdout
        assert "02:42:0a:00:00:02" in _in(spaces[0], "ip", "link", "show", "eth0").stdout
        assert (
            _in(spaces[0], "ping", "-c", "1", "-W", "2", f"{net}.3").returncode == 0
        )  # namespace to namespace
        assert (
            _in(spaces[1], "ping", "-c", "1", "-W", "2", f"{net}.1").returncode == 0
        )  # to the gateway (host)
        assert f"default via {net}.1" in _in(spaces[1], "ip", "route").stdout
        assert _in(spaces[0], "ping", "-c", "1", "-W", "2", "127.0.0.1").returncode == 0  # lo is up
    finally:
        for i, ns in enumerate(spaces):
            plumbing.detach(plumbing.host_ifname(f"c{i}", "n"))
            plumbing.remove_netns(ns)
    assert not [n for n in _links() if n.startswith(plumbing.VETH_PREFIX) and n in ("c0", "c1")]


def test_removing_the_namespace_removes_its_veth(bridge: tuple[str, str], tmp_path: Path) -> None:
    name, net = bridge
    ns = str(tmp_path / "netns" / "gone")
    host = plumbing.host_ifname("gone", "n")
    plumbing.create_netns(ns)
    plumbing.attach(
        ns,
        bridge=name,
        host_name=host,
        address=f"{net}.9",
        prefixlen=24,
        gateway=f"{net}.1",
        mac="02:42:0a:00:00:09",
    )
    assert host in _links()
    plumbing.remove_netns(ns)
    plumbing.remove_netns(ns)  # twice is fine
    # The kernel destroys the namespace, and the pair with it, once nothing holds it.
    for _ in range(100):
        if host not in _links():
            break
        import time

        time.sleep(0.02)
    assert host not in _links()
    assert not os.path.exists(ns)


def test_attach_to_a_missing_bridge_leaves_nothing(tmp_path: Path) -> None:
    before = _links()
    ns = str(tmp_path / "netns" / "x")
    plumbing.create_netns(ns)
    try:
        with pytest.raises(Exception, match="does not exist"):
            plumbing.attach(
                ns,
                bridge="pnt-missing",
                host_name=plumbing.host_ifname("x", "n"),
                address="10.249.0.2",
                prefixlen=24,
                gateway="10.249.0.1",
                mac="02:42:0a:f9:00:02",
            )
    finally:
        plumbing.remove_netns(ns)
    assert _links() == before
