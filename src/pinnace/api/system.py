"""``/_ping``, ``/version`` and ``/info`` (what a client asks first: API version negotiation),
``/system/df`` and ``/events``.

The daemonless CLI builds the same documents from the same functions (:func:`_info`,
:meth:`pinnace.engine.Engine.disk_usage`), so ``pinnace info``/``system df`` print the same with or
without ``-H``.
"""

from __future__ import annotations

import json
import os
import time

from pinnace.api.server import API_VERSION, MIN_API_VERSION, call, json_response, query_filters
from pinnace.engine import DF_TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine
    from pinnace.events import Event

#: How often a follower of ``/events`` looks for new events in the log, in seconds.
EVENTS_POLL = 0.05

#: The filter keys dockerd's ``/events`` accepts.
EVENT_FILTERS = frozenset(
    ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
     "secret", "service", "type", "volume")
)  # fmt: skip

def request_version(request: web.Request) -> tuple[int, int]:
    """The API version the client asked for in the path (``/v1.35/...``), the newest served without one."""
    text = request.match_info.get("version", "").lstrip("v") or API_VERSION
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def older_than(request: web.Request, version: str) -> bool:
    """Whether the request speaks an API version before ``version`` (dockerd's versions.LessThan)."""
    major, _, minor = version.partition(".")
    return request_version(request) < (int(major), int(minor))


async def ping(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    headers = {
        "API-Version": API_VERSION,
        "Builder-Version": "1",
        "Docker-Experimental": "false",
        "OSType": "linux",
        "Swarm": "inactive",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }
    body = b"" if request.method == "HEAD" else b"OK"
    return web.Response(body=body, headers=headers, content_type="text/plain", charset="utf-8")


def _arch() -> str:
    from pinnace.oci.descriptor import Platform

    return Platform.host().architecture


def _python() -> str:
    import sys

    return "python" + ".".join(map(str, sys.version_info[:3]))


async def version(request: web.Request) -> web.StreamResponse:
    from pinnace.api.server import _version

    details = {
        "ApiVersion": API_VERSION, "Arch": _arch(), "BuildTime": "", "Experimental": "false", "GitCommit": "",
        "GoVersion": _python(), "KernelVersion": os.uname().release, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
    }  # fmt: skip
    return json_response(
        {
            "Platform": {"Name": "pinnace"},
            "Components": [{"Name": "Engine", "Version": _version(), "Details": details}],
            "Version": _version(),
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": _python(),
            "Os": "linux",
            "Arch": _arch(),
            "KernelVersion": os.uname().release,
            "BuildTime": "",
        }
    )


async def info(request: web.Request) -> web.StreamResponse:
    return json_response(await call(request, _info))


def _info(engine: Engine) -> dict[str, Any]:
    from pinnace.api.server import _version

    records = engine.containers.list()
    running = sum(r.status == "running" for r in records)
    paused = sum(r.status == "paused" for r in records)
    images = engine.stores.records.all()
    mem = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    cgroup2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return {
        "ID": _store_id(engine.config.root),
        "Containers": len(records),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(records) - running - paused,
        "Images": len(images),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "none"],
            "Authorization": None,
            "Log": ["json-file", "local", "none"],
        },  # fmt: skip
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "SystemTime": _now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if cgroup2 else "1",
        "NEventsListener": 0,
        "KernelVersion": os.uname().release,
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": os.uname().machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem,
        "DockerRootDir": engine.config.root,
        "Name": os.uname().nodename,
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": _version(),
        "Runtimes": {"pinnace": {"path": "pinnace-runtime"}, "runc": {"path": "runc"}},
        "DefaultRuntime": "pinnace",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },  # fmt: skip
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if cgroup2 else []),
        "Warnings": None,
    }


def _store_id(root: str) -> str:
    import hashlib

    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:12].upper()


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


# --------------------------------------------------------------------------- system df


async def system_df(request: web.Request) -> web.StreamResponse:
    from pinnace.errors import InvalidArgument

    wanted = request.query.getall("type", [])
    for kind in wanted:
        if kind not in DF_TYPES:
            raise InvalidArgument(f"unknown object type: {kind}")
    kinds = set(wanted or DF_TYPES)
    return json_response(await call(request, lambda engine: engine.disk_usage(kinds)))


# --------------------------------------------------------------------------- events


def _event_time(request: web.Request, name: str) -> int | None:
    """``since``/``until`` as dockerd reads them (``sec[.nanos]``) in unix nanoseconds; None when absent."""
    from pinnace._util.gotime import parse_timestamps
    from pinnace.errors import InvalidArgument

    text = request.query.get(name, "")
    if not text:
        return None
    try:
        return parse_timestamps(text)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def message(event: Event) -> dict[str, Any]:
    """moby's events.Message: the deprecated status/id/from for container and image events (omitted when
    empty, as its omitempty tags do), then Type, Action, Actor, scope, time, timeNano."""
    doc: dict[str, Any] = {}
    if event.type in ("container", "image"):
        doc["status"] = event.action
        doc["id"] = event.actor_id
        image = str(event.attributes.get("image", "")) if event.type == "container" else ""
        if image:
            doc["from"] = image
        doc = {k: v for k, v in doc.items() if v}
    doc.update(
        Type=event.type,
        Action=event.action,
        Actor={"ID": event.actor_id, "Attributes": dict(event.attributes)},
        scope="local",
        time=event.time_ns // 1_000_000_000,
        timeNano=event.time_ns,
    )
    return doc


def check_event_filters(filters: Mapping[str, Sequence[str]]) -> None:
    """dockerd's 400 for a filter key its events do not know (InvalidArgument)."""
    from pinnace.errors import InvalidArgument

    for key in filters:
        if key not in EVENT_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")


async def events(request: web.Request) -> web.StreamResponse:
    """JSON lines of the event log: without ``since``/``until`` only what happens from now on, followed
    until the client goes; with ``since`` the log is replayed from then first; with ``until`` the stream
    ends at that time (at once when it has passed), as dockerd does."""
    import asyncio
    import functools

    from aiohttp import web

    from pinnace.errors import InvalidArgument
    from pinnace.events import last_seq, matches, read_events

    since, until = _event_time(request, "since"), _event_time(request, "until")
    if until is not None and since is not None and until < since:
        raise InvalidArgument(
            f"`since` time ({request.query['since']}) cannot be after `until` time ({request.query['until']})"
        )
    filters = query_filters(request)
    check_event_filters(filters)
    after = 0
    if since is None and until is None:
        after = await call(request, lambda engine: last_seq(engine.db))
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)

    def batch(engine: Engine, after_seq: int) -> Sequence[Event]:
        return read_events(engine.db, since_ns=since or 0, until_ns=until, after_seq=after_seq)

    try:
        while True:
            done = until is not None and time.time_ns() > until
            for event in await call(request, functools.partial(batch, after_seq=after)):
                after = event.seq
                if matches(event, filters):
                    await response.write(json.dumps(message(event)).encode() + b"\n")
            if done:
                break
            transport = request.transport
            if transport is None or transport.is_closing():
                return response  # the client went away
            await asyncio.sleep(EVENTS_POLL)
        await response.write_eof()
    except ConnectionError:
        pass
    return response


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/system/df", system_df),
    ("GET", "/events", events),
]
