"""A container's writable layer as data: ``docker diff``, ``docker export`` and ``docker commit``.

``commit`` makes an image of the container's image plus one layer, the
container's changes (:func:`pinnace.containers.layer.diff_tar`, taken
while a running container is frozen unless ``--pause=false``).  The new
config is moby's ``NewChildImage``: the container's Config with the
``--change`` instructions applied (``BuildFromConfig``), ``container`` and
``container_config`` naming the container and its Config, the parent's
history plus one entry (``created_by`` the container's command, ``comment``
``-m``, ``author`` ``-a``), and the diff ID appended to the parent's unless
the container changed nothing (an empty layer, as docker: history only).
The image is stored the way ``import`` stores one
(:func:`pinnace.images.create.store_image`).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, BinaryIO

    from pinnace.archive.diff import DiffResult
    from pinnace.containers.records import ContainerRecord
    from pinnace.containers.service import ContainerService
    from pinnace.images.records import Image
    from pinnace.oci.digest import Digest
    from pinnace.oci.reference import Reference

#: docker's layer.DigestSHA256EmptyTar: the diff of a container that changed nothing.
EMPTY_TAR_DIGEST = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def changes(service: ContainerService, ref: str) -> list[tuple[str, str]]:
    """``docker diff``: ("C"|"A"|"D", path) in docker's order, running or not."""
    from pinnace.containers import layer

    record = service.get(ref)
    return layer.changes(service.stores, record.snapshot_key)


def export(service: ContainerService, ref: str, out: BinaryIO) -> None:
    """``docker export``: the container's whole filesystem as one tar on ``out``."""
    from pinnace.containers import layer

    record = service.get(ref)
    layer.export(service.stores, record.snapshot_key, out)
    service._event(record, "export")


def parse_reference(text: str) -> Reference:
    """The ``REPOSITORY[:TAG]`` of ``docker commit`` (``:latest`` added), with the docker client's errors."""
    from pinnace.errors import InvalidReference
    from pinnace.oci.reference import parse_normalized, with_default_tag

    ref = parse_normalized(text)
    if ref.digest:
        raise InvalidReference("refusing to create a tag with a digest reference")
    return with_default_tag(ref)


def commit(
    service: ContainerService,
    ref: str,
    *,
    tag: Reference | None = None,
    author: str = "",
    message: str = "",
    change: Sequence[str] = (),
    pause: bool = True,
    config: Mapping[str, Any] | None = None,
) -> Image:
    """``docker commit``: a new image of the container's image and its changes, tagged ``tag`` if given.

    ``config`` (the Engine API's body) replaces the container's Config before
    the changes, and what it leaves unset is then taken from the container's
    (moby's ``merge``).
    """
    from pinnace._util import jsonc
    from pinnace.images.changes import apply_changes
    from pinnace.meta.operations import operation

    record = service.get(ref)
    container_config: dict[str, Any] = jsonc.loads(jsonc.dumps(dict(record.config)))  # a deep, plain copy
    base = dict(config) if config else container_config
    new_config = apply_changes(jsonc.loads(jsonc.dumps(base)), change)  # refused before any work
    if config:
        merge_config(new_config, container_config)
    stores = service.stores
    try:
        with operation(stores.root):
            image = _commit(service, record, container_config, new_config, tag, author, message, pause)
    except BaseException:
        stores.collect_garbage()  # a layer blob or snapshot no image took
        raise
    service._event(
        record,
        "commit",
        {"comment": message, "imageID": image.id, "imageRef": tag.familiar() if tag else ""},
    )
    return image


def merge_config(config: dict[str, Any], container: Mapping[str, Any]) -> None:
    """moby's ``merge``: what ``config`` leaves unset comes from the container's Config (in place)."""
    for key in ("User", "WorkingDir", "StopSignal"):
        if not config.get(key):
            config[key] = container.get(key) or ""
    ports = dict(config.get("ExposedPorts") or {})
    for port, value in (container.get("ExposedPorts") or {}).items():
        ports.setdefault(port, value)
    config["ExposedPorts"] = ports or container.get("ExposedPorts")
    env = list(config.get("Env") or [])
    keys = {item.partition("=")[0] for item in env}
    env += [item for item in container.get("Env") or [] if item.partition("=")[0] not in keys]
    config["Env"] = env or container.get("Env")
    labels = dict(config.get("Labels") or {})
    for key, value in (container.get("Labels") or {}).items():
        labels.setdefault(key, value)
    config["Labels"] = labels
    if not config.get("Entrypoint"):
        if not config.get("Cmd"):
            config["Cmd"] = container.get("Cmd")
        if config.get("Entrypoint") is None:
            config["Entrypoint"] = container.get("Entrypoint")
    health = container.get("Healthcheck")
    if health is not None:
        mine = config.get("Healthcheck")
        config["Healthcheck"] = (
            dict(health) if mine is None else {**health, **{k: v for k, v in mine.items() if v}}
        )
    volumes = dict(config.get("Volumes") or {})
    volumes.update(container.get("Volumes") or {})
    config["Volumes"] = volumes or container.get("Volumes")


