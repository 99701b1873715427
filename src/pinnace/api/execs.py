"""Exec: create, start (hijacked or detached, with or without a TTY), inspect and resize; container resize."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

ROUTES: list[tuple[str, str, object]] = []
