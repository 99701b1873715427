"""IP address management as libnetwork's default IPAM does it: subnets for networks, addresses for endpoints.

Pure functions over :mod:`ipaddress` values and strings; the state (which
subnets and addresses are taken) lives in the database, and
:mod:`.service` calls these inside the transaction that records the
result, so two processes never hand out the same subnet or address.

- A network created without ``--subnet`` gets the first subnet of the
  configured pools that overlaps neither another network nor a route of the
  host (a subnet the host already reaches through another interface would
  cut it off from that network).  A subnet the user names is only checked
  against other networks, as docker does.
- An endpoint gets the lowest free address of the network (of its
  ``ip_range`` when there is one): never the network or broadcast address
  nor the gateway.  Released addresses are reused, lowest first.
- A MAC address derives from the IPv4 address (``02:42`` and its four
  bytes), as docker's did for years, so it is stable for an address.

Errors are docker's words; the exceptions carry no network name, which the
caller adds where docker's message has one.
"""

from __future__ import annotations

import ipaddress

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from pinnace.network.config import AddressPool

    Net = ipaddress.IPv4Network | ipaddress.IPv6Network

#: libnetwork's ipamapi errors (docker prints them unchanged).
POOL_OVERLAP = "Pool overlaps with other one on this address space"
ADDRESS_IN_USE = "Address already in use"
NO_POOL = "could not find an available, non-overlapping IPv{v} address pool among the defaults to assign to the network"

#: Routes on these never make a subnet unusable: the host's own loopback, and the default route.
_IGNORED_DEVICES = ("lo",)


# --------------------------------------------------------------------------- parsing and checks


def network(text: str) -> Net:
    """``text`` as a network; host bits are cleared (callers check them where docker does)."""
    return ipaddress.ip_network(text, strict=False)


def address(text: str) -> str:
    """An address in its canonical form (``10.0.0.01`` is refused, ``fd00:0::1`` becomes ``fd00::1``); ValueError."""
    return str(ipaddress.ip_address(text))


def join_errors(errors: Sequence[str]) -> str:
    """moby's multierror.Join: one error as itself, several as a ``* `` list (continuation lines indented)."""
    if len(errors) == 1:
        return errors[0].strip()
    return "* " + "\n* ".join(e.replace("\n", "\n\t") for e in errors)


def validate(subnet: str, ip_range: str = "", gateway: str = "") -> list[str]:
    """docker's checks of one IPAM config (api/types/network ValidateIPAM), as its messages; [] when valid."""
    try:
        iface = ipaddress.ip_interface(subnet) if "/" in subnet else None
    except ValueError:
        iface = None
    if iface is None:
        return [f"invalid subnet {subnet}: invalid CIDR block notation"]
    net = iface.network
    family = f"IPv{net.version}"
    errors: list[str] = []
    if iface.ip != net.network_address:
        errors.append(f"invalid subnet {subnet}: it should be {net}")
    shown = str(iface)  # Go prints the prefix as given, host bits and all
    if ip_range:
        errors.extend(_validate_range(ip_range, net, shown, family))
    if gateway:
        error = _validate_address(gateway, net, shown, family)
        if error:
            errors.append(f"invalid gateway {gateway}: {error}")
    return errors


def _validate_range(ip_range: str, subnet: Net, shown: str, family: str) -> list[str]:
    try:
        iface = ipaddress.ip_interface(ip_range) if "/" in ip_range else None
    except ValueError:
        iface = None
    if iface is None:
        return [f"invalid ip-range {ip_range}: invalid CIDR block notation"]
    rng = iface.network
    if rng.version != subnet.version:
        return [f"invalid ip-range {ip_range}: parent subnet is an {family} block"]
    errors = []
    if rng.prefixlen < subnet.prefixlen:
        errors.append(f"invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {shown}")
    if iface.ip != rng.network_address:
        errors.append(f"invalid ip-range {ip_range}: it should be {rng}")
    if not subnet.overlaps(rng):
        errors.append(f"invalid ip-range {ip_range}: parent subnet {shown} doesn't contain ip-range")
    return errors


def _validate_address(address: str, subnet: Net, shown: str, family: str) -> str:
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return "invalid address"
    if addr.version != subnet.version:
        return f"parent subnet is an {family} block"
    if addr not in subnet:
        return f"parent subnet {shown} doesn't contain this address"
    return ""