def _commit(
    service: ContainerService,
    record: ContainerRecord,
    container_config: dict[str, Any],
    config: dict[str, Any],
    tag: Reference | None,
    author: str,
    message: str,
    pause: bool,
) -> Image:
    from pinnace.images.create import store_image
    from pinnace.images.stores import now_rfc3339
    from pinnace.images.unpack import unpack
    from pinnace.images.views import config_of
    from pinnace.oci import mediatype
    from pinnace.oci.descriptor import Descriptor
    from pinnace.oci.digest import Digest
    from pinnace.oci.manifest import MAX_MANIFEST_BYTES, Manifest

    stores = service.stores
    parent = stores.records.get(record.image_id)
    parent_config = config_of(stores, parent).raw
    parent_manifest = Manifest.parse(
        stores.content.read_bytes(parent.manifest_digest, MAX_MANIFEST_BYTES), parent.manifest_media_type
    )
    layers = list(parent_manifest.layers)
    diff_ids = [Digest(d) for d in parent_config["rootfs"]["diff_ids"]]

    blob = _layer_blob(service, record, pause)
    if blob is not None:
        docker = parent_manifest.media_type == mediatype.DOCKER_MANIFEST
        digest, size = blob
        layers.append(Descriptor(mediatype.DOCKER_LAYER if docker else mediatype.OCI_LAYER, digest, size))
        diff_ids.append(digest)  # uncompressed: the blob is its own diff
        unpack(stores.content, stores.snapshots, [d.digest for d in layers], diff_ids)

    created = now_rfc3339()
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    created_by = " ".join(record.config.get("Cmd") or [])
    if created_by:
        entry["created_by"] = created_by
    if message:
        entry["comment"] = message
    if blob is None:
        entry["empty_layer"] = True
    doc: dict[str, Any] = {
        key: parent_config[key]
        for key in ("architecture", "os", "variant", "os.version", "os.features")
        if parent_config.get(key)
    }
    doc.update(
        config=config,
        container=record.id,
        container_config=container_config,
        created=created,
        history=[*(parent_config.get("history") or []), entry],
        rootfs={"type": "layers", "diff_ids": diff_ids},
    )
    if author:
        doc["author"] = author
    return store_image(
        stores,
        dict(sorted(doc.items())),  # moby marshals the image as a map: keys in order
        layers,
        manifest_type=parent_manifest.media_type,
        tags=[tag] if tag else [],
    )


def _layer_blob(service: ContainerService, record: ContainerRecord, pause: bool) -> tuple[Digest, int] | None:
    """The container's changes stored as an uncompressed layer blob: (digest, size); None if it changed nothing.

    A running container is frozen while its upper dir is read, so the
    layer is one consistent moment of it (docker's ``--pause``).
    """
    from pinnace.containers import layer
    from pinnace.errors import Conflict
    from pinnace.images.stores import unique_ref

    stores = service.stores
    paused = False
    if pause and record.status == "running":
        try:
            service.pause(record.id)
            paused = True
        except Conflict:
            pass  # paused already, or it exited meanwhile: nothing to freeze or thaw
    try:
        with stores.content.writer(unique_ref("commit")) as writer:
            # the content writer is file-like enough: the tar writer only calls write()
            result: DiffResult = layer.diff_tar(stores, record.snapshot_key, writer)  # type: ignore[arg-type]
            if result.diff_id == EMPTY_TAR_DIGEST:
                writer.abort()
                return None
            info = writer.commit()
    finally:
        if paused:
            try:
                service.unpause(record.id)
            except Conflict:
                pass  # it exited meanwhile
    return info.digest, info.size
