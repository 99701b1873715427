"""Image manifests and indexes (OCI v1.1, Docker v2.2), parsed defensively.

Manifests come from archives and registries, i.e. from strangers: the parser
refuses oversized documents and anything that is not the expected shape with
an :class:`InvalidArgument` naming what is wrong.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import InvalidArgument
from pinnace.oci import mediatype
from pinnace.oci.descriptor import _NO_ANNOTATIONS, Descriptor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: Largest manifest or index accepted (distribution's limit is 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def load_json_document(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object of at most MAX_MANIFEST_BYTES bytes."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidArgument(f"{what} too large: {len(data)} bytes (limit {MAX_MANIFEST_BYTES})")
    from pinnace._util import jsonc

    try:
        doc = jsonc.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid {what}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid {what}: not a JSON object")
    return doc


@record
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatype.OCI_MANIFEST
    annotations: Mapping[str, str] = _NO_ANNOTATIONS

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Manifest:
        doc, mt, layers = _parse_document(
            data, "manifest", "layers", media_type, mediatype.OCI_MANIFEST, mediatype.MANIFESTS
        )
        return cls(
            config=Descriptor.from_dict(doc.get("config")),
            layers=layers,
            media_type=mt,
            annotations=dict(doc.get("annotations") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return _document(self.media_type, self.annotations, config=self.config.to_dict(), layers=self.layers)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())


@record
class Index:
    manifests: tuple[Descriptor, ...]
    media_type: str = mediatype.OCI_INDEX
    annotations: Mapping[str, str] = _NO_ANNOTATIONS

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Index:
        doc, mt, manifests = _parse_document(
            data, "index", "manifests", media_type, mediatype.OCI_INDEX, mediatype.INDEXES
        )
        return cls(manifests=manifests, media_type=mt, annotations=dict(doc.get("annotations") or {}))

    def to_dict(self) -> dict[str, Any]:
        return _document(self.media_type, self.annotations, manifests=self.manifests)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())


def _parse_document(
    data: bytes, what: str, list_key: str, media_type: str, default: str, allowed: frozenset[str]
) -> tuple[dict[str, Any], str, tuple[Descriptor, ...]]:
    """The checks a manifest and an index share: version, media type, descriptor list."""
    doc = load_json_document(data, what)
    if doc.get("schemaVersion") != 2:
        raise InvalidArgument(f"unsupported {what} schemaVersion {doc.get('schemaVersion')!r}")
    mt = str(doc.get("mediaType") or media_type or default)
    if mt not in allowed:
        raise InvalidArgument(f"unsupported {what} media type {mt!r}")
    entries = doc.get(list_key)
    if not isinstance(entries, list):
        raise InvalidArgument(f"invalid {what}: {list_key} missing")
    return doc, mt, tuple(Descriptor.from_dict(x) for x in entries)


def _document(media_type: str, annotations: Mapping[str, str], **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    for key, value in body.items():
        out[key] = [x.to_dict() for x in value] if isinstance(value, tuple) else value
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def canonical_json(doc: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (no spaces, keys as given)."""
    from pinnace._util import jsonc

    return jsonc.dumps(doc, compact=True).encode()
