"""After a crash or a simulated reboot, what pinnace's networking left is swept; nothing of other stores is."""

from __future__ import annotations

import json
import random

import pytest

from tests.conftest import Pinnace
from tests.helpers.lifecycle import simulate_reboot
from tests.integration.test_container_network import _nft_table, _veths, net

pytestmark = pytest.mark.root

pytest.importorskip("pyroute2")
pytest.importorskip("nftables")

__all__ = ["net"]


def test_restore_after_a_reboot_sweeps_ports_veths_and_namespaces(
    net: tuple[Pinnace, str, str], tmp_path: object
) -> None:
    from pathlib import Path

    from pinnace.network import plumbing

    engine, bridge, prefix = net
    port = random.randint(30000, 39999)
    engine.run(
        "run",
        "-d",
        "--name",
        "svc",
        "--network",
        "bridge",
        "-p",
        f"{port}:80",
        "busybox",
        "sh",
        "-c",
        "sleep 600",
    )
    cid = engine.run("inspect", "-f", "{{.Id}}", "svc").stdout.strip()
    # A veth a crash left on this store's bridge, and one on another bridge (another store's): only ours goes.
    network_id = json.loads(engine.run("network", "inspect", "bridge").stdout)[0]["Id"]
    stray = plumbing.host_ifname("0" * 64, network_id)
    other_bridge = f"pnt{random.randrange(16**6):06x}"
    plumbing.ensure_bridge(other_bridge, "10.251.0.1", 24)
    other_ns = str(Path(str(tmp_path)) / "other-ns")
    foreign = plumbing.host_ifname("f" * 64, "other")
    simulate_reboot(engine, tmp_path)  # type: ignore[arg-type]
    assert str(port) in _nft_table()  # a simulated reboot keeps the firewall; a real one would not
    plumbing.create_netns(other_ns)
    try:
        plumbing.attach(
            other_ns,
            bridge=other_bridge,
            host_name=foreign,
            address="10.251.0.2",
            prefixlen=24,
            gateway="10.251.0.1",
            mac="02:42:0a:fb:00:02",
        )
        stray_ns = str(Path(str(tmp_path)) / "stray-ns")
        plumbing.create_netns(stray_ns)
        plumbing.attach(
            stray_ns,
            bridge=bridge,
            host_name=stray,
            address=f"{prefix}.200",
            prefixlen=24,
            gateway=f"{prefix}.1",
            mac="02:42:0a:00:00:c8",
        )
        engine.run("system", "restore")
        assert str(port) not in _nft_table()
        assert stray not in _veths() and foreign in _veths()
        engine.run("start", "svc")  # the port is free again
        assert engine.run("port", "svc").stdout == f"80/tcp -> 0.0.0.0:{port}\n"
        assert engine.run("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
        plumbing.remove_netns(stray_ns)
    finally:
        plumbing.detach(foreign)
        plumbing.remove_netns(other_ns)
        plumbing.remove_bridge(other_bridge)
