"""Volumes: list, create, inspect, remove, prune."""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_bool, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


async def list_volumes(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)

    def work(engine: Engine) -> dict[str, Any]:
        service = engine.volumes
        return {"Volumes": [service.inspect(r) for r in service.list(filters)], "Warnings": []}

    return json_response(await call(request, work))


async def create_volume(request: web.Request) -> web.StreamResponse:
    from pinnace.errors import InvalidArgument

    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise InvalidArgument("invalid JSON body") from None
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: an object expected")

    def work(engine: Engine) -> dict[str, Any]:
        service = engine.volumes
        record = service.create(
            str(body.get("Name") or ""), driver=str(body.get("Driver") or ""),
            labels=body.get("Labels") or {}, options=body.get("DriverOpts") or {},
        )  # fmt: skip
        doc: dict[str, Any] = service.inspect(record)
        return doc

    return json_response(await call(request, work), 201)


async def inspect_volume(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    return json_response(await call(request, lambda engine: engine.volumes.inspect(engine.volumes.get(name))))


async def remove_volume(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    name, force = request.match_info["name"], query_bool(request, "force")
    await call(request, lambda engine: engine.volumes.remove(name, force=force))
    return web.Response(status=204)


async def prune_volumes(request: web.Request) -> web.StreamResponse:
    """Unused volumes: the anonymous ones, or every one with the ``all`` filter (API 1.42+); every unused
    one for older clients, as dockerd (the ``all`` filter came with that change of default)."""
    from pinnace.api.system import older_than

    filters = query_filters(request)
    if older_than(request, "1.42"):
        filters.setdefault("all", ["true"])

    def work(engine: Engine) -> dict[str, Any]:
        deleted, reclaimed = engine.volumes.prune(filters)
        return {"VolumesDeleted": list(deleted), "SpaceReclaimed": reclaimed}

    return json_response(await call(request, work))


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create_volume),
    ("POST", "/volumes/prune", prune_volumes),
    ("GET", "/volumes/{name}", inspect_volume),
    ("DELETE", "/volumes/{name}", remove_volume),
]
