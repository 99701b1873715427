"""Containers: ``GET /containers/json`` and ``GET /containers/{id}/json`` (more to come)."""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_bool, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


async def list_containers(request: web.Request) -> web.StreamResponse:
    from pinnace.errors import InvalidArgument

    filters = query_filters(request)
    show_all = query_bool(request, "all")
    try:
        limit = int(request.query.get("limit", "-1") or -1)
    except ValueError:
        raise InvalidArgument("invalid limit") from None

    def work(engine: Engine) -> list[dict[str, Any]]:
        from pinnace.containers import views

        service = engine.containers
        records = views.ps_list(service.list(), filters, show_all=show_all, limit=limit)
        return [
            views.summary(r, network=service.network_settings(r), mounts=service.mounts_view(r))
            for r in records
        ]

    return json_response(await call(request, work))


async def inspect_container(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    return json_response(await call(request, lambda engine: engine.containers.inspect(ref)))


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("GET", "/containers/{id}/json", inspect_container),
]
