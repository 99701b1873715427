"""Descriptors and platforms: how one piece of content points to another."""

from __future__ import annotations

import os
from types import MappingProxyType

from pinnace._util.record import record
from pinnace.errors import InvalidArgument
from pinnace.oci.digest import Digest, parse_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: What a decoded JSON object can be (collections.abc.Mapping would import collections: ~2 ms).
JSON_OBJECTS = (dict, MappingProxyType)

_NO_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


@record
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine, in Go's GOARCH words as images use them."""
        machine = os.uname().machine.lower()
        arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
        return cls("linux", arch, "v7" if machine == "armv7l" else "")

    def to_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Platform:
        return cls(str(raw.get("os", "")), str(raw.get("architecture", "")), str(raw.get("variant", "")))


@record
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = _NO_ANNOTATIONS
    platform: Platform | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Descriptor:
        """Parse and validate one descriptor object of a manifest or index."""
        if not isinstance(raw, JSON_OBJECTS):
            raise InvalidArgument("invalid descriptor: not an object")
        size = raw.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidArgument(f"invalid descriptor size {size!r}")
        digest = raw.get("digest")
        if not isinstance(digest, str):
            raise InvalidArgument("invalid descriptor: digest missing")
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, JSON_OBJECTS):
            raise InvalidArgument("invalid descriptor annotations")
        plat = raw.get("platform")
        return cls(
            media_type=str(raw.get("mediaType", "")),
            digest=parse_digest(digest),
            size=size,
            annotations={str(k): str(v) for k, v in annotations.items()},
            platform=Platform.from_dict(plat) if isinstance(plat, JSON_OBJECTS) else None,
        )
