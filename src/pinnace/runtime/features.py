"""``pinnace-runtime features``: what this runtime supports, in runtime-spec's features.md schema.

Engines read this document to decide what they may put in a config (podman,
containerd and Kubernetes check it before using, say, idmapped mounts or a
seccomp feature).  A claim here is a promise, so the document is
deliberately conservative: it lists only what the runtime increments of
issue 3 are committed to implement (namespaces, the six hooks, the mount
options pinnace's mount package understands, cgroup v1 and v2 drivers), and
leaves out what is not built: seccomp is enabled when libseccomp's binding
is installed (setup.sh installs it), AppArmor and SELinux are disabled, the systemd cgroup driver as unsupported, and Intel RDT, idmapped
mounts and net devices are absent (absent means "unknown" in the schema,
which makes engines fall back to not using them).
Where the host decides (capabilities, namespaces), the host is asked.
"""

from __future__ import annotations

import os

from pinnace import __version__
from pinnace.runtime import SPEC_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The OCI hooks, in the order the spec runs them.
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

#: Mount options the runtime translates to mount(2) flags and propagation: the
#: table of pinnace.mount (containerd's parseMountOptions).  Anything else in
#: a config's mount options is passed to the filesystem as data, except runc's
#: tmpcopyup (a tmpfs filled with what it covers).  Recursive mount_setattr
#: options (rro, rnosuid, ...) are not claimed.
MOUNT_OPTIONS = (
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
)

#: spec namespace type -> its /proc/self/ns entry.
_NS_FILES = {
    "cgroup": "cgroup",
    "ipc": "ipc",
    "mount": "mnt",
    "network": "net",
    "pid": "pid",
    "time": "time",
    "user": "user",
    "uts": "uts",
}


def capabilities(cap_last_cap: str = "/proc/sys/kernel/cap_last_cap") -> list[str]:
    """The names of the capabilities this kernel knows (0 .. cap_last_cap)."""
    from pinnace.runtime.linux.capabilities import NAMES

    try:
        with open(cap_last_cap) as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = NAMES.index("CAP_AUDIT_READ")  # linux 4.x: a safe floor
    return list(NAMES[: last + 1])


#: The seccomp actions the runtime compiles (SCMP_ACT_NOTIFY needs a listener: not offered).
SECCOMP_ACTIONS = (
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
)


def seccomp() -> dict[str, Any]:
    """The seccomp section: enabled when libseccomp's binding is installed."""
    try:
        import seccomp as _binding  # noqa: F401
    except ImportError:
        return {"enabled": False}
    from pinnace.runtime.linux import seccomp as filters

    return {
        "enabled": True,
        "actions": list(SECCOMP_ACTIONS),
        "operators": sorted(filters.OPERATORS),
        "archs": sorted("SCMP_ARCH_" + arch for arch in filters.ARCHES),
        "knownFlags": sorted(filters.FLAGS),
        "supportedFlags": sorted(filters.FLAGS),
    }


def namespaces(ns_dir: str = "/proc/self/ns") -> list[str]:
    """The namespace types this kernel offers (the time namespace needs linux 5.6)."""
    try:
        present = set(os.listdir(ns_dir))
    except OSError:
        present = set(_NS_FILES.values()) - {"time"}
    return sorted(kind for kind, name in _NS_FILES.items() if name in present)


def features() -> dict[str, Any]:
    """The features document ``pinnace-runtime features`` prints (runtime-spec features.md)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": {
            "namespaces": namespaces(),
            "capabilities": capabilities(),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": seccomp(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.pinnace.runtime.version": __version__},
    }
