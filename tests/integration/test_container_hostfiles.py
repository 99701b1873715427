"""A container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written and bound as dockerd does."""

from __future__ import annotations

import pytest

from tests.conftest import Pinnace

pytestmark = pytest.mark.root


def test_hostname_hosts_and_resolv_conf_in_the_container(engine: Pinnace) -> None:
    out = engine.run(
        "run",
        "--rm",
        "--hostname",
        "box",
        "--add-host",
        "db:192.0.2.7",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "corp.example",
        "busybox",
        "cat",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ).stdout
    assert out.startswith("box\n127.0.0.1\tlocalhost\n")
    assert "192.0.2.7\tdb\n" in out
    assert out.endswith("nameserver 192.0.2.53\nsearch corp.example\n")


def test_inspect_shows_the_files_once_started(engine: Pinnace) -> None:
    cid = engine.run("create", "busybox", "true").stdout.strip()
    assert engine.run("inspect", "-f", "{{.HostsPath}}", cid).stdout == "\n"
    engine.run("start", "-a", cid)
    path = engine.run("inspect", "-f", "{{.HostsPath}}", cid).stdout.strip()
    assert path == str(engine.root / "containers" / cid / "hosts")
    assert engine.run("inspect", "-f", "{{.HostConfig.Dns}}", cid).stdout == "[]\n"


def test_bad_add_host_and_dns_are_refused(engine: Pinnace) -> None:
    proc = engine.run("run", "--rm", "--add-host", "db:not-an-ip", "busybox", "true", check=False)
    assert proc.returncode == 125
    assert 'invalid IP address in add-host: "not-an-ip"' in proc.stderr
    proc = engine.run("run", "--rm", "--dns", "x.y", "busybox", "true", check=False)
    assert proc.returncode == 125 and "IP address is not correctly formatted: x.y" in proc.stderr
