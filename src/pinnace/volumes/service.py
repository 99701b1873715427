"""Named and anonymous volumes: ``volume create|ls|inspect|rm|prune``, and what containers need of them.

Volumes are records (:mod:`.records`) over the ``local`` driver's
directories (:mod:`.local`).  A volume is in use from the create of any
container that refers to it until that container's removal, running or
not, and is never removed meanwhile (docker's rule: a stopped container
can start again).  Errors are docker's, without the "Error response from
daemon: " the CLI adds.
"""

from __future__ import annotations

import os
import time
from types import MappingProxyType

from pinnace.errors import Conflict, InvalidArgument, NotFound
from pinnace.volumes.local import LocalDriver
from pinnace.volumes.records import ANONYMOUS_LABEL, VolumeRecord, VolumeRecords

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.meta.db import Database

#: ``volume ls --filter`` keys (moby's acceptedVolumeFilterTags).
LIST_FILTERS = ("dangling", "name", "driver", "label")
#: ``volume prune --filter`` keys (moby's acceptedPruneFilters).
PRUNE_FILTERS = ("label", "label!", "all")

_TRUE = ("true", "1")
_FALSE = ("false", "0")


def _now() -> str:
    """CreatedAt as docker writes it: RFC 3339 in seconds, local time."""
    now = time.time()
    offset = time.localtime(now).tm_gmtoff
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
    if not offset:
        return stamp + "Z"
    sign = "+" if offset > 0 else "-"
    return f"{stamp}{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


