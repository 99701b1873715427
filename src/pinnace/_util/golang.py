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


def json_text(s: str) -> str:
    """``s`` as docker's CLI sends it: each byte that is not UTF-8 becomes U+FFFD.

    Our command line and environment hold such bytes as lone surrogates
    (surrogateescape); Go's encoding/json replaces them, so the container
    sees what it would under docker, and nothing later fails to encode.
    """
    if s.isascii():
        return s
    try:
        s.encode()
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return s


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


def parse_int(text: str, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 0, bits)``, as pflag reads its int flags: ``0x1f``, ``0o17``, ``017``, ``1_000``."""
    body = text[1:] if text[:1] in "+-" else text
    base, digits = 10, body
    if body[:1] == "0" and len(body) > 1:
        prefix = body[1].lower()
        if len(body) >= 3 and prefix in "box":
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], body[2:]
        else:
            base, digits = 8, body[1:]
    allowed = "0123456789abcdef"[:base]
    if not body or not all(c == "_" or c.lower() in allowed for c in digits) or not _underscores_ok(body):
        raise InvalidArgument(f"strconv.ParseInt: parsing {quote(text)}: invalid syntax")
    value = int(digits.replace("_", "") or "0", base) * (-1 if text[:1] == "-" else 1)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise InvalidArgument(f"strconv.ParseInt: parsing {quote(text)}: value out of range")
    return value


def _underscores_ok(body: str) -> bool:
    """Go's ``underscoreOK``: an ``_`` only between digits, or between a base prefix and a digit."""
    if "_" not in body:
        return True
    if body[:1] == "0" and body[1:2].lower() in ("b", "o", "x") and len(body) > 1:
        body = "0" + body[2:]  # the prefix counts as a digit
    previous = "^"
    for c in body:
        if c == "_":
            if previous != "0":
                return False
            previous = "_"
        else:
            previous = "0"
    return previous != "_"


#: time.ParseDuration's units, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(text: str) -> int:
    """``time.ParseDuration``: ``1h30m``, ``1.5s``, ``-300ms`` -> nanoseconds, with Go's error words."""
    invalid = InvalidArgument(f"time: invalid duration {quote(text)}")
    rest = text[1:] if text[:1] in "+-" else text
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        i = 0
        while i < len(rest) and rest[i].isascii() and rest[i].isdigit():
            i += 1
        whole, rest = rest[:i], rest[i:]
        fraction = ""
        if rest[:1] == ".":
            i = 1
            while i < len(rest) and rest[i].isascii() and rest[i].isdigit():
                i += 1
            fraction, rest = rest[1:i], rest[i:]
        if not whole and not fraction:
            raise invalid
        i = 0
        while i < len(rest) and rest[i] != "." and not (rest[i].isascii() and rest[i].isdigit()):
            i += 1
        if i == 0:
            raise InvalidArgument(f"time: missing unit in duration {quote(text)}")
        unit_text, rest = rest[:i], rest[i:]
        unit = _DURATION_UNITS.get(unit_text)
        if unit is None:
            raise InvalidArgument(f"time: unknown unit {quote(unit_text)} in duration {quote(text)}")
        total += int(whole or "0") * unit
        if fraction:
            total += int(int(fraction) * (unit / 10 ** len(fraction)))
        if total > 1 << 63:
            raise invalid
    if text[:1] == "-":
        return -total
    if total > (1 << 63) - 1:
        raise invalid
    return total
