"""Snapshotters: layered filesystem trees keyed by name, as containerd defines them.

Vocabulary (containerd's): a *key* names an active (writable) or view
(read-only) snapshot; a *name* names a committed one.  Image layers are
committed under their chain ID, so images that share a base share its
snapshots.  Snapshotters never mount: ``prepare``/``view``/``mounts`` return
:class:`pinnace.mount.Mount` descriptions that :mod:`pinnace.mount` performs.

Importing a layer::

    mounts = sn.prepare("extract-<rand>", parent=parent_chain_id)
    apply_layer(stream, writable_dir(mounts))   # pinnace.archive
    sn.commit(chain_id, "extract-<rand>")

Running a container (later)::

    mounts = sn.prepare(container_id, parent=image_top_chain_id)
"""

from __future__ import annotations

import enum
from types import MappingProxyType

from pinnace._util.record import record
from pinnace.mount import Mount

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Protocol
else:
    Protocol = object  # typing costs start-up; the protocol is for type checkers only

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class Kind(enum.Enum):
    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@record
class Info:
    key: str
    kind: Kind
    parent: str = ""
    created: float = 0.0
    labels: Mapping[str, str] = _NO_LABELS


@record
class Usage:
    size: int  # bytes on disk of this snapshot's own layer (not its parents)
    inodes: int


class Snapshotter(Protocol):
    """containerd's Snapshotter, 10 methods. Errors: NotFound, AlreadyExists, FailedPrecondition."""

    def stat(self, key: str) -> Info: ...

    def update(self, key: str, labels: Mapping[str, str]) -> Info: ...

    def usage(self, key: str) -> Usage: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]: ...

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]: ...

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None: ...

    def remove(self, key: str) -> None: ...

    def walk(self) -> Iterator[Info]: ...

    def close(self) -> None: ...


__all__ = ["Info", "Kind", "Mount", "Snapshotter", "Usage"]
