"""The OCI runtime-spec config (``config.json``): load, validate, and the default.

The config stays the raw ``dict`` decoded from JSON.  The spec has dozens of
optional fields and grows with every minor version; a typed mirror of it
would be large, lag behind the spec and cost import time in a process that
starts once per container.  Instead :func:`validate_spec` checks, up front,
the rules whose violation must stop ``create`` before anything is set up
(each error names the field, in one line), and the runtime reads the rest
where it applies it.

:func:`default_spec` is what ``runc spec`` writes (runc's
libcontainer/specconv Example and ToRootless), so bundles made for runc and
for pinnace-runtime look the same.  It is a starter file, not Docker's
defaults: the engine's own spec builder adds those.
"""

from __future__ import annotations

import os

from pinnace.errors import InvalidArgument, NotFound
from pinnace.runtime import SPEC_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up; the runtime starts once per container
    from typing import Any, TypeAlias

    #: A runtime-spec config as decoded from JSON.
    Spec: TypeAlias = dict[str, Any]

#: linux.namespaces[].type values of runtime-spec v1.2.
NAMESPACE_TYPES = frozenset({"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"})

#: The one spec major version this runtime understands.  Minor versions only
#: add optional fields, so any 1.x is accepted (as runc does).
SUPPORTED_MAJOR = 1

