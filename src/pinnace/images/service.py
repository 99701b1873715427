"""ImageService: every image operation the fronts (CLI, API) call.

A facade over the modules of this package; it holds no state beyond the
stores it was built with.  Methods return data (records, dicts, rows) and
raise pinnace.errors kinds; they never print.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, PinnaceError
from pinnace.images import remove, views
from pinnace.images.records import Image
from pinnace.images.stores import Stores
from pinnace.oci.reference import Reference, parse_normalized, parse_tag_target, with_default_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO, Protocol

    from pinnace.images.loader import Loaded

    class ImageUsers(Protocol):
        """What the container records tell about images (wired by the engine: containers sit above)."""

        def using_image(self, image_id: str) -> Sequence[tuple[str, str]]:
            """(container ID, status) of the containers made from the image."""

        def image_ids(self) -> frozenset[str]:
            """Every image a container uses."""


#: Filters ``images`` accepts, as docker.
LIST_FILTERS = ("dangling", "reference", "label", "before", "since")
PRUNE_FILTERS = ("until", "label", "label!")


@record
class PruneReport:
    removals: list[remove.Removal]
    reclaimed: int


@record
class DiskUsage:
    images: int
    active: int
    size: int
    reclaimable: int
    #: Image ID -> bytes of its layers another image holds too (the Engine API's ``SharedSize``).
    shared: Mapping[str, int] = MappingProxyType({})


class ImageService:
    """``users`` makes the container records, which ``rmi`` and ``image prune`` ask which images
    containers use (built on first use: listing images needs none)."""

    def __init__(self, stores: Stores, users: Callable[[], ImageUsers] | None = None) -> None:
        self.stores = stores
        self._make_users = users
        self._users: ImageUsers | None = None

    def _image_users(self) -> ImageUsers | None:
        if self._users is None and self._make_users is not None:
            self._users = self._make_users()
        return self._users

    # -- reads ---------------------------------------------------------------
    def get(self, ref: str) -> Image:
        return self.stores.records.resolve(ref)

    def inspect(self, ref: str, *, legacy: bool = False) -> dict[str, Any]:
        return views.inspect(self.stores, self.get(ref), legacy=legacy)

    def history(self, ref: str) -> list[views.HistoryEntry]:
        return views.history(self.stores, self.get(ref))

    def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[views.Summary]:
        """Rows of ``docker images``, newest first, filtered as docker filters them."""
        filters = dict(filters or {})
        for key in filters:
            if key not in LIST_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        images = self.stores.records.all()
        images = [i for i in images if _match_image(self, i, filters)]
        rows = [row for img in images for row in views.summaries(img)]
        if "reference" in filters:
            rows = [r for r in rows if any(_match_reference(r, p) for p in filters["reference"])]
        rows.sort(key=lambda r: (r.created, r.image.added_at), reverse=True)
        return rows

    # -- writes --------------------------------------------------------------
    def import_rootfs(
        self,
        stream: BinaryIO,
        *,
        source: str,
        tag: str | None = None,
        changes: Sequence[str] = (),
        message: str = "",
    ) -> Image:
        from pinnace.images import importer

        ref = with_default_tag(parse_tag_target(tag)) if tag else None
        return importer.import_rootfs(
            self.stores, stream, source=source, tag=ref, changes=changes, message=message
        )

    def load(self, stream: BinaryIO) -> list[Loaded]:
        from pinnace.images import loader

        return loader.load(self.stores, stream)

    def save(self, refs: Sequence[str], out: BinaryIO, *, fmt: str = "docker") -> None:
        from pinnace.images import saver

        saver.save(self.stores, refs, out, fmt=fmt)

    def tag(self, source: str, target: str) -> Reference:
        img = self.get(source)
        ref = with_default_tag(parse_tag_target(target))
        self.stores.records.tag(img.id, ref)
        return ref

    def remove(self, refs: Iterable[str], *, force: bool = False) -> Iterator[remove.Removal | PinnaceError]:
        """Remove each ref; yields what was done, or the error for a ref that failed (docker goes on)."""
        users = self._image_users()
        using = users.using_image if users is not None else None
        try:
            for ref in refs:
                try:
                    yield from remove.remove(self.stores.records, ref, force=force, users=using)
                except PinnaceError as exc:  # NotFound, Conflict: reported per ref, docker goes on
                    yield exc
        finally:
            self.stores.collect_garbage()

    def prune(
        self, *, all_images: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> PruneReport:
        """Remove dangling images (all unused ones with ``all_images``), then collect garbage; an image
        a container uses (in any state) stays, as docker keeps it."""
        filters = dict(filters or {})
        for key in filters:
            if key not in PRUNE_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        users = self._image_users()
        used = users.image_ids() if users is not None else frozenset()
        removals: list[remove.Removal] = []
        for img in self.stores.records.all():
            if (img.tags and not all_images) or img.id in used:
                continue
            if not _match_prune(img, filters):
                continue
            try:
                removals.extend(remove.remove(self.stores.records, img.id, force=True))
            except PinnaceError:  # changed under us by a concurrent command: leave it
                continue
        report = self.stores.collect_garbage()
        return PruneReport(removals, int(getattr(report, "reclaimed", 0)))

    def disk_usage(self, in_use: Iterable[str] = ()) -> DiskUsage:
        """Images, those ``in_use`` by containers (image IDs), their layers' size and what removing the rest frees."""
        images = self.stores.records.all()
        used = set(in_use)
        chains = {img.id: {x.chain_id for x in self.stores.records.layers(img.id)} for img in images}
        sizes = {c: self.stores.snapshots.usage(c).size for layers in chains.values() for c in layers}
        kept = {c for image_id, layers in chains.items() if image_id in used for c in layers}
        size = sum(sizes.values())
        active = sum(1 for img in images if img.id in used)
        holders: dict[str, int] = {}
        for layers in chains.values():
            for c in layers:
                holders[c] = holders.get(c, 0) + 1
        shared: dict[str, int] = {
            i: sum(sizes[c] for c in layers if holders[c] > 1) for i, layers in chains.items()
        }
        return DiskUsage(
            images=len(images), active=active, size=size, reclaimable=size - sum(sizes[c] for c in kept),
            shared=MappingProxyType(shared),
        )  # fmt: skip


