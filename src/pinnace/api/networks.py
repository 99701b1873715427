"""Networks (create, list, inspect, remove, prune, connect, disconnect), /system/df, /events and /auth.

Each handler reads docker's request, calls the same engine functions as the daemonless CLI
(``engine.networks``, ``engine.containers.connect_network``, the disk usage of every store, the event
log, the registry client) and answers with dockerd's documents, status codes and messages.
"""

from __future__ import annotations

import json
import time

from pinnace.api.server import call, json_response, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine
    from pinnace.events import Event

#: How often a follower of ``/events`` looks for new events in the log, in seconds.
EVENTS_POLL = 0.05

#: ``/system/df``'s ``type`` values (API 1.42+).
DF_TYPES = ("container", "image", "volume", "build-cache")


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object of the request (``{}`` without a body); docker's 400 for anything else."""
    from pinnace.errors import InvalidArgument

    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise InvalidArgument("invalid JSON body") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: an object expected")
    return body


def _strings(value: Any, what: str) -> dict[str, str]:
    """A JSON ``map[string]string`` (null: empty)."""
    from pinnace.errors import InvalidArgument

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {what}: an object of strings expected")
    return {str(k): str(v) for k, v in value.items()}


# --------------------------------------------------------------------------- networks


async def list_networks(request: web.Request) -> web.StreamResponse:
    """dockerd's list: each network's inspect document, without its containers (API 1.28+)."""
    filters = query_filters(request)

    def work(engine: Engine) -> list[dict[str, Any]]:
        service = engine.networks
        return [{**service.inspect(rec), "Containers": {}} for rec in service.list(filters)]

    return json_response(await call(request, work))


