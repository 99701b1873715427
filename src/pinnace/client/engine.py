"""``RemoteEngine``: the local :class:`pinnace.engine.Engine`'s interface, over the Engine API.

Each service mirrors the signatures of the local one's methods that the CLI's commands call and
returns the same record types (rebuilt from the API's JSON), so ``pinnace -H URL ps`` runs the very
code of ``pinnace ps``.  Records carry what the API shows; store-only fields (snapshot keys, spec
paths, monitor pids) are empty.  A method the API cannot serve yet raises
:class:`~pinnace.errors.NotImplementedYet` with the CLI's "not supported against a remote engine yet"
line, rather than reaching for a store that is not there.
"""

from __future__ import annotations

from pinnace.client.containers import RemoteContainers
from pinnace.client.images import RemoteImages, RemoteRegistry
from pinnace.client.networks import RemoteNetworks
from pinnace.client.remote import unsupported
from pinnace.client.system import RemoteSystem
from pinnace.client.volumes import RemoteVolumes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any

    from pinnace.build.cache import PruneReport
    from pinnace.client.http import Client


class RemoteEngine:
    """What ``ctx.engine`` is with ``-H``/``PINNACE_HOST``/``DOCKER_HOST``/a context."""

    remote = True

    def __init__(self, client: Client) -> None:
        self.client = client
        self.containers = RemoteContainers(client)
        self.images = RemoteImages(client)
        self.volumes = RemoteVolumes(client)
        self.networks = RemoteNetworks(client)
        self.registry = RemoteRegistry(client, self.images)
        self.system = RemoteSystem(client)

    def __getattr__(self, name: str) -> Any:
        # db, stores, build_cache, builder ...: the local store's, which a remote engine has none of.
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported(f"engine.{name}")

    def version(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/version")
        return doc

    def info(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/info")
        return doc

    def disk_usage(self, kinds: Collection[str] = ()) -> dict[str, Any]:
        """The local engine's ``disk_usage``: the service's ``GET /system/df``."""
        return self.system.disk_usage(kinds)

    def prune_build_cache(
        self, *, everything: bool = False, keep_bytes: int = 0, older_than: float = 0.0
    ) -> PruneReport:
        """The local engine's ``prune_build_cache`` on the service (``POST /build/prune``)."""
        from pinnace.client.build import prune_build_cache

        return prune_build_cache(self.client, everything=everything, keep_bytes=keep_bytes, older_than=older_than)

    def close(self) -> None:
        self.client.close()
