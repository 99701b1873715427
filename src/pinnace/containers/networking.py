"""A container's network at start, and its release when the container ends.

``HostConfig.NetworkMode`` is docker's: ``none`` (its own namespace with
only ``lo``), ``host`` (the host's namespace), ``container:ID`` (another
running container's namespace), ``bridge`` (docker's default network) or
the name of a user-defined network.  On a network the container's
endpoint (address, MAC, aliases) is allocated at create, in the
container's own transaction (:func:`endpoint_request`), and kept until its
removal: its address is stable across restarts, as podman's is.  At start
:func:`setup` makes a network namespace bound under ``<runroot>/netns/<id>``,
plugs a veth pair into the bridge of each network the container is on, in
the order it was connected (``eth0`` with the default route, then
``eth1``...), makes sure each network's NAT rules exist and publishes the
container's ports on the first; the runtime then joins that namespace by
path.  ``network connect``/``disconnect`` on a running container plug and
unplug one endpoint live (:func:`plug`, :func:`unplug`: a further
``ethN``, routed to its own subnet only), under the container's network
lock (:func:`lock`), which setup and teardown take too; on a stopped one
the endpoint record alone changes and the next start plugs it.  The
namespace outlives restarts by the container's monitor and is released
(:func:`teardown`) when the container exits for good or is removed; every
step of the release tolerates what is already gone, so a crash at any
point leaves nothing a second release would not clean.

A container created with no ``--network`` gets docker's default, the
``bridge`` network (``none`` where daemon.json's ``"bridge": "none"``
disables it), written into its record at create; a record without a mode
(made before the default network existed) is ``none``.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import FailedPrecondition, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence
    from typing import Any

    from pinnace._util.lock import FileLock
    from pinnace.containers.records import ContainerRecord
    from pinnace.network.ports import PortBinding
    from pinnace.network.records import Endpoint, NetworkRecord
    from pinnace.network.service import NetworkService

#: What ``--network`` may name besides a user-defined network.
BUILTIN = ("none", "host", "bridge", "default")
#: In the container's run directory: its network lock, and its live interfaces' state
#: (the index of the next ethN, the network whose endpoint is the gateway).
LOCK_FILE = "network.lock"
STATE_FILE = "interfaces.json"
#: docker's refusals of ``network connect``/``disconnect`` (moby's runconfig errors).
SHARED_CONFLICT = "container sharing network namespace with another container or host cannot be connected to any other network"
HOST_CONFLICT = "container cannot be disconnected from host network or connected to host network"
NONE_CONFLICT = (
    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)


@record
class Attached:
    """What the runtime spec and the host files need of a started container's network."""

    netns: str = ""  # "": a new empty namespace (none); "host": the host's; else a path to join
    addresses: tuple[str, ...] = ()  # the container's IPv4 addresses (for /etc/hosts)
    gateway: str = ""  # the host's address on its first network (host-gateway)
    settings: Mapping[str, Any] | None = None  # inspect's NetworkSettings while it runs
    embedded_dns: bool = False  # names resolved by the embedded DNS at 127.0.0.11 (user-defined networks)


def mode_of(record: ContainerRecord) -> str:
    """The container's network mode (``none`` for a record made before create wrote one)."""
    return mode_of_options(str(record.host_config.get("NetworkMode") or ""))


def mode_of_options(network_mode: str) -> str:
    """``--network`` as a mode: ``none`` when not given (see the module docstring), ``bridge`` for docker's ``default``."""
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
    path = netns_path(runroot, record.id)
    plugged: list[tuple[NetworkRecord, Endpoint]] = []
    with lock(runroot, record.id):
        _unplug_all(record, runroot, service)  # what a crash or an earlier run left
        try:
            plumbing.create_netns(path)
            # Every endpoint the container holds (``network connect`` adds to the one create took),
            # in connection order: the first is eth0 with the default route and the published ports.
            endpoints = service.endpoints(record.id)
            if not endpoints:
                plumbing.loopback_up(path)  # every network was disconnected: lo alone (attach does it else)
            for index, endpoint in enumerate(endpoints):
                network = service.get(endpoint.network)
                _plug(record, path, service, network, endpoint, ifname=f"eth{index}", gateway=index == 0)
                plugged.append((network, endpoint))
            bindings = _publish(record, *plugged[0]) if plugged else []
            # docker's resolver serves user-defined networks only
            embedded_dns = any(not network.predefined for network, _ in plugged)
            if embedded_dns:
                _register_dns(record, runroot, service, path)
            _save_state(runroot, record.id, len(plugged), plugged[0][0].id if plugged else "", embedded_dns)
        except BaseException:
            _unplug_all(record, runroot, service)
            raise
    return Attached(
        netns=path,
        addresses=tuple(ip for _, endpoint in plugged for ip in (endpoint.ip, endpoint.ip6) if ip),
        gateway=plugged[0][0].gateway if plugged else "",
        settings=settings(record, path, plugged, bindings),
        embedded_dns=embedded_dns,
    )


