"""Go's time parsing, and docker's ``--since``/``--until`` on top of it (api/types/time).

``docker logs --since 10m``, ``--since 2024-01-02`` and ``--until 1700000000.5``
go through the client's ``GetTimestamp`` (a Go duration before now, else an
RFC 3339 date or time in one of a few layouts, else a unix timestamp) and the
daemon's ``ParseTimestamps``; ``docker events`` reads its window the same way.
Users see Go's error text when a value is wrong (``parsing time "2013-13-01":
month out of range``), so the parts of ``time.Parse`` docker's layouts
need are reproduced here with their messages: the layout elements
``2006 01 02 15 04 05 .999999999 Z07:00`` and literals.  Durations are
:func:`pinnace._util.golang.parse_duration`'s.  No ``re``, no ``datetime``: the CLI pays every import.
"""

from __future__ import annotations

import time

from pinnace._util.golang import parse_duration
from pinnace._util.golang import quote as quote_strconv
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_NS = 1_000_000_000

_DIGITS = "0123456789"


def quote(s: str) -> str:
    """The ``time`` package's own quoting (not strconv's): bytes outside printable ASCII as ``\\xNN``."""
    out = ['"']
    for ch in s:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- time.Parse, for docker's layouts

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
_STD = ("2006", "01", "02", "15", "04", "05", ".999999999", "Z07:00")


def _chunks(layout: str) -> list[tuple[str, str]]:
    """The layout as (literal prefix, element) pairs; a last pair with element "" holds trailing text."""
    out = []
    prefix = ""
    i = 0
    while i < len(layout):
        for std in _STD:
            if layout.startswith(std, i):
                out.append((prefix, std))
                prefix = ""
                i += len(std)
                break
        else:
            prefix += layout[i]
            i += 1
    out.append((prefix, ""))
    return out


class _Bad(Exception):
    pass


def _num(value: str, fixed: bool) -> tuple[int, str]:
    """Go's getnum: one or two digits (exactly two when ``fixed``)."""
    if value[:1] == "" or value[0] not in _DIGITS:
        raise _Bad
    if len(value) < 2 or value[1] not in _DIGITS:
        if fixed:
            raise _Bad
        return int(value[0]), value[1:]
    return int(value[:2]), value[2:]


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def parse_layout(layout: str, value: str, local_offset: int = 0) -> int:
    """``time.ParseInLocation(layout, value, FixedZone(offset))`` in ns since the epoch; ValueError as Go's.

    A value without a zone is read at ``local_offset`` seconds east of UTC.
    """
    full = value
    year, month, day, hour, minute, sec, nsec = 1, 1, 1, 0, 0, 0, 0
    offset: int | None = None

    def error(elem: str, rest: str, message: str = "") -> ValueError:
        if message:
            return ValueError(f"parsing time {quote(full)}{message}")
        return ValueError(
            f"parsing time {quote(full)} as {quote(layout)}: cannot parse {quote(rest)} as {quote(elem)}"
        )

    for prefix, std in _chunks(layout):
        if not value.startswith(prefix):
            raise error(prefix, value)
        value = value[len(prefix) :]
        if not std:
            if value:
                raise error("", value, f": extra text: {quote(value)}")
            break
        hold = value
        out_of_range = ""
        try:
            if std == "2006":
                if len(value) < 4 or not value[:4].isascii() or not value[:4].isdigit():
                    raise _Bad
                year, value = int(value[:4]), value[4:]
            elif std == "01":
                month, value = _num(value, True)
                if not 0 < month <= 12:
                    out_of_range = "month"
            elif std == "02":
                day, value = _num(value, True)
            elif std == "15":
                hour, value = _num(value, False)
                if hour >= 24:
                    out_of_range = "hour"
            elif std == "04":
                minute, value = _num(value, True)
                if minute >= 60:
                    out_of_range = "minute"
            elif std == "05":
                sec, value = _num(value, True)
                if sec >= 60:
                    out_of_range = "second"
            elif std == ".999999999":
                if len(value) >= 2 and value[0] in ".," and value[1] in _DIGITS:
                    n = 1
                    while n < len(value) and value[n] in _DIGITS:
                        n += 1
                    digits = value[1 : min(n, 10)]
                    nsec = int(digits) * 10 ** (9 - len(digits))
                    value = value[n:]
            elif std == "Z07:00":
                if value[:1] == "Z":
                    offset, value = 0, value[1:]
                else:
                    if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
                        raise _Bad
                    hh, _ = _num(value[1:3], True)
                    mm, _ = _num(value[4:6], True)
                    if hh > 24:
                        out_of_range = "time zone offset hour"
                    if mm > 60:
                        out_of_range = "time zone offset minute"
                    offset = (hh * 60 + mm) * 60 * (1 if value[0] == "+" else -1)
                    value = value[6:]
        except _Bad:
            raise error(std, hold) from None
        if out_of_range:
            raise error(std, value, f": {out_of_range} out of range")
    if not 1 <= day <= _days_in(month, year):
        raise error("", value, ": day out of range")
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    secs -= local_offset if offset is None else offset
    return secs * _NS + nsec


