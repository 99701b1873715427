"""The content store: immutable blobs addressed by digest, verified on commit.

Blobs (manifests, configs, compressed layers) enter through a
:class:`Writer` that hashes while it streams and only renames the bytes into
place once their size and digest check out; a writer killed half-way leaves
an ingest that the next writer of the same ref resumes.
"""

from __future__ import annotations

from pinnace.content.info import BlobInfo, IngestStatus
from pinnace.content.store import ContentStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.content.writer import Writer


def __getattr__(name: str) -> object:
    """:class:`Writer` on first use: it imports hashlib and pathlib, which reading a blob needs not."""
    if name == "Writer":
        from pinnace.content.writer import Writer

        return Writer
    raise AttributeError(f"module 'pinnace.content' has no attribute {name!r}")


__all__ = ["BlobInfo", "ContentStore", "IngestStatus", "Writer"]
