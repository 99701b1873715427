"""``pinnace load``: docker-archive and OCI-layout tarballs (gzip too) into the store.

The archive is read as a stream, once: every file that will be needed as a
blob goes straight into the content store, verified against the digest its
path names (``blobs/sha256/HEX``) or hashed (legacy ``ID/layer.tar``).
Small JSON documents are kept in memory, size-capped.  Then the images the
archive describes are checked against what arrived, unpacked and recorded.
Archive member names are never used as filesystem paths: nothing in an
archive can write outside the content store.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from pinnace.archive import open_decompressed
from pinnace.content import ContentStore
from pinnace.errors import DigestMismatch, InvalidArgument, NotFound
from pinnace.images.create import put_bytes, record_image
from pinnace.images.stores import Stores
from pinnace.images.streaming import StreamingUnpacker
from pinnace.images.unpack import unpack
from pinnace.meta.operations import operation
from pinnace.oci import mediatype
from pinnace.oci.config import ImageConfig
from pinnace.oci.descriptor import Descriptor, Platform
from pinnace.oci.digest import Digest, is_digest, parse_digest
from pinnace.oci.manifest import MAX_MANIFEST_BYTES, Index, Manifest, load_json_document
from pinnace.oci.reference import Reference, parse_normalized

_DOCUMENTS = ("manifest.json", "index.json", "repositories", "oci-layout")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One image the archive held, and the names it was loaded under."""

    image_id: Digest
    names: tuple[Reference, ...]


class _Archive:
    """What one pass over the archive left: documents in memory, everything else as blobs."""

    def __init__(self, content: ContentStore, unpacker: StreamingUnpacker) -> None:
        self.content = content
        self.unpacker = unpacker
        self.documents: dict[str, bytes] = {}
        self.by_path: dict[str, Digest] = {}
        self.links: dict[str, str] = {}

    def read(self, stream: BinaryIO) -> None:
        raw, _ = open_decompressed(stream)
        try:
            with tarfile.open(fileobj=raw, mode="r|") as tar:
                for member in tar:
                    self._member(tar, member)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid archive: {exc}") from exc
        except EOFError as exc:
            raise InvalidArgument("invalid archive: unexpected EOF") from exc

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = _clean(member.name)
        if member.issym() or member.islnk():
            target = (
                member.linkname
                if member.islnk()
                else posixpath.join(posixpath.dirname(name), member.linkname)
            )
            self.links[name] = _clean(target)
            return
        if not member.isfile():
            return
        src = tar.extractfile(member)
        assert src is not None
        if name in _DOCUMENTS:
            if member.size > MAX_MANIFEST_BYTES:
                raise InvalidArgument(f"invalid archive: {name} too large ({member.size} bytes)")
            self.documents[name] = src.read()
            return
        expected: Digest | None = None
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
            expected = parse_digest("sha256:" + parts[2])
            if self.content.exists(expected):
                self.by_path[name] = expected
                return
        self.by_path[name] = self.unpacker.ingest(src, expected=expected, size=member.size)

    def blob(self, path: str) -> Digest:
        """The digest of the file at ``path`` in the archive (following its links)."""
        seen = 0
        path = _clean(path)
        while path in self.links and seen < 32:
            path, seen = self.links[path], seen + 1
        if path not in self.by_path:
            raise InvalidArgument(f"invalid archive: {path} is referenced but not in the archive")
        return self.by_path[path]

    def document(self, name: str) -> Any:
        data = self.documents.get(name)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(f"invalid archive: {name}: {exc}") from exc


def _clean(name: str) -> str:
    """An archive path as a lookup key: relative, normalised, ``..`` stopped at the top.

    Keys only: nothing in an archive is ever written to the filesystem by name.
    """
    return posixpath.normpath("/" + name).lstrip("/")


def load(stores: Stores, stream: BinaryIO) -> list[Loaded]:
    """Load every image in the archive; return what was loaded, in archive order."""
    try:
        with operation(stores.root):
            unpacker = StreamingUnpacker(stores.content, stores.snapshots)
            try:
                return _load(stores, unpacker, stream)
            finally:
                unpacker.discard()
    except BaseException:
        stores.collect_garbage()
        raise


def _load(stores: Stores, unpacker: StreamingUnpacker, stream: BinaryIO) -> list[Loaded]:
    """Read the archive (unpacking layers on the way), then record its images."""
    archive = _Archive(stores.content, unpacker)
    archive.read(stream)
    if "index.json" in archive.documents:
        plans = _from_oci_layout(archive, stores.content)
    elif "manifest.json" in archive.documents:
        plans = _from_manifest_json(archive, stores.content)
    else:
        raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")
    legacy_tags = _legacy_tags(archive)
    loaded = []
    for manifest_desc, manifest, names in plans:
        config_bytes = stores.content.read_bytes(manifest.config.digest, MAX_MANIFEST_BYTES)
        config = ImageConfig.parse(config_bytes)
        layer_blobs = [x.digest for x in manifest.layers]
        if len(layer_blobs) != len(config.diff_ids):
            raise InvalidArgument(
                f"invalid image {manifest.config.digest}: {len(layer_blobs)} layers but "
                f"{len(config.diff_ids)} diff IDs"
            )
        unpack(stores.content, stores.snapshots, layer_blobs, config.diff_ids, unpacker.place)
        all_names = list(names) + [n for n in legacy_tags.get(manifest.config.digest, []) if n not in names]
        repo_digests = (
            [f"{n.name}@{manifest_desc.digest}" for n in all_names]
            if manifest_desc.media_type in mediatype.MANIFESTS and "index.json" in archive.documents
            else []
        )
        img = record_image(
            stores,
            manifest=manifest_desc,
            config_digest=manifest.config.digest,
            config=config,
            layer_blobs=layer_blobs,
            tags=all_names,
            repo_digests=dict.fromkeys(repo_digests),
        )
        loaded.append(Loaded(img.id, tuple(all_names)))
    return loaded


