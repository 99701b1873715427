"""What every remote service shares: the error of a local-only feature, and the base class."""

from __future__ import annotations

from pinnace.errors import NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.client.http import Client


def unsupported(what: str) -> NotImplementedYet:
    """The error of a local-store feature asked of a remote engine: the CLI prints its one line, exit 125."""
    error = NotImplementedYet(f"{what}: not supported against a remote engine yet")
    error.remote_unsupported = True  # type: ignore[attr-defined]
    return error


class Service:
    def __init__(self, client: Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(f"{type(self).__name__.removeprefix('Remote').lower()}.{name}")


def filters_query(filters: Mapping[str, Sequence[str]] | None) -> str | None:
    """docker's ``filters`` query parameter (a JSON map of lists), None when there are none."""
    import json

    return json.dumps({k: list(v) for k, v in filters.items()}) if filters else None