# ---------------------------------------------------------------- docker's api/types/time


def get_timestamp(value: str, now_ns: int | None = None, local_offset: int | None = None) -> str:
    """docker's client-side ``GetTimestamp``: ``value`` as the unix timestamp string the daemon takes.

    A Go duration counts back from now (whole seconds); a date or time in
    RFC 3339 (zone optional: then local time) becomes ``sec.nanos``; a unix
    timestamp passes as it is.  ValueError with docker's message otherwise.
    """
    now = time.time_ns() if now_ns is None else now_ns
    if value != "0":
        try:
            return str((now - parse_duration(value)) // _NS)
        except InvalidArgument:
            pass
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    if "." in value:
        layout = "2006-01-02T15:04:05.999999999" if in_location else RFC3339_NANO
    elif "T" in value:
        colons = value.count(":")
        if not in_location and "z" not in value and "Z" not in value and colons > 0:
            colons -= 1  # the zone offset's colon
        base = ("2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05")[min(colons, 2)]
        layout = base if in_location else base + "Z07:00"
    else:
        layout = "2006-01-02" if in_location else "2006-01-02Z07:00"
    if local_offset is None:
        local_offset = time.localtime(now // _NS).tm_gmtoff
    try:
        ns = parse_layout(layout, value, local_offset)
    except ValueError:
        if "-" in value:  # an RFC 3339 like timestamp the parser refused: its error
            raise
        try:
            parse_timestamps(value)
        except ValueError:
            raise ValueError(f"failed to parse value as time or duration: {quote_strconv(value)}") from None
        return value  # already a unix timestamp
    sec, frac = divmod(ns, _NS)
    return f"{sec}.{frac:09d}"


def _parse_int(text: str) -> int:
    """``strconv.ParseInt(text, 10, 64)``."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(f"strconv.ParseInt: parsing {quote_strconv(text)}: invalid syntax")
    n = int(text)
    if not -(1 << 63) <= n < 1 << 63:
        raise ValueError(f"strconv.ParseInt: parsing {quote_strconv(text)}: value out of range")
    return n


def parse_timestamps(value: str) -> int:
    """docker's daemon-side ``ParseTimestamps``: ``sec[.frac]`` in ns since the epoch; ValueError."""
    sec_text, dot, frac_text = value.partition(".")
    sec = _parse_int(sec_text)
    if not dot:
        return sec * _NS
    frac = _parse_int(frac_text)
    return sec * _NS + int(float(frac) * 10.0 ** (9 - len(frac_text)))


def since_arg(name: str, value: str, now_ns: int | None = None) -> str:
    """``get_timestamp`` with docker's client error: ``invalid value for "since": ...``."""
    try:
        return get_timestamp(value, now_ns)
    except ValueError as e:
        raise InvalidArgument(f'invalid value for "{name}": {e}') from None


def until_filter(filters: Mapping[str, Sequence[str]]) -> int | None:
    """A prune's ``until`` filter in ns since the epoch, or None; docker's errors (one at most, a valid time)."""
    values = filters.get("until")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    try:
        return parse_timestamps(get_timestamp(values[0]))
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
