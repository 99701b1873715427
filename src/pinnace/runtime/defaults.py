"""Docker's defaults for a container, as a runtime-spec config generator.

:func:`docker_spec` writes the config.json dockerd writes for a plain
``docker run``: moby's ``oci.DefaultLinuxSpec`` (oci/defaults.go, now
daemon/pkg/oci/defaults.go) with what daemon/oci_linux.go adds for a
container with default options (WithCommonOptions, WithNamespaces,
WithCapabilities, WithSeccomp, WithMounts, WithDevices, WithOOMScore).  The
engine builds every container's config from it and then adds what belongs
to the container (its rootfs path, binds, resolv.conf/hosts/hostname files,
cgroupsPath, hooks, resources).

Matching Docker here is what makes ``alias docker=pinnace`` honest: images
and scripts are written against what a Docker container sees (which caps a
root process holds, that ``/proc/kcore`` reads empty, that ``/dev/shm`` is
64 MiB, that ``ping`` works without CAP_NET_RAW ...), and a security
default that is weaker than Docker's would be a silent regression.

Unlike :func:`pinnace.runtime.spec.default_spec` (what ``runc spec``
writes, a starter file), this is the engine's config.  The constants are
shared and must not be mutated: :func:`docker_spec` copies them.
"""

from __future__ import annotations

import os

from pinnace.errors import InvalidArgument
from pinnace.runtime import SPEC_VERSION
from pinnace.runtime.cgroups.devices import RUNC_ALLOWED_DEVICES, device_rule
from pinnace.runtime.linux.capabilities import NAMES as CAPABILITY_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: The capabilities of a Docker container's root process (moby
#: oci/caps/defaults.go ``DefaultCapabilities``): 14 of the kernel's 41.
#: Notably absent: CAP_SYS_ADMIN (mount, most namespace and bpf operations),
#: CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_DAC_READ_SEARCH (the
#: open_by_handle_at escape of 2014), CAP_SYS_RAWIO.  Order as moby lists them,
#: so a config diff against dockerd's is empty.
DOCKER_CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

#: Paths hidden from the container (moby ``defaultLinuxMaskedPaths``): the
#: runtime bind-mounts /dev/null over a file and an empty read-only tmpfs
#: over a directory.  They leak host information or are attack surface:
#: kcore (host memory as an ELF core), keys (the host's keyrings),
#: timer_list/timer_stats/sched_debug/latency_stats (host tasks and
#: timing), interrupts (GHSA-6fw5-f8r9-fgfm: a side channel on other CPUs'
#: activity), powercap (GHSA-jq35-85cj-fj4p: RAPL energy counters, the
#: "Platypus" side channel), firmware (ACPI tables, EFI variables), and
#: acpi/asound/scsi (host hardware).
MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)

#: Paths the container may read but not write (moby ``DefaultLinuxSpec``):
#: kernel tunables (sys), hardware and filesystem knobs (bus, fs, irq) and
#: the magic SysRq trigger, all global to the host however namespaced the
#: container is.  Writable ones a container legitimately needs come back
#: through ``linux.sysctl``, which a runtime must write before this remount
#: (runc's standard init does; see :data:`DEFAULT_SYSCTLS`).
READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: The PATH of a container whose image sets none (moby ``DefaultPathEnv``).
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: ``docker run --shm-size``'s default (moby daemon/config: 64 MiB), which
#: daemon/oci_linux.go WithMounts appends to the /dev/shm mount's options.
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

#: The filesystems of every container (moby ``DefaultLinuxSpec`` mounts, in
#: its order, /dev/shm sized as WithMounts sizes it).  /dev is a small tmpfs
#: the runtime fills with the default device nodes, never the host's /dev;
#: /sys and the cgroup tree are read-only so a root process cannot reach
#: host-wide sysfs knobs or escape its cgroup limits (privileged makes them
#: writable); devpts is a new instance so the container sees only its own
#: ptys; gid=5 is the tty group of every mainstream distribution.
DEFAULT_MOUNTS: tuple[dict[str, Any], ...] = (
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
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
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    },
    {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": ["ro", "nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev/mqueue",
        "type": "mqueue",
        "source": "mqueue",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={DEFAULT_SHM_SIZE}"],
    },
)

