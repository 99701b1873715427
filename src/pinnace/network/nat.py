"""Bridge networks' firewall and NAT: the nftables table ``ip pinnace``, through libnftables' JSON API.

Docker's rules (moby's nftables backend, ``userland-proxy=false``), in a
table of pinnace's own; nothing outside it is read or changed, and the
ruleset is never flushed.  Every change is one ``json_cmd`` batch, so the
kernel applies it whole or not at all.  Layout::

    set bridges            every pinnace bridge
    map forward_in         bridge -> jump forward-in__BRIDGE       (packets into the bridge)
    map forward_out        bridge -> jump forward-out__BRIDGE      (packets out of it)
    map postrouting_in     bridge -> jump postrouting-in__BRIDGE
    map postrouting_out    bridge -> jump postrouting-out__BRIDGE
    map published_addr / published_port              proto . port        -> container address / port
    map published_ip_addr / published_ip_port         host IP . proto . port -> same
    chain forward          (filter forward)      oifname vmap @forward_in; iifname vmap @forward_out
    chain raw-prerouting   (filter prerouting)   a bridge may not reach the host's 127.0.0.0/8
    chain prerouting       (nat prerouting)      to a local address: jump published
    chain output           (nat output)          to a local address, 127.0.0.1 too: jump published
    chain published        dnat through the published_ip_* maps, then the published_* maps
    chain postrouting      (nat postrouting)     iifname vmap @postrouting_out; oifname vmap @postrouting_in

Per bridge, four chains: into the bridge, established or related traffic,
traffic from the bridge itself (ICC) and DNATed traffic (a published port,
from anywhere) pass, the rest drops (isolation between networks, and from
outside); out of the bridge everything passes.  Leaving the host through
another interface, the subnet is masqueraded; into the bridge, traffic from
a host address (``127.0.0.1`` publishing, with ``route_localnet`` on the
bridge) and hairpin traffic (a container to a port published on its own
bridge) are masqueraded too.  An ``internal`` network drops everything
that crosses the bridge's edge and has no masquerade.

Published ports are map elements, keyed by protocol and host port (and host
IP when the binding names one), commented ``CONTAINER_ID BRIDGE``: the
kernel refuses a duplicate key (``create``), so two containers can never
both win a port, and :func:`unpublish`/:func:`remove_network`/:func:`cleanup`
remove exactly the elements of a container or a bridge.  IPv4 only.

``nftables`` (Debian's python3-nftables) is imported on use: only commands
that make or remove networks pay for it.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from pinnace.network.ports import PortBinding

TABLE = "pinnace"
_T = {"family": "ip", "table": TABLE}

BRIDGES = "bridges"
FORWARD_IN, FORWARD_OUT = "forward_in", "forward_out"
POSTROUTING_IN, POSTROUTING_OUT = "postrouting_in", "postrouting_out"
_VMAPS = (FORWARD_IN, FORWARD_OUT, POSTROUTING_IN, POSTROUTING_OUT)
#: (address map, port map) keyed proto . port, and keyed host IP . proto . port.
ANY_MAPS = ("published_addr", "published_port")
IP_MAPS = ("published_ip_addr", "published_ip_port")
_PUBLISHED_MAPS = (*ANY_MAPS, *IP_MAPS)
#: Per-bridge chain name prefixes, each followed by ``__BRIDGE``; in the order of _VMAPS.
_KINDS = ("forward-in", "forward-out", "postrouting-in", "postrouting-out")
_PROTOCOLS = ("tcp", "udp", "sctp")


@record
class Published:
    """One published port as the table holds it."""

    container_id: str
    bridge: str
    host_ip: str  # "" = every host address
    proto: str
    host_port: int
    container_ip: str
    container_port: int


class NftError(Unavailable):
    """libnftables refused a batch; ``detail`` is its error text without the location prefix."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


# --------------------------------------------------------------------------- libnftables


