"""SHA-256 without ``hashlib`` where start-up or memory matter.

``import hashlib`` loads OpenSSL's libcrypto: ~2 ms of start-up, and ~3 MiB
resident in a long-lived process such as the worker zygote.  CPython's own
implementation is enough for names and cache keys.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def sha256() -> Any:
    """The ``sha256`` constructor: CPython's built-in one, hashlib's when there is none."""
    try:
        from _sha256 import sha256 as built_in  # type: ignore[import-not-found]  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256 as built_in  # type: ignore[import-not-found]  # CPython 3.12+
        except ImportError:
            from hashlib import sha256 as built_in
    return built_in
