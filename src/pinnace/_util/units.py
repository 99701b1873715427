"""Sizes and durations as docker reads and prints them (its go-units package), in one place.

``docker images`` prints ``4.26MB``, ``docker ps`` prints ``Up 2 hours`` and
``-m 512m`` means 512 MiB; scripts parse these, so the rounding, the unit
names and the thresholds here are go-units' exactly.  Go's ``%g`` and
Python's ``%g`` agree (same shortest-digit rules, same ``1e+03`` exponent
form), which is why the size functions use it directly.

The CLI, the container views and options and the log drivers sit on
different layers, so these live here at the bottom.  No ``re``: the
runtime-side callers count start-up milliseconds.
"""

from __future__ import annotations

import time

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


_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _size_and_unit(size: float, base: float, abbrs: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return size, abbrs[i]


def human_size(size: float, precision: int = 3) -> str:
    """Decimal size as ``docker images``/``ps``/``history`` print it: ``4.26MB``, ``0B``, ``1e+03kB``.

    docker's tables use 3 significant digits (HumanSizeWithPrecision(n, 3));
    pass ``precision=4`` for go-units' HumanSize (``docker system df``).
    """
    value, unit = _size_and_unit(float(size), 1000.0, _DECIMAL_ABBRS)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """Binary size, 4 significant digits: ``44KiB``, ``17MiB`` (go-units BytesSize)."""
    value, unit = _size_and_unit(float(size), 1024.0, _BINARY_ABBRS)
    return f"{value:.4g}{unit}"


def human_duration(seconds: float) -> str:
    """A duration as docker words it: ``Less than a second``, ``About a minute``, ``3 weeks``.

    go-units HumanDuration: minutes truncate, hours round to nearest, and
    the coarser units start only at twice their size ("36 hours", "13 days").
    """
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(ts: float, now: float | None = None) -> str:
    """``2 hours ago`` for the unix time ``ts`` (docker's CreatedSince / RunningFor)."""
    return human_duration((time.time() if now is None else now) - ts) + " ago"
