"""The stores image operations work on, bundled once by the engine."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinnace.content import ContentStore
from pinnace.images.records import ImageRecords
from pinnace.snapshots import Snapshotter


@dataclass(frozen=True, slots=True)
class Stores:
    """What image operations read and write.

    ``root`` is the engine's --root: the operation lock (pinnace.meta.operations)
    lives there.  ``collect_garbage`` runs GC (wired by the engine, because GC
    spans the content store and the snapshotter).
    """

    root: Path
    content: ContentStore
    snapshots: Snapshotter
    records: ImageRecords
    collect_garbage: Callable[[], Any]


def now_rfc3339() -> str:
    """UTC time as Go's RFC3339Nano, as docker writes "created"."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def unique_ref(kind: str) -> str:
    """A name for an in-flight ingest or snapshot no other process will pick."""
    return f"{kind}-{secrets.token_hex(8)}"
