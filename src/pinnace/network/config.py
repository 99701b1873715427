"""The networking keys of ``<root>/daemon.json``, read as dockerd reads them, with docker's defaults.

pinnace has no daemon, but the settings users give dockerd for its
networks mean the same here, under the same names, so a ``daemon.json``
written for docker works unchanged:

- ``bridge``: the Linux bridge of the default network "bridge" (docker's
  ``docker0``; here ``pinnace0``, so pinnace and dockerd can share a host),
  or ``"none"`` for no default network.
- ``bip``: the default bridge's address and prefix (``"172.17.0.1/16"``).
  Without it, docker takes the first pool of ``default-address-pools`` that
  no host route overlaps (which is 172.17.0.0/16 on most hosts).
- ``fixed-cidr``: the part of the default bridge's subnet containers get
  addresses from.
- ``default-address-pools``: where networks created without ``--subnet``
  get theirs (docker's defaults: 172.17-31.0.0/16, then 192.168.x.0/20).
- ``mtu``: the MTU of the default bridge and of new networks.

Other keys are dockerd's business and are ignored.  A missing file means
the defaults; a file that is not JSON, or a value of the wrong kind, is an
error naming the file (dockerd refuses to start on one).
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: The file under the store's root, named as docker's.
FILENAME = "daemon.json"
DEFAULT_BRIDGE = "pinnace0"
DEFAULT_MTU = 1500
#: The longest Linux interface name (IFNAMSIZ - 1).
IFNAME_MAX = 15


@record
class AddressPool:
    """One ``default-address-pools`` entry: subnets of prefix length ``size`` carved from ``base``.

    ``base`` may have host bits set (docker's own default is written
    ``172.17.0.0/12``): carving starts at that address and ends with the
    masked block, so ``172.17.0.0/12`` gives 172.17.0.0/16 to 172.31.0.0/16.
    """

    base: str
    size: int


#: docker's defaults (libnetwork ipamutils): 15 /16s from 172.17, then 16 /20s in 192.168.
DEFAULT_POOLS: tuple[AddressPool, ...] = (AddressPool("172.17.0.0/12", 16), AddressPool("192.168.0.0/16", 20))


@record
class NetworkConfig:
    bridge: str = DEFAULT_BRIDGE
    bip: str = ""  # "" : the first free pool (docker's 172.17.0.1/16 on most hosts)
    fixed_cidr: str = ""
    mtu: int = DEFAULT_MTU
    pools: tuple[AddressPool, ...] = DEFAULT_POOLS
    path: str = ""  # the file read, for messages ("" when there was none)
    dns: tuple[str, ...] = ()  # "dns": where the embedded DNS forwards names it does not know

    @property
    def default_bridge_enabled(self) -> bool:
        """False with ``"bridge": "none"``: docker then makes no default network."""
        return self.bridge != "none"


def load(root: str) -> NetworkConfig:
    """The configuration in ``<root>/daemon.json``, or the defaults when there is no such file."""
    from pinnace._util import daemon_json

    doc, path = daemon_json.load(root)
    return parse(doc, path) if doc else NetworkConfig()


def parse(doc: Mapping[str, Any], path: str = FILENAME) -> NetworkConfig:
    """The networking keys of a parsed ``daemon.json``, checked; other keys are ignored."""

    from pinnace._util.daemon_json import invalid

    def fail(detail: str) -> InvalidArgument:
        return invalid(path, detail)

    def text(key: str, default: str) -> str:
        value = doc.get(key, default)
        if not isinstance(value, str):
            raise fail(f'"{key}" must be a string')
        return value

    bridge = text("bridge", DEFAULT_BRIDGE) or DEFAULT_BRIDGE
    if len(bridge) > IFNAME_MAX or "/" in bridge or any(c.isspace() for c in bridge):
        raise fail(f'"bridge": invalid interface name {bridge!r} (at most {IFNAME_MAX} characters)')
    bip = text("bip", "")
    if bip:
        _check_bip(bip, fail)
    fixed_cidr = text("fixed-cidr", "")
    if fixed_cidr:
        _check_cidr("fixed-cidr", fixed_cidr, fail)
    mtu = doc.get("mtu", DEFAULT_MTU)
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        raise fail('"mtu" must be an integer')
    if mtu == 0:
        mtu = DEFAULT_MTU
    if not 68 <= mtu <= 65535:
        raise fail(f"invalid MTU {mtu}: it must be between 68 and 65535")
    pools = DEFAULT_POOLS
    if "default-address-pools" in doc:
        pools = _pools(doc["default-address-pools"], fail)
    servers = doc.get("dns", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise fail('"dns" must be a list of addresses')
    for server in servers:
        _check_address("dns", server, fail)
    return NetworkConfig(
        bridge=bridge, bip=bip, fixed_cidr=fixed_cidr, mtu=mtu, pools=pools, path=path, dns=tuple(servers)
    )


def _check_address(key: str, value: str, fail: Any) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise fail(f'"{key}": {value!r} is not an IP address') from None


def _check_cidr(key: str, value: str, fail: Any) -> Any:
    import ipaddress

    try:
        return ipaddress.ip_interface(value)
    except ValueError:
        raise fail(f'"{key}": invalid CIDR address: {value}') from None


def _check_bip(bip: str, fail: Any) -> None:
    iface = _check_cidr("bip", bip, fail)
    if "/" not in bip or iface.version != 4:
        raise fail(f'"bip": {bip} is not an IPv4 address with a prefix length (like 172.17.0.1/16)')
    net = iface.network
    if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        raise fail(f'"bip": {bip} is not a host address of {net}')


def _pools(value: object, fail: Any) -> tuple[AddressPool, ...]:
    import ipaddress

    if not isinstance(value, list):
        raise fail('"default-address-pools" must be a list of {"base": CIDR, "size": prefix length}')
    pools = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("base"), str):
            raise fail('"default-address-pools": each pool needs a "base" (CIDR) and a "size"')
        base, size = item["base"], item.get("size")
        try:
            net = ipaddress.ip_network(base, strict=False)
        except ValueError:
            raise fail(f'"default-address-pools": invalid base pool {base!r}') from None
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not net.prefixlen <= size <= net.max_prefixlen
        ):
            raise fail(f'"default-address-pools": invalid pools size {size!r} for base {base}')
        pools.append(AddressPool(base, size))
    return tuple(pools) or DEFAULT_POOLS
