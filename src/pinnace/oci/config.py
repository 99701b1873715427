"""Image configs (the JSON whose digest is the image ID) and chain IDs.

The config is kept as the raw JSON object: its bytes define the image ID, so
pinnace never re-serialises a config it did not create.  The typed accessors
here read what the engine needs.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import InvalidArgument
from pinnace.oci.digest import Digest, parse_digest
from pinnace.oci.manifest import load_json_document

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


@record
class ImageConfig:
    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        doc = load_json_document(data, "image config")
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
            raise InvalidArgument("invalid image config: rootfs.diff_ids missing")
        for d in rootfs["diff_ids"]:
            if not isinstance(d, str):
                raise InvalidArgument("invalid image config: diff_id is not a string")
            parse_digest(d)
        return cls(doc)

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest(d) for d in self.raw["rootfs"]["diff_ids"]]

    @property
    def created(self) -> str:
        return str(self.raw.get("created") or "")

    @property
    def architecture(self) -> str:
        return str(self.raw.get("architecture") or "")

    @property
    def os(self) -> str:
        return str(self.raw.get("os") or "")

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.raw.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def history(self) -> list[dict[str, Any]]:
        hist = self.raw.get("history")
        return [h for h in hist if isinstance(h, dict)] if isinstance(hist, list) else []


def chain_ids(diff_ids: Sequence[str]) -> list[Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    import hashlib

    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(Digest(diff_id))
        else:
            out.append(Digest("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest()))
    return out


def chain_id(diff_ids: Iterable[str]) -> Digest | None:
    ids = chain_ids(list(diff_ids))
    return ids[-1] if ids else None
