"""HEALTHCHECK's flags and command, as the image config's ``Healthcheck`` object (durations in ns)."""

from __future__ import annotations

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.build.dockerfile import Instruction

DURATIONS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def parse_healthcheck(ins: Instruction) -> dict[str, Any]:
    """``HEALTHCHECK NONE`` or ``HEALTHCHECK [--interval=D ...] CMD command`` (docker's rules: a
    duration is at least 1ms or 0, retries at least 0, a shell-form CMD is ``CMD-SHELL``)."""
    from pinnace._util.golang import parse_duration

    text = (ins.args[0] if ins.args else "").strip() if not ins.json else ""
    words = text.split(None, 1)
    if words and words[0].upper() == "NONE":
        if len(words) > 1 or ins.flags:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if not words or words[0].upper() != "CMD":
        raise InvalidArgument(
            "Unknown type in HEALTHCHECK (try CMD)" if words else "Missing command after HEALTHCHECK CMD"
        )
    health: dict[str, Any] = {}
    rest = words[1].strip() if len(words) > 1 else ""
    if not rest:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    import json

    try:
        parsed = json.loads(rest)
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        health["Test"] = ["CMD", *parsed]
    else:
        health["Test"] = ["CMD-SHELL", rest]
    for flag, value in ins.flags:
        if flag in DURATIONS:
            ns = parse_duration(value)
            if ns != 0 and ns < 1_000_000:
                raise InvalidArgument(f"Interval {'--' + flag} cannot be less than 1ms")
            if ns < 0:
                raise InvalidArgument(f"--{flag} cannot be negative")
            health[DURATIONS[flag]] = ns
        elif flag == "retries":
            try:
                retries = int(value)
            except ValueError:
                raise InvalidArgument(f"--retries: invalid value {value!r}") from None
            if retries < 0:
                raise InvalidArgument("--retries cannot be negative")
            health["Retries"] = retries
        else:
            raise InvalidArgument(f"unknown flag: {flag}")
    return health
