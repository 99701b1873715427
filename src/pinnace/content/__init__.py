"""The content store: immutable blobs addressed by digest, verified on commit.

Blobs (manifests, configs, compressed layers) enter through a
:class:`Writer` that hashes while it streams and only renames the bytes into
place once their size and digest check out; a writer killed half-way leaves
an ingest that the next writer of the same ref resumes.
"""

from __future__ import annotations

from pinnace.content.info import BlobInfo, IngestStatus
from pinnace.content.store import ContentStore
from pinnace.content.writer import Writer

__all__ = ["BlobInfo", "ContentStore", "IngestStatus", "Writer"]
