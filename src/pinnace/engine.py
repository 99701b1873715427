"""The composition root: builds every store and service from the configuration.

No logic lives here, only wiring.  Everything is built on first use, so a
command pays only for the stores it touches (``pinnace --help`` opens no
database, ``pinnace images`` imports neither the content store nor the
snapshotter).
"""

from __future__ import annotations

import os

from pinnace import DEFAULT_ROOT, DEFAULT_RUNROOT
from pinnace._util.record import record
from pinnace.errors import Unavailable, map_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from typing import Any, TypeVar

    from pinnace.build.builder import Builder, Progress
    from pinnace.build.cache import BuildCache, PruneReport
    from pinnace.build.context import IgnoreMatcher
    from pinnace.containers.records import ContainerRecords
    from pinnace.containers.service import ContainerService
    from pinnace.content import ContentStore
    from pinnace.distribution.credentials import Credentials
    from pinnace.distribution.service import DistributionService
    from pinnace.images.service import ImageService
    from pinnace.images.stores import Stores
    from pinnace.meta.db import Database
    from pinnace.meta.gc import GCReport
    from pinnace.network.records import NetworkRecord
    from pinnace.network.service import NetworkService
    from pinnace.snapshots.overlay import OverlaySnapshotter
    from pinnace.volumes.service import VolumeService

    _T = TypeVar("_T")


#: ``/system/df``'s ``type`` values (API 1.42+), all of which ``system df`` shows.
DF_TYPES = ("container", "image", "volume", "build-cache")


