"""``pull``: a manifest (an index resolved to this machine's or the asked platform), its config and
layers from a registry into the store, verified, then recorded as an image.

Layers download in parallel (:data:`PARALLEL` at once, as docker's
``max-concurrent-downloads`` default is 3) and each is unpacked into a
parentless snapshot while its bytes stream in and go to the content store
(one read; hashing and writing on the blob writer's thread); the snapshots
are put on their parents in order once all are in (overlay rebases an
active snapshot), so the slowest layer bounds the pull, not their sum.  A
layer whose snapshot and blob are here already is not fetched.

Every blob is written to an ingest named for its digest and committed only
when its digest and size check out, so nothing unverified becomes visible.
A download cut off (a connection reset, a timeout) is taken up again
from where it stopped, asking the registry for the rest (``Range``), a few
times with growing waits (:data:`RETRIES`); one that still fails, or a
process killed, leaves its partial ingest, and the next pull of the blob
goes on from there.  A layer resumed that way is unpacked from its
committed blob.  Nothing is recorded until every layer is in: a failed pull
leaves no image, and its unplaced snapshots are removed.
"""

from __future__ import annotations

import time

from pinnace._util.record import record
from pinnace.errors import AlreadyExists, DigestMismatch, InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from pinnace.archive.apply import ApplyResult
    from pinnace.distribution.client import Repository
    from pinnace.distribution.config import RegistryConfig
    from pinnace.distribution.credentials import Credentials
    from pinnace.images.records import Image
    from pinnace.images.stores import Stores
    from pinnace.oci.descriptor import Descriptor, Platform
    from pinnace.oci.reference import Reference

#: Layers downloaded at once.
PARALLEL = 3
#: The most a config blob may weigh (it is read whole).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
#: Bytes read from a blob's stream at a time.
CHUNK = 1 << 20
#: A blob download cut off is taken up again (from where it stopped) this many times, after
#: RETRY_WAIT, 2 * RETRY_WAIT ... seconds (docker retries a layer five times).
RETRIES = 4
RETRY_WAIT = 0.5


@record
class PullEvent:
    """A step of a pull, for progress: ``id`` is a layer's short digest ("" for the image)."""

    id: str
    status: (
        str  # docker's words: "Pulling fs layer", "Downloading", "Download complete", "Pull complete", ...
    )
    current: int = 0
    total: int = 0


@record
class PullResult:
    image: Image
    reference: Reference  # what was pulled, normalised (with its tag)
    digest: str  # the registry's digest of what the reference named (an index's, for a multi-platform tag)
    up_to_date: bool  # the image was here already under that name


def pull(
    stores: Stores,
    ref: Reference,
    *,
    config: RegistryConfig,
    credentials: Callable[[str], Credentials],
    platform: Platform | None = None,
    progress: Callable[[PullEvent], None] = lambda _e: None,
) -> PullResult:
    """Pull ``ref`` (normalised, a tag or a digest) into ``stores``; the image recorded."""
    from pinnace.distribution.client import Repository
    from pinnace.distribution.transport import Transport
    from pinnace.oci.descriptor import Platform

    wanted = platform or Platform.host()
    endpoints = config.endpoints(ref.domain)
    last: BaseException | None = None
    for endpoint in endpoints:
        transport = Transport(endpoint, lambda: credentials(ref.domain))
        try:
            repository = Repository(transport, ref.path)
            return _pull(stores, repository, ref, wanted, progress)
        except (Unavailable, DigestMismatch) as e:
            if not endpoint.mirror:
                raise
            last = e  # a mirror that fails: the next endpoint (at last the registry itself)
        finally:
            transport.close()
    assert last is not None
    raise last


