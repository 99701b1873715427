"""``pinnace save``: images to a docker-archive tar (or an OCI layout tar).

The docker-archive written here is the one Docker 25+ writes: an OCI image
layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``) plus the legacy
``manifest.json`` and ``repositories`` that older loaders (podman's
docker-archive transport, old docker) read.  ``--format oci`` leaves the
legacy files out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pinnace.errors import InvalidArgument
from pinnace.images.records import Image
from pinnace.images.stores import Stores
from pinnace.images.tarstream import TarWriter
from pinnace.oci import mediatype
from pinnace.oci.descriptor import Descriptor
from pinnace.oci.digest import digest_hex, is_digest
from pinnace.oci.manifest import MAX_MANIFEST_BYTES, Index, Manifest, canonical_json
from pinnace.oci.reference import Reference, parse_normalized

FORMATS = ("docker", "oci")


@dataclass
class _Selected:
    image: Image
    names: list[Reference] = field(default_factory=list)


def select(stores: Stores, refs: Sequence[str]) -> list[_Selected]:
    """Resolve what to save, as docker: a name without tag means every tag of that repository."""
    chosen: dict[str, _Selected] = {}
    for ref in refs:
        names: list[Reference] = []
        try:  # an image ID ("sha256:HEX") names no repository, though it parses as one ("sha256", tag HEX)
            parsed = None if is_digest(ref) else parse_normalized(ref)
        except InvalidArgument:
            parsed = None
        if parsed is not None and not parsed.tag and not parsed.digest:
            repo_tags = [
                t for img in stores.records.all() for t in img.tags if t.rsplit(":", 1)[0] == parsed.name
            ]
            if repo_tags:
                for t in repo_tags:
                    r = parse_normalized(t)
                    img = stores.records.resolve(t)
                    chosen.setdefault(img.id, _Selected(img)).names.append(r)
                continue
        img = stores.records.resolve(ref)
        if parsed is not None and parsed.tag:
            names.append(parsed)
        entry = chosen.setdefault(img.id, _Selected(img))
        entry.names.extend(n for n in names if n not in entry.names)
    return list(chosen.values())


def check_format(fmt: str) -> None:
    """Refuse an archive format that is none of :data:`FORMATS` (a remote save checks it too)."""
    if fmt not in FORMATS:
        raise InvalidArgument(f'unsupported format "{fmt}": use "docker" or "oci"')


def save(stores: Stores, refs: Sequence[str], out: BinaryIO, *, fmt: str = "docker") -> None:
    check_format(fmt)
    if not refs:
        raise InvalidArgument("requires at least 1 argument")
    selected = select(stores, refs)
    content = stores.content
    blobs: dict[str, None] = {}
    index_entries: list[Descriptor] = []
    legacy: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for sel in selected:
        img = sel.image
        manifest = Manifest.parse(
            content.read_bytes(img.manifest_digest, MAX_MANIFEST_BYTES), img.manifest_media_type
        )
        mdesc = Descriptor(
            img.manifest_media_type, img.manifest_digest, content.info(img.manifest_digest).size
        )
        for d in (img.manifest_digest, manifest.config.digest, *(x.digest for x in manifest.layers)):
            blobs[d] = None
        layer_paths = [f"blobs/sha256/{digest_hex(x.digest)}" for x in manifest.layers]
        if sel.names:
            for name in sel.names:
                index_entries.append(
                    Descriptor(
                        mdesc.media_type,
                        mdesc.digest,
                        mdesc.size,
                        annotations={
                            "io.containerd.image.name": str(name),
                            "org.opencontainers.image.ref.name": name.tag,
                        },
                    )
                )
                repositories.setdefault(name.familiar_name, {})[name.tag] = digest_hex(img.id)
        else:
            index_entries.append(mdesc)
        legacy.append(
            {
                "Config": f"blobs/sha256/{digest_hex(manifest.config.digest)}",
                "RepoTags": [n.familiar() for n in sel.names] or None,
                "Layers": layer_paths,
            }
        )
    writer = TarWriter(out)
    writer.add_dir("blobs")
    writer.add_dir("blobs/sha256")
    for digest in blobs:
        writer.add_file(f"blobs/sha256/{digest_hex(digest)}", content.path(digest))  # type: ignore[arg-type]
    writer.add_bytes("index.json", Index(tuple(index_entries), mediatype.OCI_INDEX).to_bytes())
    if fmt == "docker":
        writer.add_bytes("manifest.json", canonical_json(legacy))
        if repositories:
            writer.add_bytes("repositories", json.dumps(repositories).encode())
    writer.add_bytes("oci-layout", canonical_json({"imageLayoutVersion": mediatype.OCI_LAYOUT_VERSION}))
    writer.close()
