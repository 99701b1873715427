"""Networks: ``network create|ls|inspect|rm|prune``, and the endpoints containers hold on them.

Networks and endpoints are records (:mod:`.records`); subnets and
addresses come from :mod:`.ipam` inside the transaction that records them.
This service makes nothing on the host: the bridge, veth pairs and NAT
rules are the plumbing's, which the engine runs after :meth:`connect` and
through the ``on_remove`` hook when a network goes.

docker's predefined networks exist in every store, as dockerd makes them
when it starts: "bridge" (the default network, on the bridge daemon.json
names, ``pinnace0`` by default), "host" and "none".  They are recorded on
first use and can never be removed.  Errors are docker's, without the
"Error response from daemon: " the CLI adds.
"""

from __future__ import annotations

import os
import time
from types import MappingProxyType

from pinnace.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    Unavailable,
)
from pinnace.network.records import PREDEFINED, Endpoint, NetworkRecord, NetworkRecords

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.meta.db import Database
    from pinnace.network.config import NetworkConfig

#: ``network ls --filter`` keys (moby's acceptedFilters for networks).
LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
#: ``network prune --filter`` keys.
PRUNE_FILTERS = ("label", "label!", "until")

#: The driver option naming a network's Linux bridge.
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
#: What the predefined networks' drivers are.
PREDEFINED_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}

_SWARM_ONLY = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
_HOST_CONFLICT = "container cannot be disconnected from host network or connected to host network"
_NONE_CONFLICT = (
    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)


def _now() -> str:
    """Created as Go's RFC3339Nano writes it: UTC, trailing zeros of the fraction dropped."""
    ns = time.time_ns()
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return f"{head}.{frac}Z" if frac else head + "Z"


def _new_id() -> str:
    return os.urandom(32).hex()


