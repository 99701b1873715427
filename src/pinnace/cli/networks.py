"""Network commands: network create, ls, inspect, rm, prune.

Each parses docker's flags, calls the NetworkService (``ctx.engine.networks``)
and prints what docker's CLI prints: the daemon's refusals as ``Error
response from daemon: ...`` lines on stderr with exit 1, the checks docker's
CLI makes itself (``network create``'s subnet, range and gateway matching)
as their plain message with exit 1, and flag mistakes as usage errors (exit 125).
"""

from __future__ import annotations

from pinnace.cli.flags import Flags, UsageError
from pinnace.cli.volumes import VolumeRow, natural_key, parse_filters
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.network.records import NetworkRecord
    from pinnace.network.service import NetworkService

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
#: docker's network formatter headers.
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}

PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


# --------------------------------------------------------------------------- helpers


def _daemon_error(ctx: Context, error: PinnaceError) -> int:
    ctx.stdout.flush()
    ctx.stderr.write(f"Error response from daemon: {error}\n")
    return 1


def _cli_error(ctx: Context, message: str) -> int:
    """An error docker's CLI raises itself: its message alone, exit 1."""
    ctx.stdout.flush()
    ctx.stderr.write(message + "\n")
    return 1


def go_time(created: str) -> str:
    """An RFC 3339 UTC time as Go's ``time.Time.String`` prints it (``.CreatedAt``)."""
    text = created.rstrip("Z").replace("T", " ", 1)
    return f"{text} +0000 UTC"


def network_row(rec: NetworkRecord, *, trunc: bool = True) -> dict[str, str]:
    """The fields of docker's network formatter for one network, as strings.

    Docker joins ``.Labels`` in its map's random order; here they are sorted.
    """
    return {
        "CreatedAt": go_time(rec.created),
        "Driver": rec.driver,
        "ID": rec.id[:12] if trunc else rec.id,
        "IPv4": "true",
        "IPv6": "true" if rec.ipv6 else "false",
        "Internal": "true" if rec.internal else "false",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(rec.labels.items())),
        "Name": rec.name,
        "Scope": "local",
    }


def _rows(recs: Sequence[NetworkRecord], fmt: str, trunc: bool) -> list[Any]:
    """Rows for :func:`pinnace.cli.format.render`: plain dicts unless ``fmt`` calls ``.Label``."""
    rows = [network_row(r, trunc=trunc) for r in recs]
    if ".Label" in fmt.replace(".Labels", ""):
        return [VolumeRow(row, rec.labels) for row, rec in zip(rows, recs, strict=True)]
    return rows


def _csv(values: Sequence[str]) -> list[str]:
    """pflag's slice flags: each value is a comma-separated list, repeats add up."""
    return [item.strip() for text in values for item in text.split(",") if item.strip()]


# --------------------------------------------------------------------------- create