#: Mounts a read-only root leaves writable (daemon/oci_linux.go WithMounts):
#: the API filesystems and the tmpfs ones a program expects to write.
_WRITABLE_WITH_READONLY_ROOT = frozenset({"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"})


#: The device cgroup rules of a Docker container, as runc ends up applying
#: them: moby's ``DefaultLinuxSpec`` resources.devices (deny everything; allow
#: zero, null, urandom, random, tty, console; deny fuse) followed by the rules
#: runc appends to every container (libcontainer/specconv ``AllowedDevices``:
#: mknod of any node, the same standard devices plus full, /dev/pts/*,
#: /dev/ptmx and /dev/net/tun).  They are written out here rather than left
#: implicit so the config says what the container gets whichever runtime
#: runs it.  The cgroup is the second wall behind /dev's contents: a node
#: made with CAP_MKNOD, or one a bind mount brings in, still cannot be opened
#: unless a rule allows it.
DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    device_rule(True, "c", 1, 5, "rwm"),  # /dev/zero
    device_rule(True, "c", 1, 3, "rwm"),  # /dev/null
    device_rule(True, "c", 1, 9, "rwm"),  # /dev/urandom
    device_rule(True, "c", 1, 8, "rwm"),  # /dev/random
    device_rule(True, "c", 5, 0, "rwm"),  # /dev/tty
    device_rule(True, "c", 5, 1, "rwm"),  # /dev/console
    device_rule(False, "c", 10, 229, "rwm"),  # /dev/fuse
    *RUNC_ALLOWED_DEVICES,
)

#: Sysctls dockerd sets in every container with its own network namespace
#: (daemon/oci_linux.go WithCommonOptions): ping without CAP_NET_RAW and
#: binding ports below 1024 without CAP_NET_BIND_SERVICE.  Both are
#: per-network-namespace, so they widen nothing beyond the container, and
#: they let images drop those two capabilities.  Set only when the host
#: kernel has them: a runtime must fail on an unknown sysctl.
DEFAULT_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("net.ipv4.ping_group_range", "0 2147483647"),
    ("net.ipv4.ip_unprivileged_port_start", "0"),
)

#: Directories of /dev that are not device nodes of the host's hardware
#: (containerd oci.HostDevices skips them): a privileged container gets its
#: own pts, shm and mqueue, and the rest are bookkeeping of other managers.
_HOST_DEV_SKIP = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def masked_paths(cpu_dir: str = "/sys/devices/system/cpu") -> list[str]:
    """:data:`MASKED_PATHS` plus each CPU's ``thermal_throttle`` directory the host has.

    Moby masks those since GHSA-6fw5-f8r9-fgfm: their counters move with the
    load of every CPU, a side channel on other tenants.  They exist on x86
    hosts with the therm_throt driver only, so the list depends on the host,
    like moby's.
    """
    paths = list(MASKED_PATHS)
    try:
        with open(os.path.join(cpu_dir, "possible")) as f:
            ranges = f.read().strip()
    except OSError:
        return paths
    for cpu in _cpu_list(ranges):
        path = f"{cpu_dir}/cpu{cpu}/thermal_throttle"
        if os.path.exists(path):
            paths.append(path)
    return paths


def _cpu_list(ranges: str) -> list[int]:
    """The CPUs of a kernel cpu list (``0-3,8,10-11``); an unreadable part is skipped."""
    cpus: list[int] = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def current_capabilities(status: str = "/proc/self/status") -> list[str]:
    """The capabilities the calling process holds (its CapEff), by name: what "all" means for privileged.

    Moby's ``GetAllCapabilities`` does the same (containerd ``cap.Current``):
    a privileged container gets every capability the engine itself has, so
    Docker-in-Docker or an engine under a restricted bounding set still
    creates containers instead of asking for capabilities it cannot grant.
    """
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    mask = int(line.split()[1], 16)
                    return [name for bit, name in enumerate(CAPABILITY_NAMES) if mask >> bit & 1]
    except (OSError, ValueError, IndexError):
        pass
    return list(CAPABILITY_NAMES)


