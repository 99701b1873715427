"""Docker's port syntaxes and shapes: ``-p``/``--publish``, ``--expose``, ``-P``, and host port allocation.

Two sides, as in docker:

- the CLI side (docker/cli ``cli/command/container/opts.go`` with
  go-connections ``nat.ParsePortSpecs``): :func:`parse_publish` and
  :func:`parse_expose` turn flag values into what the CLI sends,
  ``Config.ExposedPorts`` (``{"80/tcp": {}}``) and ``HostConfig.PortBindings``
  (``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``); :func:`parse_ports`
  does both at once;
- the daemon side: :func:`check_port_bindings` validates what the API
  received (moby ``validatePortBindings``), :func:`resolve` turns the stored
  shapes into concrete :class:`PortBinding` records at start, allocating
  host ports as libnetwork's port allocator does (the first free port of
  ``ip_local_port_range``, or of the given host range), and
  :func:`ports_json` / :func:`api_ports` give ``NetworkSettings.Ports`` and
  the ``Ports`` list of ``GET /containers/json``.

Messages are docker's (the CLI 28.2, checked against the binary), without
the ``docker: `` prefix the CLI adds.  There is no ``docker-proxy``: a
published port is a DNAT rule (:mod:`pinnace.network.nat`), so nothing
holds the host port; :func:`resolve` refuses a host port a host process has
bound (the userland proxy's error) or another container publishes (the port
allocator's error).  IPv6 host addresses parse, as in docker, but are not
published (pinnace's NAT is IPv4 only): :func:`resolve` refuses them.

No ``re``, no ``ipaddress`` at import: ``run`` imports this module and
start-up is counted (``ipaddress`` is imported only when a host IP is given).
"""

from __future__ import annotations

from pinnace._util.golang import is_digits, quote
from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence
    from typing import Any

#: The protocols a port can be published for (go-connections ``validateProto``).
PROTOCOLS = ("tcp", "udp", "sctp")
#: libnetwork's fallback when ``ip_local_port_range`` cannot be read.
DEFAULT_RANGE = (49153, 65535)
_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


@record
class PortBinding:
    """One container port published on the host, as the NAT layer programs it.

    ``host_ip`` empty means every host address (docker's ``0.0.0.0``);
    ``host_port`` 0 means "allocate one" (with ``host_port_end``, one within
    ``host_port``-``host_port_end``, docker's ``-p 8000-8010:80``).  After
    :func:`resolve`, ``host_port`` is always set and ``host_port_end`` is 0.
    """

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"
    host_port_end: int = 0

    @property
    def key(self) -> str:
        """Docker's port key, ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"


# --------------------------------------------------------------------------- Go helpers


class _GoError(Exception):
    """A Go ``error`` inside the parsers; its text lands in docker's message or is replaced by it."""


def _parse_uint16(text: str) -> int:
    """``strconv.ParseUint(text, 10, 16)``."""
    if not is_digits(text):
        raise _GoError(f"strconv.ParseUint: parsing {quote(text)}: invalid syntax")
    value = int(text)
    if value > 0xFFFF:
        raise _GoError(f"strconv.ParseUint: parsing {quote(text)}: value out of range")
    return value


def _parse_port_range(ports: str) -> tuple[int, int]:
    """go-connections ``nat.ParsePortRange``: ``80`` or ``8000-9000`` (only the first two ``-`` fields count)."""
    if not ports:
        raise _GoError("empty string specified for ports")
    if "-" not in ports:
        start = _parse_uint16(ports)
        return start, start
    parts = ports.split("-")
    start = _parse_uint16(parts[0])
    end = _parse_uint16(parts[1])
    if end < start:
        raise _GoError(f"invalid range specified for port: {ports}")
    return start, end