def _register_dns(record: ContainerRecord, runroot: str, service: NetworkService, netns: str) -> None:
    """Have the embedded DNS server answer at 127.0.0.11 in the container's namespace (started if need be)."""
    from pinnace.containers import dnsd
    from pinnace.network import dns

    dns.register(runroot, record.id, netns, lambda: dnsd.start(service.root, runroot))


def _plug(
    record: ContainerRecord,
    netns: str,
    service: NetworkService,
    network: NetworkRecord,
    endpoint: Endpoint,
    *,
    ifname: str,
    gateway: bool,
) -> None:
    """One endpoint into the namespace: the network's bridge and NAT rules ensured, a veth named ``ifname``.

    ``gateway``: the interface the container's default route goes through.
    """
    from pinnace.network import plumbing

    mtu = service.mtu(network)
    plumbing.ensure_bridge(
        network.bridge,
        network.gateway,
        network.prefixlen,
        mtu=mtu,
        gateway6=network.gateway6,
        prefixlen6=network.prefixlen6,
    )
    _nat(network)
    plumbing.attach(
        netns,
        bridge=network.bridge,
        host_name=plumbing.host_ifname(record.id, network.id),
        address=endpoint.ip,
        prefixlen=network.prefixlen,
        gateway=network.gateway,
        mac=endpoint.mac,
        mtu=mtu,
        ifname=ifname,
        default_route=gateway,
        address6=endpoint.ip6,
        prefixlen6=network.prefixlen6,
        gateway6=network.gateway6,
    )


# --------------------------------------------------------------------------- live connect / disconnect


def lock(runroot: str, container_id: str) -> FileLock:
    """The container's network lock: one of setup, teardown, a live plug or unplug at a time.

    Without it a ``network connect`` could plug into a namespace a
    concurrent teardown is removing, or two could pick one ``ethN``.  It
    lives in the container's run directory (removed with the container).
    """
    from pinnace._util.lock import FileLock

    directory = _run_dir(runroot, container_id)
    os.makedirs(directory, 0o700, exist_ok=True)
    return FileLock(os.path.join(directory, LOCK_FILE))


def plugged_in(runroot: str, container_id: str) -> bool:
    """Whether the container's namespace is up (it runs, or is being started): connect plugs live then.

    Asked under :func:`lock`, so a teardown cannot remove it meanwhile.
    """
    return os.path.ismount(netns_path(runroot, container_id))


@record
class Plugged:
    """What ``network connect`` changed in a running container besides its new interface."""

    bindings: Sequence[PortBinding] | None = None  # the ports published, when it became the gateway
    embedded_dns: bool = False  # the embedded resolver now answers in it (its first user-defined network)


def plug(
    record: ContainerRecord,
    network: NetworkRecord,
    endpoint: Endpoint,
    *,
    runroot: str,
    service: NetworkService,
) -> Plugged:
    """Plug a new endpoint into the running container's namespace (``network connect``); the caller holds :func:`lock`.

    The interface is the next ``ethN``, with its address and so the route
    to its subnet, but no default route: the container's traffic keeps its
    way out.  Only a container left with no interface at all (every
    network disconnected) takes this one as its gateway: the default
    route, and its published ports.  The first user-defined network a
    container joins starts the embedded resolver in its namespace.  On
    failure nothing of the new veth is left.
    """
    from pinnace.network import plumbing

    path = netns_path(runroot, record.id)
    index, gateway, dns_on = _load_state(runroot, record.id, service, exclude=network.id)
    takes_gateway = not gateway
    _plug(record, path, service, network, endpoint, ifname=f"eth{index}", gateway=takes_gateway)
    bindings = None
    starts_dns = not network.predefined and not dns_on
    try:
        if takes_gateway:
            bindings = _publish(record, network, endpoint)
            gateway = network.id
        if starts_dns:
            _register_dns(record, runroot, service, path)
        _save_state(runroot, record.id, index + 1, gateway, dns_on or starts_dns)
    except BaseException:
        if starts_dns:
            from pinnace.network import dns

            dns.unregister(runroot, record.id)
        plumbing.detach(plumbing.host_ifname(record.id, network.id))
        raise
    return Plugged(bindings=bindings, embedded_dns=starts_dns)


