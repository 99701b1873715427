"""``rmi``: untag versus delete, with docker's rules and messages.

Docker's rules (daemon/images/image_delete.go): removing by name untags that
name; the image itself goes when no tag is left.  Removing by ID deletes the
image with all its names, unless it is named in more than one repository
(then only with --force).  Blobs and snapshots are freed by GC afterwards,
so a layer another image shares stays.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, NotFound
from pinnace.images.records import Image, ImageRecords
from pinnace.oci.digest import short_id
from pinnace.oci.reference import Reference, familiar_string, parse_normalized, with_default_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


@record
class Removal:
    """One line of rmi's output: ``Untagged: busybox:latest`` or ``Deleted: sha256:...``."""

    action: str  # "Untagged" | "Deleted"
    name: str


def _by_name(ref: str) -> Reference | None:
    """The tag or digest reference ``ref`` names, or None when it is an ID (prefix)."""
    if ref.startswith("sha256:"):
        return None
    try:
        parsed = parse_normalized(ref)
    except InvalidArgument:
        return None
    return parsed if parsed.digest else with_default_tag(parsed)


def remove(records: ImageRecords, ref: str, *, force: bool = False) -> Iterator[Removal]:
    """Untag or delete what ``ref`` names; yields what was done, in docker's order."""
    img = records.resolve(ref)
    named = _by_name(ref)
    if named is not None and str(named) in img.tags + img.repo_digests:
        yield from _untag(records, img, str(named))
        img = records.get(img.id)
        if img.tags:
            return  # other tags keep the image
    elif img.tags and not force and len({t.rsplit(":", 1)[0] for t in img.tags}) > 1:
        raise Conflict(
            f"conflict: unable to delete {short_id(img.id)} (must be forced) - "
            "image is referenced in multiple repositories"
        )
    for name in img.tags + img.repo_digests:
        yield from _untag(records, img, name)
    try:
        records.delete(img.id)
    except NotFound:  # removed by a concurrent rmi: the outcome the user asked for
        return
    yield Removal("Deleted", img.id)


def _untag(records: ImageRecords, img: Image, name: str) -> Iterator[Removal]:
    if records.untag(name, img.id):
        yield Removal("Untagged", familiar_string(name))