def overlapping(net: Net, others: Iterable[Net]) -> bool:
    """Whether ``net`` overlaps any of ``others`` (of its family)."""
    return any(o.version == net.version and net.overlaps(o) for o in others)


# --------------------------------------------------------------------------- host routes


def host_routes(version: int = 4, *, exclude_device: str = "", proc: str = "/proc/net") -> list[Net]:
    """The destinations of the host's routes of IP ``version`` (main table), from /proc.

    The default route, loopback, link-local and multicast destinations are
    left out (they never make a private subnet unusable), and so are routes
    through ``exclude_device``: a network's own bridge, whose routes are that
    network's when it is made again.  No /proc (another OS, a sandbox) means
    no routes.
    """
    try:
        if version == 4:
            return _routes4(proc + "/route", exclude_device)
        return _routes6(proc + "/ipv6_route", exclude_device)
    except OSError:
        return []


def _routes4(path: str, exclude_device: str) -> list[Net]:
    out: list[Net] = []
    with open(path) as f:
        next(f, None)  # the header
        for line in f:
            fields = line.split()
            if len(fields) < 8 or fields[0] in _IGNORED_DEVICES or fields[0] == exclude_device:
                continue
            dest = int.from_bytes(bytes.fromhex(fields[1]), "little")
            mask = int.from_bytes(bytes.fromhex(fields[7]), "little")
            if not mask:
                continue  # a default route
            prefixlen = bin(mask).count("1")
            net = ipaddress.IPv4Network((dest, prefixlen), strict=False)
            if not (net.is_loopback or net.is_link_local or net.is_multicast):
                out.append(net)
    return out


def _routes6(path: str, exclude_device: str) -> list[Net]:
    out: list[Net] = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 10 or fields[9] in _IGNORED_DEVICES or fields[9] == exclude_device:
                continue
            prefixlen = int(fields[1], 16)
            if not prefixlen:
                continue
            net = ipaddress.IPv6Network((int(fields[0], 16), prefixlen), strict=False)
            if not (net.is_loopback or net.is_link_local or net.is_multicast):
                out.append(net)
    return out


# --------------------------------------------------------------------------- subnets


def pool_subnets(pool: AddressPool) -> Iterator[Net]:
    """The subnets of ``pool``, in order: prefix length ``pool.size`` from its base address to the end of its block."""
    base = ipaddress.ip_interface(pool.base)
    block = base.network
    step = 1 << (block.max_prefixlen - pool.size)
    start = int(base.ip) & ~(step - 1)
    end = int(block.broadcast_address)
    cls = ipaddress.IPv4Network if block.version == 4 else ipaddress.IPv6Network
    for addr in range(start, end + 1, step):
        yield cls((addr, pool.size))


def allocate_subnet(
    pools: Sequence[AddressPool], taken: Iterable[Net], routes: Iterable[Net] = ()
) -> Net | None:
    """The first subnet of the IPv4 ``pools`` overlapping neither ``taken`` nor ``routes``; None when none is left."""
    avoid = sorted({n for n in (*taken, *routes) if n.version == 4}, key=lambda n: int(n.network_address))
    for pool in pools:
        if ipaddress.ip_interface(pool.base).version != 4:
            continue
        for candidate in pool_subnets(pool):
            if not any(candidate.overlaps(n) for n in avoid):
                return candidate
    return None


def ula_base(seed: bytes) -> ipaddress.IPv6Network:
    """A unique-local /48 (RFC 4193: ``fd`` and a 40-bit global ID) for networks made without an IPv6 subnet.

    The global ID derives from ``seed`` (the host's machine ID), so one
    host keeps one prefix, as docker derives its own from the host.
    """
    import hashlib

    global_id = int.from_bytes(hashlib.sha256(seed).digest()[:5], "big")
    return ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), 48))


def allocate_subnet6(
    base: ipaddress.IPv6Network, taken: Iterable[Net], routes: Iterable[Net] = ()
) -> Net | None:
    """The first /64 of ``base`` overlapping neither ``taken`` nor ``routes``; None when none is left."""
    avoid = [n for n in (*taken, *routes) if n.version == 6 and n.overlaps(base)]
    step = 1 << 64
    start = int(base.network_address)
    for i in range(1 << (64 - base.prefixlen)):
        candidate = ipaddress.IPv6Network((start + i * step, 64))
        if not any(candidate.overlaps(n) for n in avoid):
            return candidate
    return None