class VolumeService:
    """Volumes over the database and the local driver under ``<root>/volumes``."""

    def __init__(self, db: Database, root: str) -> None:
        self.db = db
        self.records = VolumeRecords(db)
        self.driver = LocalDriver(os.path.join(root, "volumes"))

    # -- create / read
    def new(
        self,
        name: str = "",
        *,
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> VolumeRecord:
        """A volume record not yet stored, checked as docker's create checks it; no name: an anonymous one."""
        from pinnace.volumes.specs import check_local_options, check_volume_name

        driver = driver or "local"
        if driver != LocalDriver.name:
            raise NotFound(
                f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found'
            )
        labels = dict(labels or {})
        if name:
            try:
                check_volume_name(name)
            except InvalidArgument as e:
                raise InvalidArgument(f"create {name}: {e}") from None
        else:
            name = os.urandom(32).hex()
            labels.setdefault(ANONYMOUS_LABEL, "")
        if options:
            try:
                check_local_options(options)
            except InvalidArgument as e:
                raise InvalidArgument(f"create {name}: {e}") from None
        return VolumeRecord(
            name=name,
            created=_now(),
            driver=driver,
            labels=MappingProxyType(labels),
            options=MappingProxyType(dict(options or {})),
        )

    def create(
        self,
        name: str = "",
        *,
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> VolumeRecord:
        """``volume create``: a new volume, or the existing one of that name (docker's create is idempotent)."""
        rec, created = self.records.create(self.new(name, driver=driver, labels=labels, options=options))
        if created:
            self.driver.create(rec)
            self.event(rec, "create")
        return rec

    def get(self, name: str) -> VolumeRecord:
        if not name:
            raise InvalidArgument("volume name is required")
        return self.records.get(name)

    def mountpoint(self, name: str) -> str:
        return self.driver.path(name)

    def inspect(self, rec: VolumeRecord) -> dict[str, Any]:
        """``volume inspect``'s document (docker's volume.Volume)."""
        return {
            "CreatedAt": rec.created,
            "Driver": rec.driver,
            "Labels": dict(rec.labels),
            "Mountpoint": self.driver.path(rec.name),
            "Name": rec.name,
            "Options": dict(rec.options),
            "Scope": "local",
        }

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[VolumeRecord]:
        """``volume ls``: every volume matching ``filters`` (dangling, name, driver, label), by name."""
        filters = filters or {}
        _check_filters(filters, LIST_FILTERS)
        dangling = _bool_filter(filters, "dangling")
        counts = self.records.user_counts() if dangling is not None else {}
        out = []
        for rec in self.records.all():
            if dangling is not None and (rec.name not in counts) != dangling:
                continue
            if filters.get("name") and not any(n in rec.name for n in filters["name"]):
                continue
            if filters.get("driver") and rec.driver not in filters["driver"]:
                continue
            if filters.get("label") and not all_labels(rec.labels, filters["label"]):
                continue
            out.append(rec)
        return out

    def users(self, name: str) -> Sequence[str]:
        """The IDs of the containers that refer to the volume."""
        return self.records.users(name)

    # -- remove
    def remove(self, name: str, *, force: bool = False) -> None:
        """``volume rm``: refused while any container refers to it; ``force`` ignores a missing volume."""
        try:
            rec = self.records.delete(name, self._discard)
        except NotFound:
            if force:
                return
            raise
        self.driver.empty_trash()
        self.event(rec, "destroy")

    def _discard(self, rec: VolumeRecord) -> None:
        self.driver.discard(rec)

    def remove_anonymous(self, names: Iterable[str]) -> None:
        """Remove those of ``names`` that are anonymous and unused (``rm -v``, ``run --rm``); errors are ignored.

        Docker removes a container's anonymous volumes with it, but not
        one another container still uses (``--volumes-from``).
        """
        from pinnace.errors import PinnaceError

        for name in names:
            try:
                if self.records.get(name).anonymous:
                    self.remove(name)
            except PinnaceError:
                continue

    def prune(
        self, filters: Mapping[str, Sequence[str]] | None = None, *, all: bool = False
    ) -> tuple[Sequence[str], int]:
        """``volume prune``: remove unused volumes (only anonymous ones without ``all``): names, bytes freed."""
        filters = dict(filters or {})
        _check_filters(filters, PRUNE_FILTERS)
        every = _bool_filter(filters, "all")
        if every is not None:
            all = every
        counts = self.records.user_counts()
        removed: list[str] = []
        reclaimed = 0
        for rec in self.records.all():
            if rec.name in counts or (not all and not rec.anonymous):
                continue
            if filters.get("label") and not all_labels(rec.labels, filters["label"]):
                continue
            if filters.get("label!") and any(_has_label(rec.labels, f) for f in filters["label!"]):
                continue
            size = self.driver.size(rec.name)
            try:
                self.records.delete(rec.name, self._discard)
            except (NotFound, Conflict):  # removed, or in use, since we looked: not ours to count
                continue
            self.event(rec, "destroy")
            removed.append(rec.name)
            reclaimed += size
        self.driver.empty_trash()
        return removed, reclaimed

    # -- what containers need
    def mount(self, name: str) -> str:
        """The host directory a container binds for volume ``name`` (made, and its filesystem mounted, if needed)."""
        return self.driver.mount(self.records.get(name))

    def usage(self) -> Sequence[tuple[VolumeRecord, int, int]]:
        """``system df``: each volume with its size in bytes and how many containers refer to it."""
        counts = self.records.user_counts()
        return [(rec, self.driver.size(rec.name), counts.get(rec.name, 0)) for rec in self.records.all()]

    def event(self, rec: VolumeRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        """Log a volume event with docker's attributes (``driver``, then ``extra``)."""
        from pinnace.events import append_event

        append_event(self.db, "volume", action, rec.name, {"driver": rec.driver, **(extra or {})})


def _check_filters(filters: Mapping[str, Sequence[str]], accepted: Sequence[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def _bool_filter(filters: Mapping[str, Sequence[str]], key: str) -> bool | None:
    """A true/false filter (``dangling``, ``all``): None when absent; docker's error for another value."""
    values = filters.get(key)
    if not values:
        return None
    value = values[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"invalid filter '{key}={values[-1]}'")


def _has_label(labels: Mapping[str, str], wanted: str) -> bool:
    """A ``label`` filter value: ``key`` (present) or ``key=value``."""
    key, eq, value = wanted.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value


def all_labels(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    """Every ``label`` filter value matches ``labels``."""
    return all(_has_label(labels, w) for w in wanted)