class NetworkService:
    """Networks over the database, configured by ``<root>/daemon.json``.

    ``names`` gives a container's name from its ID (``inspect``'s
    Containers, docker's "endpoint with name" errors); ``on_remove`` undoes
    what the plumbing made for a network (bridge, NAT rules) inside the
    transaction that forgets it: if it raises, the network stays.
    """

    def __init__(
        self,
        db: Database,
        root: str,
        *,
        names: Callable[[str], str] | None = None,
        on_remove: Callable[[NetworkRecord], None] | None = None,
    ) -> None:
        self.db = db
        self.root = root
        self.records = NetworkRecords(db)
        self.names = names
        self.on_remove = on_remove
        self._config: NetworkConfig | None = None

    @property
    def config(self) -> NetworkConfig:
        """daemon.json's networking settings (read once)."""
        if self._config is None:
            from pinnace.network.config import load

            self._config = load(self.root)
        return self._config

    def mtu(self, rec: NetworkRecord) -> int:
        """The MTU of the network's interfaces: its ``-o com.docker.network.driver.mtu``, else daemon.json's."""
        value = rec.options.get(MTU_OPTION)
        return int(value) if value else self.config.mtu

    # -- predefined networks
    def _ensure_predefined(self) -> None:
        """Record docker's predefined networks if this store lacks them (first use of networking)."""
        wanted = ["host", "none"]
        if self.config.default_bridge_enabled:
            wanted.append("bridge")
        if len(self.records.names(wanted)) == len(wanted):
            return
        config = self.config
        routes = []
        if "bridge" in wanted and not config.bip:
            from pinnace.network import ipam

            routes = ipam.host_routes(4, exclude_device=config.bridge)

        def build(existing: list[NetworkRecord]) -> list[NetworkRecord]:
            have = {rec.name for rec in existing}
            out = [
                NetworkRecord(id=_new_id(), name=name, created=_now(), driver=PREDEFINED_DRIVERS[name])
                for name in ("host", "none")
                if name not in have
            ]
            if "bridge" in wanted and "bridge" not in have:
                out.append(self._default_bridge(existing, routes))
            return out

        self.records.create(build)

    def _default_bridge(self, existing: Sequence[NetworkRecord], routes: Sequence[Any]) -> NetworkRecord:
        """The "bridge" network as daemon.json describes it (docker's docker0)."""
        from pinnace.network import ipam

        config = self.config
        if config.bip:
            import ipaddress

            iface = ipaddress.ip_interface(config.bip)
            subnet, gateway = iface.network, str(iface.ip)
        else:
            taken = [ipam.network(rec.subnet) for rec in existing if rec.subnet]
            found = ipam.allocate_subnet(config.pools, taken, routes)
            if found is None:
                raise Unavailable(ipam.NO_POOL.format(v=4))
            subnet, gateway = found, ipam.default_gateway(found)
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            BRIDGE_NAME_OPTION: config.bridge,
            MTU_OPTION: str(config.mtu),
        }
        return NetworkRecord(
            id=_new_id(),
            name="bridge",
            created=_now(),
            driver="bridge",
            subnet=str(subnet),
            gateway=gateway,
            ip_range=config.fixed_cidr,
            bridge=config.bridge,
            options=MappingProxyType(options),
        )

    def default(self) -> NetworkRecord:
        """The default network "bridge" (made on first use); NotFound with daemon.json's ``"bridge": "none"``."""
        self._ensure_predefined()
        rec = self.records.by_name("bridge")
        if rec is None:
            raise NotFound("network bridge not found")
        return rec

    # -- create / read
    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        ipv6: bool = False,
        subnet6: str = "",
        gateway6: str = "",
    ) -> NetworkRecord:
        """``network create``: a new bridge network, with docker's checks and errors (and its "create" event).

        Without ``subnet``, the first subnet of daemon.json's
        ``default-address-pools`` that overlaps no other network and no host
        route; with ``ipv6`` and no ``subnet6``, a /64 of a unique-local
        prefix.  The gateway defaults to the subnet's first address, the
        bridge to ``br-`` and the ID's first 12 digits (``-o
        com.docker.network.bridge.name`` names it).
        """
        from pinnace.network import ipam
        from pinnace.network.config import IFNAME_MAX

        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network ")
        errors: list[str] = []
        if (gateway or ip_range) and not subnet:
            raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
        if gateway6 and not subnet6:
            raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
        if subnet:
            errors += ipam.validate(subnet, ip_range, gateway)
            if not errors and ipam.network(subnet).version != 4:
                errors.append(f"invalid subnet {subnet}: an IPv4 subnet is expected")
        if subnet6:  # docker skips this without ipv6, then fails later on a bad one: here, now
            errors += ipam.validate(subnet6, "", gateway6)
            if not errors and ipam.network(subnet6).version != 6:
                errors.append(f"invalid subnet {subnet6}: an IPv6 subnet is expected")
        if errors:
            raise InvalidArgument("invalid network config:\n" + ipam.join_errors(errors))
        if not name.strip():
            raise InvalidArgument(f"invalid name: {name}")
        driver = driver or "bridge"
        _check_driver(driver)
        options = dict(options or {})
        network_id = _new_id()
        bridge = options.get(BRIDGE_NAME_OPTION) or "br-" + network_id[:12]
        if len(bridge) > IFNAME_MAX or "/" in bridge or any(c.isspace() for c in bridge):
            raise InvalidArgument(
                f"invalid bridge name {bridge}: an interface name has at most {IFNAME_MAX} characters, no '/' or space"
            )
        if MTU_OPTION in options:
            value = options[MTU_OPTION]
            if not (value.isascii() and value.isdigit() and 68 <= int(value) <= 65535):
                raise InvalidArgument(f"invalid MTU number: {value}")
        self._ensure_predefined()
        routes = [] if subnet else ipam.host_routes(4, exclude_device=bridge)
        routes6 = [] if (subnet6 or not ipv6) else ipam.host_routes(6, exclude_device=bridge)

        def build(existing: list[NetworkRecord]) -> list[NetworkRecord]:
            for other in existing:
                if other.name == name:
                    raise Conflict(f"network with name {name} already exists")
            for other in existing:
                if other.bridge == bridge:
                    raise Conflict(
                        f"cannot create network {network_id} ({bridge}): conflicts with network "
                        f"{other.id} ({bridge}): networks have same bridge name"
                    )
            v4, gw = self._subnet(subnet, gateway, [r.subnet for r in existing if r.subnet], routes, 4)
            v6 = gw6 = ""
            if ipv6 or subnet6:
                taken6 = [r.subnet6 for r in existing if r.subnet6]
                v6, gw6 = self._subnet(subnet6, gateway6, taken6, routes6, 6)
            rec = NetworkRecord(
                id=network_id,
                name=name,
                created=_now(),
                driver=driver,
                subnet=v4,
                gateway=gw,
                ip_range=str(ipam.network(ip_range)) if ip_range else "",
                internal=internal,
                bridge=bridge,
                labels=MappingProxyType(dict(labels or {})),
                options=MappingProxyType(options),
                ipv6=ipv6,
                subnet6=v6,
                gateway6=gw6,
            )
            return [rec]

        [rec] = self.records.create(build)
        self.event(rec, "create")
        return rec

    def _subnet(
        self, subnet: str, gateway: str, taken: Iterable[str], routes: Sequence[Any], version: int
    ) -> tuple[str, str]:
        """(subnet, gateway) for a new network: the user's, checked against other networks, or allocated."""
        from pinnace.network import ipam

        others = [ipam.network(t) for t in taken]
        if subnet:
            net = ipam.network(subnet)
            if ipam.overlapping(net, others):
                raise Conflict(ipam.POOL_OVERLAP)
        elif version == 4:
            found = ipam.allocate_subnet(self.config.pools, others, routes)
            if found is None:
                raise Unavailable(ipam.NO_POOL.format(v=4))
            net = found
        else:
            found = ipam.allocate_subnet6(ipam.ula_base(_machine_id(self.root)), others, routes)
            if found is None:
                raise Unavailable(ipam.NO_POOL.format(v=6))
            net = found
        if gateway:
            refused = ipam.check_gateway(net, gateway)
            if refused:
                raise Conflict(refused)
            return str(net), ipam.address(gateway)
        return str(net), ipam.default_gateway(net)

    def builtin(self, name: str) -> NetworkRecord:
        """docker's predefined ``host`` or ``none`` network, recorded first if this store lacks it.

        Unlike :meth:`_ensure_predefined` it leaves the default bridge
        alone: choosing its subnet reads the host's routes through netlink,
        which a container without a network must not pay for.
        """
        found = self.records.by_name(name)
        if found is not None:
            return found

        def build(existing: list[NetworkRecord]) -> list[NetworkRecord]:
            if any(rec.name == name for rec in existing):
                return []
            return [NetworkRecord(id=_new_id(), name=name, created=_now(), driver=PREDEFINED_DRIVERS[name])]

        self.records.create(build)
        return self.records.find(name)

    def get(self, ref: str) -> NetworkRecord:
        """The network ``ref`` names: its ID, its name or a unique ID prefix (docker's FindNetwork)."""
        self._ensure_predefined()
        return self.records.find(ref)

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[NetworkRecord]:
        """``network ls``: every network matching ``filters``, by name (docker's network filters)."""
        filters = filters or {}
        for key in filters:
            if key not in LIST_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        dangling = None
        if filters.get("dangling"):
            values = filters["dangling"]
            if len(values) > 1:
                raise InvalidArgument('got more than one value for filter key "dangling"')
            if values[0] not in ("0", "false", "1", "true"):
                raise InvalidArgument(
                    'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")'
                )
            dangling = values[0] in ("1", "true")
        types = filters.get("type") or ()
        for value in types:
            if value not in ("builtin", "custom"):
                raise InvalidArgument(f"invalid filter: 'type'='{value}'")
        self._ensure_predefined()
        counts = self.records.endpoint_counts() if dangling is not None else {}
        out = []
        for rec in self.records.all():
            if filters.get("driver") and rec.driver not in filters["driver"]:
                continue
            if filters.get("name") and not _match(filters["name"], rec.name):
                continue
            if filters.get("id") and not _match(filters["id"], rec.id):
                continue
            if filters.get("label") and not _match_labels(filters["label"], rec.labels):
                continue
            if filters.get("scope") and "local" not in filters["scope"]:
                continue
            if dangling is not None and (not rec.predefined and not counts.get(rec.id)) != dangling:
                continue
            if types and ("builtin" if rec.predefined else "custom") not in types:
                continue
            out.append(rec)
        return out

    def inspect(self, rec: NetworkRecord, names: Callable[[str], str] | None = None) -> dict[str, Any]:
        """``network inspect``'s document (docker's network.Inspect), maps in key order as Go encodes them."""
        names = names or self.names
        ipam_config: list[dict[str, str]] = []
        if rec.subnet:
            entry = {"Subnet": rec.subnet}
            if rec.ip_range:
                entry["IPRange"] = rec.ip_range
            if rec.gateway:
                entry["Gateway"] = rec.gateway
            ipam_config.append(entry)
        if rec.subnet6:
            entry = {"Subnet": rec.subnet6}
            if rec.gateway6:
                entry["Gateway"] = rec.gateway6
            ipam_config.append(entry)
        containers: dict[str, dict[str, str]] = {}
        for ep in self.records.endpoints(rec.id):
            containers[ep.container] = {
                "Name": names(ep.container) if names is not None else "",
                "EndpointID": ep.id,
                "MacAddress": ep.mac,
                "IPv4Address": f"{ep.ip}/{rec.prefixlen}" if ep.ip else "",
                "IPv6Address": f"{ep.ip6}/{rec.prefixlen6}" if ep.ip6 else "",
            }
        return {
            "Name": rec.name,
            "Id": rec.id,
            "Created": rec.created,
            "Scope": "local",
            "Driver": rec.driver,
            "EnableIPv4": True,
            "EnableIPv6": rec.ipv6,
            "IPAM": {
                "Driver": "default",
                # docker's CLI sends an empty map for the networks it creates; the daemon's own have none.
                "Options": None if rec.predefined else {},
                "Config": ipam_config,
            },
            "Internal": rec.internal,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": dict(sorted(rec.options.items())),
            "Labels": dict(sorted(rec.labels.items())),
        }

    # -- remove
    def remove(self, ref: str) -> NetworkRecord:
        """``network rm``: refused for the predefined networks and while containers are connected."""
        rec = self.get(ref)
        if rec.predefined:
            raise Conflict(f"{rec.name} is a pre-defined network and cannot be removed")
        rec = self.records.delete(rec.id, self._discard)
        self.event(rec, "destroy")
        return rec

    def _discard(self, rec: NetworkRecord) -> None:
        if self.on_remove is not None:
            self.on_remove(rec)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[str]:
        """``network prune``: remove the custom networks no container is connected to; their names."""
        filters = filters or {}
        for key in filters:
            if key not in PRUNE_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        from pinnace._util.gotime import until_filter

        until = until_filter(filters)
        self._ensure_predefined()
        counts = self.records.endpoint_counts()
        removed: list[str] = []
        for rec in self.records.all():
            if rec.predefined or counts.get(rec.id):
                continue
            if until is not None and _created_ns(rec.created) > until:
                continue
            if filters.get("label") and not _match_labels(filters["label"], rec.labels):
                continue
            if filters.get("label!") and _match_labels(filters["label!"], rec.labels):
                continue
            try:
                self.records.delete(rec.id, self._discard)
            except (NotFound, Conflict):  # removed, or connected to, since we looked
                continue
            self.event(rec, "destroy")
            removed.append(rec.name)
        from pinnace.events import append_event

        append_event(self.db, "network", "prune", "", {"reclaimed": "0"})
        return removed

    # -- endpoints
    def connect(
        self,
        network_ref: str,
        container_id: str,
        *,
        ip: str = "",
        aliases: Sequence[str] = (),
        mac: str = "",
    ) -> Endpoint:
        """Give the container an endpoint on the network: an address (``ip`` or the lowest free), a MAC, aliases.

        One transaction: the address is checked free and taken at once.
        Logs docker's "connect" event.
        """
        rec = self.get(network_ref)
        build = self._endpoint_builder(rec, container_id, ip, aliases, mac)
        rec, ep = self.records.add_endpoint(rec.id, container_id, build)
        self.event(rec, "connect", {"container": container_id})
        return ep

    def connect_in(
        self,
        conn: sqlite3.Connection,
        network_ref: str,
        container_id: str,
        *,
        ip: str = "",
        aliases: Sequence[str] = (),
        mac: str = "",
    ) -> tuple[NetworkRecord, Endpoint]:
        """:meth:`connect` inside the caller's transaction (a container's create); no event.

        The caller logs ``event(rec, "connect", {"container": id})`` after it commits.
        Nothing here opens a transaction of its own, so the predefined networks
        are not made on the way: resolve ``network_ref`` with :meth:`get` or
        :meth:`default` before the caller's transaction begins.
        """
        rec = self.records.find(network_ref)
        build = self._endpoint_builder(rec, container_id, ip, aliases, mac)
        return self.records.add_endpoint_in(conn, rec.id, container_id, build)

    def _endpoint_builder(
        self, rec: NetworkRecord, container_id: str, ip: str, aliases: Sequence[str], mac: str
    ) -> Callable[[NetworkRecord, builtins.list[Endpoint]], Endpoint]:
        """docker's endpoint checks, then the function that picks the address inside the transaction."""
        from pinnace.network import ipam

        if rec.driver == "host":
            raise Conflict(_HOST_CONFLICT)
        if rec.driver == "null":
            raise Conflict(_NONE_CONFLICT)
        errors: list[str] = []
        if rec.predefined:
            if ip:
                errors.append("user specified IP address is supported on user defined networks only")
            if aliases:
                errors.append(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
        elif ip:
            invalid = ipam.check_static_address(ip)
            if invalid:
                errors.append(invalid)
            if invalid or not ipam.contains(rec.subnet, ip):
                errors.append(f"no configured subnet or ip-range contain the IP address {ip}")
        if mac:
            try:
                mac = ipam.check_mac(mac)
            except ValueError as e:
                raise InvalidArgument(str(e)) from None
        if errors:
            raise InvalidArgument("invalid endpoint settings:\n" + ipam.join_errors(errors))
        unique_aliases = tuple(dict.fromkeys(a for a in aliases if a))

        def build(current: NetworkRecord, others: list[Endpoint]) -> Endpoint:
            if any(ep.container == container_id for ep in others):
                name = self.names(container_id) if self.names is not None else container_id
                raise Conflict(f"endpoint with name {name} already exists in network {current.name}")
            subnet = ipam.network(current.subnet)
            used = [ep.ip for ep in others]
            if ip:
                address = ipam.request_address(subnet, current.gateway, used, ip)
            else:
                found = ipam.allocate_address(subnet, current.gateway, used, current.ip_range)
                if found is None:
                    raise Unavailable(
                        f"no available IPv4 addresses on this network's address pools: {current.name} ({current.id})"
                    )
                address = found
            address6 = ""
            if current.ipv6 and current.subnet6:
                subnet6 = ipam.network(current.subnet6)
                found6 = ipam.allocate_address(subnet6, current.gateway6, [ep.ip6 for ep in others])
                if found6 is None:
                    raise Unavailable(
                        f"no available IPv6 addresses on this network's address pools: {current.name} ({current.id})"
                    )
                address6 = found6
            return Endpoint(
                network=current.id,
                container=container_id,
                ip=address,
                mac=mac or ipam.mac_address(address),
                aliases=unique_aliases,
                ip6=address6,
            )

        return build

    def disconnect(self, network_ref: str, container_id: str) -> Endpoint:
        """Release the container's endpoint (its address is free again); logs docker's "disconnect" event."""
        rec = self.get(network_ref)
        ep = self.records.remove_endpoint(rec.id, container_id)
        if ep is None:
            raise NotFound(f"container {container_id} is not connected to network {rec.name}")
        self.event(rec, "disconnect", {"container": container_id})
        return ep

    def disconnect_all(self, container_id: str) -> builtins.list[Endpoint]:
        """Release every endpoint of the container (its removal), with a "disconnect" event for each."""
        released = self.records.remove_endpoints(container_id)
        for ep in released:
            rec = self.records.by_id(ep.network)
            if rec is not None:
                self.event(rec, "disconnect", {"container": container_id})
        return released

    def endpoints(self, container_id: str) -> builtins.list[Endpoint]:
        """The container's endpoints, in the order it was connected."""
        return self.records.endpoints_of(container_id)

    def endpoint_of(self, network_id: str, container_id: str) -> Endpoint | None:
        """The container's endpoint on network ``network_id`` (an ID), or None."""
        return self.records.endpoint(network_id, container_id)

    def event(self, rec: NetworkRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        """Log a network event with docker's attributes (``extra``, then ``name`` and ``type``)."""
        from pinnace.events import append_event

        append_event(
            self.db, "network", action, rec.id, {**(extra or {}), "name": rec.name, "type": rec.driver}
        )


def _check_driver(driver: str) -> None:
    """docker's refusals of a driver other than bridge."""
    if driver == "bridge":
        return
    if driver in ("host", "null"):
        raise Conflict(f'only one instance of "{driver}" network is allowed')
    if driver == "overlay":
        raise FailedPrecondition(_SWARM_ONLY)
    if driver in ("macvlan", "ipvlan"):
        raise NotImplementedYet(f"network driver {driver} is not supported by pinnace yet")
    raise NotFound(f'plugin "{driver}" not found')


def _match(values: Sequence[str], source: str) -> bool:
    """moby filters.Args.Match: equal to a value, or matched by it as an (unanchored) regular expression."""
    if source in values:
        return True
    import re

    for value in values:
        try:
            if re.search(value, source):
                return True
        except re.error:
            continue
    return False


def _match_labels(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    """moby's MatchKVList: every ``key`` or ``key=value`` holds (never with no labels)."""
    from pinnace.events import match_kv_list

    return match_kv_list(wanted, labels)


def _created_ns(created: str) -> int:
    from pinnace._util.gotime import get_timestamp, parse_timestamps

    return parse_timestamps(get_timestamp(created))


def _machine_id(root: str) -> bytes:
    """What makes this host's IPv6 unique-local prefix: /etc/machine-id, else the store's path."""
    try:
        with open("/etc/machine-id", "rb") as f:
            value = f.read().strip()
    except OSError:
        value = b""
    return value or os.path.abspath(root).encode()
