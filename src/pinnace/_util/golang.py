"""Go's string conversions, for error messages and values that must read exactly as docker's.

Docker, runc and containerd are Go programs: their errors quote with
``strconv.Quote`` (``%q``) and their flags parse numbers with
``strconv.ParseFloat``/``Atoi``/``ParseBool``, whose rules differ from
Python's (``float`` takes spaces, ``_``, ``nan``...).  One copy of each here.
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def quote(s: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append(
                {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[
                    ch
                ]
            )
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def is_digits(text: str) -> bool:
    """ASCII decimal digits only (``str.isdigit`` also takes other scripts' digits)."""
    return bool(text) and text.isascii() and text.isdigit()


def parse_float(text: str) -> float:
    """``strconv.ParseFloat`` for decimal text; InvalidArgument with Go's words."""
    body = text[1:] if text[:1] in "+-" else text
    mantissa, _, exponent = body.replace("E", "e").partition("e")
    whole, _, frac = mantissa.partition(".")
    ok = (
        bool(whole or frac)
        and (not whole or is_digits(whole))
        and (not frac or is_digits(frac))
        and ("e" not in body or is_digits(exponent[1:] if exponent[:1] in "+-" else exponent))
    )
    if not ok:
        raise InvalidArgument(f"strconv.ParseFloat: parsing {quote(text)}: invalid syntax")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidArgument(f"strconv.ParseFloat: parsing {quote(text)}: value out of range")
    return value


def atoi(text: str) -> int:
    """``strconv.Atoi``: optional sign and decimal digits, within int64."""
    body = text[1:] if text[:1] in "+-" else text
    if not is_digits(body):
        raise InvalidArgument(f"strconv.Atoi: parsing {quote(text)}: invalid syntax")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise InvalidArgument(f"strconv.Atoi: parsing {quote(text)}: value out of range")
    return value


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgument(f"strconv.ParseBool: parsing {quote(text)}: invalid syntax")
