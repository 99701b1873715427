"""What every log driver shares: the record a reader yields, docker's time format, and how ``logs`` prints.

Imported by the writers in the per-container monitor, so it imports only
``time`` and pinnace's record helper (no datetime: Go's RFC 3339 is built by
hand from ``time.gmtime``).
"""

from __future__ import annotations

import time

from pinnace._util.golang import is_digits
from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: docker's copier buffer: a line longer than this is logged in pieces of this size.
MAX_LINE = 16 * 1024

NS = 1_000_000_000


@record
class LogRecord:
    """One record of a log: ``data`` ends with a newline unless ``partial`` (a piece of a long line).

    ``attrs`` are the ``--log-opt labels=/env=/tag=`` attributes the writer
    stamped on it, sorted by key.
    """

    stream: str
    data: bytes
    time_ns: int
    partial: bool = False
    attrs: tuple[tuple[str, str], ...] = ()


@record
class Format:
    """What the generic reader (:mod:`pinnace.logs.reader`) needs to know of one file format.

    ``framed`` says how records are delimited: False, one a line ending in
    ``\\n`` (json-file); True, docker's ``local`` framing (a big-endian u32
    length before and after each record).  ``parse`` turns one record's bytes
    (without the delimiter) into a LogRecord, or None for something that is
    not one; ``time_of`` reads just its time, cheaply, for seeking.
    """

    name: str
    framed: bool
    parse: Callable[[bytes], LogRecord | None]
    time_of: Callable[[bytes], int | None]


# ---------------------------------------------------------------- time


def format_time(ns: int, *, fixed: bool = False) -> str:
    """RFC 3339 in UTC: Go's RFC3339Nano (trailing zeros trimmed), or 9 digits with ``fixed`` (``logs -t``)."""
    sec, frac = divmod(ns, NS)
    t = time.gmtime(sec)
    head = f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}"
    if fixed:
        return f"{head}.{frac:09d}Z"
    if not frac:
        return head + "Z"
    return f"{head}.{frac:09d}".rstrip("0") + "Z"


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``Z`` or ``±hh:mm``); ValueError otherwise.

    Strict and fast: this reads the ``time`` of every json-file record.  The
    lenient forms users type (``--since 2024-01-02``) are
    :func:`pinnace._util.gotime.get_timestamp`'s.
    """
    head, rest = text[:19], text[19:]
    cached_head, secs = _second_cache[0]
    if head != cached_head:  # records come in order: most share their second with the one before
        secs = _head_seconds(head)
        _second_cache[0] = (head, secs)
    if rest[-1:] in ("Z", "z"):
        frac = rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-" and rest[-3] == ":" and is_digits(rest[-5:-3] + rest[-2:]):
        offset = int(rest[-5:-3]) * 3600 + int(rest[-2:]) * 60
        secs -= offset if rest[-6] == "+" else -offset
        frac = rest[:-6]
    else:
        raise ValueError(f"bad time {text!r}")
    if not frac:
        return secs * NS
    if frac[0] != "." or not 1 < len(frac) <= 10 or not is_digits(frac[1:]):
        raise ValueError(f"bad time {text!r}")
    return secs * NS + int(frac[1:].ljust(9, "0"))


_second_cache: list[tuple[str, int]] = [("", 0)]


def _head_seconds(s: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS`` (UTC)."""
    if (
        len(s) != 19
        or not is_digits(s[0:4] + s[5:7] + s[8:10] + s[11:13] + s[14:16] + s[17:19])
        or s[4] + s[7] + s[13] + s[16] != "--::"
        or s[10] not in "Tt"
    ):
        raise ValueError(f"bad time {s!r}")
    y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])


# ---------------------------------------------------------------- output


def format_record(rec: LogRecord, *, timestamps: bool = False, details: bool = False) -> bytes:
    """What ``docker logs`` prints for ``rec``: [time ][attrs ]line (moby daemon/logs.go order).

    ``details`` puts the attributes first as ``k=v,k=v`` (URL query escaped)
    and a space, even when there are none, as docker does.
    """
    out = rec.data
    if details:
        pairs = (_query_escape(k) + b"=" + _query_escape(v) for k, v in rec.attrs)
        out = b",".join(pairs) + b" " + out
    if timestamps:
        out = format_time(rec.time_ns, fixed=True).encode() + b" " + out
    return out


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _query_escape(text: str) -> bytes:
    """Go's url.QueryEscape."""
    out = bytearray()
    for b in text.encode():
        if b in _UNRESERVED:
            out.append(b)
        elif b == 0x20:
            out.append(0x2B)
        else:
            out += b"%%%02X" % b
    return bytes(out)