def host_devices(dev: str = "/dev") -> list[dict[str, Any]]:
    """Every char and block device node under ``dev``, as ``linux.devices`` entries.

    What a privileged container gets (moby WithDevices -> containerd
    ``oci.HostDevices``): the host's nodes recreated in the container's
    /dev, with their modes and owners, so tools like losetup, fdisk or a
    GPU driver work.  Symlinks, sockets and pipes are not devices; nodes with
    major 0 (unnamed devices) are skipped, and ``/dev/console`` too, which
    the runtime sets up from the container's own terminal.
    """
    import stat

    devices: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(dev), key=lambda e: e.name)
    except OSError:
        return devices
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _HOST_DEV_SKIP:
                    devices.extend(host_devices(entry.path))
                continue
            if entry.name == "console":
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:  # vanished while we looked (udev), or unreadable
            continue
        if stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            continue
        if os.major(st.st_rdev) == 0:
            continue
        devices.append(
            {
                "path": entry.path,
                "type": kind,
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "fileMode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
            }
        )
    return devices


def merge_env(defaults: Iterable[str], overrides: Iterable[str]) -> list[str]:
    """``overrides`` applied to ``defaults`` as dockerd does (container ReplaceOrAppendEnvValues).

    ``KEY=value`` replaces the default's KEY in place or is appended; a bare
    ``KEY`` removes it.  (When the overrides name one key twice, the later one
    wins; dockerd would keep both.)
    """
    merged: dict[str, str | None] = {}
    for entry in defaults:
        merged[entry.partition("=")[0]] = entry
    for entry in overrides:
        key, sep, _ = entry.partition("=")
        if sep:
            merged[key] = entry
        elif key in merged:
            merged[key] = None
    return [entry for entry in merged.values() if entry is not None]


def docker_spec(
    *,
    args: list[str],
    rootfs: str = "rootfs",
    env: list[str] | None = None,
    cwd: str = "/",
    user: dict[str, Any] | None = None,
    hostname: str = "",
    terminal: bool = False,
    caps: Iterable[str] | None = None,
    privileged: bool = False,
    read_only: bool = False,
    no_new_privileges: bool = False,
    seccomp: dict[str, Any] | str | None = "default",
) -> dict[str, Any]:
    """The runtime-spec v1.2 config dockerd writes for ``docker run``, with these settings.

    ``args`` is the process's argv, ``rootfs`` the bundle-relative or
    absolute root; ``env`` is the container's own environment (the image's
    merged with ``-e``), laid over Docker's base (PATH, HOSTNAME when
    ``hostname`` is set, TERM=xterm with a ``terminal``) by
    :func:`merge_env`.  ``user`` is the resolved ``process.user``
    (``{"uid", "gid", "additionalGids"...}``; root by default).  ``caps`` is
    the final capability list after --cap-add/--cap-drop (default
    :data:`DOCKER_CAPS`); as in moby's SetCapabilities a non-root user gets
    them in the bounding set only, the effective and permitted sets staying
    empty as execve would leave them.

    ``seccomp`` is ``"default"`` (Docker's default profile for these caps,
    from :mod:`pinnace.runtime.seccomp_default`), a profile dict (a
    ``linux.seccomp`` object), or None / ``"unconfined"`` for no filter.

    ``privileged`` does what ``docker run --privileged`` does: every
    capability the engine holds, no masked or read-only paths, no seccomp
    (even if one is given, as in moby's WithSeccomp), /sys and the cgroup
    tree writable, every host device created and allowed.

    Namespaces are Docker's (mount, network, uts, pid, ipc) plus cgroup,
    which dockerd adds on cgroup v2 hosts and pinnace always adds (see
    :func:`~pinnace.runtime.spec.default_spec`); no user namespace.  No
    rlimits (the daemon's default-ulimits are empty), oomScoreAdj 0, and
    noNewPrivileges only when asked, as Docker (`--security-opt
    no-new-privileges`).  No AppArmor profile: pinnace does not load one.
    """
    if isinstance(seccomp, str) and seccomp not in ("default", "unconfined"):
        raise InvalidArgument(f'linux.seccomp: unknown profile "{seccomp}" (want "default" or "unconfined")')
    if user is None:
        user = {"uid": 0, "gid": 0}
    if privileged:
        cap_list = current_capabilities()
    else:
        cap_list = _checked_caps(DOCKER_CAPS if caps is None else caps)

    base = [DEFAULT_PATH_ENV]
    if hostname:
        base.append(f"HOSTNAME={hostname}")
    if terminal:
        base.append("TERM=xterm")

    process: dict[str, Any] = {
        "terminal": terminal,
        "user": dict(user),
        "args": list(args),
        "env": merge_env(base, env or []),
        "cwd": cwd,
    }
    if user.get("uid", 0) == 0:
        process["capabilities"] = {
            "bounding": list(cap_list),
            "effective": list(cap_list),
            "permitted": list(cap_list),
        }
    else:
        process["capabilities"] = {"bounding": list(cap_list)}
    process["oomScoreAdj"] = 0
    if no_new_privileges:
        process["noNewPrivileges"] = True

    spec: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": read_only},
    }
    if hostname:
        spec["hostname"] = hostname
    spec["mounts"] = _mounts(read_only=read_only, privileged=privileged)
    spec["linux"] = _linux(cap_list, privileged=privileged, seccomp=seccomp)
    return spec