_UINT32_MAX = 0xFFFFFFFF


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate the config at ``path`` (a bundle's ``config.json``)."""
    from pinnace._util import jsonc

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFound(f"JSON specification file {os.fspath(path)} not found") from None
    except OSError as e:
        raise InvalidArgument(f"open {os.fspath(path)}: {e.strerror or e}") from None
    try:
        spec = jsonc.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidArgument(f"{os.fspath(path)}: invalid JSON: {e}") from None
    return validate_spec(spec)


def validate_spec(spec: object) -> Spec:
    """Return ``spec`` if it passes the checks ``create`` needs, else raise InvalidArgument.

    Checked: ociVersion (present, major 1), process.args (non-empty when a
    process is given) and process.cwd (absolute), root.path, every
    mounts[].destination (absolute), linux.namespaces (known types, none
    twice) and linux.uidMappings/gidMappings (well-formed, and only with a
    user namespace).
    """
    if not isinstance(spec, dict):
        raise InvalidArgument("config.json: must be a JSON object")
    _check_version(spec.get("ociVersion"))
    if spec.get("process") is not None:
        _check_process(_obj(spec["process"], "process"))
    _check_root(spec.get("root"))
    if spec.get("mounts") is not None:
        for i, mount in enumerate(_list(spec["mounts"], "mounts")):
            _check_mount(_obj(mount, f"mounts[{i}]"), f"mounts[{i}]")
    if spec.get("linux") is not None:
        check_linux(_obj(spec["linux"], "linux"))
    return spec


def _bad(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {problem}")


def _obj(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, "must be a JSON object")
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(field, "must be a JSON array")
    return value


def _str(value: object, field: str) -> str:
    if value is None:
        raise _bad(field, "missing")
    if not isinstance(value, str):
        raise _bad(field, "must be a string")
    return value


def _absolute(value: object, field: str) -> None:
    if not _str(value, field).startswith("/"):
        raise _bad(field, f'"{value}" is not an absolute path')


def _check_version(version: object) -> None:
    if version is None or version == "":
        raise _bad("ociVersion", "missing")
    text = _str(version, "ociVersion")
    parts = text.split("-", 1)[0].split("+", 1)[0].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise _bad("ociVersion", f'"{text}" is not a semantic version')
    if int(parts[0]) != SUPPORTED_MAJOR:
        raise _bad(
            "ociVersion", f'unsupported version "{text}" (this runtime supports 1.x, up to {SPEC_VERSION})'
        )


def _check_process(process: dict[str, Any]) -> None:
    args = _list(process.get("args", []), "process.args")
    if not args:
        raise _bad("process.args", "must not be empty")
    for i, arg in enumerate(args):
        _str(arg, f"process.args[{i}]")
    _absolute(process.get("cwd"), "process.cwd")


def _check_root(root: object) -> None:
    if root is None:
        raise _bad("root", "missing")
    path = _obj(root, "root").get("path")
    if path == "":
        raise _bad("root.path", "missing")
    _str(path, "root.path")


def _check_mount(mount: dict[str, Any], field: str) -> None:
    _absolute(mount.get("destination"), f"{field}.destination")
    for key in ("type", "source"):
        if mount.get(key) is not None:
            _str(mount[key], f"{field}.{key}")
    if mount.get("options") is not None:
        for i, option in enumerate(_list(mount["options"], f"{field}.options")):
            _str(option, f"{field}.options[{i}]")


def check_linux(linux: dict[str, Any]) -> None:
    """Validate a spec's ``linux`` object (namespaces, id mappings); also used by namespaces.plan."""
    seen: set[str] = set()
    for i, ns in enumerate(_list(linux.get("namespaces") or [], "linux.namespaces")):
        field = f"linux.namespaces[{i}]"
        kind = _str(_obj(ns, field).get("type"), f"{field}.type")
        if kind not in NAMESPACE_TYPES:
            raise _bad(f"{field}.type", f'unknown namespace type "{kind}"')
        if kind in seen:
            raise _bad(f"{field}.type", f'namespace type "{kind}" is given twice')
        seen.add(kind)
        if ns.get("path") is not None:
            _str(ns["path"], f"{field}.path")
    for key in ("uidMappings", "gidMappings"):
        mappings = _list(linux.get(key) or [], f"linux.{key}")
        for i, mapping in enumerate(mappings):
            _check_mapping(_obj(mapping, f"linux.{key}[{i}]"), f"linux.{key}[{i}]")
        if mappings and "user" not in seen:
            raise _bad(f"linux.{key}", 'mappings need a "user" namespace in linux.namespaces')


def _check_mapping(mapping: dict[str, Any], field: str) -> None:
    for key in ("containerID", "hostID", "size"):
        value = mapping.get(key)
        if value is None:
            raise _bad(f"{field}.{key}", "missing")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
            raise _bad(f"{field}.{key}", f"must be an integer from 0 to {_UINT32_MAX}")
    if mapping["size"] == 0:
        raise _bad(f"{field}.size", "must be at least 1")


# -- the default config ------------------------------------------------------

_RUNC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(*, rootless: bool = False) -> Spec:
    """What ``runc spec`` (or ``runc spec --rootless``) writes, with hostname "pinnace".

    A new dict each call: callers edit it.  Unlike runc, which adds the
    cgroup namespace only on a cgroup v2 host, it is always there: the
    runtime sets up a cgroup namespace on v1 and v2 alike, and a config file
    that does not depend on the host that generated it is easier to reason
    about.  The rootless variant follows runc's ToRootless: a user namespace
    mapping the caller's euid/egid to 0, no network namespace (an
    unprivileged user cannot configure one), /sys bind-mounted rather than a
    new sysfs, no uid=/gid= mount options, and no cgroup resources.
    """
    spec: Spec = {
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_RUNC_CAPS),
                "effective": list(_RUNC_CAPS),
                "permitted": list(_RUNC_CAPS),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pinnace",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup"},
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
                "/sys/devices/virtual/tpm",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        _to_rootless(spec)
    return spec


def _to_rootless(spec: Spec) -> None:
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    del linux["resources"]
    mounts = []
    for mount in spec["mounts"]:
        if mount["destination"] == "/sys":
            mount = {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        elif "options" in mount:
            mount["options"] = [o for o in mount["options"] if not o.startswith(("uid=", "gid="))]
        mounts.append(mount)
    spec["mounts"] = mounts
    # Reorder keys as runc's JSON has them (uidMappings, gidMappings first).
    spec["linux"] = {
        k: linux[k] for k in ("uidMappings", "gidMappings", "namespaces", "maskedPaths", "readonlyPaths")
    }