def _match_image(svc: ImageService, img: Image, filters: Mapping[str, Sequence[str]]) -> bool:
    for value in filters.get("dangling", ()):
        want = value.lower()
        if want not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        if (want in ("true", "1")) == bool(img.tags):
            return False
    for value in filters.get("label", ()):
        if not _match_label(img.labels, value):
            return False
    for value in filters.get("before", ()):
        if views.parse_time(img.created) >= views.parse_time(svc.get(value).created):
            return False
    for value in filters.get("since", ()):
        if views.parse_time(img.created) <= views.parse_time(svc.get(value).created):
            return False
    return True


def _match_label(labels: Mapping[str, str], expr: str) -> bool:
    key, sep, value = expr.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def _match_reference(row: views.Summary, pattern: str) -> bool:
    """docker's reference filter: a glob on the familiar name, or on name:tag."""
    if row.repository == "<none>":
        return False
    import fnmatch

    if ":" in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatchcase(f"{row.repository}:{row.tag}", pattern)
    if fnmatch.fnmatchcase(row.repository, pattern):
        return True
    try:  # "docker.io/library/busybox" matches the familiar "busybox"
        return parse_normalized(pattern).familiar_name == row.repository
    except InvalidArgument:
        return False


def _match_prune(img: Image, filters: Mapping[str, Sequence[str]]) -> bool:
    for value in filters.get("label", ()):
        if not _match_label(img.labels, value):
            return False
    for value in filters.get("label!", ()):
        if _match_label(img.labels, value):
            return False
    for value in filters.get("until", ()):
        if views.parse_time(img.created) >= _until(value):
            return False
    return True


def _until(value: str) -> float:
    """until= accepts a unix time, an RFC 3339 time or a Go duration ago ("24h", "10m")."""
    import re
    import time

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(h|m|s)", value)
    if m:
        return time.time() - float(m.group(1)) * {"h": 3600, "m": 60, "s": 1}[m.group(2)]
    try:
        return float(value)
    except ValueError:
        ts = views.parse_time(value)
        if not ts:
            raise InvalidArgument(f"invalid filter 'until={value}'") from None
        return ts
