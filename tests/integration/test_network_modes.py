"""-P with --expose, --internal networks, --add-host host-gateway: docker's behaviour with real traffic."""

from __future__ import annotations

import os
import random

import pytest

from tests.conftest import Pinnace
from tests.integration.test_container_network import HTTPD, _until_http, net

pytestmark = pytest.mark.root

pytest.importorskip("pyroute2")
pytest.importorskip("nftables")

__all__ = ["net"]


def test_publish_all_exposed_ports(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    engine.run(
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "bridge",
        "--expose",
        "80",
        "-P",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    )
    (line,) = engine.run("port", "web").stdout.splitlines()
    port = int(line.rpartition(":")[2])
    assert line == f"80/tcp -> 0.0.0.0:{port}"
    assert _until_http("127.0.0.1", port).startswith("hello from ")
    ports = engine.run(
        "inspect", "-f", "{{json .Config.ExposedPorts}} {{.HostConfig.PublishAllPorts}}", "web"
    ).stdout
    assert ports.strip() == '{"80/tcp":{}} true'


def test_internal_network_has_no_way_out(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    inner = f"10.{random.randint(210, 250)}.{random.randint(0, 255)}"
    engine.run(
        "network",
        "create",
        "--internal",
        "--subnet",
        f"{inner}.0/24",
        "-o",
        f"com.docker.network.bridge.name=pnt{os.urandom(3).hex()}",
        "inner",
    )
    engine.run("run", "-d", "--name", "in1", "--network", "inner", "busybox", "sh", "-c", HTTPD)
    ip = engine.run("inspect", "-f", "{{.NetworkSettings.Networks.inner.IPAddress}}", "in1").stdout.strip()
    inside = engine.run(
        "run", "--rm", "--network", "inner", "busybox", "busybox", "wget", "-q", "-O", "-", f"http://{ip}/"
    )
    assert inside.stdout.startswith("hello from ")  # within the network: fine
    engine.run("run", "-d", "--name", "out", "--network", "bridge", "busybox", "sh", "-c", HTTPD)
    outside = engine.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "out").stdout.strip()
    # sh stays PID 1 (wget as PID 1 would ignore timeout's SIGTERM); busybox's wget -T crashes in Debian's 1.35
    script = f"busybox timeout 3 busybox wget -q -O - http://{outside}/; exit $?"
    proc = engine.run("run", "--rm", "--network", "inner", "busybox", "sh", "-c", script, check=False)
    assert proc.returncode == 143  # no way out of an internal network: timeout had to stop it


def test_add_host_gateway_names_the_host(net: tuple[Pinnace, str, str]) -> None:
    engine, bridge, prefix = net
    out = engine.run(
        "run",
        "--rm",
        "--network",
        "bridge",
        "--add-host",
        "host.docker.internal:host-gateway",
        "busybox",
        "sh",
        "-c",
        "grep host.docker.internal /etc/hosts; busybox ping -c1 -W2 host.docker.internal",
    )
    assert out.stdout.startswith(f"{prefix}.1\thost.docker.internal\n")