@record
class Config:
    """Absolute paths of the state roots (strings: pathlib costs start-up)."""

    root: str
    runroot: str

    @classmethod
    def from_env(
        cls,
        root: str | None = None,
        runroot: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Config:
        """Flags win over PINNACE_ROOT / PINNACE_RUNROOT, which win over the defaults.

        ``environ`` and ``cwd`` (this process's by default) are another
        process's, when the paths are those a command line elsewhere means.
        """
        env = os.environ if environ is None else environ

        def absolute(path: str) -> str:  # abspath asks for the cwd only for a relative path
            return os.path.abspath(path) if cwd is None else os.path.normpath(os.path.join(cwd, path))

        return cls(
            absolute(root or env.get("PINNACE_ROOT") or DEFAULT_ROOT),
            absolute(runroot or env.get("PINNACE_RUNROOT") or DEFAULT_RUNROOT),
        )


def _once(build: Callable[[Engine], _T]) -> property:
    """A property computed on first use and kept (functools.cached_property, minus functools)."""
    name = "_" + build.__name__

    def get(self: Engine) -> _T:
        try:
            value: _T = self.__dict__[name]
        except KeyError:
            value = self.__dict__[name] = build(self)
        return value

    return property(get, doc=build.__doc__)


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config

    @_once
    def db(self) -> Database:
        from pinnace.meta.db import Database

        with map_errors({OSError: Unavailable}, f"create {self.config.root}"):
            os.makedirs(self.config.root, mode=0o711, exist_ok=True)
        return Database(os.path.join(self.config.root, "pinnace.db"))

    @_once
    def content(self) -> ContentStore:
        from pinnace.content import ContentStore

        return ContentStore(os.path.join(self.config.root, "content"))

    @_once
    def snapshots(self) -> OverlaySnapshotter:
        from pinnace.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(os.path.join(self.config.root, "snapshots"), self.db)

    @_once
    def stores(self) -> Stores:
        """What image and container operations share: records, content, snapshots (built on use)."""
        from pinnace.images.records import ImageRecords
        from pinnace.images.stores import Stores

        return Stores(
            root=self.config.root,
            records=ImageRecords(self.db),
            content=lambda: self.content,
            snapshots=lambda: self.snapshots,
            collect_garbage=self.collect_garbage,
        )

    @_once
    def images(self) -> ImageService:
        from pinnace.images.service import ImageService

        return ImageService(self.stores, users=self._container_records)

    @_once
    def registry(self) -> DistributionService:
        """Pull and push, with the registries and mirrors of ``<root>/daemon.json``."""
        from pinnace.distribution.service import DistributionService

        return DistributionService(self.stores, self.config.root)

    @_once
    def volumes(self) -> VolumeService:
        """Named and anonymous volumes under ``<root>/volumes``."""
        from pinnace.volumes.service import VolumeService

        return VolumeService(self.db, self.config.root)

    @_once
    def networks(self) -> NetworkService:
        """Networks and the containers' endpoints on them, configured by ``<root>/daemon.json``."""
        from pinnace.network.service import NetworkService

        return NetworkService(
            self.db, self.config.root, names=self._container_name, on_remove=_unplug_network
        )

    def _container_records(self) -> ContainerRecords:
        """The container records, for the image service's question of which images containers use."""
        from pinnace.containers.records import ContainerRecords

        return ContainerRecords(self.db)

    def _container_name(self, container_id: str) -> str:
        """A container's name (``network inspect``'s Containers), "" once it is gone."""
        from pinnace.containers.records import ContainerRecords
        from pinnace.errors import NotFound

        try:
            return ContainerRecords(self.db).get(container_id).name
        except NotFound:
            return ""

    @_once
    def containers(self) -> ContainerService:
        """Containers over the image stores (the same Stores the image service uses).

        Built from :attr:`stores`, not :attr:`images`: ``run`` needs no image service.
        """
        from pinnace.containers.service import ContainerService

        return ContainerService(
            self.stores,
            self.db,
            self.config.root,
            self.config.runroot,
            volumes=lambda: self.volumes,
            networks=lambda: self.networks,
        )

    @_once
    def build_cache(self) -> BuildCache:
        """The builder's cache of steps (rows in the store's database)."""
        from pinnace.build.cache import BuildCache

        return BuildCache(self.db)

    def builder(
        self,
        matcher: IgnoreMatcher,
        progress: Progress,
        credentials: Callable[[str], Credentials] | None = None,
    ) -> Builder:
        """A builder on this store: base images it lacks come from the registry client (with
        ``credentials`` when given, see :meth:`DistributionService.pull`)."""
        from pinnace.build.builder import Builder

        return Builder(
            self.stores,
            self.build_cache,
            self.config.runroot,
            pull=lambda ref: self.registry.pull(ref, credentials=credentials).image,
            matcher=matcher,
            progress=progress,
        )

    def disk_usage(self, kinds: Collection[str] = DF_TYPES) -> dict[str, Any]:
        """dockerd's DiskUsage (``GET /system/df``, and what the CLI's ``system df`` prints from, as
        docker's CLI does): what it sums (LayersSize, each image with its
        containers and shared bytes, each container's writable layer, each volume's size and users, the
        build cache's steps); a kind not asked for is null."""
        from pinnace.images import views as image_views

        doc: dict[str, Any] = {
            "LayersSize": 0,
            "Images": None,
            "Containers": None,
            "Volumes": None,
            "BuildCache": None,
        }
        service = self.containers
        if "image" in kinds or "container" in kinds:
            usage = service.disk_usage()
            images = {img.id: img for img in self.stores.records.all()}
            if "image" in kinds:
                layers = self.images.disk_usage(usage.images)
                users: dict[str, int] = {}
                for r in usage.records:
                    users[r.image_id] = users.get(r.image_id, 0) + 1
                doc["LayersSize"] = layers.size
                doc["Images"] = [
                    {
                        **image_views.summary(img, users.get(img.id, 0)),
                        "SharedSize": layers.shared.get(img.id, 0),
                    }
                    for img in images.values()
                ]
            if "container" in kinds:
                from pinnace.containers import views as container_views

                out = []
                for r in usage.records:
                    row = container_views.summary(
                        r, network=service.network_settings(r), mounts=service.mounts_view(r)
                    )
                    size = usage.sizes.get(r.id, 0)
                    image = images.get(r.image_id)
                    out.append({**row, "SizeRw": size, "SizeRootFs": size + (image.size if image else 0)})
                doc["Containers"] = out
        if "volume" in kinds:
            volumes = self.volumes
            doc["Volumes"] = [
                {**volumes.inspect(rec), "UsageData": {"Size": size, "RefCount": links}}
                for rec, size, links in volumes.usage()
            ]
        if "build-cache" in kinds:
            from pinnace.build.cache import cache_id

            doc["BuildCache"] = [
                {
                    "ID": cache_id(step.key),
                    "Parent": cache_id(step.parent),
                    "Parents": [cache_id(step.parent)] if step.parent else [],
                    "Type": "regular",
                    "Description": step.description,
                    "InUse": False,
                    "Shared": step.shared,
                    "Size": step.size,
                    "CreatedAt": step.created,
                    "LastUsedAt": image_views.rfc3339(step.last_used),
                    "UsageCount": 1,
                }
                for step in self.build_cache.entries()
            ]
        return doc

    def prune_build_cache(
        self, *, everything: bool = False, keep_bytes: int = 0, older_than: float = 0.0
    ) -> PruneReport:
        """``builder prune`` (the CLI's and ``POST /build/prune``'s): the cache's rows, the garbage they
        held, and with no size cap or age given the ``RUN --mount=type=cache`` directories.

        Without ``everything`` (``--all``) only the "dangling" rows go, as BuildKit prunes for docker:
        a row whose layer an image holds (``system df -v``'s SHARED) stays."""
        from pinnace.build.cache import PruneReport
        from pinnace.build.mounts import prune_cache_mounts

        before = self.build_cache.usage().size
        deleted = self.build_cache.prune_keys(
            keep_bytes=keep_bytes, older_than=older_than, spare_shared=not everything
        )
        self.collect_garbage()
        freed = max(before - self.build_cache.usage().size, 0)
        if not keep_bytes and not older_than:
            freed += prune_cache_mounts(self.config.root)
        return PruneReport(tuple(deleted), freed)

    def collect_garbage(self) -> GCReport:
        """Remove every blob, snapshot and ingest no root reaches (waits for in-flight operations)."""
        from pathlib import Path

        from pinnace.meta.gc import collect

        return collect(self.db, Path(self.config.root), self.content, self.snapshots)

    def close(self) -> None:
        if "_db" in self.__dict__:
            self.db.close()


def _unplug_network(network: NetworkRecord) -> None:
    """A removed network's bridge and firewall rules go (netlink loaded only then: most runs need none)."""
    from pinnace.network.plumbing import unplug_network

    unplug_network(network)
