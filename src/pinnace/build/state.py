"""What a build stage has made so far: an image config document and its layers, as docker's builder
keeps them between steps (the config's ``config`` object is what ENV, CMD, ... change)."""

from __future__ import annotations

import copy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.images.records import Image
    from pinnace.images.stores import Stores
    from pinnace.oci.descriptor import Descriptor


class ImageState:
    def __init__(
        self, doc: dict[str, Any], layers: list[Descriptor], manifest_type: str = "", image_id: str = ""
    ) -> None:
        self.doc = doc  # the image config document (architecture, os, config, rootfs, history)
        self.layers = layers
        self.manifest_type = manifest_type
        self.image_id = image_id  # the base image's ("" for scratch)
        #: The cache keys of this build's layer steps (the inline cache ``--cache-from`` reads):
        #: {"key", "parent", "layer" (index, or None for a step that changed nothing), "created"}.
        self.steps: list[dict[str, Any]] = []

    @classmethod
    def scratch(cls) -> ImageState:
        from pinnace.oci import mediatype
        from pinnace.oci.descriptor import Platform

        arch = Platform.host().architecture
        doc: dict[str, Any] = {
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }
        return cls(doc, [], mediatype.DOCKER_MANIFEST, "")

    @classmethod
    def of_image(cls, stores: Stores, image: Image) -> ImageState:
        from pinnace.images.views import config_of
        from pinnace.oci.manifest import MAX_MANIFEST_BYTES, Manifest

        doc = copy.deepcopy(config_of(stores, image).raw)
        manifest = Manifest.parse(
            stores.content.read_bytes(image.manifest_digest, MAX_MANIFEST_BYTES), image.manifest_media_type
        )
        doc.setdefault("config", {})
        doc["config"] = doc["config"] or {}
        doc.setdefault("history", [])
        return cls(doc, list(manifest.layers), manifest.media_type, image.id)

    def clone(self) -> ImageState:
        state = ImageState(copy.deepcopy(self.doc), list(self.layers), self.manifest_type, self.image_id)
        state.steps = list(self.steps)
        return state

    @property
    def config(self) -> dict[str, Any]:
        value: dict[str, Any] = self.doc["config"]
        return value

    @property
    def diff_ids(self) -> list[str]:
        return [str(d) for d in self.doc["rootfs"]["diff_ids"]]

    @property
    def chain(self) -> str:
        """The top layer's chain ID (the snapshot a step's container stands on); "" for no layers."""
        from pinnace.oci.config import chain_ids

        ids = chain_ids(self.diff_ids)
        return str(ids[-1]) if ids else ""

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out

    def set_env(self, key: str, value: str) -> None:
        entries = [str(e) for e in self.config.get("Env") or []]
        for i, item in enumerate(entries):
            if item.partition("=")[0] == key:
                entries[i] = f"{key}={value}"
                break
        else:
            entries.append(f"{key}={value}")
        self.config["Env"] = entries

    def add_layer(self, layer: Descriptor, diff_id: str) -> None:
        self.layers.append(layer)
        self.doc["rootfs"]["diff_ids"] = [*self.diff_ids, diff_id]

    def add_history(self, created: str, created_by: str, *, empty_layer: bool, comment: str = "") -> None:
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if empty_layer:
            entry["empty_layer"] = True
        self.doc["history"] = [*(self.doc.get("history") or []), entry]