def default_gateway(subnet: Net) -> str:
    """The gateway docker gives a subnet: its first address after the network address."""
    return str(subnet.network_address + 1)


def check_gateway(subnet: Net, gateway: str) -> str:
    """docker's refusal of a gateway the allocator cannot hand out (the network or broadcast address), or ""."""
    if ipaddress.ip_address(gateway) in _reserved(subnet):
        return f"failed to allocate gateway ({gateway}): {ADDRESS_IN_USE}"
    return ""


# --------------------------------------------------------------------------- addresses


def _reserved(subnet: Net) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    """The addresses of ``subnet`` never given to an endpoint (libnetwork sets their bits at pool creation)."""
    if subnet.num_addresses <= 2:
        return ()
    if subnet.version == 4:
        return (subnet.network_address, subnet.broadcast_address)
    return (subnet.network_address,)


def allocate_address(subnet: Net, gateway: str, used: Iterable[str], ip_range: str = "") -> str | None:
    """The lowest address of ``subnet`` (of ``ip_range`` if set) that is neither used, reserved nor the gateway.

    None when every address is taken: the caller raises docker's "no
    available IPv4 addresses on this network's address pools".
    """
    taken = {int(ipaddress.ip_address(a)) for a in used if a}
    if gateway:
        taken.add(int(ipaddress.ip_address(gateway)))
    taken.update(int(a) for a in _reserved(subnet))
    span = network(ip_range) if ip_range else subnet
    first = max(int(span.network_address), int(subnet.network_address))
    last = min(int(span.broadcast_address), int(subnet.broadcast_address))
    cls = ipaddress.IPv4Address if subnet.version == 4 else ipaddress.IPv6Address
    addr = first
    while addr <= last:
        if addr not in taken:
            return str(cls(addr))
        addr += 1
    return None


def check_static_address(ip: str, version: int = 4) -> str:
    """docker's check of a requested address (EndpointIPAMConfig.Validate): its error, or ""."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        addr = None
    if addr is None or addr.version != version or addr.is_unspecified:
        return f"invalid IPv{version} address: {ip}"
    return ""


def request_address(subnet: Net, gateway: str, used: Iterable[str], ip: str) -> str:
    """A requested address in ``subnet``, normalised; InvalidArgument in docker's words when it cannot be had.

    ``ip`` must already be inside ``subnet`` (the caller reports docker's
    "no configured subnet" otherwise).  The gateway, the network and
    broadcast addresses and addresses in use are "Address already in use".
    """
    addr = ipaddress.ip_address(ip)
    taken = {ipaddress.ip_address(a) for a in used if a}
    if gateway:
        taken.add(ipaddress.ip_address(gateway))
    if addr in taken or addr in _reserved(subnet):
        raise InvalidArgument(ADDRESS_IN_USE)
    return str(addr)


def contains(subnet: str, ip: str) -> bool:
    """Whether address ``ip`` lies in ``subnet`` (False for an unparsable one or another family)."""
    try:
        return ipaddress.ip_address(ip) in network(subnet)
    except (ValueError, TypeError):
        return False


def mac_address(ip: str) -> str:
    """docker's MAC for an IPv4 address: ``02:42`` (locally administered) and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def check_mac(mac: str) -> str:
    """A MAC address as Go's net.ParseMAC reads the 6-byte forms, in lower-case colon form; ValueError if not one."""
    text = mac.strip()
    for sep in (":", "-"):
        parts = text.split(sep)
        if len(parts) == 6 and all(len(p) == 2 for p in parts):
            try:
                return ":".join(f"{int(p, 16):02x}" for p in parts)
            except ValueError:
                break
    parts = text.split(".")
    if len(parts) == 3 and all(len(p) == 4 for p in parts):
        try:
            raw = "".join(f"{int(p, 16):04x}" for p in parts)
        except ValueError:
            raw = ""
        if raw:
            return ":".join(raw[i : i + 2] for i in range(0, 12, 2))
    raise ValueError(f"invalid MAC address {mac}")
