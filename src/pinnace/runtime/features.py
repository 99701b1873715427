"""``pinnace-runtime features``: what this runtime supports, in runtime-spec's features.md schema.

Engines read this document to decide what they may put in a config (podman,
containerd and Kubernetes check it before using, say, idmapped mounts or a
seccomp feature).  A claim here is a promise, so the document is
deliberately conservative: it lists only what the runtime increments of
issue 3 are committed to implement (namespaces, the six hooks, the mount
options pinnace's mount package understands, cgroup v1 and v2 drivers), and
leaves out what is not decided or not built yet: seccomp is reported as
disabled until the libseccomp binding lands, AppArmor and SELinux as
disabled, the systemd cgroup driver as unsupported, and Intel RDT, idmapped
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

#: Capability names by number (linux/capability.h).  A kernel newer than this
#: table may know more; those have no name a config could use, so they are
#: left out rather than invented.
CAPABILITY_NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

#: The OCI hooks, in the order the spec runs them.
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

#: Mount options the runtime translates to mount(2) flags and propagation: the
#: table of pinnace.mount (containerd's parseMountOptions).  Anything else in
#: a config's mount options is passed to the filesystem as data.  Recursive
#: mount_setattr options (rro, rnosuid, ...) and tmpcopyup are not claimed.
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
    try:
        with open(cap_last_cap) as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = CAPABILITY_NAMES.index("CAP_AUDIT_READ")  # linux 4.x: a safe floor
    return list(CAPABILITY_NAMES[: last + 1])


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
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.pinnace.runtime.version": __version__},
    }
