"""IPAM without a database: pools, overlaps with networks and host routes, addresses, exhaustion, static IPs.

Also daemon.json's networking keys (network/config.py), which feed the pools.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pinnace.errors import InvalidArgument
from pinnace.network import ipam
from pinnace.network.config import DEFAULT_POOLS, AddressPool, NetworkConfig, load, parse


def nets(*texts: str) -> list[ipam.Net]:
    return [ipaddress.ip_network(t) for t in texts]


# --------------------------------------------------------------------------- pools


def test_docker_default_pools() -> None:
    first, second = DEFAULT_POOLS
    subnets = [str(n) for n in ipam.pool_subnets(first)]
    # 172.17.0.0/12 as docker writes it: 172.17 to 172.31, never 172.16
    assert subnets == [f"172.{i}.0.0/16" for i in range(17, 32)]
    subnets = [str(n) for n in ipam.pool_subnets(second)]
    assert subnets == [f"192.168.{i * 16}.0/20" for i in range(16)]


def test_allocate_first_free_subnet() -> None:
    pools = (AddressPool("10.210.0.0/16", 24),)
    assert str(ipam.allocate_subnet(pools, [])) == "10.210.0.0/24"
    taken = nets("10.210.0.0/24", "10.210.1.0/24")
    assert str(ipam.allocate_subnet(pools, taken)) == "10.210.2.0/24"
    # a hole left by a removed network is reused first
    taken = nets("10.210.0.0/24", "10.210.2.0/24")
    assert str(ipam.allocate_subnet(pools, taken)) == "10.210.1.0/24"


def test_allocate_skips_overlapping_networks_of_any_size() -> None:
    pools = (AddressPool("10.211.0.0/16", 24),)
    # a bigger network covers several candidates; a smaller one spoils the one it is in
    taken = nets("10.211.0.0/22", "10.211.4.128/25")
    assert str(ipam.allocate_subnet(pools, taken)) == "10.211.5.0/24"
    # IPv6 networks do not count against IPv4 pools
    assert str(ipam.allocate_subnet(pools, nets("fd00::/8"))) == "10.211.0.0/24"


def test_allocate_skips_host_routes() -> None:
    pools = DEFAULT_POOLS
    routes = nets("172.17.0.0/16", "172.18.5.0/24")
    # docker's behaviour on a host whose LAN is 172.17/16: the default bridge moves on
    assert str(ipam.allocate_subnet(pools, [], routes)) == "172.19.0.0/16"
    # a route covering a whole pool sends it to the next pool
    assert str(ipam.allocate_subnet(pools, [], nets("172.16.0.0/12"))) == "192.168.0.0/20"


def test_allocate_exhausted() -> None:
    pools = (AddressPool("10.212.0.0/23", 24),)
    assert ipam.allocate_subnet(pools, nets("10.212.0.0/24", "10.212.1.0/24")) is None
    assert ipam.allocate_subnet(pools, [], nets("10.212.0.0/16")) is None
    assert ipam.NO_POOL.format(v=4) == (
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )


def test_pools_carve_from_base_address() -> None:
    # a base with host bits starts there, aligned to the size, and ends with its block
    assert [str(n) for n in ipam.pool_subnets(AddressPool("10.213.0.200/23", 25))] == [
        "10.213.0.128/25",
        "10.213.1.0/25",
        "10.213.1.128/25",
    ]
    # IPv6 pools are left to IPv6 allocation
    assert ipam.allocate_subnet((AddressPool("fd00::/48", 64),), []) is None


def test_ipv6_allocation() -> None:
    base = ipam.ula_base(b"machine")
    assert base == ipam.ula_base(b"machine")  # stable for a host
    assert base != ipam.ula_base(b"other")
    assert base.prefixlen == 48 and str(base).startswith("fd")
    first = ipam.allocate_subnet6(base, [])
    assert first is not None and first.prefixlen == 64 and first.network_address == base.network_address
    second = ipam.allocate_subnet6(base, [first])
    assert second is not None and int(second.network_address) == int(first.network_address) + (1 << 64)


def test_overlapping() -> None:
    assert ipam.overlapping(ipam.network("10.214.0.0/24"), nets("10.214.0.128/25"))
    assert ipam.overlapping(ipam.network("10.214.0.0/25"), nets("10.214.0.0/16"))
    assert not ipam.overlapping(ipam.network("10.214.1.0/24"), nets("10.214.0.0/24", "fd00::/8"))


# --------------------------------------------------------------------------- host routes


def test_host_routes_from_proc(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # default route: ignored
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  # 192.0.2.0/24
        "br0\t0000D20A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  # 10.210.0.0/16 on br0
        "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"  # loopback: ignored
    )
    (tmp_path / "ipv6_route").write_text(
        "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"
    )
    proc = str(tmp_path)
    assert ipam.host_routes(4, proc=proc) == nets("192.0.2.0/24", "10.210.0.0/16")
    # a network's own bridge does not make its subnet unusable to it
    assert ipam.host_routes(4, exclude_device="br0", proc=proc) == nets("192.0.2.0/24")
    assert ipam.host_routes(6, proc=proc) == nets("fd00::/64")
    assert ipam.host_routes(4, proc=str(tmp_path / "missing")) == []


def test_host_routes_of_this_host_parse() -> None:
    for version in (4, 6):
        for net in ipam.host_routes(version):
            assert net.version == version and net.prefixlen > 0


# --------------------------------------------------------------------------- docker's IPAM checks


def test_validate_messages() -> None:
    assert ipam.validate("10.215.0.0/24", "10.215.0.128/25", "10.215.0.1") == []
    assert ipam.validate("10.215.0.0/24") == []
    assert ipam.validate("nonsense") == ["invalid subnet nonsense: invalid CIDR block notation"]
    assert ipam.validate("10.215.0.1") == ["invalid subnet 10.215.0.1: invalid CIDR block notation"]
    assert ipam.validate("10.215.0.0/33") == ["invalid subnet 10.215.0.0/33: invalid CIDR block notation"]
    assert ipam.validate("10.215.0.1/24") == ["invalid subnet 10.215.0.1/24: it should be 10.215.0.0/24"]
    assert ipam.validate("10.215.0.0/24", "10.215.0.0/16") == [
        "invalid ip-range 10.215.0.0/16: CIDR block is bigger than its parent subnet 10.215.0.0/24"
    ]
    assert ipam.validate("10.215.0.0/24", "10.215.1.0/25") == [
        "invalid ip-range 10.215.1.0/25: parent subnet 10.215.0.0/24 doesn't contain ip-range"
    ]
    assert ipam.validate("10.215.0.0/24", "10.215.0.1/25") == [
        "invalid ip-range 10.215.0.1/25: it should be 10.215.0.0/25"
    ]
    assert ipam.validate("10.215.0.0/24", "fd00::/64") == [
        "invalid ip-range fd00::/64: parent subnet is an IPv4 block"
    ]
    assert ipam.validate("10.215.0.0/24", "", "10.215.1.1") == [
        "invalid gateway 10.215.1.1: parent subnet 10.215.0.0/24 doesn't contain this address"
    ]
    assert ipam.validate("10.215.0.0/24", "", "fd00::1") == [
        "invalid gateway fd00::1: parent subnet is an IPv4 block"
    ]
    assert ipam.validate("10.215.0.0/24", "", "x") == ["invalid gateway x: invalid address"]
    assert ipam.validate("fd00:1::/64", "", "fd00:1::1") == []


def test_join_errors_as_moby_multierror() -> None:
    assert ipam.join_errors(["one"]) == "one"
    assert ipam.join_errors(["one", "two\nlines"]) == "* one\n* two\n\tlines"


def test_gateway_checks() -> None:
    net = ipam.network("10.216.0.0/24")
    assert ipam.default_gateway(net) == "10.216.0.1"
    assert ipam.check_gateway(net, "10.216.0.254") == ""
    assert (
        ipam.check_gateway(net, "10.216.0.0")
        == "failed to allocate gateway (10.216.0.0): Address already in use"
    )
    assert ipam.check_gateway(net, "10.216.0.255") == (
        "failed to allocate gateway (10.216.0.255): Address already in use"
    )


# --------------------------------------------------------------------------- addresses


def test_lowest_free_address_after_the_gateway() -> None:
    net = ipam.network("10.217.0.0/24")
    assert ipam.allocate_address(net, "10.217.0.1", []) == "10.217.0.2"
    assert ipam.allocate_address(net, "10.217.0.1", ["10.217.0.2", "10.217.0.3"]) == "10.217.0.4"
    # a released address (a hole) is handed out again, lowest first
    assert ipam.allocate_address(net, "10.217.0.1", ["10.217.0.2", "10.217.0.4"]) == "10.217.0.3"
    # a gateway elsewhere leaves .1 free
    assert ipam.allocate_address(net, "10.217.0.254", []) == "10.217.0.1"


def test_addresses_within_ip_range() -> None:
    net = ipam.network("10.218.0.0/24")
    assert ipam.allocate_address(net, "10.218.0.1", [], "10.218.0.128/25") == "10.218.0.128"
    used = [f"10.218.0.{i}" for i in range(128, 255)]
    # the broadcast address is never handed out, even at the end of the range
    assert ipam.allocate_address(net, "10.218.0.1", used, "10.218.0.128/25") is None
    # a range at the start of the subnet never yields the network address
    assert ipam.allocate_address(net, "10.218.0.1", [], "10.218.0.0/30") == "10.218.0.2"


def test_exhaustion() -> None:
    net = ipam.network("10.219.0.0/29")  # 6 hosts: the gateway and five endpoints
    used: list[str] = []
    while (addr := ipam.allocate_address(net, "10.219.0.1", used)) is not None:
        used.append(addr)
    assert used == [f"10.219.0.{i}" for i in range(2, 7)]
    used.remove("10.219.0.4")
    assert ipam.allocate_address(net, "10.219.0.1", used) == "10.219.0.4"


def test_ipv6_addresses() -> None:
    net = ipam.network("fd00:219::/64")
    assert ipam.allocate_address(net, "fd00:219::1", []) == "fd00:219::2"
    assert ipam.allocate_address(net, "fd00:219::1", ["fd00:219::2"]) == "fd00:219::3"


def test_static_addresses() -> None:
    net = ipam.network("10.220.0.0/24")
    assert ipam.request_address(net, "10.220.0.1", ["10.220.0.2"], "10.220.0.50") == "10.220.0.50"
    for taken in ("10.220.0.1", "10.220.0.2", "10.220.0.0", "10.220.0.255"):
        with pytest.raises(InvalidArgument, match="^Address already in use$"):
            ipam.request_address(net, "10.220.0.1", ["10.220.0.2"], taken)
    assert ipam.check_static_address("10.220.0.9") == ""
    assert ipam.check_static_address("10.220.0.300") == "invalid IPv4 address: 10.220.0.300"
    assert ipam.check_static_address("fd00::1") == "invalid IPv4 address: fd00::1"
    assert ipam.check_static_address("0.0.0.0") == "invalid IPv4 address: 0.0.0.0"
    assert ipam.contains("10.220.0.0/24", "10.220.0.9")
    assert not ipam.contains("10.220.0.0/24", "10.220.1.9")
    assert not ipam.contains("10.220.0.0/24", "bogus")


def test_mac_addresses() -> None:
    assert ipam.mac_address("10.210.3.2") == "02:42:0a:d2:03:02"
    assert ipam.check_mac("02:42:AC:11:00:02") == "02:42:ac:11:00:02"
    assert ipam.check_mac("02-42-ac-11-00-02") == "02:42:ac:11:00:02"
    assert ipam.check_mac("0242.ac11.0002") == "02:42:ac:11:00:02"
    for bad in ("02:42:ac:11:00", "zz:42:ac:11:00:02", ""):
        with pytest.raises(ValueError, match="invalid MAC address"):
            ipam.check_mac(bad)


# --------------------------------------------------------------------------- daemon.json


def test_config_defaults(tmp_path: Path) -> None:
    assert load(str(tmp_path)) == NetworkConfig()
    config = NetworkConfig()
    assert config.bridge == "pinnace0" and config.bip == "" and config.mtu == 1500
    assert config.pools == DEFAULT_POOLS and config.default_bridge_enabled


def test_config_from_file(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text(
        '{"bridge": "pnt0a1b2c", "bip": "10.221.0.1/24", "fixed-cidr": "10.221.0.128/25", "mtu": 1400,'
        ' "default-address-pools": [{"base": "10.221.0.0/16", "size": 24}], "log-level": "debug"}'
    )
    config = load(str(tmp_path))
    assert config.bridge == "pnt0a1b2c"
    assert config.bip == "10.221.0.1/24"
    assert config.fixed_cidr == "10.221.0.128/25"
    assert config.mtu == 1400
    assert config.pools == (AddressPool("10.221.0.0/16", 24),)
    assert not parse({"bridge": "none"}).default_bridge_enabled


@pytest.mark.parametrize(
    ("doc", "detail"),
    [
        ({"bridge": 1}, '"bridge" must be a string'),
        ({"bridge": "a-very-long-bridge-name"}, '"bridge": invalid interface name'),
        ({"bip": "10.0.0.0/8x"}, '"bip": invalid CIDR address: 10.0.0.0/8x'),
        ({"bip": "10.0.0.1"}, "is not an IPv4 address with a prefix length"),
        ({"bip": "10.0.0.0/24"}, '"bip": 10.0.0.0/24 is not a host address of 10.0.0.0/24'),
        ({"mtu": "1500"}, '"mtu" must be an integer'),
        ({"mtu": 20}, "invalid MTU 20"),
        ({"default-address-pools": {}}, '"default-address-pools" must be a list'),
        ({"default-address-pools": [{"base": "x", "size": 24}]}, "invalid base pool 'x'"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}, "invalid pools size 8"),
    ],
)
def test_config_errors(doc: dict[str, object], detail: str) -> None:
    with pytest.raises(InvalidArgument, match="^unable to configure pinnace with file daemon.json: ") as e:
        parse(doc)
    assert detail in str(e.value)


def test_config_file_not_json(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text("{bridge")
    with pytest.raises(
        InvalidArgument, match=f"unable to configure pinnace with file {tmp_path}/daemon.json"
    ):
        load(str(tmp_path))