def _pull(
    stores: Stores,
    repository: Repository,
    ref: Reference,
    wanted: Platform,
    progress: Callable[[PullEvent], None],
) -> PullResult:
    from pinnace.distribution import platforms
    from pinnace.images.create import record_image
    from pinnace.meta.operations import operation
    from pinnace.oci import mediatype
    from pinnace.oci.config import ImageConfig, chain_ids
    from pinnace.oci.descriptor import Descriptor
    from pinnace.oci.digest import Digest
    from pinnace.oci.manifest import Index, Manifest, load_json_document

    target = ref.digest or ref.tag or "latest"
    data, media_type, digest = repository.manifest(target)
    top_digest = digest
    media_type = media_type if media_type in mediatype.MANIFESTS | mediatype.INDEXES else ""
    media_type = media_type or str(load_json_document(data, "manifest").get("mediaType") or "")
    documents = [(data, media_type, digest)]
    if media_type in mediatype.INDEXES:
        index = Index.parse(data, media_type)
        chosen = platforms.choose(index.manifests, wanted)
        data, media_type, digest = repository.manifest(chosen.digest)
        if len(data) != chosen.size:
            raise DigestMismatch(f"manifest {chosen.digest}: {len(data)} bytes, the index says {chosen.size}")
        media_type = chosen.media_type or media_type
        documents.append((data, media_type, digest))
    if media_type not in mediatype.MANIFESTS:
        raise InvalidArgument(f"unsupported manifest media type {media_type!r} for {ref.familiar()}")
    manifest = Manifest.parse(data, media_type)
    for layer in manifest.layers:
        if layer.media_type not in mediatype.LAYERS:
            raise InvalidArgument(f"unsupported layer media type {layer.media_type!r} in {ref.familiar()}")

    tags = [ref] if ref.tag and not ref.digest else []
    repo_digest = f"{ref.name}@{top_digest}"
    existing = _existing(stores, repo_digest, manifest.config.digest)
    with operation(stores.root_dir):
        content = stores.content
        for doc, _mt, d in documents:
            _put(content, doc, d)
        config_bytes = _blob_bytes(repository, content, manifest.config, MAX_CONFIG_BYTES)
        config = ImageConfig.parse(config_bytes)
        if len(config.diff_ids) != len(manifest.layers):
            raise InvalidArgument(
                f"invalid image {manifest.config.digest}: {len(manifest.layers)} layers but {len(config.diff_ids)} diff IDs"
            )
        chains = chain_ids(config.diff_ids)
        fetched = _Layers(repository, stores, progress)
        try:
            fetched.fetch_all(manifest.layers, chains)
            from pinnace.images.unpack import unpack

            unpack(
                content, stores.snapshots, [x.digest for x in manifest.layers], config.diff_ids, fetched.place
            )
        finally:
            fetched.discard()
        image = record_image(
            stores,
            manifest=Descriptor(media_type, Digest(digest), len(data)),
            config_digest=manifest.config.digest,
            config=config,
            layer_blobs=[x.digest for x in manifest.layers],
            tags=tags,
            repo_digests=[repo_digest],
        )
    for layer in manifest.layers:
        if fetched.downloaded.get(layer.digest):
            progress(PullEvent(_short(layer.digest), "Pull complete"))
    return PullResult(image=image, reference=tags[0] if tags else ref, digest=top_digest, up_to_date=existing)


def _existing(stores: Stores, repo_digest: str, image_id: str) -> bool:
    """Whether this image is here already under this repository digest (docker's "Image is up to date")."""
    return repo_digest in stores.records.repo_digests(image_id)


def _short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def _put(content: Any, data: bytes, digest: str) -> None:
    import io

    from pinnace.images.stores import unique_ref

    if not content.exists(digest):
        content.ingest(io.BytesIO(data), unique_ref("pull"), expected=digest, size=len(data))


def _blob_bytes(repository: Repository, content: Any, desc: Descriptor, limit: int) -> bytes:
    """A small blob (a config), from the store or fetched and stored."""
    if desc.size > limit:
        raise InvalidArgument(f"blob {desc.digest} is too big ({desc.size} bytes; at most {limit})")
    if not content.exists(desc.digest):
        response = repository.blob(desc.digest)
        try:
            data = _Body(response.stream(), desc).read_all()
        finally:
            response.close()
        _put(content, data, desc.digest)
    data = content.read_bytes(desc.digest, limit)
    return bytes(data)


class _Body:
    """A blob's HTTP body as a file: urllib3's errors become Unavailable, and no byte past its size is read."""

    def __init__(
        self, raw: Any, desc: Descriptor, offset: int = 0, counted: Callable[[int], None] | None = None
    ) -> None:
        self._raw = raw
        self._desc = desc
        self._left = desc.size - offset
        self._counted = counted

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n < 0 else min(n, self._left)
        try:
            data = self._raw.read(want)
        except Exception as e:  # urllib3's ProtocolError, ReadTimeoutError...: the connection failed
            from pinnace.distribution.transport import _reason

            raise Unavailable(f"download of {self._desc.digest} cut off: {_reason(e)}") from None
        if not data:
            raise Unavailable(f"download of {self._desc.digest} cut off: {self._left} bytes missing")
        self._left -= len(data)
        if self._counted is not None:
            self._counted(len(data))
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read_all(self) -> bytes:
        chunks = []
        while chunk := self.read(CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)


