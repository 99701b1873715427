"""Content digests (``sha256:<64 hex>``), validated once at the boundary."""

from __future__ import annotations

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NewType

    Digest = NewType("Digest", str)
else:

    def Digest(value: str) -> str:  # noqa: N802 - what NewType is at run time, minus importing typing
        return value


_HEX = frozenset("0123456789abcdef")


def parse_digest(value: str) -> Digest:
    """Validate ``value`` as a sha256 digest; only sha256 is accepted (as docker)."""
    if not is_digest(value):
        raise InvalidArgument(f"invalid digest {value!r}: expected sha256:<64 lowercase hex>")
    return Digest(value)


def is_digest(value: str) -> bool:
    """sha256:<64 lowercase hex>, checked without a regex (no compile at start-up)."""
    return len(value) == 71 and value.startswith("sha256:") and _HEX.issuperset(value[7:])


def sha256_digest(data: bytes) -> Digest:
    import hashlib  # ~3 ms (OpenSSL): only commands that hash pay for it

    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def digest_hex(digest: str) -> str:
    """The hex part of ``sha256:HEX`` (what file names and short IDs use)."""
    return digest.split(":", 1)[1]


def short_id(digest: str) -> str:
    """Docker's 12-character short form of an ID."""
    return digest_hex(digest)[:12]
