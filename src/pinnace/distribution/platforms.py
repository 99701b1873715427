"""``--platform os/arch[/variant]`` and choosing an index's manifest for it, as containerd's matcher does."""

from __future__ import annotations

from pinnace.errors import InvalidArgument, NotFound
from pinnace.oci.descriptor import Platform

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from pinnace.oci.descriptor import Descriptor

#: Architectures by the names people also use for them (containerd's normalisation).
_ARCH = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
}
#: The variant an architecture has when none is said (arm64 is v8; arm, v7).
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


def parse(text: str) -> Platform:
    """``linux/arm64/v8``, ``linux/amd64``, ``arm64`` (linux implied): docker's ``--platform`` syntax."""
    parts = [p.strip().lower() for p in text.split("/")]
    if not all(parts) or len(parts) > 3:
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    os_, arch = parts[0], _ARCH.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if os_ != "linux":
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    return Platform(os_, arch, variant)


def _variant(p: Platform) -> str:
    return p.variant or _DEFAULT_VARIANT.get(p.architecture, "")


def matches(wanted: Platform, offered: Platform) -> bool:
    """Whether an index entry for ``offered`` runs as ``wanted`` (same os, arch and normalised variant)."""
    if (
        offered.os != wanted.os
        or _ARCH.get(offered.architecture, offered.architecture) != wanted.architecture
    ):
        return False
    return not wanted.variant or _variant(offered) == _variant(wanted)


def choose(manifests: Sequence[Descriptor], wanted: Platform) -> Descriptor:
    """The index entry for ``wanted``: an exact variant first, then any of the architecture when none was
    asked; docker's error when there is none."""
    candidates = [d for d in manifests if d.platform is not None and matches(wanted, d.platform)]
    if not wanted.variant and len(candidates) > 1:
        preferred = [
            d for d in candidates if d.platform is not None and _variant(d.platform) == _variant(wanted)
        ]
        candidates = preferred or candidates
    if not candidates:
        name = "/".join(x for x in (wanted.os, wanted.architecture, wanted.variant) if x)
        raise NotFound(f"no matching manifest for {name} in the manifest list entries")
    return candidates[0]
