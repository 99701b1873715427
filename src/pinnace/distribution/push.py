"""``push``: an image's blobs and manifest to a registry, the blobs it has already skipped.

Each blob (the layers, then the config) is first asked for (``HEAD``): one
the repository has is not sent ("Layer already exists").  One another
repository of the same registry has (the image was pulled from or pushed
to it: its repository digests say so) is mounted across (``POST
...?mount=&from=``, "Mounted from ..."), which the registry may refuse and
answer with an upload session instead.  The rest are uploaded: in one
``PUT`` when small, else in ``PATCH`` chunks with ``Content-Range`` and a
closing ``PUT ?digest=``, the registry's ``Location`` followed between
them.  Blobs go up in parallel (:data:`PARALLEL`); the manifest is put by
tag last, once everything it names is there, exactly as stored (its digest
is the one the image has).
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pinnace.content import ContentStore
    from pinnace.distribution.client import Repository
    from pinnace.distribution.config import RegistryConfig
    from pinnace.distribution.credentials import Credentials
    from pinnace.distribution.pull import PullEvent
    from pinnace.images.stores import Stores
    from pinnace.oci.descriptor import Descriptor
    from pinnace.oci.reference import Reference

#: Blobs uploaded at once (docker's max-concurrent-uploads default is 5).
PARALLEL = 5
#: Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size.
CHUNK = 32 * 1024 * 1024


@record
class PushResult:
    tag: str
    digest: str
    size: int


def push(
    stores: Stores,
    ref: Reference,
    *,
    config: RegistryConfig,
    credentials: Callable[[str], Credentials],
    progress: Callable[[PullEvent], None] = lambda _e: None,
) -> PushResult:
    """Push the image ``ref`` names (a tag of it, normalised) to its repository."""
    from pinnace.distribution.client import Repository
    from pinnace.distribution.transport import Transport
    from pinnace.oci.manifest import MAX_MANIFEST_BYTES, Manifest

    image = stores.records.resolve(str(ref))
    content = stores.content
    data = content.read_bytes(image.manifest_digest, MAX_MANIFEST_BYTES)
    manifest = Manifest.parse(data, image.manifest_media_type)
    endpoint = config.endpoints(ref.domain, push=True)[0]
    transport = Transport(endpoint, lambda: credentials(ref.domain))
    try:
        repository = Repository(transport, ref.path, push=True)
        sources = _mount_sources(stores, image.id, ref)
        blobs = [*manifest.layers, manifest.config]
        _upload_all(repository, content, blobs, sources, progress)
        tag = ref.tag or "latest"
        digest = repository.put_manifest(tag, data, manifest.media_type)
    finally:
        transport.close()
    if digest != image.manifest_digest:
        raise Unavailable(f"the registry stored the manifest as {digest}, not {image.manifest_digest}")
    stores.records.add_repo_digest(image.id, f"{ref.name}@{digest}")
    return PushResult(tag=tag, digest=digest, size=len(data))


def _mount_sources(stores: Stores, image_id: str, ref: Reference) -> list[str]:
    """Other repositories of the same registry this image came from or went to (to mount blobs from)."""
    out: list[str] = []
    for name in stores.records.repo_digests(image_id):
        repo = name.partition("@")[0]
        domain, _, path = repo.partition("/")
        if domain == ref.domain and path != ref.path and path not in out:
            out.append(path)
    return out


def _upload_all(
    repository: Repository,
    content: ContentStore,
    blobs: Sequence[Descriptor],
    sources: Sequence[str],
    progress: Callable[[PullEvent], None],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pinnace.distribution.pull import PullEvent

    unique: dict[str, Descriptor] = {}
    for blob in blobs:
        unique.setdefault(blob.digest, blob)
    for blob in unique.values():
        progress(PullEvent(_short(blob.digest), "Preparing"))
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(unique)), thread_name_prefix="push") as pool:
        futures = [pool.submit(_upload, repository, content, b, sources, progress) for b in unique.values()]
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def _upload(
    repository: Repository,
    content: ContentStore,
    blob: Descriptor,
    sources: Sequence[str],
    progress: Callable[[PullEvent], None],
) -> None:
    from pinnace.distribution.pull import PullEvent

    short = _short(blob.digest)
    if not content.exists(blob.digest):
        raise InvalidArgument(f"blob {blob.digest} of the image is not in the store")
    if repository.has_blob(blob.digest):
        progress(PullEvent(short, "Layer already exists"))
        return
    location = ""
    for source in sources:
        mounted, location = repository.mount(blob.digest, source)
        if mounted:
            progress(PullEvent(short, f"Mounted from {source}"))
            return
        if location:
            break
    if not location:
        location = repository.start_upload()
    progress(PullEvent(short, "Pushing", 0, blob.size))
    with content.open(blob.digest) as f:
        repository.upload(
            location,
            f,
            blob.digest,
            blob.size,
            CHUNK,
            lambda n: progress(PullEvent(short, "Pushing", n, blob.size)),
        )
    progress(PullEvent(short, "Pushed"))
