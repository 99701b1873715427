"""Networks (create, list, inspect, remove, prune, connect, disconnect) and /auth.

Each handler reads docker's request, calls the same engine functions as the daemonless CLI
(``engine.networks``, ``engine.containers.connect_network``, the registry client) and answers with
dockerd's documents, status codes and messages.  (``/system/df`` and ``/events`` are in
:mod:`pinnace.api.system`.)
"""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


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
    ("POST", "/auth", auth),
]