def create(ctx: Context, argv: list[str]) -> int:
    p = Flags("network create", "Create a network", "[OPTIONS] NETWORK")
    p.add_bool("attachable", help="Enable manual container attachment")
    p.add_list("aux-address", help="Auxiliary IPv4 or IPv6 addresses used by Network driver", metavar="map")
    p.add_string("config-from", help="The network from which to copy the configuration")
    p.add_bool("config-only", help="Create a configuration only network")
    p.add_string("driver", "d", default="bridge", help="Driver to manage the Network")
    p.add_list("gateway", help="IPv4 or IPv6 Gateway for the master subnet", metavar="ipSlice")
    p.add_bool("ingress", help="Create swarm routing-mesh network")
    p.add_bool("internal", help="Restrict external access to the network")
    p.add_list("ip-range", help="Allocate container ip from a sub-range", metavar="ipNetSlice")
    p.add_string("ipam-driver", default="default", help="IP Address Management Driver")
    p.add_list("ipam-opt", help="Set IPAM driver specific options", metavar="map")
    p.add_bool("ipv4", default=True, help="Enable or disable IPv4 address assignment")
    p.add_bool("ipv6", help="Enable or disable IPv6 address assignment")
    p.add_list("label", help="Set metadata on a network")
    p.add_list("opt", "o", help="Set driver specific options", metavar="map")
    p.add_string("scope", help="Control the network's scope")
    p.add_list("subnet", help="Subnet in CIDR format that represents a network segment", metavar="strings")
    ns = p.parse(argv, min_args=1, max_args=1)
    name = ns.args[0]
    import ipaddress

    ranges = []
    for text in ns.values("ip_range"):
        for item in _csv([text]):
            try:
                ranges.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise UsageError(
                    f'invalid argument "{text}" for "--ip-range" flag: invalid string being converted to CIDR: {item}',
                    "network create",
                ) from None
    gateways = []
    for text in ns.values("gateway"):
        for item in _csv([text]):
            try:
                gateways.append(ipaddress.ip_address(item))
            except ValueError:
                raise UsageError(
                    f'invalid argument "{text}" for "--gateway" flag: invalid string being converted to IP address: {item}',
                    "network create",
                ) from None
    from pinnace.containers.options import parse_label

    labels: dict[str, str] = {}
    for text in ns.values("label"):
        try:
            key, value = parse_label(text)
        except InvalidArgument as e:
            raise UsageError(f'invalid argument "{text}" for "--label" flag: {e}', "network create") from None
        labels[key] = value
    options: dict[str, str] = {}
    for text in ns.values("opt"):
        key, _, value = text.partition("=")
        options[key] = value

    unsupported = [
        flag
        for flag, given in (
            ("--aux-address", bool(ns.values("aux_address"))),
            ("--ipam-opt", bool(ns.values("ipam_opt"))),
            ("--config-from", bool(ns.value("config_from"))),
            ("--config-only", ns.flag("config_only")),
            ("--ingress", ns.flag("ingress")),
            ("--ipv4=false", not ns.flag("ipv4")),
            ("--scope", (ns.value("scope") or "local") != "local"),
        )
        if given
    ]
    if unsupported:
        return _cli_error(ctx, f"pinnace does not support {', '.join(unsupported)} yet")
    ipam_driver = ns.value("ipam_driver") or "default"
    if ipam_driver != "default":
        return _cli_error(ctx, f'Error response from daemon: plugin "{ipam_driver}" not found')

    try:
        config = _ipam_config(_csv(ns.values("subnet")), ranges, gateways)
    except InvalidArgument as e:
        return _cli_error(ctx, str(e))
    v4 = [c for c in config if ":" not in c[0]]
    v6 = [c for c in config if ":" in c[0]]
    if len(v4) > 1 or len(v6) > 1:
        return _cli_error(ctx, "pinnace supports one IPv4 and one IPv6 subnet per network")
    subnet, ip_range, gateway = v4[0] if v4 else ("", "", "")
    subnet6, _, gateway6 = v6[0] if v6 else ("", "", "")
    try:
        rec = ctx.engine.networks.create(
            name,
            driver=ns.value("driver") or "",
            subnet=subnet,
            gateway=gateway,
            ip_range=ip_range,
            internal=ns.flag("internal"),
            labels=labels,
            options=options,
            ipv6=ns.flag("ipv6"),
            subnet6=subnet6,
            gateway6=gateway6,
        )
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    ctx.stdout.write(rec.id + "\n")
    return 0


def _ipam_config(
    subnets: Sequence[str], ranges: Sequence[Any], gateways: Sequence[Any]
) -> list[tuple[str, str, str]]:
    """docker's createIPAMConfig: each subnet with the ip-range and gateway inside it, checked as docker's CLI checks.

    Subnets docker's CLI cannot parse pass through, for the daemon's error.
    """
    import ipaddress

    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    parsed: dict[str, Any] = {}
    for s in subnets:
        try:
            parsed[s] = ipaddress.ip_network(s, strict=False)
        except ValueError:
            parsed[s] = None
    order = list(dict.fromkeys(subnets))
    for i, a in enumerate(order):
        for b in order[:i]:
            na, nb = parsed[a], parsed[b]
            if na is not None and nb is not None and na.version == nb.version and na.overlaps(nb):
                raise InvalidArgument("multiple overlapping subnet configuration is not supported")
    chosen_range: dict[str, str] = {}
    for r in ranges:
        match = False
        for s in order:
            net = parsed[s]
            if net is None or net.version != r.version or r.network_address not in net:
                continue
            if s in chosen_range:
                raise InvalidArgument(
                    f"cannot configure multiple ranges ({r}, {chosen_range[s]}) on the same subnet ({s})"
                )
            chosen_range[s] = str(r)
            match = True
        if not match:
            raise InvalidArgument(f"no matching subnet for range {r}")
    chosen_gateway: dict[str, str] = {}
    for g in gateways:
        match = False
        for s in order:
            net = parsed[s]
            if net is None or net.version != g.version or g not in net:
                continue
            if s in chosen_gateway:
                raise InvalidArgument(
                    f"cannot configure multiple gateways ({g}, {chosen_gateway[s]}) for the same subnet ({s})"
                )
            chosen_gateway[s] = str(g)
            match = True
        if not match:
            raise InvalidArgument(f"no matching subnet for gateway {g}")
    return [(s, chosen_range.get(s, ""), chosen_gateway.get(s, "")) for s in order]


# --------------------------------------------------------------------------- ls


def ls(ctx: Context, argv: list[str]) -> int:
    p = Flags("network ls", "List networks", "[OPTIONS]")
    p.add_list("filter", "f", help='Provide filter values (e.g. "driver=bridge")', metavar="filter")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("no-trunc", help="Do not truncate the output")
    p.add_bool("quiet", "q", help="Only display network IDs")
    ns = p.parse(argv, max_args=0)
    filters = parse_filters(ns.values("filter"), "-f, --filter", "network ls")
    try:
        recs = ctx.engine.networks.list(filters)
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    recs.sort(key=lambda r: natural_key(r.name))
    fmt = ns.value("format") or "table"
    quiet = ns.flag("quiet")
    trunc = not ns.flag("no_trunc")
    if fmt == "table" and quiet:
        ctx.stdout.write("".join((r.id[:12] if trunc else r.id) + "\n" for r in recs))
        return 0
    if fmt == "raw":
        fmt = (
            "network_id: {{.ID}}"
            if quiet
            else "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"
        )
    from pinnace.cli.format import render

    ctx.stdout.write(render(_rows(recs, fmt, trunc), fmt, default_table=LS_TABLE, headers=LS_HEADERS))
    return 0


