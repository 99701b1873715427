"""The records the content store hands out: a committed blob, an ingest in flight."""

from __future__ import annotations

from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.oci.digest import Digest


@record
class BlobInfo:
    """A committed, verified blob: its digest and its size in bytes."""

    digest: Digest
    size: int


@record
class IngestStatus:
    """An ingest that has not been committed: how far it got and since when.

    ``offset`` is how many bytes are already written (where a resumed writer
    continues); ``total`` is the size announced when it started, if any;
    ``started`` and ``updated`` are unix times.
    """

    ref: str
    offset: int
    total: int | None
    started: float
    updated: float