def _split_proto_port(raw: str) -> tuple[str, str]:
    """go-connections ``nat.SplitProtoPort``: ``80/udp`` -> (``udp``, ``80``); tcp when no protocol is given."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_host_port(hostport: str) -> str:
    """Go's ``net.SplitHostPort`` for ``[host]:port`` text, returning the host; errors in Go's words."""

    def fail(why: str) -> _GoError:
        return _GoError(f"address {hostport}: {why}")

    last = hostport.rfind(":")
    if last < 0:
        raise fail("missing port in address")
    end = hostport.find("]")
    if end < 0:
        raise fail("missing ']' in address")
    if end + 1 == len(hostport):
        raise fail("missing port in address")
    if end + 1 != last:
        if hostport[end + 1] == ":":
            raise fail("too many colons in address")
        raise fail("missing port in address")
    host = hostport[1:end]
    if "[" in hostport[1:]:
        raise fail("unexpected '[' in address")
    if "]" in hostport[end + 1 :]:
        raise fail("unexpected ']' in address")
    return host


def parse_ip(text: str) -> str | None:
    """Go's ``net.ParseIP``: the canonical text of an IPv4 or IPv6 address, or None (no zones, no leading zeros)."""
    if not text or "%" in text or not text.isascii():
        return None
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _ipv4(host_ip: str) -> str | None:
    """The IPv4 address a binding's host IP names ("" for every address), None for an IPv6 one."""
    if host_ip in ("", "0.0.0.0"):
        return ""
    import ipaddress

    addr = ipaddress.ip_address(host_ip)
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        return None if mapped is None else str(mapped)
    return str(addr)


# --------------------------------------------------------------------------- CLI side


def _split_parts(raw: str) -> tuple[str, str, str]:
    """go-connections ``splitParts``: ``[ip:][hostPort:]containerPort``, the IP keeping any extra colons."""
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(raw: str) -> list[tuple[str, str, str]]:
    """go-connections ``nat.ParsePortSpec``: one ``-p`` value -> [(port key, HostIp, HostPort)], ranges expanded.

    ``8000-8010:80`` keeps the host range as one HostPort (``"8000-8010"``):
    the daemon allocates a port within it.
    """
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = _split_proto_port(container_port)
    if ip.startswith("["):
        try:
            ip = _split_host_port(ip + ":")
        except _GoError as e:
            raise InvalidArgument(f"invalid IP address {ip}: {e}") from None
    if ip and parse_ip(ip) is None:
        raise InvalidArgument(f"invalid IP address: {ip}")
    if not container_port:
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    try:
        start, end = _parse_port_range(container_port)
    except _GoError:
        raise InvalidArgument(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = _parse_port_range(host_port)
        except _GoError:
            raise InvalidArgument(f"invalid hostPort: {host_port}") from None
        if end - start != host_end - host_start and end != start:
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            )
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")  # as typed: docker lower-cases only to compare
    proto = proto.lower()
    count = end - start + 1
    out = []
    for i in range(count):
        hport = ""
        if host_port:
            hport = str(host_start + i)
            if count == 1 and host_start != host_end:
                hport += f"-{host_end}"
        out.append((f"{start + i}/{proto}", ip, hport))
    return out


def _standard_notation(value: str) -> str:
    """docker/cli ``convertToStandardNotation``: ``published=8080,target=80,protocol=udp`` -> ``8080:80/udp``."""
    if "=" not in value:
        return value
    params = {"protocol": "tcp"}
    for param in value.split(","):
        key, sep, val = param.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid publish opts format (should be name=value but got '{param}')")
        params[key] = val
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def parse_publish(values: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``-p`` values -> (``Config.ExposedPorts``, ``HostConfig.PortBindings``), keys in docker's (Go's JSON) order."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for value in values:
        for key, host_ip, host_port in parse_port_spec(_standard_notation(value)):
            exposed.setdefault(key, {})
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return dict(sorted(exposed.items())), dict(sorted(bindings.items()))


