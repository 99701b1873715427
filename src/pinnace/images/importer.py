"""``pinnace import``: a rootfs tarball becomes a one-layer image.

The tarball is read once: each chunk goes to the content store (the layer
blob) while the same bytes are unpacked into a snapshot, hashing both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO

from pinnace.images.changes import apply_changes
from pinnace.images.create import store_image
from pinnace.images.records import Image
from pinnace.images.stores import Stores, now_rfc3339
from pinnace.images.unpack import commit, extract_and_store
from pinnace.meta.operations import operation
from pinnace.oci import mediatype
from pinnace.oci.descriptor import Descriptor, Platform
from pinnace.oci.reference import Reference

_LAYER_TYPES = {
    b"\x1f\x8b": mediatype.OCI_LAYER_GZIP,
    b"\x28\xb5\x2f\xfd": mediatype.OCI_LAYER_ZSTD,
}


def import_rootfs(
    stores: Stores,
    stream: BinaryIO,
    *,
    source: str,
    tag: Reference | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    platform: Platform | None = None,
) -> Image:
    """Import the rootfs tar on ``stream`` (plain, gzip or zstd) as an image."""
    plat = platform or Platform.host()
    cfg = apply_changes({}, changes)  # validate before reading a byte
    try:
        with operation(stores.root):
            key, result, blob = extract_and_store(stores.content, stores.snapshots, stream)
            commit(stores.snapshots, key, result.diff_id)

            with stores.content.open(blob.digest) as f:
                magic = f.read(4)
            layer_type = next(
                (mt for m, mt in _LAYER_TYPES.items() if magic.startswith(m)), mediatype.OCI_LAYER
            )
            created = now_rfc3339()
            comment = message or f"Imported from {source}"
            config_doc: dict[str, Any] = {
                "architecture": plat.architecture,
                "os": plat.os,
                **({"variant": plat.variant} if plat.variant else {}),
                "created": created,
                "comment": comment,
                "config": cfg,
                "history": [{"created": created, "comment": comment}],
                "rootfs": {"type": "layers", "diff_ids": [result.diff_id]},
            }
            layers = [Descriptor(layer_type, blob.digest, blob.size)]
            return store_image(stores, config_doc, layers, tags=[tag] if tag else [])
    except BaseException:
        stores.collect_garbage()
        raise
