"""``/_ping``, ``/version`` and ``/info``: what a client asks first (API version negotiation)."""

from __future__ import annotations

import os

from pinnace.api.server import API_VERSION, MIN_API_VERSION, call, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


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


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
]
