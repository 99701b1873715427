"""A container's Config and its OCI runtime spec, from the image and ``docker run``'s flags, as dockerd makes them.

Two steps, as in dockerd:

- at ``create``, :func:`container_config` merges the image's config with the
  user's flags into docker's container Config (moby daemon/commit.go
  ``merge`` and daemon/container.go ``mergeAndVerifyConfig``): what
  ``docker inspect`` shows under Config, and what ``start`` runs.
  :func:`verify_options` is the daemon's check of the resource and security
  flags (daemon/daemon_unix.go ``verifyPlatformContainerResources``), with
  its adjustments (swap defaults to twice the memory limit) and warnings.
- at ``start``, with the container's root filesystem mounted,
  :func:`build_spec` writes the runtime-spec config: Docker's defaults
  (:func:`pinnace.runtime.defaults.docker_spec`) adjusted as
  daemon/oci_linux.go ``createSpec`` adjusts them for these options.  The
  user is resolved in the container's own /etc/passwd and /etc/group
  (:func:`resolve_user`), read without following any symlink out of the
  root, since the image's files are not the host's to trust.

Mounts, networking and the files dockerd bind-mounts (/etc/hosts,
resolv.conf, hostname) are added by their own modules on top of this spec.
"""

from __future__ import annotations

import errno
import os

from pinnace._util.record import record, replace
from pinnace.containers.options import SECCOMP_BUILTIN, SECCOMP_UNCONFINED, normalize_caps
from pinnace.errors import FailedPrecondition, InvalidArgument, NotFound
from pinnace.runtime import defaults

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.containers.options import DeviceMapping, RunOptions
    from pinnace.containers.update import UpdateConfig

#: Where ``--init`` puts the init binary in the container (moby inContainerInitPath).
INIT_PATH = "/sbin/docker-init"

#: The smallest memory limit or reservation dockerd accepts (linuxMinMemory: room to start at all).
MIN_MEMORY = 6 * 1024 * 1024

#: The CFS period ``--cpus`` uses, in microseconds (100 ms, the kernel's default).
CPU_PERIOD = 100_000

#: The stop signal when neither ``--stop-signal`` nor the image's STOPSIGNAL names one.
DEFAULT_STOP_SIGNAL = "SIGTERM"

#: The shortest healthcheck interval, timeout or start period dockerd accepts (container.MinimumDuration).
MIN_HEALTH_DURATION = 1_000_000

#: Init binaries ``--init`` can use, best first: Docker's own name (a link to tini on Debian's
#: docker.io), then static builds that run in any image (Debian's tini-static, podman's
#: catatonit), then Debian's dynamically linked tini, which needs a glibc in the image.
INIT_CANDIDATES = ("docker-init", "tini-static", "catatonit", "tini")

_INIT_DIRS = (
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/usr/local/libexec/docker",
    "/usr/libexec/docker",
    "/usr/libexec/podman",
)

#: Highest uid/gid moby's user package accepts (int32, as the kernel's own checks).
_MAX_ID = 2**31 - 1
_RANGE_ERROR = "uids and gids must be in range 0-2147483647"
_RLIM_INFINITY = 2**64 - 1


# --------------------------------------------------------------------------- Config


