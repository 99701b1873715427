"""``--change`` instructions of ``import`` (and later ``commit``), applied to a config.

Docker accepts a subset of Dockerfile instructions here: CMD, ENTRYPOINT,
ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from pinnace.errors import InvalidArgument

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """Return ``config`` (the image config's "config" object) with the changes applied."""
    out = dict(config)
    cmd_set = False  # as in a Dockerfile: ENTRYPOINT drops a CMD not set by these changes
    for change in changes:
        text = change.strip()
        if not text:
            continue
        word, _, rest = text.partition(" ")
        instr = word.upper()
        rest = rest.strip()
        if instr not in ALLOWED:
            raise InvalidArgument(f"{word} is not a valid change command")
        if instr == "CMD":
            out["Cmd"], cmd_set = _command(rest), True
        elif instr == "ENTRYPOINT":
            out["Entrypoint"] = _command(rest)
            if not cmd_set:
                out["Cmd"] = None
        elif instr == "HEALTHCHECK":
            out["Healthcheck"] = _healthcheck(rest)
        elif instr == "ENV":
            env = list(out.get("Env") or [])
            for key, value in _pairs(rest, instr):
                env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
            out["Env"] = env
        elif instr == "LABEL":
            labels = dict(out.get("Labels") or {})
            labels.update(_pairs(rest, instr))
            out["Labels"] = labels
        elif instr == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for port in rest.split():
                ports[port if "/" in port else f"{port}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = dict(out.get("Volumes") or {})
            for v in _list(rest):
                vols[v] = {}
            out["Volumes"] = vols
        elif instr == "WORKDIR":
            out["WorkingDir"] = rest
        elif instr == "USER":
            out["User"] = rest
        elif instr == "STOPSIGNAL":
            out["StopSignal"] = rest
        elif instr == "ONBUILD":
            out["OnBuild"] = [*(out.get("OnBuild") or []), rest]
        if not rest and instr not in ("CMD", "ENTRYPOINT"):
            raise InvalidArgument(f"{instr} requires at least one argument")
    return out


def _healthcheck(rest: str) -> dict[str, Any]:
    """``HEALTHCHECK [--interval=D ...] CMD command`` or ``HEALTHCHECK NONE`` as docker's HealthConfig."""
    from pinnace._util.golang import atoi, parse_duration

    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, eq, value = word[2:].partition("=")
        if name not in _HEALTH_FLAGS:
            raise InvalidArgument(f"Unknown flag: {name}")
        if not eq:
            raise InvalidArgument(f"Missing a value on flag: {word}")
        flags[name] = value
    kind, _, args = rest.partition(" ")
    kind, args = kind.upper(), args.strip()
    if not kind:
        raise InvalidArgument("HEALTHCHECK requires at least one argument")
    if kind == "NONE":
        if args:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    exec_form = _json_strings(args)
    if not (exec_form if exec_form is not None else args):
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    health: dict[str, Any] = {"Test": ["CMD", *exec_form] if exec_form is not None else ["CMD-SHELL", args]}
    for name, key in _HEALTH_FLAGS.items():
        value = flags.get(name, "")
        if not value:
            continue
        if key == "Retries":
            retries = atoi(value)
            if retries < 0:
                raise InvalidArgument(f"--retries cannot be negative ({retries})")
            if retries:
                health[key] = retries
            continue
        ns = parse_duration(value)
        if 0 < ns < 1_000_000 or ns < 0:
            raise InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
        if ns:
            health[key] = ns
    return health


_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
    "retries": "Retries",
}


def _json_strings(rest: str) -> list[str] | None:
    """The JSON-array form of an instruction's argument, if it is one."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    """JSON (exec) form, or shell form run by /bin/sh -c, as Dockerfile CMD/ENTRYPOINT."""
    exec_form = _json_strings(rest)
    return exec_form if exec_form is not None else ["/bin/sh", "-c", rest]


def _list(rest: str) -> list[str]:
    exec_form = _json_strings(rest)
    return exec_form if exec_form is not None else rest.split()


def _pairs(rest: str, instr: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` or the legacy single ``k v`` form."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise InvalidArgument(f"{instr}: {exc}") from exc
    if words and "=" not in words[0]:
        if len(words) < 2 and instr == "ENV":
            raise InvalidArgument(f"{instr} names can not be blank")
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{instr} names can not be blank")
        out.append((key, value))
    return out
