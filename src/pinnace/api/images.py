"""Images: ``GET /images/json`` and ``GET /images/{name}/json``."""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


async def list_images(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)  # "all" lists the same: pinnace keeps no intermediate images

    def work(engine: Engine) -> list[dict[str, Any]]:
        from pinnace.images import views

        rows = engine.images.list_images(filters)
        seen: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.image.id not in seen:
                seen[row.image.id] = views.summary(row.image)
        return list(seen.values())

    return json_response(await call(request, work))


async def inspect_image(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    return json_response(await call(request, lambda engine: engine.images.inspect(name)))


ROUTES = [
    ("GET", "/images/json", list_images),
    ("GET", "/images/{name:.+}/json", inspect_image),
]
