"""Record an image whose blobs are in the content store and whose layers are unpacked."""

from __future__ import annotations

import io

from pinnace.content import ContentStore
from pinnace.errors import InvalidArgument
from pinnace.images.records import Image, Layer, NewImage
from pinnace.images.stores import Stores, unique_ref
from pinnace.oci import mediatype
from pinnace.oci.config import ImageConfig, chain_ids
from pinnace.oci.descriptor import Descriptor
from pinnace.oci.digest import Digest, sha256_digest
from pinnace.oci.manifest import Manifest, canonical_json
from pinnace.oci.reference import Reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any


def put_bytes(content: ContentStore, data: bytes, media_type: str) -> Descriptor:
    """Store a small document (config, manifest) and describe it."""
    digest = sha256_digest(data)
    if not content.exists(digest):
        content.ingest(io.BytesIO(data), unique_ref("doc"), expected=digest, size=len(data))
    return Descriptor(media_type, digest, len(data))


def record_image(
    stores: Stores,
    *,
    manifest: Descriptor,
    config_digest: Digest,
    config: ImageConfig,
    layer_blobs: Sequence[Digest],
    tags: Iterable[Reference] = (),
    repo_digests: Iterable[str] = (),
) -> Image:
    """Write the image's record, its tags and its GC references in one transaction."""
    diff_ids = config.diff_ids
    if len(diff_ids) != len(layer_blobs):
        raise InvalidArgument(
            f"invalid image {config_digest}: {len(layer_blobs)} layers but {len(diff_ids)} diff IDs in its config"
        )
    chains = chain_ids(diff_ids)
    size = sum(stores.snapshots.usage(c).size for c in chains)
    labels = config.config.get("Labels") or {}
    image = Image(
        id=config_digest,
        manifest_digest=manifest.digest,
        manifest_media_type=manifest.media_type,
        created=config.created,
        size=size,
        added_at=0.0,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        repo_digests=tuple(repo_digests),
    )
    layers = [Layer(d, c, b) for d, c, b in zip(diff_ids, chains, layer_blobs, strict=True)]
    new = NewImage(image, blobs=[manifest.digest, config_digest, *layer_blobs], layers=layers)
    return stores.records.create(new, tags)


def store_image(
    stores: Stores,
    config_doc: Mapping[str, Any],
    layers: Sequence[Descriptor],
    *,
    manifest_type: str = mediatype.OCI_MANIFEST,
    tags: Iterable[Reference] = (),
) -> Image:
    """Store ``config_doc`` and a manifest of ``layers``, then record the image (``import``, ``commit``).

    The layer blobs are in the content store and unpacked already; the
    caller holds the operation lock (:func:`pinnace.meta.operations.operation`).
    """
    docker = manifest_type == mediatype.DOCKER_MANIFEST
    config_bytes = canonical_json(config_doc)
    config_type = mediatype.DOCKER_CONFIG if docker else mediatype.OCI_CONFIG
    config_desc = put_bytes(stores.content, config_bytes, config_type)
    manifest = Manifest(config=config_desc, layers=tuple(layers), media_type=manifest_type)
    manifest_desc = put_bytes(stores.content, manifest.to_bytes(), manifest_type)
    return record_image(
        stores,
        manifest=manifest_desc,
        config_digest=config_desc.digest,
        config=ImageConfig.parse(config_bytes),
        layer_blobs=[layer.digest for layer in layers],
        tags=tags,
    )