# --------------------------------------------------------------------------- inspect


def inspect_document(service: NetworkService, ref: str) -> dict[str, Any]:
    """``network inspect``'s object for ``ref``."""
    return service.inspect(service.get(ref))


def inspect(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "network inspect",
        "Display detailed information on one or more networks",
        "[OPTIONS] NETWORK [NETWORK...]",
    )
    p.add_string("format", "f", help="Format output using a custom template")
    p.add_bool("verbose", "v", help="Verbose output for diagnostics")
    ns = p.parse(argv, min_args=1)
    from pinnace.cli.format import write_inspected

    service = ctx.engine.networks
    return write_inspected(ctx, ns.args, ns.value("format") or "", lambda ref: inspect_document(service, ref))


# --------------------------------------------------------------------------- rm


def rm(ctx: Context, argv: list[str]) -> int:
    p = Flags("network rm", "Remove one or more networks", "NETWORK [NETWORK...]")
    p.add_bool("force", "f", help="Do not error if the network does not exist")
    ns = p.parse(argv, min_args=1)
    from pinnace.errors import NotFound

    service = ctx.engine.networks
    status = 0
    for ref in ns.args:
        try:
            service.remove(ref)
        except NotFound as e:
            if ns.flag("force"):
                continue
            status = _daemon_error(ctx, e)
            continue
        except PinnaceError as e:
            status = _daemon_error(ctx, e)
            continue
        ctx.stdout.write(ref + "\n")
    return status


# --------------------------------------------------------------------------- prune


def prune(ctx: Context, argv: list[str]) -> int:
    p = Flags("network prune", "Remove all unused networks", "[OPTIONS]")
    p.add_list("filter", help='Provide filter values (e.g. "until=<timestamp>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    ns = p.parse(argv, max_args=0)
    filters = parse_filters(ns.values("filter"), "--filter", "network prune")
    from pinnace.cli.images import confirm

    if not ns.flag("force") and not confirm(ctx, PRUNE_WARNING):
        return 0
    try:
        deleted = prune_networks(ctx, filters)
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    ctx.stdout.write(prune_output(deleted))
    return 0


def prune_networks(ctx: Context, filters: Mapping[str, Sequence[str]]) -> list[str]:
    """The unused custom networks removed (``network prune``, ``system prune``): locally what crashes
    left (ports, veths, namespaces) is swept first, as the service does itself behind the API."""
    ctx.engine.containers.sweep_networks()
    return list(ctx.engine.networks.prune(filters))


def prune_output(deleted: Sequence[str]) -> str:
    """``network prune``'s report (and ``system prune``'s network part): "" when nothing went."""
    if not deleted:
        return ""
    return "Deleted Networks:\n" + "".join(name + "\n" for name in deleted) + "\n"


# --------------------------------------------------------------------------- connect / disconnect


def connect(ctx: Context, argv: list[str]) -> int:
    p = Flags("network connect", "Connect a container to a network", "[OPTIONS] NETWORK CONTAINER")
    p.add_list("alias", help="Add network-scoped alias for the container", metavar="strings")
    p.add_list("driver-opt", help="driver options for the network", metavar="strings")
    p.add_string("ip", help='IPv4 address (e.g., "172.30.100.104")')
    p.add_string("ip6", help='IPv6 address (e.g., "2001:db8::33")')
    p.add_list("link", help="Add link to another container", metavar="list")
    p.add_list("link-local-ip", help="Add a link-local address for the container", metavar="strings")
    ns = p.parse(argv, min_args=2, max_args=2)
    network, container = ns.args
    unsupported = [
        flag
        for flag, given in (
            ("--driver-opt", bool(ns.values("driver_opt"))),
            ("--ip6", bool(ns.value("ip6"))),
            ("--link", bool(ns.values("link"))),
            ("--link-local-ip", bool(ns.values("link_local_ip"))),
        )
        if given
    ]
    if unsupported:
        return _cli_error(ctx, f"pinnace does not support {', '.join(unsupported)} yet")
    try:
        ctx.engine.containers.connect_network(
            network, container, ip=ns.value("ip") or "", aliases=_csv(ns.values("alias"))
        )
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    return 0


def disconnect(ctx: Context, argv: list[str]) -> int:
    p = Flags("network disconnect", "Disconnect a container from a network", "[OPTIONS] NETWORK CONTAINER")
    p.add_bool("force", "f", help="Force the container to disconnect from a network")
    ns = p.parse(argv, min_args=2, max_args=2)
    network, container = ns.args
    try:
        ctx.engine.containers.disconnect_network(network, container, force=ns.flag("force"))
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    return 0
