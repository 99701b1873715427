"""The composition root: builds every store and service from the configuration.

No logic lives here, only wiring.  Everything is built on first use, so a
command pays only for the stores it touches (``pinnace --help`` opens no
database).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pinnace.errors import map_errors, Unavailable

if TYPE_CHECKING:
    from pinnace.content import ContentStore
    from pinnace.images.service import ImageService
    from pinnace.meta.db import Database
    from pinnace.meta.gc import GCReport
    from pinnace.snapshots.overlay import OverlaySnapshotter

DEFAULT_ROOT = "/var/lib/pinnace"
DEFAULT_RUNROOT = "/run/pinnace"


@dataclass(frozen=True, slots=True)
class Config:
    root: Path
    runroot: Path

    @classmethod
    def from_env(cls, root: str | None = None, runroot: str | None = None) -> Config:
        """Flags win over PINNACE_ROOT / PINNACE_RUNROOT, which win over the defaults."""
        return cls(
            Path(root or os.environ.get("PINNACE_ROOT") or DEFAULT_ROOT).absolute(),
            Path(runroot or os.environ.get("PINNACE_RUNROOT") or DEFAULT_RUNROOT).absolute(),
        )


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def db(self) -> Database:
        from pinnace.meta.db import Database

        with map_errors({OSError: Unavailable}, f"create {self.config.root}"):
            self.config.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        return Database(self.config.root / "pinnace.db")

    @cached_property
    def content(self) -> ContentStore:
        from pinnace.content import ContentStore

        return ContentStore(self.config.root / "content")

    @cached_property
    def snapshots(self) -> OverlaySnapshotter:
        from pinnace.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(self.config.root / "snapshots", self.db)

    @cached_property
    def images(self) -> ImageService:
        from pinnace.images.records import ImageRecords
        from pinnace.images.service import ImageService
        from pinnace.images.stores import Stores

        stores = Stores(
            root=self.config.root,
            content=self.content,
            snapshots=self.snapshots,
            records=ImageRecords(self.db),
            collect_garbage=self.collect_garbage,
        )
        return ImageService(stores)

    def collect_garbage(self) -> GCReport:
        """Remove every blob, snapshot and ingest no root reaches (waits for in-flight operations)."""
        from pinnace.meta.gc import collect

        return collect(self.db, self.config.root, self.content, self.snapshots)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
