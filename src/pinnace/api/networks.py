"""Networks (create, list, inspect, remove, prune, connect, disconnect), /system/df, /events and /auth."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

ROUTES: list[tuple[str, str, object]] = []