def container_config(
    image_config: Mapping[str, Any] | None, options: RunOptions, *, container_id: str
) -> dict[str, Any]:
    """Docker's container Config for ``options`` run on an image whose config is ``image_config``.

    ``image_config`` is the ``config`` object of the image's config blob
    (Env, Cmd, Entrypoint, WorkingDir, User, Labels ...).  The merge is
    dockerd's: arguments after the image replace its CMD; ``--entrypoint``
    replaces its ENTRYPOINT and drops its CMD, ``--entrypoint ""`` clears
    both; ``-e`` entries come first and hide the image's of the same key;
    labels, workdir, user, stop signal and healthcheck fields fall back to
    the image's.  Raises docker's ``no command specified`` when nothing is
    left to run.
    """
    image: Mapping[str, Any] = image_config or {}
    if options.workdir and not options.workdir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{options.workdir}' is invalid, it needs to be an absolute path"
        )
    if options.stop_signal:
        _check_signal(options.stop_signal)
    if options.detach and options.attach:
        raise InvalidArgument("Conflicting options: -a and -d")

    cmd: list[str] | None = list(options.cmd) or None
    given = options.entrypoint  # --entrypoint's one string, or the Engine API's list
    entrypoint: list[str] | None = (
        None if given is None else [given] if isinstance(given, str) else list(given) or [""]
    )
    if not entrypoint:
        cmd = cmd or _strings(image.get("Cmd"))
        entrypoint = _strings(image.get("Entrypoint"))
    if entrypoint == [""]:
        entrypoint = None
    if not entrypoint and not cmd:
        raise InvalidArgument("no command specified")

    env = list(options.env)
    user_keys = {entry.partition("=")[0] for entry in env}
    env += [entry for entry in _strings(image.get("Env")) or () if entry.partition("=")[0] not in user_keys]

    labels = dict(options.labels)
    for key, value in (image.get("Labels") or {}).items():
        labels.setdefault(key, value)

    attach_stdin = options.interactive or "stdin" in options.attach
    attach_stdout = not options.attach or "stdout" in options.attach
    attach_stderr = not options.attach or "stderr" in options.attach
    if options.detach:
        attach_stdin = attach_stdout = attach_stderr = False

    config: dict[str, Any] = {
        "Hostname": options.hostname or container_id[:12],
        "Domainname": options.domainname,
        "User": options.user or image.get("User") or "",
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
    }
    exposed = {**(image.get("ExposedPorts") or {}), **options.exposed_ports}
    if exposed:
        config["ExposedPorts"] = dict(sorted(exposed.items()))
    config["Tty"] = options.tty
    config["OpenStdin"] = options.interactive
    config["StdinOnce"] = options.interactive and attach_stdin
    config["Env"] = env or None
    config["Cmd"] = cmd
    healthcheck = _merge_healthcheck(options.healthcheck, image.get("Healthcheck"))
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    config["Image"] = options.image
    volumes = {**(image.get("Volumes") or {}), **{path: {} for path in options.volumes}}
    config["Volumes"] = volumes or None
    config["WorkingDir"] = _clean(options.workdir) if options.workdir else image.get("WorkingDir") or ""
    config["Entrypoint"] = entrypoint
    config["OnBuild"] = None
    config["Labels"] = labels
    if options.mac_address:
        config["MacAddress"] = options.mac_address
    stop_signal = options.stop_signal or image.get("StopSignal") or ""
    if stop_signal:
        config["StopSignal"] = stop_signal
    if options.stop_timeout is not None:
        config["StopTimeout"] = options.stop_timeout
    return config


_HEALTH_FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