def _verified_config(content: ContentStore, digest: Digest) -> None:
    if not content.exists(digest):
        raise InvalidArgument(f"invalid archive: config {digest} not in the archive")


def _from_oci_layout(
    archive: _Archive, content: ContentStore
) -> list[tuple[Descriptor, Manifest, list[Reference]]]:
    index = Index.parse(archive.documents["index.json"])
    plans = []
    for desc in index.manifests:
        names = _names(desc.annotations)
        mdesc, manifest = _resolve_manifest(content, desc, depth=0)
        _verified_config(content, manifest.config.digest)
        for layer in manifest.layers:
            if not content.exists(layer.digest):
                raise InvalidArgument(f"invalid archive: layer {layer.digest} not in the archive")
        plans.append((mdesc, manifest, names))
    return plans


def _resolve_manifest(content: ContentStore, desc: Descriptor, depth: int) -> tuple[Descriptor, Manifest]:
    """Follow an index down to the manifest of this machine's platform."""
    if depth > 4:
        raise InvalidArgument("invalid archive: indexes nested too deep")
    try:
        data = content.read_bytes(desc.digest, MAX_MANIFEST_BYTES)
    except NotFound:
        raise InvalidArgument(
            f"invalid archive: {desc.digest} is referenced but not in the archive"
        ) from None
    if len(data) != desc.size:
        raise DigestMismatch(
            f"invalid archive: {desc.digest} has size {len(data)}, descriptor says {desc.size}"
        )
    mt = desc.media_type or str(load_json_document(data, "manifest").get("mediaType", ""))
    if mt in mediatype.INDEXES:
        index = Index.parse(data, mt)
        host = Platform.host()
        for child in index.manifests:
            p = child.platform
            if p is None or (p.os == host.os and p.architecture == host.architecture):
                return _resolve_manifest(content, child, depth + 1)
        raise NotFound(f"no matching manifest for {host.os}/{host.architecture} in the manifest list entries")
    return Descriptor(mt or mediatype.OCI_MANIFEST, desc.digest, desc.size), Manifest.parse(data, mt)


def _names(annotations: Mapping[str, str]) -> list[Reference]:
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        value = annotations.get(key, "")
        if value and ("/" in value or ":" in value) and not is_digest(value):
            try:
                ref = parse_normalized(value)
            except InvalidArgument:
                continue
            if ref.tag:
                return [ref]
    return []


def _from_manifest_json(
    archive: _Archive, content: ContentStore
) -> list[tuple[Descriptor, Manifest, list[Reference]]]:
    """Legacy docker-archive: synthesise a Docker v2.2 manifest from manifest.json."""
    entries = archive.document("manifest.json")
    if not isinstance(entries, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    plans = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArgument("invalid archive: manifest.json entry without Config")
        config_digest = archive.blob(entry["Config"])
        config_size = content.info(config_digest).size
        layers = []
        for path in entry.get("Layers") or []:
            digest = archive.blob(str(path))
            with content.open(digest) as f:
                magic = f.read(4)
            mt = mediatype.DOCKER_LAYER_GZIP if magic.startswith(b"\x1f\x8b") else mediatype.DOCKER_LAYER
            if magic.startswith(b"\x28\xb5\x2f\xfd"):
                mt = mediatype.DOCKER_LAYER_ZSTD
            layers.append(Descriptor(mt, digest, content.info(digest).size))
        manifest = Manifest(
            config=Descriptor(mediatype.DOCKER_CONFIG, config_digest, config_size),
            layers=tuple(layers),
            media_type=mediatype.DOCKER_MANIFEST,
        )
        mdesc = put_bytes(content, manifest.to_bytes(), mediatype.DOCKER_MANIFEST)
        names = []
        for tag in entry.get("RepoTags") or []:
            try:
                names.append(parse_normalized(str(tag)))
            except InvalidArgument:
                raise InvalidArgument(f"invalid archive: invalid tag {tag!r} in manifest.json") from None
        plans.append((mdesc, manifest, names))
    return plans


def _legacy_tags(archive: _Archive) -> dict[Digest, list[Reference]]:
    """RepoTags of manifest.json by config digest (a docker-archive has both files)."""
    if "index.json" not in archive.documents or "manifest.json" not in archive.documents:
        return {}
    out: dict[Digest, list[Reference]] = {}
    entries = archive.document("manifest.json")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            continue
        try:
            digest = archive.blob(entry["Config"])
        except InvalidArgument:
            continue
        for tag in entry.get("RepoTags") or []:
            try:
                out.setdefault(digest, []).append(parse_normalized(str(tag)))
            except InvalidArgument:
                continue
    return out
