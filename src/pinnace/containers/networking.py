"""A container's network at start, and its release when the container ends.

``HostConfig.NetworkMode`` is docker's: ``none`` (its own namespace with
only ``lo``), ``host`` (the host's namespace), ``container:ID`` (another
running container's namespace), ``bridge`` (docker's default network) or
the name of a user-defined network.  On a network the container's
endpoint (address, MAC, aliases) is allocated at create, in the
container's own transaction (:func:`endpoint_request`), and kept until its
removal: its address is stable across restarts, as podman's is.  At start
:func:`setup` makes a network namespace bound under ``<runroot>/netns/<id>``,
plugs a veth pair into the network's bridge, makes sure the network's NAT
rules exist and publishes the container's ports; the runtime then joins
that namespace by path.  The namespace outlives restarts by the
container's monitor and is released (:func:`teardown`) when the container
exits for good or is removed; every step of the release tolerates what is
already gone, so a crash at any point leaves nothing a second release
would not clean.

Until the bridge driver is complete, a container with no ``--network``
gets ``none``: docker's default (``bridge``) is opt-in.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import FailedPrecondition, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence
    from typing import Any

    from pinnace.containers.records import ContainerRecord
    from pinnace.network.ports import PortBinding
    from pinnace.network.records import Endpoint, NetworkRecord
    from pinnace.network.service import NetworkService

#: What ``--network`` may name besides a user-defined network.
BUILTIN = ("none", "host", "bridge", "default")


@record
class Attached:
    """What the runtime spec and the host files need of a started container's network."""

    netns: str = ""  # "": a new empty namespace (none); "host": the host's; else a path to join
    addresses: tuple[str, ...] = ()  # the container's IPv4 addresses (for /etc/hosts)
    gateway: str = ""  # the host's address on its first network (host-gateway)
    settings: Mapping[str, Any] | None = None  # inspect's NetworkSettings while it runs
    embedded_dns: bool = False  # names resolved by the embedded DNS at 127.0.0.11 (user-defined networks)


def mode_of(record: ContainerRecord) -> str:
    """The container's network mode (``none`` when none was asked for, for now)."""
    return mode_of_options(str(record.host_config.get("NetworkMode") or ""))


def mode_of_options(network_mode: str) -> str:
    """``--network`` as a mode: ``none`` when not given (for now), ``bridge`` for docker's ``default``."""
    mode = network_mode or "none"
    return "bridge" if mode == "default" else mode


def netns_path(runroot: str, container_id: str) -> str:
    return os.path.join(runroot, "netns", container_id)


def check_mode(mode: str, resolve_container: Callable[[str], ContainerRecord]) -> str:
    """``--network`` as stored at create: ``container:NAME`` becomes ``container:ID``; docker's errors."""
    if mode.startswith("container:"):
        ref = mode.partition(":")[2]
        if not ref:
            raise InvalidArgument("invalid container format container:<name|id>")
        return "container:" + resolve_container(ref).id
    return mode


def setup(
    record: ContainerRecord,
    *,
    runroot: str,
    networks: Callable[[], NetworkService],
    resolve_container: Callable[[str], ContainerRecord],
) -> Attached:
    """Give the container the network its mode asks for (see the module docstring)."""
    mode = mode_of(record)
    if mode == "none":
        return Attached()
    if mode == "host":
        return Attached(netns="host")
    if mode.startswith("container:"):
        other = resolve_container(mode.partition(":")[2])
        if other.status != "running" or not other.pid:
            raise FailedPrecondition(f"cannot join network of a non running container: {other.id}")
        return Attached(netns=f"/proc/{other.pid}/ns/net")
    from pinnace.network import plumbing

    service = networks()
    network = service.default() if mode == "bridge" else service.get(mode)
    path = netns_path(runroot, record.id)
    teardown(record, runroot=runroot, networks=networks)  # what a crash or an earlier run left
    try:
        endpoint = service.endpoint_of(network.id, record.id) or service.connect(network.id, record.id)
        prefixlen = network.prefixlen
        mtu = service.mtu(network)
        plumbing.ensure_bridge(network.bridge, network.gateway, prefixlen, mtu=mtu)
        _nat(network)
        plumbing.create_netns(path)
        plumbing.attach(
            path,
            bridge=network.bridge,
            host_name=plumbing.host_ifname(record.id, network.id),
            address=endpoint.ip,
            prefixlen=prefixlen,
            gateway=network.gateway,
            mac=endpoint.mac,
            mtu=mtu,
        )
        bindings = _publish(record, network, endpoint)
        embedded_dns = not network.predefined  # docker's resolver serves user-defined networks only
        if embedded_dns:
            from pinnace.containers import dnsd
            from pinnace.network import dns

            dns.register(runroot, record.id, path, lambda: dnsd.start(service.root, runroot))
    except BaseException:
        teardown(record, runroot=runroot, networks=networks)
        raise
    return Attached(
        netns=path,
        addresses=(endpoint.ip,),
        gateway=network.gateway,
        settings=settings(record, path, network, endpoint, bindings),
        embedded_dns=embedded_dns,
    )


