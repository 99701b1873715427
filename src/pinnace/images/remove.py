"""``rmi``: untag versus delete, with docker's rules and messages.

Docker's rules (daemon/images/image_delete.go): removing by name untags that
name; the image itself goes when no tag is left.  Removing by ID deletes the
image with all its names, unless it is named in more than one repository
(then only with --force).  Blobs and snapshots are freed by GC afterwards,
so a layer another image shares stays.

An image containers use (``users``: their IDs and states) stays, in docker's
words: its last name is removed only with --force, and then the image itself
only when none of them runs; by ID, a stopped container's image goes only
with --force, a running one's never.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import Conflict, InvalidArgument, NotFound
from pinnace.images.records import Image, ImageRecords
from pinnace.oci.digest import short_id
from pinnace.oci.reference import Reference, familiar_string, parse_normalized, with_default_tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    #: The containers made from an image: (container ID, status), as ContainerRecords.using_image.
    Users = Callable[[str], Sequence[tuple[str, str]]]

#: The states in which docker counts a container as running (``IsRunning``: paused and restarting too).
RUNNING = frozenset(("running", "paused", "restarting"))


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


def remove(
    records: ImageRecords, ref: str, *, force: bool = False, users: Users | None = None
) -> Iterator[Removal]:
    """Untag or delete what ``ref`` names; yields what was done, in docker's order."""
    img = records.resolve(ref)
    named = _by_name(ref)
    using = users(img.id) if users is not None else ()
    running = next((cid for cid, status in using if status in RUNNING), None)
    if named is not None and str(named) in img.tags + img.repo_digests:
        if using and not force and _single_reference(img):
            raise Conflict(
                f'conflict: unable to remove repository reference "{ref}" (must force) - '
                f"container {using[0][0][:12]} is using its referenced image {short_id(img.id)}"
            )
        yield from _untag(records, img, str(named))
        img = records.get(img.id)
        if img.tags or (using and not force):
            return  # other tags keep the image, as do containers (docker: by the digest of another repository)
    else:
        if running is not None:
            raise _in_use(img, "cannot be forced", f"running container {running[:12]}")
        if img.tags and not force and len({t.rsplit(":", 1)[0] for t in img.tags}) > 1:
            raise Conflict(
                f"conflict: unable to delete {short_id(img.id)} (must be forced) - "
                "image is referenced in multiple repositories"
            )
        if using and not force:
            raise _in_use(img, "must be forced", f"stopped container {using[0][0][:12]}")
    for name in img.tags + img.repo_digests:
        yield from _untag(records, img, name)
    if running is not None:
        return  # rmi -f of a running container's last name: untagged, the image stays (docker's too)
    try:
        records.delete(img.id)
    except NotFound:  # removed by a concurrent rmi: the outcome the user asked for
        return
    yield Removal("Deleted", img.id)


def _untag(records: ImageRecords, img: Image, name: str) -> Iterator[Removal]:
    if records.untag(name, img.id):
        yield Removal("Untagged", familiar_string(name))


def _single_reference(img: Image) -> bool:
    """docker's isSingleReference: at most one tag, and every name in one repository."""
    names = img.tags + img.repo_digests
    return len(img.tags) <= 1 and len({n.rpartition("@")[0] or n.rpartition(":")[0] for n in names}) == 1


def _in_use(img: Image, forcing: str, user: str) -> Conflict:
    return Conflict(
        f"conflict: unable to delete {short_id(img.id)} ({forcing}) - image is being used by {user}"
    )
