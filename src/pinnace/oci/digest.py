"""Content digests (``sha256:<64 hex>``), validated once at the boundary."""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from pinnace.errors import InvalidArgument

Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def parse_digest(value: str) -> Digest:
    """Validate ``value`` as a sha256 digest; only sha256 is accepted (as docker)."""
    if not _DIGEST_RE.match(value):
        raise InvalidArgument(f"invalid digest {value!r}: expected sha256:<64 lowercase hex>")
    return Digest(value)


def is_digest(value: str) -> bool:
    return bool(_DIGEST_RE.match(value))


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def digest_hex(digest: str) -> str:
    """The hex part of ``sha256:HEX`` (what file names and short IDs use)."""
    return digest.split(":", 1)[1]


def short_id(digest: str) -> str:
    """Docker's 12-character short form of an ID."""
    return digest_hex(digest)[:12]