def parse_expose(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``--expose`` values (``80``, ``80/udp``, ``8000-8010``) -> ``Config.ExposedPorts`` entries.

    As the CLI does, the protocol is neither checked nor lower-cased here.
    """
    exposed: dict[str, dict[str, Any]] = {}
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"invalid port format for --expose: {value}")
        proto, port = _split_proto_port(value)
        try:
            start, end = _parse_port_range(port)
        except _GoError as e:
            raise InvalidArgument(f"invalid range format for --expose: {value}, error: {e}") from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})
    return dict(sorted(exposed.items()))


def parse_ports(
    publish: Iterable[str], expose: Iterable[str] = ()
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``-p`` and ``--expose`` together, as ``docker run`` builds its request: (ExposedPorts, PortBindings)."""
    exposed, bindings = parse_publish(publish)
    exposed.update(parse_expose(expose))
    return dict(sorted(exposed.items())), bindings


# --------------------------------------------------------------------------- daemon side


def _split_key(key: str) -> tuple[int, str]:
    """A port key (``80/tcp``) -> (80, ``tcp``); InvalidArgument as moby's ``validatePortBindings``."""
    proto, port = _split_proto_port(key)
    if not is_digits(port) or not 0 < int(port) <= 0xFFFF:
        raise InvalidArgument(f"invalid port specification: {quote(port)}")
    return int(port), proto.lower()


def check_port_bindings(port_bindings: Mapping[str, Sequence[Mapping[str, str]] | None]) -> None:
    """moby ``validatePortBindings``: every key a port, every HostPort empty, a port or a range."""
    for key, entries in port_bindings.items():
        _split_key(key)
        for entry in entries or ():
            host_port = entry.get("HostPort", "") or ""
            if not host_port:
                continue
            try:
                _parse_port_range(_split_proto_port(host_port)[1])
            except _GoError:
                raise InvalidArgument(f"invalid port specification: {quote(host_port)}") from None


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ``ip_local_port_range``: where docker picks ports for ``-P`` and ``-p 80``."""
    try:
        with open(_RANGE_FILE) as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return DEFAULT_RANGE
    if not 0 < low <= high <= 0xFFFF:
        return DEFAULT_RANGE
    return low, high


def _bindable(proto: str, host_ip: str, port: int) -> bool:
    """Whether a host process leaves ``host_ip:port`` free (a socket binds it; SO_REUSEADDR as docker-proxy's)."""
    import socket

    kinds = {"tcp": (socket.SOCK_STREAM, 0), "udp": (socket.SOCK_DGRAM, 0)}
    kinds["sctp"] = (socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))
    kind, number = kinds[proto]
    try:
        sock = socket.socket(socket.AF_INET, kind, number)
    except OSError:
        return True  # no such protocol here (sctp not loaded): nothing can hold the port
    try:
        if proto != "udp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip or "0.0.0.0", port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def _in_use_message(proto: str, host_ip: str, port: int) -> str:
    return f"Error starting userland proxy: listen {proto}4 {host_ip or '0.0.0.0'}:{port}: bind: address already in use"


def _allocated_message(host_ip: str, port: int) -> str:
    return f"Bind for {host_ip or '0.0.0.0'}:{port} failed: port is already allocated"


def _clashes(taken: Iterable[tuple[str, str, int]], proto: str, host_ip: str, port: int) -> bool:
    """Whether ``host_ip:port/proto`` overlaps a taken one (an empty IP is every address)."""
    return any(p == proto and n == port and (not ip or not host_ip or ip == host_ip) for p, ip, n in taken)


def allocate(
    proto: str,
    host_ip: str = "",
    start: int = 0,
    end: int = 0,
    *,
    taken: Collection[tuple[str, str, int]] = (),
) -> int:
    """A free host port for ``proto`` on ``host_ip``: the first in ``start``-``end`` (default: the ephemeral range).

    Free means published by no other container (``taken``: (proto, host IP,
    port) triples, see :func:`pinnace.network.nat.published`), on any
    address, and bound by no host process.  Conflict with the port
    allocator's words when none is.
    """
    if not start and not end:
        start, end = ephemeral_range()
    busy = {n for p, _ip, n in taken if p == proto}
    for port in range(start, end + 1):
        if port not in busy and _bindable(proto, host_ip, port):
            return port
    raise Conflict("all ports are allocated")


def resolve(
    exposed: Iterable[str],
    port_bindings: Mapping[str, Sequence[Mapping[str, str]] | None],
    *,
    publish_all: bool = False,
    taken: Collection[tuple[str, str, int]] = (),
) -> list[PortBinding]:
    """What to publish at start: ``HostConfig.PortBindings`` (plus, with ``-P``, every other exposed port).

    ``exposed`` is ``Config.ExposedPorts`` (the image's and the container's
    keys).  Ports are taken in docker's order (by port, then protocol);
    empty or ranged HostPorts get a host port from :func:`allocate`; a fixed
    one must not overlap ``taken`` nor be bound by a host process.  Docker's
    errors: Conflict for a busy port; NotImplementedYet for an IPv6 host IP.
    """
    check_port_bindings(port_bindings)
    keys: dict[tuple[int, str], str] = {}
    for key in port_bindings:
        port, proto = _split_key(key)
        if proto not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        keys.setdefault((port, proto), key)
    for key in exposed:  # an image's or --expose's: docker keeps odd ones (0/tcp, 80/icmp) unpublished
        try:
            port, proto = _split_key(key)
        except InvalidArgument:
            continue
        if proto in PROTOCOLS:
            keys.setdefault((port, proto), key)
    wanted: list[PortBinding] = []
    for (container_port, proto), key in sorted(keys.items()):
        entries = port_bindings.get(key) or ()
        for entry in entries:
            host_ip = entry.get("HostIp", "") or ""
            if host_ip and parse_ip(host_ip) is None:
                raise InvalidArgument(f"invalid IP address: {host_ip}")
            ip4 = _ipv4(host_ip)
            if ip4 is None:
                raise NotImplementedYet(f"publishing a port on the IPv6 address {host_ip} is not supported")
            low = high = 0
            host_port = _split_proto_port(entry.get("HostPort", "") or "")[1]
            if host_port:
                low, high = _parse_port_range(host_port)
            wanted.append(PortBinding(ip4, low, container_port, proto, high if high != low else 0))
        if publish_all and not entries:
            wanted.append(PortBinding("", 0, container_port, proto))
    out: list[PortBinding] = []
    used = list(taken)
    for b in wanted:
        if b.host_port and not b.host_port_end:
            if _clashes(used, b.proto, b.host_ip, b.host_port):
                raise Conflict(_allocated_message(b.host_ip, b.host_port))
            if not _bindable(b.proto, b.host_ip, b.host_port):
                raise Conflict(_in_use_message(b.proto, b.host_ip, b.host_port))
            port = b.host_port
        else:
            port = allocate(b.proto, b.host_ip, b.host_port, b.host_port_end, taken=used)
        used.append((b.proto, b.host_ip, port))
        out.append(PortBinding(b.host_ip, port, b.container_port, b.proto))
    return out


# --------------------------------------------------------------------------- shapes


def bindings_json(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """``HostConfig.PortBindings`` for records (HostPort ``""`` when allocated, ``8000-8010`` for a range)."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        port = str(b.host_port) if b.host_port else ""
        if b.host_port and b.host_port_end:
            port += f"-{b.host_port_end}"
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": port})
    return dict(sorted(out.items()))


def ports_json(
    exposed: Iterable[str], published: Iterable[PortBinding]
) -> dict[str, list[dict[str, str]] | None]:
    """``NetworkSettings.Ports`` of a running container: every exposed port, null when not published."""
    out: dict[str, list[dict[str, str]] | None] = {key: None for key in exposed}
    for b in published:
        entries = out.get(b.key)
        if entries is None:
            entries = out[b.key] = []
        entries.append({"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
    return dict(sorted(out.items()))


def api_ports(ports: Mapping[str, Sequence[Mapping[str, str]] | None]) -> list[dict[str, Any]]:
    """The ``Ports`` list of ``GET /containers/json`` from ``NetworkSettings.Ports`` (what ``docker ps`` formats)."""
    out: list[dict[str, Any]] = []
    for key, entries in ports.items():
        proto, port = _split_proto_port(key)
        if not is_digits(port):
            continue
        if not entries:
            out.append({"PrivatePort": int(port), "Type": proto})
            continue
        for entry in entries:
            host_port = entry.get("HostPort", "")
            out.append(
                {
                    "IP": entry.get("HostIp", ""),
                    "PrivatePort": int(port),
                    "PublicPort": int(host_port) if is_digits(host_port) else 0,
                    "Type": proto,
                }
            )
    return out
