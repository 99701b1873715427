"""The stores image operations work on, bundled once by the engine."""

from __future__ import annotations

import os
import time

from pinnace.images.records import ImageRecords

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from pinnace.content import ContentStore
    from pinnace.snapshots import Snapshotter


class Stores:
    """What image operations read and write.

    ``root`` is the engine's --root: the operation lock (pinnace.meta.operations)
    lives there.  ``collect_garbage`` runs GC (wired by the engine, because GC
    spans the content store and the snapshotter).  The content store and the
    snapshotter are built on first use, from factories: listing images needs
    neither, and should not pay for importing them.
    """

    __slots__ = (
        "_root",
        "records",
        "collect_garbage",
        "_content",
        "_snapshots",
        "_make_content",
        "_make_snapshots",
    )

    def __init__(
        self,
        root: str,
        records: ImageRecords,
        content: Callable[[], ContentStore],
        snapshots: Callable[[], Snapshotter],
        collect_garbage: Callable[[], Any],
    ) -> None:
        self._root = root
        self.records = records
        self.collect_garbage = collect_garbage
        self._make_content = content
        self._make_snapshots = snapshots
        self._content: ContentStore | None = None
        self._snapshots: Snapshotter | None = None

    @property
    def root(self) -> Path:
        from pathlib import Path  # on the write paths only: pathlib costs start-up

        return Path(self._root)

    @property
    def root_dir(self) -> str:
        """``root`` as a string, for the paths that must not import pathlib (``run``)."""
        return self._root

    @property
    def content(self) -> ContentStore:
        if self._content is None:
            self._content = self._make_content()
        return self._content

    @property
    def snapshots(self) -> Snapshotter:
        if self._snapshots is None:
            self._snapshots = self._make_snapshots()
        return self._snapshots


def now_rfc3339() -> str:
    """UTC time as Go's RFC3339Nano, as docker writes "created"."""
    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


def unique_ref(kind: str) -> str:
    """A name for an in-flight ingest or snapshot no other process will pick."""
    return f"{kind}-{os.urandom(8).hex()}"
