"""Sizes as docker's flags read them (go-units ``RAMInBytes`` and ``FromHumanSize``), in one place.

``--memory``, ``--shm-size``, ``--log-opt max-size`` and ``--filter
until=...``'s neighbours all take sizes with go-units' rules and error words;
the CLI, the container options and the log drivers sit on different layers,
so the parser lives here at the bottom.  No ``re``: the runtime-side callers
count start-up milliseconds.
"""

from __future__ import annotations

from pinnace._util.golang import parse_float
from pinnace.errors import InvalidArgument

_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}


def ram_in_bytes(text: str) -> int:
    """Bytes in a memory-style size, ``k``/``m``/``g`` binary: ``10m`` -> 10485760 (RAMInBytes)."""
    return _parse(text, _BINARY)


def from_human_size(text: str) -> int:
    """Bytes in an SI size, ``k``/``m``/``g`` decimal: ``10MB`` -> 10000000 (FromHumanSize)."""
    return _parse(text, _DECIMAL)


def _parse(text: str, units: dict[str, int]) -> int:
    """A number (decimals allowed), an optional space, an optional unit (``b``, ``k``, ``kb``, ``kib`` ...)."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise InvalidArgument(f"invalid size: '{text}'")
    number, suffix = (text[: sep + 1], text[sep + 1 :]) if text[sep] != " " else (text[:sep], text[sep + 1 :])
    size = parse_float(number)
    if size < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    if len(suffix) > 3:  # go-units reports a too-long suffix before lowering its case
        raise InvalidArgument(f"invalid suffix: '{suffix}'")
    lower = suffix.lower()
    if lower[0] == "b":
        if len(lower) > 1:
            raise InvalidArgument(f"invalid suffix: '{lower}'")
        return int(size)
    if lower[0] not in units or lower[1:] not in ("", "b", "ib"):
        raise InvalidArgument(f"invalid suffix: '{lower}'")
    return int(size * units[lower[0]])
