"""/etc/hosts and /etc/resolv.conf as dockerd writes them."""

from __future__ import annotations

from pathlib import Path

from pinnace.containers import hostfiles


def test_hosts_defaults_extra_and_own_lines() -> None:
    text = hostfiles.hosts("web", "example.com", ["10.0.0.2"], ["db:10.0.0.9", "gw:host-gateway"], "10.0.0.1")
    lines = text.splitlines()
    assert lines[:2] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    assert lines[-3:] == ["10.0.0.9\tdb", "10.0.0.1\tgw", "10.0.0.2\tweb.example.com web"]
    assert "gw" not in hostfiles.hosts("web", "", [], ["gw:host-gateway"])  # no gateway known: left out


def test_resolv_conf_drops_loopback_servers_and_falls_back(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text(
        "# generated\nnameserver 127.0.0.1\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n"
    )
    assert hostfiles.resolv_conf(own_network=True, host_file=str(host)) == (
        "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n"
    )
    assert "nameserver 127.0.0.1" in hostfiles.resolv_conf(own_network=False, host_file=str(host))
    host.write_text("nameserver 127.0.0.1\n")
    assert (
        hostfiles.resolv_conf(own_network=True, host_file=str(host))
        == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    )


def test_resolv_conf_flags_replace_their_kind(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n")
    text = hostfiles.resolv_conf(
        own_network=True,
        dns=["1.1.1.1"],
        search=["a.example", "b.example"],
        options=["timeout:1"],
        host_file=str(host),
    )
    assert text == "nameserver 1.1.1.1\nsearch a.example b.example\noptions timeout:1\n"