def _merge_healthcheck(
    user: Mapping[str, Any] | None, image: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The user's --health-* settings, each unset one (empty, 0) taken from the image's HEALTHCHECK."""
    if image is None:
        return None if user is None else dict(user)
    if user is None:
        return dict(image)
    merged = dict(user)
    for field in _HEALTH_FIELDS:
        if not merged.get(field) and image.get(field):
            merged[field] = image[field]
    return merged


def _strings(value: object) -> list[str] | None:
    """A JSON string list (Cmd, Entrypoint, Env) of an image config as a list; None when absent or empty."""
    if not value:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid image config: expected a list of strings, got {value!r}")
    return list(value)


def _clean(path: str) -> str:
    import posixpath

    return "/" + posixpath.normpath(path).lstrip("/")


def _check_signal(name: str) -> int:
    from pinnace.runtime import signals

    try:
        return signals.parse(name)
    except InvalidArgument:
        raise InvalidArgument(f"Invalid signal: {name}") from None


def command(config: Mapping[str, Any]) -> list[str]:
    """The process a Config runs: Entrypoint then Cmd (docker's Path and Args)."""
    args = list(config.get("Entrypoint") or ()) + list(config.get("Cmd") or ())
    if not args:
        raise InvalidArgument("no command specified")
    return args


def stop_signal(config: Mapping[str, Any]) -> int:
    """The signal ``docker stop`` sends: the Config's StopSignal, else SIGTERM."""
    return _check_signal(config.get("StopSignal") or DEFAULT_STOP_SIGNAL)


# --------------------------------------------------------------------------- the daemon's checks


def verify_options(
    options: RunOptions,
    *,
    ncpu: int | None = None,
    cgroup_v2: bool | None = None,
    swap_limit: bool | None = None,
) -> tuple[RunOptions, list[str]]:
    """dockerd's check of the flags at create: the options to store, and its warnings.

    Raises docker's errors (``Minimum memory limit allowed is 6MB``, the
    CPU range, conflicting CPU options, the oom-score-adj range, the restart
    policy, the log driver and its options, the runtime, healthcheck
    durations ...).  Adjusts as dockerd does: ``--memory-swap`` defaults to
    twice ``--memory``; without swap accounting on the host swap is left
    unlimited, and on cgroup v2 ``--oom-kill-disable`` is dropped, each with
    docker's warning; a pids limit of 0 or less means none; the shm size,
    log driver and runtime get the engine's defaults, so inspect shows what
    the container gets.  ``ncpu``, ``cgroup_v2`` and ``swap_limit`` describe
    the host and are read from it when None.
    """
    o = options
    warnings: list[str] = []
    if cgroup_v2 is None:
        cgroup_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if swap_limit is None:
        swap_limit = cgroup_v2 or os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    changes: dict[str, Any] = {}

    memory, swap = o.memory, o.memory_swap
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap == 0:
        swap = memory * 2
    if memory > 0 and swap != -1 and not swap_limit:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
        )
        swap = -1
    if memory > 0 and 0 < swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if swap != o.memory_swap:
        changes["memory_swap"] = swap
    if 0 < o.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and o.memory_reservation > 0 and memory < o.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if o.oom_kill_disable and cgroup_v2:
        warnings.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        changes["oom_kill_disable"] = False
    elif o.oom_kill_disable and memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."
        )

    if o.nano_cpus > 0 and o.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if o.nano_cpus > 0 and o.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if ncpu is None:
        ncpu = len(os.sched_getaffinity(0))
    if o.nano_cpus < 0 or o.nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(
            f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if o.cpu_shares < 0:
        raise InvalidArgument("shares: invalid argument")
    if o.cpu_period != 0 and not 1000 <= o.cpu_period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < o.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    for value, what in ((o.cpuset_cpus, "cpus"), (o.cpuset_mems, "mems")):
        if value and _cpu_list(value) is None:
            raise InvalidArgument(f"Invalid value {value} for cpuset {what}: invalid format: {value}")
    if o.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    if not -1000 <= o.oom_score_adj <= 1000:
        raise InvalidArgument(f"Invalid value {o.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    security_options(o.security_opt)  # raises on an option dockerd refuses
    for names, flag in ((o.cap_add, "CapAdd"), (o.cap_drop, "CapDrop")):
        try:
            check_capabilities(names)
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid {flag}: {e}") from None
    if o.pids_limit is not None and o.pids_limit <= 0:
        changes["pids_limit"] = None  # 0 and -1 both mean unlimited: no limit is stored
    if o.shm_size == 0:
        changes["shm_size"] = defaults.DEFAULT_SHM_SIZE
    changes.update(_verify_host_settings(o))
    _check_healthcheck(o.healthcheck)
    return (replace(o, **changes) if changes else o), warnings


def _verify_host_settings(o: RunOptions) -> dict[str, Any]:
    """The restart policy, log driver and runtime checked as dockerd does; the defaults it fills in."""
    from pinnace.containers.options import DEFAULT_LOG_DRIVER, check_restart_policy
    from pinnace.logs import drivers

    changes: dict[str, Any] = {}
    if o.auto_remove and o.restart_policy.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    check_restart_policy(o.restart_policy)
    drivers.validate({"Type": o.log_driver or DEFAULT_LOG_DRIVER, "Config": dict(o.log_opts)})
    if not o.log_driver:
        changes["log_driver"] = DEFAULT_LOG_DRIVER
    from pinnace.shim import runtimes

    runtimes.resolve(o.runtime)  # docker's "unknown or invalid runtime name"; stored as named, as docker does
    if not o.runtime:
        changes["runtime"] = runtimes.DEFAULT
    return changes


def _check_healthcheck(health: Mapping[str, Any] | None) -> None:
    """dockerd's validateHealthCheck: each duration 0 (unset) or at least 1ms, retries not negative."""
    if not health:
        return
    for field in ("Interval", "Timeout"):
        if 0 != int(health.get(field) or 0) < MIN_HEALTH_DURATION:
            raise InvalidArgument(f"{field} in Healthcheck cannot be less than 1ms")
    if int(health.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    for field in ("StartPeriod", "StartInterval"):
        if 0 != int(health.get(field) or 0) < MIN_HEALTH_DURATION:
            raise InvalidArgument(f"{field} in Healthcheck cannot be less than 1ms")


def _cpu_list(text: str) -> list[int] | None:
    """``0-3,8`` -> [0, 1, 2, 3, 8]; None when malformed (moby parsers.ParseUintList)."""
    cpus: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not (first.isascii() and first.isdigit()) or (dash and not (last.isascii() and last.isdigit())):
            return None
        if dash and int(last) < int(first):
            return None
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


@record
class SecurityOptions:
    """HostConfig.SecurityOpt as dockerd reads it (daemon/daemon_unix.go parseSecurityOpt)."""

    no_new_privileges: bool = False
    seccomp: str = ""  # "": the default profile; "builtin", "unconfined", or a profile's JSON
    unconfined_paths: bool = False  # systempaths=unconfined: nothing masked or read-only in /proc, /sys
    ignored: tuple[str, ...] = ()  # label=..., apparmor=...: accepted as docker does, not applied


_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def security_options(security_opt: Iterable[str]) -> SecurityOptions:
    """``--security-opt`` values as dockerd applies them; docker's error for one it refuses.

    ``label=...`` (SELinux) and ``apparmor=...`` are accepted and recorded
    in ``ignored``: pinnace loads no SELinux or AppArmor policy, which is
    also what dockerd does on a host without them.
    """
    nnp, seccomp, unconfined_paths = False, "", False
    ignored: list[str] = []
    for opt in security_opt:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "systempaths=unconfined":
            unconfined_paths = True
            continue
        if opt == "disable":
            ignored.append(opt)
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidArgument(f"invalid --security-opt 1: {_quote(opt)}")
        key, _, value = opt.partition(sep)
        if key in ("label", "apparmor"):
            ignored.append(opt)
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges" and value in _GO_BOOLS:
            nnp = _GO_BOOLS[value]
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {_quote(opt)}")
    return SecurityOptions(
        no_new_privileges=nnp, seccomp=seccomp, unconfined_paths=unconfined_paths, ignored=tuple(ignored)
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def capabilities(cap_add: Iterable[str], cap_drop: Iterable[str], *, privileged: bool = False) -> list[str]:
    """The container's capabilities: Docker's default set with --cap-drop removed and --cap-add added.

    moby oci/caps ``TweakCapabilities``: names are case-insensitive and the
    ``CAP_`` prefix optional; ``--cap-add ALL`` means every capability the
    engine holds (minus the dropped ones); ``--cap-drop ALL`` keeps only the
    added ones; ``privileged`` gets every capability the engine holds.
    """
    if privileged:
        return defaults.current_capabilities()
    add, drop = normalize_caps(cap_add, cap_drop)
    if not add and not drop:
        return list(defaults.DOCKER_CAPS)
    check_capabilities(add)
    check_capabilities(drop)
    if "ALL" in add:
        return [cap for cap in defaults.current_capabilities() if cap not in drop]
    if "ALL" in drop:
        return add
    caps = [cap for cap in defaults.DOCKER_CAPS if cap not in drop]
    return caps + [cap for cap in add if cap not in caps]


def check_capabilities(names: Iterable[str]) -> None:
    """Refuse, in docker's words, a name the kernel does not know or a capability the engine itself lacks."""
    from pinnace.runtime.linux.capabilities import NAMES

    held: set[str] | None = None
    for name in normalize_caps(names, ())[0]:
        if name == "ALL":
            continue
        if name not in NAMES:
            raise InvalidArgument(f'unknown capability: "{name}"')
        if held is None:
            held = set(defaults.current_capabilities())
        if name not in held:
            raise InvalidArgument(
                f'capability not supported by your kernel or not available in the current environment: "{name}"'
            )


# --------------------------------------------------------------------------- the runtime spec


def build_spec(
    config: Mapping[str, Any],
    options: RunOptions,
    *,
    container_id: str,
    rootfs: str,
    cgroup_parent: str = "/pinnace",
    mounts: Sequence[Mapping[str, Any]] = (),
    root_propagation: str = "",
    netns: str = "",
) -> dict[str, Any]:
    """The runtime-spec config.json dockerd would write to start this container.

    ``config`` is the container's Config (:func:`container_config`),
    ``options`` its HostConfig-side options (as verified at create), and
    ``rootfs`` the mounted root filesystem, where the user is resolved.  The
    cgroup is ``<cgroup_parent>/<container_id>`` (dockerd's is
    ``/docker/<id>``).  Host devices named by ``--device`` and the init binary
    of ``--init`` are looked up on the host now.  ``mounts`` are the
    container's volumes, binds and tmpfs as runtime-spec mounts (parents
    first): one on the destination of a default mount (``/dev/shm`` ...)
    replaces it, as dockerd's user mounts do.  ``root_propagation`` is
    ``linux.rootfsPropagation`` when a shared or slave bind needs one.
    ``netns`` is the network namespace: "" a new one, ``host`` the host's
    (and no network sysctl, which would change the host's), else a path
    to join.
    """
    from pinnace.runtime.spec import validate_spec

    args = command(config)
    if options.init:
        args = [INIT_PATH, "--", *args]
    security = security_options(options.security_opt)
    uid, gid, groups = resolve_user(str(config.get("User") or ""), rootfs, options.group_add)
    caps = capabilities(options.cap_add, options.cap_drop, privileged=options.privileged)
    seccomp: dict[str, Any] | str | None
    if (
        options.privileged or security.seccomp == SECCOMP_UNCONFINED
    ):  # privileged: no filter, any profile unread
        seccomp = "unconfined"
    elif security.seccomp in ("", SECCOMP_BUILTIN):
        seccomp = "default"
    else:
        seccomp = seccomp_profile(security.seccomp, caps)
    spec = defaults.docker_spec(
        args=args,
        rootfs=rootfs,
        env=list(config.get("Env") or ()),
        cwd=_clean(config["WorkingDir"]) if config.get("WorkingDir") else "/",
        user={"uid": uid, "gid": gid, "additionalGids": groups},
        hostname=str(config.get("Hostname") or ""),
        terminal=bool(config.get("Tty")),
        caps=caps,
        privileged=options.privileged,
        read_only=options.read_only,
        no_new_privileges=security.no_new_privileges,
        seccomp=seccomp,
    )
    process, linux = spec["process"], spec["linux"]
    if options.ulimits:
        process["rlimits"] = [
            {"type": "RLIMIT_" + u.name.upper(), "hard": _rlimit(u.hard), "soft": _rlimit(u.soft)}
            for u in options.ulimits
        ]
    process["oomScoreAdj"] = options.oom_score_adj

    shm = f"size={options.shm_size or defaults.DEFAULT_SHM_SIZE}"
    for mount in spec["mounts"]:
        if mount["destination"] == "/dev/shm":
            mount["options"] = [shm if o.startswith("size=") else o for o in mount["options"]]
    if options.init:
        spec["mounts"].append(
            {"destination": INIT_PATH, "type": "bind", "source": init_binary(), "options": ["bind", "ro"]}
        )
    if mounts:
        taken = {m["destination"] for m in mounts}
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in taken] + [
            dict(m) for m in mounts
        ]
    if root_propagation:
        linux["rootfsPropagation"] = root_propagation
    if netns:
        _join_network(linux, netns)

    sysctl = dict(linux.get("sysctl") or {})
    if config.get("Domainname"):
        # No runtime-spec field for the NIS domain name; the UTS-namespaced sysctl does setdomainname(2)'s work.
        sysctl["kernel.domainname"] = str(config["Domainname"])
    sysctl.update(options.sysctls)
    if sysctl:
        linux["sysctl"] = sysctl
    if security.unconfined_paths and not options.privileged:
        linux["maskedPaths"] = []
        linux["readonlyPaths"] = []

    resources = linux["resources"]
    _add_resources(resources, options)
    devices = list(linux.get("devices") or ())
    for mapping in options.devices:
        if options.privileged and mapping.path_on_host == mapping.path_in_container:
            continue  # already there: a privileged container gets every host device
        found, rules = devices_from_path(mapping, "rwm" if options.privileged else mapping.permissions)
        devices.extend(found)
        if not options.privileged:
            resources["devices"].extend(rules)
    if devices:
        linux["devices"] = devices
    linux["cgroupsPath"] = f"{cgroup_parent.rstrip('/')}/{container_id}"
    return validate_spec(spec)


def _join_network(linux: dict[str, Any], netns: str) -> None:
    """The spec's network namespace: the host's (none listed) or the one bound at ``netns``."""
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    if netns == "host":
        sysctl = {k: v for k, v in (linux.get("sysctl") or {}).items() if not k.startswith("net.")}
        if sysctl:
            linux["sysctl"] = sysctl
        else:
            linux.pop("sysctl", None)
    else:
        namespaces.append({"type": "network", "path": netns})
    linux["namespaces"] = namespaces


def _rlimit(value: int) -> int:
    """A ulimit as the spec's unsigned rlimit: -1 is RLIM_INFINITY, as Go's uint64(-1)."""
    return _RLIM_INFINITY if value < 0 else value


def _add_resources(resources: dict[str, Any], o: RunOptions) -> None:
    """Memory, CPU and pids limits (moby getMemoryResources, getCPUResources, getPidsLimit)."""
    memory: dict[str, Any] = {}
    if o.memory > 0:
        memory["limit"] = o.memory
    if o.memory_reservation > 0:
        memory["reservation"] = o.memory_reservation
    swap = o.memory * 2 if o.memory > 0 and o.memory_swap == 0 else o.memory_swap
    if swap > 0:
        memory["swap"] = swap
    if o.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        resources["memory"] = memory

    if o.cpu_shares < 0:
        raise InvalidArgument("shares: invalid argument")
    resources.update(cpu_and_pids(o))


def cpu_and_pids(o: RunOptions | UpdateConfig) -> dict[str, Any]:
    """The ``cpu`` and ``pids`` parts of ``linux.resources`` for the limits ``o`` sets (zero: not set).

    ``run``'s and ``update``'s alike (moby getCPUResources and getPidsLimit):
    ``--cpus`` is a quota over docker's 100 ms period; an explicit quota or
    period wins; a pids limit of zero or less is unlimited.
    """
    resources: dict[str, Any] = {}
    cpu: dict[str, Any] = {}
    if o.cpu_shares > 0:
        cpu["shares"] = o.cpu_shares
    if o.nano_cpus > 0:
        cpu["quota"] = o.nano_cpus * CPU_PERIOD // 1_000_000_000
        cpu["period"] = CPU_PERIOD
    if o.cpu_quota:
        cpu["quota"] = o.cpu_quota
    if o.cpu_period:
        cpu["period"] = o.cpu_period
    if o.cpuset_cpus:
        cpu["cpus"] = o.cpuset_cpus
    if o.cpuset_mems:
        cpu["mems"] = o.cpuset_mems
    if cpu:
        resources["cpu"] = cpu
    if o.pids_limit is not None:
        resources["pids"] = {"limit": o.pids_limit if o.pids_limit > 0 else -1}
    return resources


# --------------------------------------------------------------------------- seccomp profiles

_SECCOMP_KEYS = (
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "flags",
    "listenerPath",
    "listenerMetadata",
)


def seccomp_profile(text: str, caps: Sequence[str]) -> dict[str, Any] | str:
    """A Docker seccomp profile (``--security-opt seccomp=FILE``'s JSON) as the spec's ``linux.seccomp``.

    moby profiles/seccomp ``setupSeccomp``: ``archMap`` picks the host's
    architecture and its sub-architectures; a syscall rule applies when its
    ``includes`` (caps, arches, minKernel) hold and its ``excludes`` do not,
    for the container's capabilities ``caps``.  A profile with neither a
    default action nor syscalls means no filter (``"unconfined"``).
    """
    from pinnace._util import jsonc
    from pinnace.runtime import seccomp_default as base

    try:
        profile = jsonc.loads(text)
        if not isinstance(profile, dict):
            raise ValueError("a seccomp profile is a JSON object")
    except ValueError as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from None
    calls = profile.get("syscalls") or []
    if not profile.get("defaultAction") and not calls:
        return "unconfined"
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'"
        )
    section: dict[str, Any] = {key: profile[key] for key in _SECCOMP_KEYS if key in profile}
    native = base.native_arch()
    arch = base.seccomp_arch(native)
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == arch:
            section["architectures"] = [arch, *(entry.get("subArchitectures") or ())]
            break
    kernel = base.kernel_version()
    have = set(caps)
    syscalls: list[dict[str, Any]] = []
    for call in calls:
        if call.get("name") and call.get("names"):
            raise InvalidArgument(
                "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"
            )
        excludes, includes = dict(call.get("excludes") or {}), dict(call.get("includes") or {})
        for condition in (excludes, includes):
            if condition.get("minKernel"):
                condition["minKernel"] = _kernel(condition["minKernel"])
        if not base.applies(includes, excludes, native=native, caps=have, kernel=kernel):
            continue
        rule: dict[str, Any] = {
            "names": [call["name"]] if call.get("name") else list(call.get("names") or ())
        }
        for key in ("action", "errnoRet", "args"):
            if key in call:
                rule[key] = call[key]
        syscalls.append(rule)
    section["syscalls"] = syscalls
    return section


def _kernel(text: object) -> tuple[int, int]:
    """A profile's ``minKernel`` (``"4.8"``) as (major, minor)."""
    major, _, minor = str(text).partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise InvalidArgument(f'invalid kernel version: {text}, expected "<kernel>.<major>"')
    return int(major), int(minor)


# --------------------------------------------------------------------------- devices


def devices_from_path(
    mapping: DeviceMapping, permissions: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``linux.devices`` entries and device cgroup rules for one ``--device`` (moby oci.DevicesFromPath).

    The host path may be a symlink (followed), a device node, or a
    directory, whose device nodes are all added under the container path.
    """
    import stat

    host = mapping.path_on_host
    try:
        resolved = os.path.realpath(host) if os.path.islink(host) else host
        st = os.lstat(resolved)
    except OSError as e:
        raise InvalidArgument(_device_error(host, os.strerror(e.errno or errno.EIO))) from None
    device = _device(resolved, st, mapping.path_in_container)
    if device is not None:
        return [device], _device_rules([device], permissions)
    found: list[dict[str, Any]] = []
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(resolved):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                try:
                    child = _device(path, os.lstat(path), mapping.path_in_container + path[len(resolved) :])
                except OSError:
                    continue
                if child is not None:
                    found.append(child)
    if not found:
        raise InvalidArgument(_device_error(host, "not a device node"))
    return found, _device_rules(found, permissions)


def _device_error(host: str, reason: str) -> str:
    return f'error gathering device information while adding custom device "{host}": {reason[:1].lower()}{reason[1:]}'


def _device(path: str, st: os.stat_result, container_path: str) -> dict[str, Any] | None:
    import stat

    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    elif stat.S_ISFIFO(st.st_mode):
        kind = "p"
    else:
        return None
    return {
        "path": container_path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _device_rules(devices: list[dict[str, Any]], permissions: str) -> list[dict[str, Any]]:
    """One allow rule per device node (pipes need none: the device cgroup only sees b and c)."""
    return [
        {"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"], "access": permissions}
        for d in devices
        if d["type"] in ("b", "c")
    ]


# --------------------------------------------------------------------------- init


def init_binary(dirs: Sequence[str] | None = None) -> str:
    """The host's init for ``--init``: its real path, for a read-only bind mount at /sbin/docker-init.

    Searches ``dirs`` (default: $PATH, the usual bin directories and
    docker's and podman's libexec) for :data:`INIT_CANDIDATES` in order.
    """
    if dirs is None:
        path_dirs = [d for d in os.environ.get("PATH", "").split(":") if d]
        dirs = [*path_dirs, *(d for d in _INIT_DIRS if d not in path_dirs)]
    for name in INIT_CANDIDATES:
        for directory in dirs:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return os.path.realpath(path)
    raise FailedPrecondition(
        "docker-init binary not found: install tini (tini-static) or catatonit to use --init"
    )


# --------------------------------------------------------------------------- users


def resolve_user(user: str, rootfs: str, group_add: Iterable[str] = ()) -> tuple[int, int, list[int]]:
    """``user[:group]`` -> (uid, gid, additional gids), from the container's /etc/passwd and /etc/group.

    moby's getUser (moby/sys/user GetExecUser): a name must have a passwd
    entry; a number need not, but takes its primary group and supplementary
    groups from the entry when there is one.  With no group given, the
    supplementary groups are those that list the user; the additional gids
    are the primary gid, those, then ``--group-add`` (names or numbers).
    The files are read inside ``rootfs`` only: symlinks are resolved as if
    ``rootfs`` were ``/``.
    """
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        passwd = _read_in_root(root_fd, "/etc/passwd")
        group = _read_in_root(root_fd, "/etc/group")
    finally:
        os.close(root_fd)
    uid, gid, sgids = _exec_user(user, passwd, group)
    extra = _additional_groups(group_add, group) if group_add else []
    return uid, gid, [gid, *sgids, *extra]


def _exec_user(spec: str, passwd: str | None, group: str | None) -> tuple[int, int, list[int]]:
    parts = spec.split(":")
    user_arg, group_arg = parts[0], parts[1] if len(parts) > 1 else ""
    uid_arg, gid_arg = _atoi(user_arg), _atoi(group_arg)
    uid, gid, sgids = 0, 0, []
    users = []
    for fields in _entries(passwd, 7):
        entry_uid = _atoi(fields[2]) or 0
        if (
            (not user_arg and entry_uid == 0)
            or (uid_arg is not None and entry_uid == uid_arg)
            or (uid_arg is None and fields[0] == user_arg)
        ):
            users.append((fields[0], entry_uid, _atoi(fields[3]) or 0))
    matched = ""
    if users:
        matched, uid, gid = users[0]
    elif user_arg:
        if uid_arg is None:
            raise NotFound(f"unable to find user {user_arg}: no matching entries in passwd file")
        if not 0 <= uid_arg <= _MAX_ID:
            raise InvalidArgument(_RANGE_ERROR)
        uid = uid_arg
    if group_arg or matched:
        groups = []
        for fields in _entries(group, 4):
            entry_gid = _atoi(fields[2]) or 0
            if not group_arg:
                hit = matched in fields[3].split(",")
            elif gid_arg is not None:
                hit = entry_gid == gid_arg
            else:
                hit = fields[0] == group_arg
            if hit:
                groups.append(entry_gid)
        if group_arg:
            if groups:
                gid = groups[0]
            elif gid_arg is None:
                raise NotFound(f"unable to find group {group_arg}: no matching entries in group file")
            elif not 0 <= gid_arg <= _MAX_ID:
                raise InvalidArgument(_RANGE_ERROR)
            else:
                gid = gid_arg
        else:
            sgids = groups
    return uid, gid, sgids


def _additional_groups(names: Iterable[str], group: str | None) -> list[int]:
    """``--group-add`` names or numbers as gids (moby/sys/user GetAdditionalGroups), in order, once each."""
    entries = [(fields[0], _atoi(fields[2]) or 0) for fields in _entries(group, 4)]
    gids: list[int] = []
    for name in names:
        match = next((gid for entry, gid in entries if entry == name or str(gid) == name), None)
        if match is None:
            number = _atoi(name)
            if number is None:
                raise NotFound(f"Unable to find group {name}: no matching entries in group file")
            if not 0 <= number <= _MAX_ID:
                raise InvalidArgument(_RANGE_ERROR)
            match = number
        if match not in gids:
            gids.append(match)
    return gids


def _entries(text: str | None, width: int) -> list[list[str]]:
    """The ``:``-separated lines of a passwd/group file, padded to ``width`` fields; blanks and comments skipped."""
    rows = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        rows.append(fields + [""] * (width - len(fields)))
    return rows


def _atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optionally signed decimal, else None."""
    body = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if body.isascii() and body.isdigit() else None


# --------------------------------------------------------------------------- files inside the root

_MAX_SYMLINKS = 40
_O_PATH = getattr(os, "O_PATH", 0o10000000)  # Linux's value; os has it on Linux builds


def _read_in_root(root_fd: int, path: str, limit: int = 64 << 20) -> str | None:
    """The text of regular file ``path`` inside the root, or None when it is missing or not a regular file."""
    import stat

    try:
        fd = open_in_root(root_fd, path)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a device or fifo named /etc/passwd is not read
        with open(f"/proc/self/fd/{fd}", "rb") as f:  # the same inode, now readable
            return f.read(limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


def open_in_root(root_fd: int, path: str, *, make_dirs: bool = False) -> int:
    """An ``O_PATH`` fd of ``path`` as seen with the directory ``root_fd`` as ``/``, or OSError.

    Every component is opened with O_NOFOLLOW relative to its parent's fd
    and every symlink is resolved here, an absolute target from the root and
    ``..`` never above it, so neither a crafted link nor one swapped in
    while we walk can lead outside the root (what moby's
    FollowSymlinkInScope guarantees, without its race).  Nothing is opened
    for reading, so a device node costs nothing.  ``make_dirs`` creates
    missing directories (mode 0755), as ``mkdir -p``.
    """
    import stat

    pending = [p for p in reversed(path.split("/")) if p]
    dirs = [os.open(".", _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)]
    links = 0
    try:
        while pending:
            name = pending.pop()
            if name == ".":
                continue
            if name == "..":
                if len(dirs) > 1:
                    os.close(dirs.pop())
                continue
            try:
                fd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirs[-1])
            except FileNotFoundError:
                if not make_dirs:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=dirs[-1])
                except FileExistsError:
                    pass  # made meanwhile; open it on the next turn
                pending.append(name)
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                os.close(fd)
                links += 1
                if links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=dirs[-1])
                if target.startswith("/"):
                    while len(dirs) > 1:
                        os.close(dirs.pop())
                pending.extend(p for p in reversed(target.split("/")) if p)
                continue
            if not pending:
                return fd
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            dirs.append(fd)
        return os.dup(dirs[-1])
    finally:
        for fd in dirs:
            os.close(fd)


def make_working_dir(rootfs: str, workdir: str) -> None:
    """Create the Config's WorkingDir in the container's root if missing, as dockerd does before start.

    Docker's error when the path exists and is not a directory:
    ``Cannot mkdir: /x is not a directory``.
    """
    import stat

    if not workdir:
        return
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root_fd, workdir, make_dirs=True)
    except NotADirectoryError:
        raise FailedPrecondition(f"Cannot mkdir: {workdir} is not a directory") from None
    finally:
        os.close(root_fd)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise FailedPrecondition(f"Cannot mkdir: {workdir} is not a directory")
    finally:
        os.close(fd)