def unplug(record: ContainerRecord, endpoint: Endpoint, *, runroot: str, service: NetworkService) -> bool:
    """Unplug an endpoint from the running container (``network disconnect``); the caller holds :func:`lock`.

    Deleting the veth takes its address and routes with it.  Returns True
    when it was the gateway endpoint: its published ports are withdrawn
    too and the container is left without a default route until it
    starts again (then the first remaining network is eth0).
    """
    from pinnace.network import plumbing

    plumbing.detach(plumbing.host_ifname(record.id, endpoint.network))
    index, gateway, dns_on = _load_state(runroot, record.id, service)
    if gateway != endpoint.network:
        return False
    if record.host_config.get("PortBindings") or record.host_config.get("PublishAllPorts"):
        from pinnace.network import nat

        nat.unpublish(record.id)
    _save_state(runroot, record.id, index, "", dns_on)  # the resolver stays, as docker's
    return True


def _run_dir(runroot: str, container_id: str) -> str:
    """``<runroot>/containers/<id>``: the container's run directory (ContainerService's layout)."""
    return os.path.join(runroot, "containers", container_id)


def _save_state(runroot: str, container_id: str, next_index: int, gateway: str, dns: bool) -> None:
    from pinnace._util import jsonc
    from pinnace._util.fs import atomic_write

    path = os.path.join(_run_dir(runroot, container_id), STATE_FILE)
    state = {"next": next_index, "gateway": gateway, "dns": dns}
    atomic_write(path, jsonc.dumps(state, compact=True).encode(), durable=False)