def _publish(record: ContainerRecord, network: NetworkRecord, endpoint: Endpoint) -> list[PortBinding]:
    """Publish the container's ports (``-p``, and ``-P``'s exposed ones) on the host; the bindings made."""
    port_bindings = record.host_config.get("PortBindings") or {}
    publish_all = bool(record.host_config.get("PublishAllPorts"))
    if not port_bindings and not publish_all:
        return []
    from pinnace.network import nat, ports

    bindings = ports.resolve(
        list(record.config.get("ExposedPorts") or {}),
        port_bindings,
        publish_all=publish_all,
        taken=nat.taken_ports(),
    )
    if bindings:
        nat.publish(record.id, network.bridge, endpoint.ip, bindings)
    return bindings


def settings(
    record: ContainerRecord,
    netns: str,
    network: NetworkRecord,
    endpoint: Endpoint,
    bindings: list[PortBinding],
) -> dict[str, Any]:
    """inspect's NetworkSettings of a running container on ``network`` (docker's shape).

    The top-level address fields are docker's deprecated ones: filled only
    on the default ``bridge`` network, as docker does.
    """
    from pinnace.network.ports import ports_json

    entry = {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": list(endpoint.aliases) or None,
        "MacAddress": endpoint.mac,
        "NetworkID": network.id,
        "EndpointID": endpoint.id,
        "Gateway": network.gateway,
        "IPAddress": endpoint.ip,
        "IPPrefixLen": network.prefixlen,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }
    default = network.name == "bridge"
    return {
        "Bridge": "",
        "SandboxID": record.id,
        "SandboxKey": netns,
        "Ports": ports_json(list(record.config.get("ExposedPorts") or {}), bindings),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": endpoint.id if default else "",
        "Gateway": network.gateway if default else "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": endpoint.ip if default else "",
        "IPPrefixLen": network.prefixlen if default else 0,
        "IPv6Gateway": "",
        "MacAddress": endpoint.mac if default else "",
        "Networks": {network.name: entry},
    }


def _nat(network: NetworkRecord) -> None:
    """The network's masquerade, forwarding and isolation rules (nftables)."""
    from pinnace.network import nat

    nat.ensure_network(network.bridge, network.subnet, internal=network.internal)


def endpoint_request(
    record_mode: str, networks: NetworkService, *, ip: str = "", aliases: tuple[str, ...] = (), mac: str = ""
) -> Callable[[Any, str], object] | None:
    """What the container's create transaction runs to take its endpoint (None without a network).

    The default network is made first, outside the transaction, if this
    is its first use.
    """
    mode = mode_of_options(record_mode)
    if mode in ("none", "host") or mode.startswith("container:"):
        return None
    network = networks.default() if mode == "bridge" else networks.get(mode)

    def take(conn: Any, container_id: str) -> object:
        return networks.connect_in(conn, network.id, container_id, ip=ip, aliases=aliases, mac=mac)

    return take


def teardown(
    record: ContainerRecord, *, runroot: str, networks: Callable[[], NetworkService], release: bool = False
) -> None:
    """Take the container off its networks: veths, namespace; ``release`` frees its addresses too (removal).

    What is already gone is fine.
    """
    mode = mode_of(record)
    if mode in ("none", "host") or mode.startswith("container:"):
        return
    from pinnace.network import plumbing

    path = netns_path(runroot, record.id)

    service = networks()
    if record.host_config.get("PortBindings") or record.host_config.get("PublishAllPorts"):
        from pinnace.network import nat

        nat.unpublish(record.id)
    for endpoint in service.endpoints(record.id):
        plumbing.detach(plumbing.host_ifname(record.id, endpoint.network))
    from pinnace.network import dns

    dns.unregister(runroot, record.id)  # its sockets would keep the namespace alive
    plumbing.remove_netns(path)
    if release:
        service.disconnect_all(record.id)


def sweep(
    records: Sequence[ContainerRecord], *, runroot: str, networks: NetworkService, live: Collection[str]
) -> list[str]:
    """Remove what crashes left of this store's container networking; what was removed, for the record.

    ``live`` are the IDs of the containers that run.  Only this store's
    bridges are looked at (the nftables table and the host's interfaces
    are shared with other stores): published ports of containers that do
    not run, veths on those bridges that no running container owns, and
    namespace files of containers that do not run.
    """
    from pinnace.network import nat, plumbing

    removed: list[str] = []
    bridges = {n.bridge for n in networks.list() if n.bridge}
    if not bridges:
        return removed
    expected = {
        plumbing.host_ifname(r.id, ep.network)
        for r in records
        if r.id in live
        for ep in networks.endpoints(r.id)
    }
    for cid in sorted({p.container_id for p in nat.published() if p.bridge in bridges} - set(live)):
        nat.unpublish(cid)
        removed.append(f"ports of {cid[:12]}")
    for bridge in sorted(bridges):
        for name in plumbing.ports_of(bridge):
            if name.startswith(plumbing.VETH_PREFIX) and name not in expected:
                plumbing.detach(name)
                removed.append(name)
    directory = os.path.join(runroot, "netns")
    from pinnace.network import dns

    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
        if name not in live:
            dns.unregister(runroot, name)
            plumbing.remove_netns(os.path.join(directory, name))
            removed.append(f"netns {name[:12]}")
    return removed
