"""Docker's port syntaxes, parsed with docker's own words, and the daemon side's checks and shapes.

The CLI-side tables were checked against the docker 28.2 CLI: the requests
it sends (ExposedPorts, PortBindings, captured by a fake daemon on a unix
socket) and the messages it prints, byte for byte.  The daemon side follows
moby's validatePortBindings, libnetwork's port allocator and the API's
NetworkSettings.Ports.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pinnace.errors import Conflict, InvalidArgument, NotImplementedYet
from pinnace.network import ports
from pinnace.network.ports import PortBinding

# (-p values, --expose values, ExposedPorts keys, PortBindings as {key: [(HostIp, HostPort)]})
PUBLISH_OK: list[tuple[list[str], list[str], list[str], dict[str, list[tuple[str, str]]]]] = [
    (["80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["80/udp"], [], ["80/udp"], {"80/udp": [("", "")]}),
    (["80/UDP"], [], ["80/udp"], {"80/udp": [("", "")]}),
    (["80/sctp"], [], ["80/sctp"], {"80/sctp": [("", "")]}),
    (["80/tcp/x"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["80/"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["8080:80"], [], ["80/tcp"], {"80/tcp": [("", "8080")]}),
    ([":80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["::80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["1.2.3.4::80"], [], ["80/tcp"], {"80/tcp": [("1.2.3.4", "")]}),
    (["1.2.3.4:8080:80"], [], ["80/tcp"], {"80/tcp": [("1.2.3.4", "8080")]}),
    (
        ["8000-8010:80-90"],
        [],
        [
            "80/tcp",
            "81/tcp",
            "82/tcp",
            "83/tcp",
            "84/tcp",
            "85/tcp",
            "86/tcp",
            "87/tcp",
            "88/tcp",
            "89/tcp",
            "90/tcp",
        ],
        {
            "80/tcp": [("", "8000")],
            "81/tcp": [("", "8001")],
            "82/tcp": [("", "8002")],
            "83/tcp": [("", "8003")],
            "84/tcp": [("", "8004")],
            "85/tcp": [("", "8005")],
            "86/tcp": [("", "8006")],
            "87/tcp": [("", "8007")],
            "88/tcp": [("", "8008")],
            "89/tcp": [("", "8009")],
            "90/tcp": [("", "8010")],
        },
    ),
    (["8000-8010:80"], [], ["80/tcp"], {"80/tcp": [("", "8000-8010")]}),
    (
        ["80-82"],
        [],
        ["80/tcp", "81/tcp", "82/tcp"],
        {"80/tcp": [("", "")], "81/tcp": [("", "")], "82/tcp": [("", "")]},
    ),
    (["0"], [], ["0/tcp"], {"0/tcp": [("", "")]}),
    (["0:80"], [], ["80/tcp"], {"80/tcp": [("", "0")]}),
    (["80:0"], [], ["0/tcp"], {"0/tcp": [("", "80")]}),
    (["1-2-3"], [], ["1/tcp", "2/tcp"], {"1/tcp": [("", "")], "2/tcp": [("", "")]}),
    (["[::1]:80:80"], [], ["80/tcp"], {"80/tcp": [("::1", "80")]}),
    (["[::1]::80"], [], ["80/tcp"], {"80/tcp": [("::1", "")]}),
    (["::1:80:80"], [], ["80/tcp"], {"80/tcp": [("::1", "80")]}),
    (["::ffff:1.2.3.4:80:80"], [], ["80/tcp"], {"80/tcp": [("::ffff:1.2.3.4", "80")]}),
    (["080"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["0.0.0.0:80:80"], [], ["80/tcp"], {"80/tcp": [("0.0.0.0", "80")]}),
    (["::1::80"], [], ["80/tcp"], {"80/tcp": [("::1", "")]}),
    (["[]:80:80"], [], ["80/tcp"], {"80/tcp": [("", "80")]}),
    (["[]::80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["2001:4860:0:2001::68::333"], [], ["333/tcp"], {"333/tcp": [("2001:4860:0:2001::68", "")]}),
    (["::::80"], [], ["80/tcp"], {"80/tcp": [("::", "")]}),
    (
        ["[2001:db8::1]:8080-8081:80-81/udp"],
        [],
        ["80/udp", "81/udp"],
        {"80/udp": [("2001:db8::1", "8080")], "81/udp": [("2001:db8::1", "8081")]},
    ),
    (["published=8080,target=80"], [], ["80/tcp"], {"80/tcp": [("", "8080")]}),
    (["target=80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["published=8080,target=80,protocol=udp"], [], ["80/udp"], {"80/udp": [("", "8080")]}),
    (["published=8080,target=80,protocol=UDP"], [], ["80/udp"], {"80/udp": [("", "8080")]}),
    (["published=,target=80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["mode=host,target=80"], [], ["80/tcp"], {"80/tcp": [("", "")]}),
    (["target=80,published=81,target=82"], [], ["82/tcp"], {"82/tcp": [("", "81")]}),
    (["host_ip=127.0.0.1,target=80,published=8080"], [], ["80/tcp"], {"80/tcp": [("", "8080")]}),
    (["published=8000-8010,target=80"], [], ["80/tcp"], {"80/tcp": [("", "8000-8010")]}),
    (
        ["8080:80", "8081:80", "127.0.0.1:8080:80"],
        [],
        ["80/tcp"],
        {"80/tcp": [("", "8080"), ("", "8081"), ("127.0.0.1", "8080")]},
    ),
    (["80", "80"], [], ["80/tcp"], {"80/tcp": [("", ""), ("", "")]}),
    (["80/udp", "80"], [], ["80/tcp", "80/udp"], {"80/tcp": [("", "")], "80/udp": [("", "")]}),
    ([], ["80"], ["80/tcp"], {}),
    ([], ["80/udp"], ["80/udp"], {}),
    ([], ["80/UDP"], ["80/UDP"], {}),
    ([], ["80-82"], ["80/tcp", "81/tcp", "82/tcp"], {}),
    ([], ["80/icmp"], ["80/icmp"], {}),
    ([], ["80/"], ["80/tcp"], {}),
    ([], ["1-2-3"], ["1/tcp", "2/tcp"], {}),
    ([], ["0"], ["0/tcp"], {}),
    ([], ["080"], ["80/tcp"], {}),
    (["8080:80"], ["80", "443"], ["443/tcp", "80/tcp"], {"80/tcp": [("", "8080")]}),
    (["53:53/udp"], ["53/udp", "53/tcp"], ["53/tcp", "53/udp"], {"53/udp": [("", "53")]}),
    (["1.2.3.4:80:80/tcp"], ["80/tcp"], ["80/tcp"], {"80/tcp": [("1.2.3.4", "80")]}),
    (
        ["[1.2.3.4]:80:80", "1.2.3.4:8000-8001:80"],
        [],
        ["80/tcp"],
        {"80/tcp": [("1.2.3.4", "80"), ("1.2.3.4", "8000-8001")]},
    ),
]

PUBLISH_ERRORS = [
    ("", "no port specified: <empty>"),
    ("abc", "invalid containerPort: abc"),
    ("/udp", "no port specified: /udp<empty>"),
    ("80/icmp", "invalid proto: icmp"),
    ("80/ICMP", "invalid proto: ICMP"),
    ("localhost:80:80", "invalid IP address: localhost"),
    ("1.2.3.4:80", "invalid hostPort: 1.2.3.4"),
    ("8000-8010:80-91", "invalid ranges specified for container and host Ports: 80-91 and 8000-8010"),
    ("90-80", "invalid containerPort: 90-80"),
    ("8000-8001:90-80", "invalid containerPort: 90-80"),
    ("80:90-80", "invalid containerPort: 90-80"),
    ("65536", "invalid containerPort: 65536"),
    ("-1", "invalid containerPort: -1"),
    ("a-b", "invalid containerPort: a-b"),
    ("80-", "invalid containerPort: 80-"),
    ("-80", "invalid containerPort: -80"),
    ("[::1:80:80", "invalid IP address [::1: address [::1:: missing ']' in address"),
    ("1.2.3.4:65536:80", "invalid hostPort: 65536"),
    ("+80", "invalid containerPort: +80"),
    (" 80", "invalid containerPort:  80"),
    ("1.2.3.4:abc:80", "invalid hostPort: abc"),
    ("1.2.3.4:80-70:80", "invalid hostPort: 80-70"),
    ("target=80,foo", "invalid publish opts format (should be name=value but got 'foo')"),
    ("=80", "invalid publish opts format (should be name=value but got '=80')"),
    ("published=8080,target=80,protocol=bogus", "invalid proto: bogus"),
    ("x:y:z:w", "invalid IP address: x:y"),
    ("1.2.3.4:8080:80:90", "invalid IP address: 1.2.3.4:8080"),
    ("localhost::abc/icmp", "invalid IP address: localhost"),
    ("localhost::/icmp", "invalid IP address: localhost"),
    ("::abc/icmp", "invalid containerPort: abc"),
    ("x:80/icmp", "invalid hostPort: x"),
    ("1.2.3.4:x:80-90/icmp", "invalid hostPort: x"),
    ("1.2.3.4:80-81:80-90/icmp", "invalid ranges specified for container and host Ports: 80-90 and 80-81"),
    ("[::1]x:80:80", "invalid IP address [::1]x: address [::1]x:: missing port in address"),
    ("[::1]:5:80:80", "invalid IP address [::1]:5: address [::1]:5:: too many colons in address"),
    ("[foo]:80:80", "invalid IP address: foo"),
    ("[fe80::1%eth0]:80:80", "invalid IP address: fe80::1%eth0"),
    ("fe80::1%eth0:80:80", "invalid IP address: fe80::1%eth0"),
    ("1.2.3.04:80:80", "invalid IP address: 1.2.3.04"),
    ("8_0", "invalid containerPort: 8_0"),
    ("target=,published=1", "no port specified: 1:/tcp<empty>"),
    ("published=8080", "no port specified: 8080:/tcp<empty>"),
    ("a=b", "no port specified: :/tcp<empty>"),
    (",target=80", "invalid publish opts format (should be name=value but got '')"),
    ("target=80,", "invalid publish opts format (should be name=value but got '')"),
    ("target=abc", "invalid containerPort: abc"),
    ("target=80=90", "invalid containerPort: 80=90"),
    (":", "no port specified: :<empty>"),
    ("::", "no port specified: ::<empty>"),
    (":::", "invalid IP address: :"),
    ("1.2.3.4:", "no port specified: 1.2.3.4:<empty>"),
    ("80:", "no port specified: 80:<empty>"),
    ("[a[b]:80:80", "invalid IP address [a[b]: address [a[b]:: unexpected '[' in address"),
    ("[ab]]:80:80", "invalid IP address [ab]]: address [ab]]:: missing port in address"),
    ("[ab]:]:80:80", "invalid IP address [ab]:]: address [ab]:]:: too many colons in address"),
    ("99999999999999999999", "invalid containerPort: 99999999999999999999"),
    ("80-99999999999999999999", "invalid containerPort: 80-99999999999999999999"),
    ("١٢", "invalid containerPort: ١٢"),
    ("80/tcp:80", "invalid hostPort: 80/tcp"),
    ("1.2.3.4 :80:80", "invalid IP address: 1.2.3.4 "),
    ("published=80,target=8_0", "invalid containerPort: 8_0"),
    ("[::1]", "invalid IP address [: address [:: missing ']' in address"),
    ("0x50", "invalid containerPort: 0x50"),
]

EXPOSE_ERRORS = [
    ("", "invalid range format for --expose: , error: empty string specified for ports"),
    ("90-80", "invalid range format for --expose: 90-80, error: invalid range specified for port: 90-80"),
    (
        "abc",
        'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": invalid syntax',
    ),
    ("1.2.3.4:80", "invalid port format for --expose: 1.2.3.4:80"),
    ("80:80", "invalid port format for --expose: 80:80"),
    ("/udp", "invalid range format for --expose: /udp, error: empty string specified for ports"),
    (
        "65536",
        'invalid range format for --expose: 65536, error: strconv.ParseUint: parsing "65536": value out of range',
    ),
    ("-1", 'invalid range format for --expose: -1, error: strconv.ParseUint: parsing "": invalid syntax'),
    ("a-b", 'invalid range format for --expose: a-b, error: strconv.ParseUint: parsing "a": invalid syntax'),
    ("80-", 'invalid range format for --expose: 80-, error: strconv.ParseUint: parsing "": invalid syntax'),
    (
        "8_0",
        'invalid range format for --expose: 8_0, error: strconv.ParseUint: parsing "8_0": invalid syntax',
    ),
    (
        "+80",
        'invalid range format for --expose: +80, error: strconv.ParseUint: parsing "+80": invalid syntax',
    ),
    (
        " 80",
        'invalid range format for --expose:  80, error: strconv.ParseUint: parsing " 80": invalid syntax',
    ),
    (
        "80-65536",
        'invalid range format for --expose: 80-65536, error: strconv.ParseUint: parsing "65536": value out of range',
    ),
    (
        '"q"',
        'invalid range format for --expose: "q", error: strconv.ParseUint: parsing "\\"q\\"": invalid syntax',
    ),
    (
        "a\tb",
        'invalid range format for --expose: a\tb, error: strconv.ParseUint: parsing "a\\tb": invalid syntax',
    ),
    (
        "80-x",
        'invalid range format for --expose: 80-x, error: strconv.ParseUint: parsing "x": invalid syntax',
    ),
    ("é", 'invalid range format for --expose: é, error: strconv.ParseUint: parsing "é": invalid syntax'),
]


@pytest.mark.parametrize(("publish", "expose", "exposed", "bindings"), PUBLISH_OK)
def test_cli_request(
    publish: list[str], expose: list[str], exposed: list[str], bindings: dict[str, list[tuple[str, str]]]
) -> None:
    got_exposed, got_bindings = ports.parse_ports(publish, expose)
    assert list(got_exposed) == exposed  # Go's JSON order: sorted keys
    assert all(v == {} for v in got_exposed.values())
    assert {k: [(b["HostIp"], b["HostPort"]) for b in v] for k, v in got_bindings.items()} == bindings
    assert list(got_bindings) == sorted(bindings)


@pytest.mark.parametrize(("value", "message"), PUBLISH_ERRORS)
def test_publish_errors(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        ports.parse_publish([value])
    assert str(e.value) == message


@pytest.mark.parametrize(("value", "message"), EXPOSE_ERRORS)
def test_expose_errors(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        ports.parse_expose([value])
    assert str(e.value) == message


def test_the_first_bad_value_is_reported() -> None:
    with pytest.raises(InvalidArgument, match="^invalid containerPort: x$"):
        ports.parse_ports(["80", "x", "y"], ["z"])
    with pytest.raises(InvalidArgument, match="^invalid port format for --expose: 1:2$"):
        ports.parse_ports(["80"], ["1:2"])


# --------------------------------------------------------------------------- daemon side


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"abc/tcp": []}, 'invalid port specification: "abc"'),
        ({"0/tcp": []}, 'invalid port specification: "0"'),
        ({"65536/udp": None}, 'invalid port specification: "65536"'),
        ({"80-81/tcp": []}, 'invalid port specification: "80-81"'),
        ({"80/tcp": [{"HostIp": "", "HostPort": "x"}]}, 'invalid port specification: "x"'),
        ({"80/tcp": [{"HostIp": "", "HostPort": "90-80"}]}, 'invalid port specification: "90-80"'),
        ({"80/tcp": [{"HostIp": "", "HostPort": "8\t0"}]}, 'invalid port specification: "8\\t0"'),
    ],
)
def test_check_port_bindings_errors(bindings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        ports.check_port_bindings(bindings)
    assert str(e.value) == message


def test_check_port_bindings_accepts_docker_forms() -> None:
    ports.check_port_bindings(
        {
            "80/tcp": [{"HostIp": "", "HostPort": ""}, {"HostIp": "1.2.3.4", "HostPort": "8080"}],
            "81": [{"HostPort": "8000-8010"}],
            "82/udp": None,
            "83/sctp": [{"HostIp": "", "HostPort": "8083/tcp"}],
        }
    )


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str, int]]:
    """A fake host: ports in the returned set are bound by some process; the ephemeral range is 40000-40009."""
    busy: set[tuple[str, str, int]] = set()

    def bindable(proto: str, host_ip: str, port: int) -> bool:
        return (proto, host_ip, port) not in busy and (proto, "", port) not in busy

    monkeypatch.setattr(ports, "_bindable", bindable)
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (40000, 40009))
    return busy


def test_resolve_fixed_ports_in_docker_order(host: set[tuple[str, str, int]]) -> None:
    exposed, bindings = ports.parse_ports(["9000:90/udp", "127.0.0.1:8080:80", "8081:80", "0.0.0.0:8443:443"])
    assert ports.resolve(exposed, bindings) == [
        PortBinding("127.0.0.1", 8080, 80),
        PortBinding("", 8081, 80),
        PortBinding("", 9000, 90, "udp"),
        PortBinding("", 8443, 443),
    ]


def test_resolve_allocates_from_the_ephemeral_range(host: set[tuple[str, str, int]]) -> None:
    host.add(("tcp", "", 40001))  # a host process holds it
    exposed, bindings = ports.parse_ports(["80", "81", "53/udp"])
    taken = [("tcp", "10.0.0.1", 40000)]  # another container publishes it (on some address)
    assert ports.resolve(exposed, bindings, taken=taken) == [
        PortBinding("", 40000, 53, "udp"),
        PortBinding("", 40002, 80),
        PortBinding("", 40003, 81),
    ]


def test_resolve_host_range(host: set[tuple[str, str, int]]) -> None:
    exposed, bindings = ports.parse_ports(["8000-8002:80", "8000-8002:81"])
    host.add(("tcp", "", 8000))
    assert ports.resolve(exposed, bindings) == [PortBinding("", 8001, 80), PortBinding("", 8002, 81)]
    with pytest.raises(Conflict, match="^all ports are allocated$"):
        ports.resolve(exposed, bindings, taken=[("tcp", "", 8001), ("tcp", "", 8002)])


def test_resolve_publish_all(host: set[tuple[str, str, int]]) -> None:
    exposed, bindings = ports.parse_ports(["8080:80"], ["80", "443", "53/udp"])
    assert ports.resolve(exposed, bindings, publish_all=True) == [
        PortBinding("", 40000, 53, "udp"),
        PortBinding("", 8080, 80),
        PortBinding("", 40000, 443),
    ]
    assert ports.resolve(exposed, bindings) == [PortBinding("", 8080, 80)]  # exposed alone publishes nothing
    # Exposed keys docker keeps but cannot publish are left alone; a bad PortBindings key is an error.
    assert ports.resolve(["0/tcp", "80/icmp", "x/tcp", "81/tcp"], {}, publish_all=True) == [
        PortBinding("", 40000, 81)
    ]
    with pytest.raises(InvalidArgument, match="^invalid proto: icmp$"):
        ports.resolve([], {"80/icmp": []})
    # Keys only in PortBindings (an API client that sent no ExposedPorts) are published too.
    assert ports.resolve([], {"90/tcp": [{"HostIp": "", "HostPort": "9090"}]}) == [PortBinding("", 9090, 90)]


@pytest.mark.parametrize(
    ("taken", "spec", "message"),
    [
        ([("tcp", "", 8080)], "8080:80", "Bind for 0.0.0.0:8080 failed: port is already allocated"),
        ([("tcp", "127.0.0.1", 8080)], "8080:80", "Bind for 0.0.0.0:8080 failed: port is already allocated"),
        (
            [("tcp", "", 8080)],
            "127.0.0.1:8080:80",
            "Bind for 127.0.0.1:8080 failed: port is already allocated",
        ),
        ([], "8080:80", None),
    ],
)
def test_resolve_refuses_a_published_port(
    host: set[tuple[str, str, int]], taken: list[tuple[str, str, int]], spec: str, message: str | None
) -> None:
    exposed, bindings = ports.parse_ports([spec, spec.replace("8080:", "8080:1")])  # twice in one request
    with pytest.raises(Conflict) as e:
        ports.resolve(exposed, bindings, taken=taken)
    assert str(e.value) == (message or f"Bind for {'0.0.0.0'}:8080 failed: port is already allocated")


def test_resolve_other_address_or_protocol_is_another_port(host: set[tuple[str, str, int]]) -> None:
    exposed, bindings = ports.parse_ports(["127.0.0.1:8080:80", "8080:80/udp"])
    taken = [("tcp", "127.0.0.2", 8080), ("udp", "127.0.0.3", 9)]
    assert ports.resolve(exposed, bindings, taken=taken) == [
        PortBinding("127.0.0.1", 8080, 80),
        PortBinding("", 8080, 80, "udp"),
    ]


def test_resolve_refuses_a_port_a_host_process_holds(host: set[tuple[str, str, int]]) -> None:
    host.add(("udp", "", 5353))
    exposed, bindings = ports.parse_ports(["5353:53/udp"])
    with pytest.raises(Conflict) as e:
        ports.resolve(exposed, bindings)
    assert str(e.value) == (
        "Error starting userland proxy: listen udp4 0.0.0.0:5353: bind: address already in use"
    )


def test_resolve_host_addresses(host: set[tuple[str, str, int]]) -> None:
    exposed, bindings = ports.parse_ports(["::ffff:10.1.2.3:8080:80", "[::1]:8081:81"])
    with pytest.raises(NotImplementedYet, match=r"IPv6 address ::1"):
        ports.resolve(exposed, bindings)
    del bindings["81/tcp"]
    assert ports.resolve(exposed, bindings) == [PortBinding("10.1.2.3", 8080, 80)]
    with pytest.raises(InvalidArgument, match="^invalid IP address: localhost$"):
        ports.resolve([], {"80/tcp": [{"HostIp": "localhost", "HostPort": "80"}]})


def test_allocate_on_the_real_host() -> None:
    """A port a process listens on (on 127.0.0.1 only) is not free, for that address nor for all of them."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not ports._bindable("tcp", "127.0.0.1", port)
        assert not ports._bindable("tcp", "", port)
        assert ports.allocate("tcp", "127.0.0.1", port, port + 50) != port
        with pytest.raises(Conflict, match="^all ports are allocated$"):
            ports.allocate("tcp", "", port, port)
    assert ports._bindable("tcp", "127.0.0.1", port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert not ports._bindable("udp", "127.0.0.1", port)
    low, high = ports.ephemeral_range()
    assert 0 < low <= high <= 65535
    assert low <= ports.allocate("tcp", "127.0.0.1") <= high


def test_ephemeral_range_falls_back_to_libnetwork_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ports, "_RANGE_FILE", str(tmp_path / "missing"))
    assert ports.ephemeral_range() == (49153, 65535)
    (tmp_path / "range").write_text("1024\t2048\n")
    monkeypatch.setattr(ports, "_RANGE_FILE", str(tmp_path / "range"))
    assert ports.ephemeral_range() == (1024, 2048)