def _load_state(
    runroot: str, container_id: str, service: NetworkService, *, exclude: str = ""
) -> tuple[int, str, bool]:
    """(index of the next ethN, the gateway endpoint's network ID or "", whether the embedded DNS
    answers) of the running container.

    Without the file (a namespace made before it existed), from the
    endpoints in order, leaving out ``exclude`` (the one being plugged).
    """
    from pinnace._util import jsonc

    try:
        with open(os.path.join(_run_dir(runroot, container_id), STATE_FILE), "rb") as f:
            state = jsonc.loads(f.read())
        return int(state["next"]), str(state["gateway"]), bool(state.get("dns"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    others = [service.get(ep.network) for ep in service.endpoints(container_id) if ep.network != exclude]
    dns = any(not network.predefined for network in others)
    return len(others), others[0].id if others else "", dns


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
    plugged: Sequence[tuple[NetworkRecord, Endpoint]],
    bindings: Sequence[PortBinding],
) -> dict[str, Any]:
    """inspect's NetworkSettings of a running container on the ``plugged`` networks (docker's shape).

    ``Networks`` is keyed by network name, sorted as Go encodes a map.
    The top-level address fields are docker's deprecated ones: those of
    the default ``bridge`` network's endpoint, empty when not on it, as
    docker does.
    """
    from pinnace.containers.views import network_settings
    from pinnace.network.ports import ports_json

    doc = network_settings()  # docker's keys, in docker's order, empty
    doc["SandboxID"] = record.id
    doc["SandboxKey"] = netns
    doc["Ports"] = ports_json(list(record.config.get("ExposedPorts") or {}), list(bindings))
    doc["Networks"] = {network.name: network_entry(network, endpoint) for network, endpoint in plugged}
    return _legacy_fields(doc)


def with_network(
    doc: Mapping[str, Any],
    record: ContainerRecord,
    network: NetworkRecord,
    endpoint: Endpoint,
    bindings: Sequence[PortBinding] | None = None,
) -> dict[str, Any]:
    """NetworkSettings ``doc`` with ``network`` added (a live connect); ``bindings``: the ports it now publishes."""
    out = dict(doc)
    out["Networks"] = {**(doc.get("Networks") or {}), network.name: network_entry(network, endpoint)}
    if bindings is not None:
        from pinnace.network.ports import ports_json

        out["Ports"] = ports_json(list(record.config.get("ExposedPorts") or {}), list(bindings))
    return _legacy_fields(out)


def without_network(
    doc: Mapping[str, Any], record: ContainerRecord, network_name: str, *, gateway: bool
) -> dict[str, Any]:
    """NetworkSettings ``doc`` without ``network_name`` (a live disconnect); ``gateway``: its ports went with it."""
    out = dict(doc)
    out["Networks"] = {k: v for k, v in (doc.get("Networks") or {}).items() if k != network_name}
    if gateway:
        from pinnace.network.ports import ports_json

        out["Ports"] = ports_json(list(record.config.get("ExposedPorts") or {}), [])
    return _legacy_fields(out)


def _legacy_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill docker's deprecated top-level address fields from the ``bridge`` entry; sort ``Networks``."""
    networks = dict(sorted((doc.get("Networks") or {}).items()))
    doc["Networks"] = networks
    bridge = networks.get("bridge") or {}
    doc["EndpointID"] = bridge.get("EndpointID", "")
    doc["Gateway"] = bridge.get("Gateway", "")
    doc["IPAddress"] = bridge.get("IPAddress", "")
    doc["IPPrefixLen"] = bridge.get("IPPrefixLen", 0)
    doc["MacAddress"] = bridge.get("MacAddress", "")
    doc["GlobalIPv6Address"] = bridge.get("GlobalIPv6Address", "")
    doc["GlobalIPv6PrefixLen"] = bridge.get("GlobalIPv6PrefixLen", 0)
    doc["IPv6Gateway"] = bridge.get("IPv6Gateway", "")
    return doc


def idle_settings(attached: Sequence[tuple[NetworkRecord, Endpoint]], *, has_run: bool) -> dict[str, Any]:
    """inspect's NetworkSettings of a container that is not running, on the ``attached`` networks.

    docker keeps listing the networks of a created or stopped container,
    each with its address fields empty (there is no endpoint until it
    runs), its aliases, and its NetworkID only once it has run.
    """
    from pinnace.containers.views import network_settings

    doc = network_settings()
    doc["Networks"] = {
        network.name: {
            **network_entry(network, endpoint),
            "MacAddress": "",
            "NetworkID": network.id if has_run else "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
        }
        for network, endpoint in attached
    }
    return _legacy_fields(doc)


def builtin_settings(
    name: str, network: NetworkRecord | None, container_id: str, *, running: bool, has_run: bool
) -> dict[str, Any]:
    """inspect's NetworkSettings of a container on docker's ``none`` or ``host`` network (``name``).

    docker gives such a container an endpoint there too (null or host
    driver), so the network is listed: with its endpoint's ID while the
    container runs, and never an address.  ``network`` is the store's
    record of it (None before the store first used networking).
    """
    from pinnace.network.records import Endpoint, NetworkRecord

    if network is None:
        network = NetworkRecord(id="", name=name, created="", driver="null" if name == "none" else name)
    endpoint = Endpoint(network=network.id, container=container_id, ip="", mac="")
    if not running:
        return idle_settings([(network, endpoint)], has_run=has_run)
    from pinnace.containers.views import network_settings

    doc = network_settings()
    doc["SandboxID"] = container_id
    doc["Networks"] = {name: network_entry(network, endpoint)}
    return _legacy_fields(doc)


def network_entry(network: NetworkRecord, endpoint: Endpoint) -> dict[str, Any]:
    """One network of NetworkSettings.Networks (docker's EndpointSettings) for a plugged endpoint."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": list(endpoint.aliases) or None,
        "MacAddress": endpoint.mac,
        "NetworkID": network.id,
        "EndpointID": endpoint.id,
        "Gateway": network.gateway,
        "IPAddress": endpoint.ip,
        "IPPrefixLen": network.prefixlen,
        "IPv6Gateway": network.gateway6 if endpoint.ip6 else "",
        "GlobalIPv6Address": endpoint.ip6,
        "GlobalIPv6PrefixLen": network.prefixlen6 if endpoint.ip6 else 0,
        "DriverOpts": None,
        "DNSNames": None,
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
    service = networks()
    with lock(runroot, record.id):
        _unplug_all(record, runroot, service)
    if release:
        service.disconnect_all(record.id)


def _unplug_all(record: ContainerRecord, runroot: str, service: NetworkService) -> None:
    """:func:`teardown` without the lock (held by the caller) and without releasing addresses.

    The namespace goes last, so without it nothing else is left to undo:
    a container that never ran, or one torn down already, costs no netlink.
    """
    path = netns_path(runroot, record.id)
    if not os.path.exists(path):
        _unlink_state(runroot, record.id)
        return
    from pinnace.network import plumbing

    if record.host_config.get("PortBindings") or record.host_config.get("PublishAllPorts"):
        from pinnace.network import nat

        nat.unpublish(record.id)
    for endpoint in service.endpoints(record.id):
        plumbing.detach(plumbing.host_ifname(record.id, endpoint.network))
    from pinnace.network import dns

    dns.unregister(runroot, record.id)  # its sockets would keep the namespace alive
    plumbing.remove_netns(path)
    _unlink_state(runroot, record.id)


def _unlink_state(runroot: str, container_id: str) -> None:
    try:
        os.unlink(os.path.join(_run_dir(runroot, container_id), STATE_FILE))
    except FileNotFoundError:
        pass


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