def _nft() -> Any:
    """A libnftables context with JSON output (the module is imported here, on use)."""
    try:
        import nftables
    except ImportError:
        raise Unavailable(
            "nftables is not available: install Debian's python3-nftables (and nftables)"
        ) from None
    try:
        nft = nftables.Nftables()
    except OSError as e:
        raise Unavailable(f"nftables is not available: {e}") from None
    nft.set_json_output(True)
    return nft


def _detail(error: str) -> str:
    lines = [line.split("Error: ", 1)[-1].strip() for line in error.splitlines() if "Error:" in line]
    return "; ".join(lines) or error.strip()


def _run(commands: list[dict[str, Any]], what: str) -> None:
    """One atomic batch; NftError (Unavailable) with libnftables' words when refused."""
    if not commands:
        return
    rc, _output, error = _nft().json_cmd({"nftables": commands})
    if rc != 0:
        detail = _detail(error)
        raise NftError(f"{what}: nftables: {detail}", detail)


def _table() -> list[dict[str, Any]] | None:
    """The objects of ``ip pinnace`` as libnftables lists them, or None when there is no such table."""
    rc, output, error = _nft().json_cmd({"nftables": [{"list": {"table": {"family": "ip", "name": TABLE}}}]})
    if rc != 0:
        if "No such file or directory" in error:
            return None
        raise NftError(f"list table ip {TABLE}: nftables: {_detail(error)}", _detail(error))
    objects: list[dict[str, Any]] = output.get("nftables", []) if isinstance(output, dict) else []
    return [o for o in objects if "metainfo" not in o]


def _edit(build: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], what: str) -> None:
    """Read the table, build a batch from what is there, apply it; none when there is no table.

    Deleting needs exact keys and names, so the batch is built from a
    listing.  Another process may delete the same thing in between (the
    kernel then refuses the whole batch with ENOENT): read again and retry.
    """
    for attempt in range(3):
        objects = _table()
        if objects is None:
            return
        try:
            _run(build(objects), what)
            return
        except NftError as e:
            if "No such file or directory" not in e.detail or attempt == 2:
                raise


# --------------------------------------------------------------------------- expressions