# --------------------------------------------------------------------------- shapes


def test_shapes() -> None:
    published = [
        PortBinding("", 32768, 80),
        PortBinding("127.0.0.1", 8443, 443),
        PortBinding("", 32768, 53, "udp"),
    ]
    assert ports.ports_json(["80/tcp", "443/tcp", "53/udp", "9000/tcp"], published) == {
        "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
        "9000/tcp": None,
    }
    assert ports.bindings_json([PortBinding("", 0, 80), PortBinding("1.2.3.4", 8000, 81, "udp", 8010)]) == {
        "80/tcp": [{"HostIp": "", "HostPort": ""}],
        "81/udp": [{"HostIp": "1.2.3.4", "HostPort": "8000-8010"}],
    }
    assert ports.api_ports(ports.ports_json(["80/tcp", "9000/tcp"], published[:1])) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
        {"PrivatePort": 9000, "Type": "tcp"},
    ]
    assert PortBinding("", 1, 53, "udp").key == "53/udp"


def test_round_trip_through_the_stored_shapes(host: set[tuple[str, str, int]]) -> None:
    """parse_ports -> stored -> resolve -> bindings_json gives the request's PortBindings back (fixed ports)."""
    exposed, bindings = ports.parse_ports(["127.0.0.1:8080:80", "9000:90/udp"])
    resolved = ports.resolve(exposed, bindings)
    assert ports.bindings_json(resolved) == bindings
    assert ports.ports_json(exposed, resolved) == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "90/udp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}],
    }


def test_import_is_cheap() -> None:
    """``run`` imports the parsers: no ipaddress, socket, re or nftables until they are needed."""
    src = str(Path(ports.__file__).parents[2])
    code = (
        f"import sys\nsys.path.insert(0, {src!r})\nimport pinnace.network.ports, pinnace.network.nat\n"
        "print(sorted(m for m in ('ipaddress', 'socket', 're', 'nftables', 'json') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
