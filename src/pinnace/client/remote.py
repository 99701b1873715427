"""What every remote service shares: the error of a local-only feature, and the base class."""

from __future__ import annotations

from pinnace.errors import NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
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