async def inspect_network(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    return json_response(
        await call(request, lambda engine: engine.networks.inspect(engine.networks.get(ref)))
    )


async def create_network(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    args = _create_args(body)

    def work(engine: Engine) -> dict[str, str]:
        rec = engine.networks.create(str(body.get("Name") or ""), **args)
        return {"Id": rec.id, "Warning": ""}

    return json_response(await call(request, work), 201)


def _create_args(body: Mapping[str, Any]) -> dict[str, Any]:
    """``NetworkService.create``'s arguments from docker's NetworkCreateRequest; refusals of what pinnace
    does not do (swarm scopes, config-only networks, IPAM plugins, more than one subnet per family)."""
    from pinnace.errors import InvalidArgument, NotFound, NotImplementedYet

    unsupported = [
        field
        for field, given in (
            ("ConfigOnly", bool(body.get("ConfigOnly"))),
            ("ConfigFrom", bool((body.get("ConfigFrom") or {}).get("Network"))),
            ("Ingress", bool(body.get("Ingress"))),
            ("EnableIPv4=false", body.get("EnableIPv4") is False),
            ("Scope", (body.get("Scope") or "local") != "local"),
        )
        if given
    ]
    if unsupported:
        raise NotImplementedYet(f"pinnace does not support {', '.join(unsupported)} yet")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgument("invalid IPAM: an object expected")
    driver = str(ipam.get("Driver") or "default")
    if driver != "default":
        raise NotFound(f'plugin "{driver}" not found')
    if ipam.get("Options"):
        raise NotImplementedYet("pinnace does not support IPAM options yet")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise InvalidArgument("invalid IPAM Config: a list of objects expected")
    if any(c.get("AuxiliaryAddresses") for c in configs):
        raise NotImplementedYet("pinnace does not support auxiliary addresses yet")
    v6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
    v4 = [c for c in configs if c not in v6]
    if len(v4) > 1 or len(v6) > 1:
        raise NotImplementedYet("pinnace supports one IPv4 and one IPv6 subnet per network")
    first4 = v4[0] if v4 else {}
    first6 = v6[0] if v6 else {}
    return {
        "driver": str(body.get("Driver") or "bridge"),
        "subnet": str(first4.get("Subnet") or ""),
        "gateway": str(first4.get("Gateway") or ""),
        "ip_range": str(first4.get("IPRange") or ""),
        "internal": bool(body.get("Internal")),
        "labels": _strings(body.get("Labels"), "Labels"),
        "options": _strings(body.get("Options"), "Options"),
        "ipv6": bool(body.get("EnableIPv6")),
        "subnet6": str(first6.get("Subnet") or ""),
        "gateway6": str(first6.get("Gateway") or ""),
    }


async def remove_network(request: web.Request) -> web.StreamResponse:
    """204; dockerd's 403 for a predefined network or one with active endpoints, 404 for none."""
    from aiohttp import web

    from pinnace.errors import Conflict, PermissionDenied

    ref = request.match_info["id"]

    def work(engine: Engine) -> None:
        try:
            engine.networks.remove(ref)
        except Conflict as e:  # libnetwork's ActiveEndpointsError and the predefined refusal are Forbidden
            raise PermissionDenied(e.message) from None

    await call(request, work)
    return web.Response(status=204)


async def prune_networks(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)

    def work(engine: Engine) -> dict[str, Any]:
        engine.containers.sweep_networks()  # what crashes left (ports, veths, namespaces) goes first
        return {"NetworksDeleted": engine.networks.prune(filters)}

    return json_response(await call(request, work))


async def connect_network(request: web.Request) -> web.StreamResponse:
    """``{Container, EndpointConfig: {IPAMConfig: {IPv4Address}, Aliases}}``: 200 with no body, as dockerd."""
    from aiohttp import web

    from pinnace.errors import InvalidArgument, NotImplementedYet

    ref = request.match_info["id"]
    body = await _body(request)
    container = str(body.get("Container") or "")
    if not container:
        raise InvalidArgument("no container specified")
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise InvalidArgument("invalid EndpointConfig: an object expected")
    ipam = endpoint.get("IPAMConfig") or {}
    unsupported = [
        field
        for field in ("Links", "DriverOpts", "MacAddress", "IPv6Address", "LinkLocalIPs")
        if endpoint.get(field) or ipam.get(field)
    ]
    if unsupported:
        raise NotImplementedYet(f"pinnace does not support {', '.join(unsupported)} in network connect yet")
    ip = str(ipam.get("IPv4Address") or "")
    aliases = [str(a) for a in endpoint.get("Aliases") or []]

    def work(engine: Engine) -> None:
        engine.containers.connect_network(ref, container, ip=ip, aliases=aliases)

    await call(request, work)
    return web.Response(status=200)


async def disconnect_network(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    from pinnace.errors import InvalidArgument

    ref = request.match_info["id"]
    body = await _body(request)
    container = str(body.get("Container") or "")
    if not container:
        raise InvalidArgument("no container specified")
    force = bool(body.get("Force"))
    await call(request, lambda engine: engine.containers.disconnect_network(ref, container, force=force))
    return web.Response(status=200)


# --------------------------------------------------------------------------- system df


async def system_df(request: web.Request) -> web.StreamResponse:
    from pinnace.errors import InvalidArgument

    wanted = request.query.getall("type", [])
    for kind in wanted:
        if kind not in DF_TYPES:
            raise InvalidArgument(f"unknown object type: {kind}")
    kinds = set(wanted or DF_TYPES)
    return json_response(await call(request, lambda engine: _disk_usage(engine, kinds)))


def _disk_usage(engine: Engine, kinds: set[str]) -> dict[str, Any]:
    """dockerd's DiskUsage: what the CLI's ``system df`` sums (LayersSize, each image with its
    containers and shared bytes, each container's writable layer, each volume's size and users, the
    build cache's steps); a kind not asked for is null."""
    doc: dict[str, Any] = {
        "LayersSize": 0,
        "Images": None,
        "Containers": None,
        "Volumes": None,
        "BuildCache": None,
    }
    service = engine.containers
    if kinds & {"image", "container"}:
        usage = service.disk_usage()
        images = {img.id: img for img in engine.stores.records.all()}
        if "image" in kinds:
            from pinnace.images import views as image_views

            layers = engine.images.disk_usage(usage.images)
            users: dict[str, int] = {}
            for r in usage.records:
                users[r.image_id] = users.get(r.image_id, 0) + 1
            doc["LayersSize"] = layers.size
            doc["Images"] = [
                {**image_views.summary(img, users.get(img.id, 0)), "SharedSize": layers.shared.get(img.id, 0)}
                for img in images.values()
            ]
        if "container" in kinds:
            from pinnace.containers import views as container_views

            out = []
            for r in usage.records:
                row = container_views.summary(
                    r, network=service.network_settings(r), mounts=service.mounts_view(r)
                )
                size = usage.sizes.get(r.id, 0)
                image = images.get(r.image_id)
                out.append({**row, "SizeRw": size, "SizeRootFs": size + (image.size if image else 0)})
            doc["Containers"] = out
    if "volume" in kinds:
        volumes = engine.volumes
        doc["Volumes"] = [
            {**volumes.inspect(rec), "UsageData": {"Size": size, "RefCount": links}}
            for rec, size, links in volumes.usage()
        ]
    if "build-cache" in kinds:
        doc["BuildCache"] = [
            {
                "ID": step.key.removeprefix("sha256:")[:25],
                "Parent": step.parent.removeprefix("sha256:")[:25],
                "Parents": [step.parent.removeprefix("sha256:")[:25]] if step.parent else [],
                "Type": "regular",
                "Description": step.description,
                "InUse": False,
                "Shared": step.shared,
                "Size": step.size,
                "CreatedAt": step.created,
                "LastUsedAt": _rfc3339(step.last_used),
                "UsageCount": 1,
            }
            for step in engine.build_cache.entries()
        ]
    return doc


def _rfc3339(seconds: float) -> str:
    ns = int(seconds * 1e9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


# --------------------------------------------------------------------------- events


def _event_time(request: web.Request, name: str) -> int | None:
    """``since``/``until`` as dockerd reads them (``sec[.nanos]``) in unix nanoseconds; None when absent."""
    from pinnace._util.gotime import parse_timestamps
    from pinnace.errors import InvalidArgument

    text = request.query.get(name, "")
    if not text:
        return None
    try:
        return parse_timestamps(text)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def message(event: Event) -> dict[str, Any]:
    """moby's events.Message: the deprecated status/id/from for container and image events (omitted when
    empty, as its omitempty tags do), then Type, Action, Actor, scope, time, timeNano."""
    doc: dict[str, Any] = {}
    if event.type in ("container", "image"):
        doc["status"] = event.action
        doc["id"] = event.actor_id
        image = str(event.attributes.get("image", "")) if event.type == "container" else ""
        if image:
            doc["from"] = image
        doc = {k: v for k, v in doc.items() if v}
    doc.update(
        Type=event.type,
        Action=event.action,
        Actor={"ID": event.actor_id, "Attributes": dict(event.attributes)},
        scope="local",
        time=event.time_ns // 1_000_000_000,
        timeNano=event.time_ns,
    )
    return doc


async def events(request: web.Request) -> web.StreamResponse:
    """JSON lines of the event log: without ``since``/``until`` only what happens from now on, followed
    until the client goes; with ``since`` the log is replayed from then first; with ``until`` the stream
    ends at that time (at once when it has passed), as dockerd does."""
    import asyncio
    import functools

    from aiohttp import web

    from pinnace.errors import InvalidArgument
    from pinnace.events import last_seq, matches, read_events

    since, until = _event_time(request, "since"), _event_time(request, "until")
    if until is not None and since is not None and until < since:
        raise InvalidArgument(
            f"`since` time ({request.query['since']}) cannot be after `until` time ({request.query['until']})"
        )
    filters = query_filters(request)
    after = 0
    if since is None and until is None:
        after = await call(request, lambda engine: last_seq(engine.db))
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)

    def batch(engine: Engine, after_seq: int) -> Sequence[Event]:
        return read_events(engine.db, since_ns=since or 0, until_ns=until, after_seq=after_seq)

    try:
        while True:
            done = until is not None and time.time_ns() > until
            for event in await call(request, functools.partial(batch, after_seq=after)):
                after = event.seq
                if matches(event, filters):
                    await response.write(json.dumps(message(event)).encode() + b"\n")
            if done:
                break
            transport = request.transport
            if transport is None or transport.is_closing():
                return response  # the client went away
            await asyncio.sleep(EVENTS_POLL)
        await response.write_eof()
    except ConnectionError:
        pass
    return response


# --------------------------------------------------------------------------- auth


async def auth(request: web.Request) -> web.StreamResponse:
    """``docker login``: the credentials checked with the registry and stored nowhere (the client keeps
    them); an identity token when the registry's token service gives one; 401 with dockerd's message."""
    import base64
    import binascii

    from pinnace.distribution.credentials import Credentials
    from pinnace.errors import InvalidArgument

    body = await _body(request)
    username = str(body.get("username") or "")
    password = str(body.get("password") or "")
    encoded = str(body.get("auth") or "")
    if encoded and not (username and password):
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("invalid auth: base64 of username:password expected") from None
    given = Credentials(
        username=username, password=password, identity_token=str(body.get("identitytoken") or "")
    )
    server = str(body.get("serveraddress") or "")

    def work(engine: Engine) -> dict[str, str]:
        kept = engine.registry.authenticate(server, given)
        return {"Status": "Login Succeeded", "IdentityToken": kept.identity_token}

    return json_response(await call(request, work))


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create_network),
    ("POST", "/networks/prune", prune_networks),
    ("GET", "/networks/{id}", inspect_network),
    ("DELETE", "/networks/{id}", remove_network),
    ("POST", "/networks/{id}/connect", connect_network),
    ("POST", "/networks/{id}/disconnect", disconnect_network),
    ("GET", "/system/df", system_df),
    ("GET", "/events", events),
    ("POST", "/auth", auth),
]