class _Layers:
    """A pull's layer downloads: fetched in parallel, each unpacked while it streams in when it can be."""

    def __init__(self, repository: Repository, stores: Stores, progress: Callable[[PullEvent], None]) -> None:
        self.repository = repository
        self.stores = stores
        self.progress = progress
        self._unpacked: dict[str, tuple[str, str]] = {}  # blob -> (active snapshot key, diff ID)
        self.downloaded: dict[str, bool] = {}
        # The snapshotter's records share one database connection: one thread at a time in it.
        import threading

        self._records = threading.Lock()

    def fetch_all(self, layers: tuple[Descriptor, ...], chains: Sequence[str]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from pinnace.images.unpack import has_snapshot

        todo: list[Descriptor] = []
        for layer, chain in zip(layers, chains, strict=True):
            if self.stores.content.exists(layer.digest) and has_snapshot(self.stores.snapshots, chain):
                self.progress(PullEvent(_short(layer.digest), "Already exists"))
            elif layer.digest not in (d.digest for d in todo):
                self.progress(PullEvent(_short(layer.digest), "Pulling fs layer"))
                todo.append(layer)
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(todo)), thread_name_prefix="pull") as pool:
            futures = [pool.submit(self._fetch, layer) for layer in todo]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _fetch(self, layer: Descriptor) -> None:
        """Download one layer into the store (unpacked on the way, unless resuming)."""
        content = self.stores.content
        short = _short(layer.digest)
        try:
            writer = content.writer(
                "pull-" + layer.digest.partition(":")[2], expected=layer.digest, total=layer.size
            )
        except AlreadyExists:
            return  # committed meanwhile (another pull): unpack() takes it from the store
        done = [writer.offset]

        def counted(n: int) -> None:
            done[0] += n
            self.progress(PullEvent(short, "Downloading", done[0], layer.size))

        try:
            for attempt in range(1, RETRIES + 2):
                try:
                    self._transfer(layer, writer, done, counted)
                    break
                except Unavailable:
                    if attempt > RETRIES:
                        raise
                    wait = RETRY_WAIT * attempt
                    self.progress(PullEvent(short, f"Retrying in {wait:g} seconds"))
                    time.sleep(wait)  # then on from what arrived (Range)
            self.progress(PullEvent(short, "Verifying Checksum"))
            try:
                writer.commit(layer.size, layer.digest)
            except BaseException:
                self._drop(layer.digest)
                raise
        except (Unavailable, KeyboardInterrupt):
            writer.close()  # the transfer broke off: keep what arrived, for the next pull to resume
            raise
        except BaseException:
            writer.abort()  # wrong or corrupt bytes: nothing worth resuming
            raise
        self.downloaded[layer.digest] = True
        self.progress(PullEvent(short, "Download complete"))

    def _transfer(
        self, layer: Descriptor, writer: Any, done: list[int], counted: Callable[[int], None]
    ) -> None:
        """Fetch what the ingest lacks of the blob (all of it: unpacked on the way; the rest: appended)."""
        offset = writer.offset if writer.offset < layer.size else 0
        response = self.repository.blob(layer.digest, offset)
        try:
            if offset and response.status != 206:
                offset = 0  # the registry ignored the Range: from the start
            if offset == 0:
                writer.truncate(0)
                self._drop(layer.digest)
                done[0] = 0
            body = _Body(response.stream(), layer, offset, counted)
            if offset == 0 and self._streams():
                key, result = self._stream_unpack(body, writer)
                self._unpacked[layer.digest] = (key, result.diff_id)
            else:  # resuming: the rest into the ingest; unpack() reads the committed blob
                while chunk := body.read(CHUNK):
                    writer.write(chunk)
        finally:
            response.close()

    def _streams(self) -> bool:
        from pinnace.images.streaming import Rebaser

        return isinstance(self.stores.snapshots, Rebaser)

    def _stream_unpack(self, body: Any, writer: Any) -> tuple[str, ApplyResult]:
        """Unpack the layer into a new parentless snapshot while its bytes go to ``writer``."""
        from pinnace._util.background import BackgroundSink
        from pinnace.archive import apply_layer
        from pinnace.images.stores import unique_ref
        from pinnace.mount import writable_dir

        snapshots = self.stores.snapshots
        key = unique_ref("pull")
        with self._records:
            mounts = snapshots.prepare(key, "")
        try:
            with BackgroundSink(writer.write) as sink:
                result = apply_layer(body, writable_dir(mounts), tee=sink)
                sink.close()
        except BaseException:
            with self._records:
                snapshots.remove(key)
            raise
        return key, result

    def _drop(self, blob: str) -> None:
        entry = self._unpacked.pop(blob, None)
        if entry is not None:
            with self._records:
                self.stores.snapshots.remove(entry[0])

    def place(self, blob: str, diff_id: str, chain_id: str, parent: str) -> bool:
        """Commit the layer unpacked from ``blob`` as ``chain_id`` on ``parent`` (unpack()'s placer)."""
        from pinnace.images.unpack import commit

        entry = self._unpacked.pop(blob, None)
        if entry is None:
            return False
        key, got = entry
        if got != diff_id:
            self.stores.snapshots.remove(key)
            raise DigestMismatch(
                f"layer {blob}: unpacked diff ID {got} does not match {diff_id} in the image config"
            )
        if parent:
            try:
                self.stores.snapshots.rebase(key, parent)  # type: ignore[attr-defined]
            except BaseException:
                self.stores.snapshots.remove(key)
                raise
        commit(self.stores.snapshots, key, chain_id)
        return True

    def discard(self) -> None:
        """Remove the snapshots unpacked and never placed (a failed pull)."""
        for key, _ in self._unpacked.values():
            try:
                self.stores.snapshots.remove(key)
            except Exception:
                pass
        self._unpacked.clear()
