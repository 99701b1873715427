"""JSON through the C accelerator only, without importing :mod:`json`.

``import json`` costs about 8 ms with ``-S``: ``json.decoder`` imports ``re``,
which imports ``enum``.  The runtime reads and writes a little JSON on every
container start (config.json, state.json, sync messages), and its whole
budget is runc's ~30 ms, so it uses the same C scanner and encoder that
:mod:`json` uses, directly from ``_json`` (a fraction of a millisecond).

Both functions accept what :func:`json.loads` / :func:`json.dumps` accept
for ordinary documents (objects, arrays, strings, numbers, booleans, null).
Errors are ``ValueError`` with the offset, as json's are.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import MappingProxyType
    from typing import Any
else:
    MappingProxyType = type(type.__dict__)  # types.MappingProxyType without importing types (~0.2 ms)

_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}  # noqa: RUF012  (read by the C scanner, which clears it)

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed as a JSONDecoder


def loads(data: bytes | str) -> Any:
    """Decode one JSON document (UTF-8 when given bytes); ValueError when it is not one."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(text, start)
    except (StopIteration, SystemError):
        # The scanner builds its error from json.decoder only when that module
        # is already imported (else it fails without an exception): let json
        # itself describe what is wrong, on this rare path.
        import json

        json.loads(text)
        raise ValueError("invalid JSON") from None
    finally:
        _Context.memo.clear()
    rest = text[end:].lstrip(_WHITESPACE)
    if rest:
        raise ValueError(f"Extra data: char {len(text) - len(rest)}")
    return obj


def _reject(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _reject, _json.encode_basestring, None, ": ", ", ", False, False, True)
_encode_compact = _json.make_encoder(
    None, _reject, _json.encode_basestring, None, ":", ",", False, False, True
)


def dumps(obj: object, *, compact: bool = False, indent: str | None = None) -> str:
    """Encode ``obj`` on one line (``compact`` drops the spaces), or pretty with ``indent``.

    The C encoder cannot indent, so ``indent`` re-flows its one-line output;
    that is only for documents printed to a user (``state``, ``spec``).
    """
    if indent is None:
        return "".join((_encode_compact if compact else _encode)(obj, 0))
    return _pretty(obj, indent, 0)


def _pretty(obj: object, indent: str, level: int) -> str:
    pad = "\n" + indent * (level + 1)
    if isinstance(obj, dict) and obj:
        items = (
            f"{_json.encode_basestring(str(k))}: {_pretty(v, indent, level + 1)}" for k, v in obj.items()
        )
        return "{" + pad + ("," + pad).join(items) + "\n" + indent * level + "}"
    if isinstance(obj, list | tuple) and obj:
        items = (_pretty(v, indent, level + 1) for v in obj)
        return "[" + pad + ("," + pad).join(items) + "\n" + indent * level + "]"
    return "".join(_encode(obj, 0))


_EMPTY_OBJECT: Mapping[str, Any] = MappingProxyType({})


def frozen_object(text: str | None) -> Mapping[str, Any]:
    """A stored JSON object as a read-only mapping; the common empty one costs no parsing (records' columns)."""
    if not text or text == "{}":
        return _EMPTY_OBJECT
    value = loads(text)
    return MappingProxyType(value) if value else _EMPTY_OBJECT
