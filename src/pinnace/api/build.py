"""Images built and moved as tarballs: POST /build, images get/load, push, prune, import (fromSrc)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

ROUTES: list[tuple[str, str, object]] = []