def _meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def _match(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


_ESTABLISHED = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
_DNATED = _match({"ct": {"key": "status"}}, "dnat", "in")
_ACCEPT: dict[str, Any] = {"accept": None}
_DROP: dict[str, Any] = {"drop": None}
_MASQUERADE: dict[str, Any] = {"masquerade": None}
_PROTO_PORT = [_meta("l4proto"), {"payload": {"protocol": "th", "field": "dport"}}]


def _dnat_through(addr_map: str, port_map: str, key: list[dict[str, Any]]) -> dict[str, Any]:
    concat = {"concat": key}
    return {
        "dnat": {
            "family": "ip",
            "addr": {"map": {"key": concat, "data": f"@{addr_map}"}},
            "port": {"map": {"key": concat, "data": f"@{port_map}"}},
        }
    }


def _rule(chain: str, *expr: dict[str, Any], comment: str = "") -> dict[str, Any]:
    rule: dict[str, Any] = {**_T, "chain": chain, "expr": list(expr)}
    if comment:
        rule["comment"] = comment
    return {"add": {"rule": rule}}


def _chain(name: str, kind: str = "", hook: str = "", prio: int = 0) -> list[dict[str, Any]]:
    """Add (idempotent) and flush a chain: its rules follow in the same batch, so a rerun rewrites them whole."""
    chain: dict[str, Any] = {**_T, "name": name}
    if kind:
        chain.update(type=kind, hook=hook, prio=prio, policy="accept")
    return [{"add": {"chain": chain}}, {"flush": {"chain": {**_T, "name": name}}}]


def _skeleton() -> list[dict[str, Any]]:
    """The table, its sets and maps, and the base chains with their rules."""
    cmds: list[dict[str, Any]] = [{"add": {"table": {"family": "ip", "name": TABLE}}}]
    cmds.append({"add": {"set": {**_T, "name": BRIDGES, "type": "ifname"}}})
    for name in _VMAPS:
        cmds.append({"add": {"map": {**_T, "name": name, "type": "ifname", "map": "verdict"}}})
    keyed_maps = (
        (["inet_proto", "inet_service"], ANY_MAPS),
        (["ipv4_addr", "inet_proto", "inet_service"], IP_MAPS),
    )
    for keyed, (addr_map, port_map) in keyed_maps:
        cmds.append({"add": {"map": {**_T, "name": addr_map, "type": keyed, "map": "ipv4_addr"}}})
        cmds.append({"add": {"map": {**_T, "name": port_map, "type": keyed, "map": "inet_service"}}})
    local_daddr = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    cmds += _chain("forward", "filter", "forward", 0)
    cmds.append(_rule("forward", {"vmap": {"key": _meta("oifname"), "data": f"@{FORWARD_IN}"}}))
    cmds.append(_rule("forward", {"vmap": {"key": _meta("iifname"), "data": f"@{FORWARD_OUT}"}}))
    cmds += _chain("raw-prerouting", "filter", "prerouting", -300)
    cmds.append(
        _rule(
            "raw-prerouting",
            _match(_meta("iifname"), f"@{BRIDGES}"),
            _match(
                {"payload": {"protocol": "ip", "field": "daddr"}}, {"prefix": {"addr": "127.0.0.0", "len": 8}}
            ),
            _DROP,
            comment="LOOPBACK FROM A BRIDGE",
        )
    )
    cmds += _chain("published")
    cmds.append(
        _rule(
            "published",
            _dnat_through(*IP_MAPS, [{"payload": {"protocol": "ip", "field": "daddr"}}, *_PROTO_PORT]),
        )
    )
    cmds.append(_rule("published", _dnat_through(*ANY_MAPS, _PROTO_PORT)))
    cmds += _chain("prerouting", "nat", "prerouting", -100)
    cmds.append(_rule("prerouting", local_daddr, {"jump": {"target": "published"}}))
    cmds += _chain("output", "nat", "output", -100)
    cmds.append(_rule("output", local_daddr, {"jump": {"target": "published"}}))
    cmds += _chain("postrouting", "nat", "postrouting", 100)
    cmds.append(_rule("postrouting", {"vmap": {"key": _meta("iifname"), "data": f"@{POSTROUTING_OUT}"}}))
    cmds.append(_rule("postrouting", {"vmap": {"key": _meta("oifname"), "data": f"@{POSTROUTING_IN}"}}))
    return cmds


def _chains_of(bridge: str) -> list[str]:
    return [f"{kind}__{bridge}" for kind in _KINDS]


def _bridge_commands(bridge: str, subnet: str, internal: bool) -> list[dict[str, Any]]:
    """The four chains of a bridge, their rules, and the elements that lead to them."""
    fwd_in, fwd_out, post_in, post_out = _chains_of(bridge)
    addr, _, length = subnet.partition("/")
    iif, oif = _meta("iifname"), _meta("oifname")
    saddr = {"payload": {"protocol": "ip", "field": "saddr"}}
    prefix = {"prefix": {"addr": addr, "len": int(length)}}
    cmds: list[dict[str, Any]] = []
    cmds += _chain(fwd_in)
    cmds.append(_rule(fwd_in, _ESTABLISHED, _ACCEPT))
    cmds += _chain(fwd_out)
    cmds.append(_rule(fwd_out, _ESTABLISHED, _ACCEPT))
    cmds += _chain(post_in)
    cmds += _chain(post_out)
    if internal:
        cmds.append(_rule(fwd_in, _match(iif, bridge, "!="), _DROP, comment="INTERNAL NETWORK INGRESS"))
        cmds.append(_rule(fwd_in, _ACCEPT, comment="ICC"))
        cmds.append(_rule(fwd_out, _match(oif, bridge, "!="), _DROP, comment="INTERNAL NETWORK EGRESS"))
    else:
        cmds.append(_rule(fwd_in, _match(iif, bridge), _ACCEPT, comment="ICC"))
        cmds.append(_rule(fwd_in, _DNATED, _ACCEPT, comment="PUBLISHED PORT"))
        cmds.append(_rule(fwd_in, _DROP, comment="UNPUBLISHED PORT DROP"))
        cmds.append(_rule(fwd_out, _ACCEPT, comment="OUTGOING"))
        cmds.append(
            _rule(
                post_out,
                _match(oif, bridge, "!="),
                _match(saddr, prefix),
                _MASQUERADE,
                comment="MASQUERADE",
            )
        )
        cmds.append(
            _rule(
                post_in,
                _match({"fib": {"result": "type", "flags": ["saddr"]}}, "local"),
                _MASQUERADE,
                comment="MASQUERADE FROM HOST",
            )
        )
        # Not ``iifname``: with br_netfilter a container's packet to a port published on its own
        # bridge is bridged back, and the postrouting hook sees no input interface.
        cmds.append(_rule(post_in, _match(saddr, prefix), _DNATED, _MASQUERADE, comment="HAIRPIN"))
    cmds.append({"add": {"element": {**_T, "name": BRIDGES, "elem": [bridge]}}})
    for vmap, chain in zip(_VMAPS, (fwd_in, fwd_out, post_in, post_out), strict=True):
        cmds.append(
            {"add": {"element": {**_T, "name": vmap, "elem": [[bridge, {"jump": {"target": chain}}]]}}}
        )
    return cmds


# --------------------------------------------------------------------------- checks and sysctls


def _check_bridge(bridge: str) -> None:
    """A Linux interface name (it names chains and goes in element comments, so no spaces)."""
    if (
        not 0 < len(bridge) <= 15
        or not bridge.isascii()
        or not bridge.isprintable()
        or any(c in bridge for c in ' /"')
    ):
        raise InvalidArgument(f"invalid bridge name {bridge!r}")


def _check_ipv4(text: str, what: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}: not an IPv4 address") from None


def _subnet(subnet: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Network(subnet, strict=False))
    except ValueError:
        raise InvalidArgument(f"invalid subnet {subnet!r}: not an IPv4 CIDR") from None


def _sysctl_on(path: str) -> None:
    """Write 1 unless it already reads 1 (a read-only /proc/sys is fine when nothing needs to change)."""
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1")
    except FileNotFoundError:
        return  # the bridge is not made yet: publish() sets it again
    except OSError as e:
        raise Unavailable(f"set {path} to 1: {e.strerror or e}") from None


def _localnet(bridge: str) -> None:
    """route_localnet on the bridge: traffic to 127.0.0.1 DNATed to a container may be routed there."""
    _sysctl_on(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet")


# --------------------------------------------------------------------------- reading the table


def _key_parts(key: Any) -> tuple[Any, str]:
    """A listed element key -> (value, comment)."""
    if isinstance(key, dict) and "elem" in key:
        return key["elem"].get("val"), key["elem"].get("comment", "") or ""
    return key, ""


def _elements(objects: Sequence[dict[str, Any]], kind: str, name: str) -> list[tuple[Any, Any, str]]:
    """(key, value, comment) of each element of set/map ``name`` (value None for a set)."""
    for obj in objects:
        body = obj.get(kind)
        if body and body.get("name") == name:
            out = []
            for elem in body.get("elem", ()):
                if kind == "map":
                    key, comment = _key_parts(elem[0])
                    out.append((key, elem[1], comment))
                else:
                    key, comment = _key_parts(elem)
                    out.append((key, None, comment))
            return out
    return []


def _chain_names(objects: Sequence[dict[str, Any]]) -> set[str]:
    return {o["chain"]["name"] for o in objects if "chain" in o}


def _proto(value: Any) -> str:
    if isinstance(value, int):
        return {6: "tcp", 17: "udp", 132: "sctp"}.get(value, str(value))
    return str(value)


def _published(objects: Sequence[dict[str, Any]]) -> list[tuple[str, Any, Published]]:
    """(address map, key, record) for every published port in the table."""
    out: list[tuple[str, Any, Published]] = []
    for addr_map, port_map in (ANY_MAPS, IP_MAPS):
        ports = {repr(k): v for k, v, _ in _elements(objects, "map", port_map)}
        for key, addr, comment in _elements(objects, "map", addr_map):
            parts = key["concat"] if isinstance(key, dict) else [key]
            host_ip = "" if addr_map == ANY_MAPS[0] else str(parts[0])
            proto, host_port = parts[-2], parts[-1]
            container_id, _, bridge = comment.partition(" ")
            rec = Published(
                container_id=container_id,
                bridge=bridge,
                host_ip=host_ip,
                proto=_proto(proto),
                host_port=int(host_port),
                container_ip=str(addr),
                container_port=int(ports.get(repr(key), 0)),
            )
            out.append((addr_map, key, rec))
    return out


def _delete_published(
    objects: Sequence[dict[str, Any]], entries: Iterable[tuple[str, Any, Published]]
) -> list[dict[str, Any]]:
    """Delete published ports from both their maps (a key missing from the port map is skipped)."""
    by_map: dict[str, list[Any]] = {}
    for addr_map, key, _rec in entries:
        by_map.setdefault(addr_map, []).append(key)
    cmds: list[dict[str, Any]] = []
    for addr_map, keys in by_map.items():
        port_map = ANY_MAPS[1] if addr_map == ANY_MAPS[0] else IP_MAPS[1]
        in_port_map = {repr(k) for k, _, _ in _elements(objects, "map", port_map)}
        cmds.append({"delete": {"element": {**_T, "name": addr_map, "elem": keys}}})
        if present := [k for k in keys if repr(k) in in_port_map]:
            cmds.append({"delete": {"element": {**_T, "name": port_map, "elem": present}}})
    return cmds


def _remove_bridge_commands(objects: Sequence[dict[str, Any]], bridge: str) -> list[dict[str, Any]]:
    """Delete a bridge's elements, published ports and chains, in an order the kernel accepts."""
    cmds: list[dict[str, Any]] = []
    for name in (BRIDGES, *_VMAPS):
        kind = "set" if name == BRIDGES else "map"
        if any(key == bridge for key, _, _ in _elements(objects, kind, name)):
            cmds.append({"delete": {"element": {**_T, "name": name, "elem": [bridge]}}})
    cmds += _delete_published(objects, (e for e in _published(objects) if e[2].bridge == bridge))
    present = _chain_names(objects)
    for chain in _chains_of(bridge):
        if chain in present:
            cmds.append({"flush": {"chain": {**_T, "name": chain}}})
            cmds.append({"delete": {"chain": {**_T, "name": chain}}})
    return cmds


def _in_place(objects: Sequence[dict[str, Any]], commands: Sequence[dict[str, Any]], bridge: str) -> bool:
    """Whether the listed table holds what ``commands`` (an ensure batch) would write: each chain
    (with its hook, priority and policy), its rules in order, and ``bridge`` in the set and the maps."""
    listed_chains = {o["chain"]["name"]: o["chain"] for o in objects if "chain" in o}
    listed_rules: dict[str, list[tuple[str, Any]]] = {}
    for o in objects:
        if "rule" in o:
            rule = o["rule"]
            listed_rules.setdefault(rule["chain"], []).append((rule.get("comment", ""), rule["expr"]))
    wanted_rules: dict[str, list[tuple[str, Any]]] = {}
    for command in commands:
        added = command.get("add", {})
        if "chain" in added:
            chain = added["chain"]
            listed = listed_chains.get(chain["name"])
            if listed is None or any(listed.get(k) != v for k, v in chain.items()):
                return False
            wanted_rules.setdefault(chain["name"], [])
        elif "rule" in added:
            rule = added["rule"]
            wanted_rules[rule["chain"]].append((rule.get("comment", ""), _as_listed(rule["expr"])))
    if any(listed_rules.get(chain, []) != rules for chain, rules in wanted_rules.items()):
        return False
    if all(key != bridge for key, _, _ in _elements(objects, "set", BRIDGES)):
        return False
    for vmap, chain in zip(_VMAPS, _chains_of(bridge), strict=True):
        jumps = [(key, value) for key, value, _ in _elements(objects, "map", vmap)]
        if (bridge, {"jump": {"target": chain}}) not in jumps:
            return False
    return True


def _as_listed(expr: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rule's expressions as libnftables lists them: a dnat in an ``ip`` table without its family."""
    out = []
    for item in expr:
        if "dnat" in item:
            item = {"dnat": {k: v for k, v in item["dnat"].items() if k != "family"}}
        out.append(item)
    return out


def _bridges_in(objects: Sequence[dict[str, Any]]) -> set[str]:
    found = {str(k) for k, _, _ in _elements(objects, "set", BRIDGES)}
    for name in _VMAPS:
        found |= {str(k) for k, _, _ in _elements(objects, "map", name)}
    for chain in _chain_names(objects):
        kind, sep, bridge = chain.partition("__")
        if sep and kind in _KINDS:
            found.add(bridge)
    return found


# --------------------------------------------------------------------------- API


def ensure_network(bridge: str, subnet: str, *, internal: bool) -> None:
    """Make (or remake, idempotently) the table and a bridge's rules; turn on IPv4 forwarding as docker does.

    Called at every container start.  When a listing of the table (~0.5 ms)
    shows every chain, rule and element the batch would write, nothing is
    written; otherwise (no table yet, a flushed ruleset, rules of another
    version or subnet) the batch rewrites the base chains and the bridge's
    chains whole (~15 ms), and leaves other bridges and published ports alone.
    """
    _check_bridge(bridge)
    net = _subnet(subnet)
    commands = _skeleton() + _bridge_commands(bridge, net, internal)
    objects = _table()
    if objects is None or not _in_place(objects, commands, bridge):
        _run(commands, f"set up the firewall of {bridge}")
    _sysctl_on("/proc/sys/net/ipv4/ip_forward")
    if not internal:
        _localnet(bridge)


def remove_network(bridge: str) -> None:
    """Remove everything of ``bridge``: its chains, its map elements and the ports published on it."""
    _check_bridge(bridge)
    _edit(lambda objects: _remove_bridge_commands(objects, bridge), f"remove the firewall of {bridge}")


def published(container_id: str = "") -> list[Published]:
    """The published ports in the table (all, or one container's)."""
    objects = _table()
    if objects is None:
        return []
    return [rec for _, _, rec in _published(objects) if not container_id or rec.container_id == container_id]


def taken_ports() -> list[tuple[str, str, int]]:
    """(proto, host IP, host port) of every published port: what :func:`pinnace.network.ports.resolve` avoids."""
    return [(p.proto, p.host_ip, p.host_port) for p in published()]


def _clash(existing: Iterable[Published], host_ip: str, proto: str, port: int) -> Published | None:
    for p in existing:
        if (
            p.proto == proto
            and p.host_port == port
            and (not p.host_ip or not host_ip or p.host_ip == host_ip)
        ):
            return p
    return None


def publish(container_id: str, bridge: str, container_ip: str, ports: Sequence[PortBinding]) -> None:
    """DNAT each binding's host port (on its host IP, or every host address) to ``container_ip``.

    The bindings must be resolved (a host port each,
    :func:`pinnace.network.ports.resolve`); all are added in one batch, or
    none: Conflict with docker's words when a port is already published
    (by this or another container).  :func:`ensure_network` must have made
    the bridge's rules.
    """
    _check_bridge(bridge)
    if (
        not 0 < len(container_id) <= 128
        or not container_id.isascii()
        or not container_id.isprintable()
        or " " in container_id
    ):
        raise InvalidArgument(f"invalid container id {container_id!r}")
    target = _check_ipv4(container_ip, "container address")
    wanted: list[Published] = []
    for b in ports:
        host_ip = "" if b.host_ip in ("", "0.0.0.0") else _check_ipv4(b.host_ip, "host address")
        if b.proto not in _PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {b.proto}")
        for value, what in ((b.host_port, "host port"), (b.container_port, "container port")):
            if not 0 < value <= 0xFFFF:
                raise InvalidArgument(f"invalid {what} {value}")
        rec = Published(container_id, bridge, host_ip, b.proto, b.host_port, target, b.container_port)
        if _clash(wanted, host_ip, b.proto, b.host_port):
            raise Conflict(f"Bind for {host_ip or '0.0.0.0'}:{b.host_port} failed: port is already allocated")
        wanted.append(rec)
    if not wanted:
        return
    objects = _table() or []
    existing = [rec for _, _, rec in _published(objects)]
    for rec in wanted:
        if _clash(existing, rec.host_ip, rec.proto, rec.host_port):
            raise Conflict(
                f"Bind for {rec.host_ip or '0.0.0.0'}:{rec.host_port} failed: port is already allocated"
            )
    cmds: list[dict[str, Any]] = []
    comment = f"{container_id} {bridge}"
    for rec in wanted:
        maps = IP_MAPS if rec.host_ip else ANY_MAPS
        key = {
            "concat": [rec.host_ip, rec.proto, rec.host_port] if rec.host_ip else [rec.proto, rec.host_port]
        }
        elem = {"elem": {"val": key, "comment": comment}}
        for name, data in zip(maps, (rec.container_ip, rec.container_port), strict=True):
            cmds.append({"create": {"element": {**_T, "name": name, "elem": [[elem, data]]}}})
    try:
        _run(cmds, f"publish the ports of {container_id[:12]}")
    except NftError as e:
        if "File exists" not in e.detail:
            raise
        # Another container won a port between our read and the batch.
        existing = published()
        for rec in wanted:
            if _clash(existing, rec.host_ip, rec.proto, rec.host_port):
                raise Conflict(
                    f"Bind for {rec.host_ip or '0.0.0.0'}:{rec.host_port} failed: port is already allocated"
                ) from None
        raise
    _localnet(bridge)


def unpublish(container_id: str) -> None:
    """Remove the container's published ports (all of them, on any bridge); none is fine."""

    def build(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _delete_published(
            objects, [e for e in _published(objects) if e[2].container_id == container_id]
        )

    _edit(build, f"unpublish the ports of {container_id[:12]}")


def cleanup(live_bridges: Iterable[str], live_containers: Iterable[str]) -> None:
    """Remove what a crash left: rules of bridges not in ``live_bridges``, ports of containers not running.

    With no live bridge at all, the whole ``ip pinnace`` table goes.
    """
    bridges, containers = set(live_bridges), set(live_containers)

    def build(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not bridges:
            return [{"delete": {"table": {"family": "ip", "name": TABLE}}}]
        gone = _bridges_in(objects) - bridges
        stale = [
            e
            for e in _published(objects)
            if e[2].bridge not in gone and (e[2].container_id not in containers or e[2].bridge not in bridges)
        ]
        cmds = _delete_published(objects, stale)
        for bridge in sorted(gone):
            cmds += _remove_bridge_commands(objects, bridge)  # with the ports published on it
        return cmds

    _edit(build, "clean up the firewall")
