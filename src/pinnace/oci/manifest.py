"""Image manifests and indexes (OCI v1.1, Docker v2.2), parsed defensively.

Manifests come from archives and registries, i.e. from strangers: the parser
refuses oversized documents and anything that is not the expected shape with
an :class:`InvalidArgument` naming what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnace.errors import InvalidArgument
from pinnace.oci import mediatype
from pinnace.oci.descriptor import Descriptor

#: Largest manifest or index accepted (distribution's limit is 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def load_json_document(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object of at most MAX_MANIFEST_BYTES bytes."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidArgument(f"{what} too large: {len(data)} bytes (limit {MAX_MANIFEST_BYTES})")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid {what}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid {what}: not a JSON object")
    return doc


@dataclass(frozen=True, slots=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatype.OCI_MANIFEST
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Manifest:
        doc = load_json_document(data, "manifest")
        if doc.get("schemaVersion") != 2:
            raise InvalidArgument(f"unsupported manifest schemaVersion {doc.get('schemaVersion')!r}")
        mt = str(doc.get("mediaType") or media_type or mediatype.OCI_MANIFEST)
        if mt not in mediatype.MANIFESTS:
            raise InvalidArgument(f"unsupported manifest media type {mt!r}")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidArgument("invalid manifest: layers missing")
        return cls(
            config=Descriptor.from_dict(doc.get("config")),
            layers=tuple(Descriptor.from_dict(x) for x in layers),
            media_type=mt,
            annotations=dict(doc.get("annotations") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [x.to_dict() for x in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())


@dataclass(frozen=True, slots=True)
class Index:
    manifests: tuple[Descriptor, ...]
    media_type: str = mediatype.OCI_INDEX
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Index:
        doc = load_json_document(data, "index")
        if doc.get("schemaVersion") != 2:
            raise InvalidArgument(f"unsupported index schemaVersion {doc.get('schemaVersion')!r}")
        mt = str(doc.get("mediaType") or media_type or mediatype.OCI_INDEX)
        if mt not in mediatype.INDEXES:
            raise InvalidArgument(f"unsupported index media type {mt!r}")
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise InvalidArgument("invalid index: manifests missing")
        return cls(
            manifests=tuple(Descriptor.from_dict(x) for x in manifests),
            media_type=mt,
            annotations=dict(doc.get("annotations") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [x.to_dict() for x in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())


def canonical_json(doc: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (no spaces, keys as given)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
