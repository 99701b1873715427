"""Container filesystem and resources: archive GET/HEAD/PUT, changes, export, stats, update and prune."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

ROUTES: list[tuple[str, str, object]] = []