def _checked_caps(caps: Iterable[str]) -> list[str]:
    """``caps`` in order without repeats, each a capability name the runtime knows."""
    checked: list[str] = []
    for cap in caps:
        if cap not in CAPABILITY_NAMES:
            raise InvalidArgument(f'process.capabilities: unknown capability "{cap}"')
        if cap not in checked:
            checked.append(cap)
    return checked


def _mounts(*, read_only: bool, privileged: bool) -> list[dict[str, Any]]:
    """:data:`DEFAULT_MOUNTS`, copied, adjusted as daemon/oci_linux.go WithMounts adjusts them."""
    mounts = []
    for mount in DEFAULT_MOUNTS:
        options = list(mount["options"])
        if read_only and mount["destination"] not in _WRITABLE_WITH_READONLY_ROOT and "ro" not in options:
            options.append("ro")
        if privileged and mount["type"] in ("sysfs", "cgroup"):
            options = [o for o in options if o != "ro"]
        mounts.append({**mount, "options": options})
    return mounts


def _linux(cap_list: list[str], *, privileged: bool, seccomp: dict[str, Any] | str | None) -> dict[str, Any]:
    linux: dict[str, Any] = {}
    sysctl = {name: value for name, value in DEFAULT_SYSCTLS if os.path.exists(_sysctl_path(name))}
    if sysctl:
        linux["sysctl"] = sysctl
    if privileged:
        linux["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    else:
        linux["resources"] = {"devices": [dict(rule) for rule in DEVICE_RULES]}
    linux["namespaces"] = [
        {"type": "mount"},
        {"type": "network"},
        {"type": "uts"},
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "cgroup"},
    ]
    if privileged:
        devices = host_devices()
        if devices:
            linux["devices"] = devices
        return linux
    if seccomp == "default":
        from pinnace.runtime.seccomp_default import docker_default

        linux["seccomp"] = docker_default(cap_list)
    elif isinstance(seccomp, dict):
        linux["seccomp"] = seccomp
    linux["maskedPaths"] = masked_paths()
    linux["readonlyPaths"] = list(READONLY_PATHS)
    return linux


def _sysctl_path(name: str) -> str:
    return "/proc/sys/" + name.replace(".", "/")
