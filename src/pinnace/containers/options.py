"""The ``docker run`` / ``docker create`` flags that shape a container, as typed values.

:class:`RunOptions` holds what the CLI parsed (or the API received) for the
settings that end up in the container's Config or in its runtime spec:
command, environment, user, security, resources, the restart policy, the
log driver and the runtime.  Mounts, networks and ports belong to other
modules and are not here.

The ``parse_*`` functions read one flag value the way docker's CLI does
(docker/cli ``opts`` and ``cli/command/container/opts.go``, go-units for
sizes and ulimits) and raise :class:`~pinnace.errors.InvalidArgument` with
docker's own message.  pflag prefixes a value's error with the flag:
:func:`flag_error` builds that line (``invalid argument "5x" for "-m,
--memory" flag: invalid suffix: 'x'``) so the CLI prints what docker prints.

:func:`host_config` and :func:`from_host_config` map the HostConfig side of
the options to and from docker's HostConfig JSON, which the container record
keeps, so ``start`` rebuilds the same options ``create`` was given.

Nothing here touches the host except :func:`parse_security_opt`, which reads
a seccomp profile file as the CLI does.
"""

from __future__ import annotations

import os
from types import MappingProxyType

from pinnace._util.golang import quote
from pinnace._util.record import record
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

_EMPTY: Mapping[str, str] = MappingProxyType({})


@record
class Ulimit:
    """One ``--ulimit``: ``name`` as docker spells it (``nofile``); -1 is unlimited."""

    name: str
    soft: int
    hard: int


@record
class DeviceMapping:
    """One ``--device``: a host device (or a directory of them) made available in the container."""

    path_on_host: str
    path_in_container: str
    permissions: str = "rwm"  # device cgroup access: some of r(ead), w(rite), m(knod)


@record
class RestartPolicy:
    """``--restart``: HostConfig.RestartPolicy (``no``, ``always``, ``on-failure[:N]``, ``unless-stopped``)."""

    name: str = "no"
    maximum_retry_count: int = 0


@record
class RunOptions:
    """The parsed flags of ``docker run``/``create`` that shape the Config and the runtime spec.

    Defaults are docker's when the flag is not given.  Sizes are bytes,
    ``nano_cpus`` is ``--cpus`` in billionths of a CPU (docker's NanoCpus).
    """

    # -- the Config side (merged with the image config by spec.container_config)
    image: str = ""  # the image reference as the user typed it
    cmd: tuple[str, ...] = ()  # arguments after the image: replace the image's CMD
    entrypoint: str | tuple[str, ...] | None = (
        None  # None: the image's; "" or (): reset; the API gives a list
    )
    env: tuple[str, ...] = ()  # env files then -e, in order, lookups done (KEY alone: unset)
    workdir: str = ""
    user: str = ""  # user[:group], names or numbers
    hostname: str = ""  # "": the first 12 hex digits of the container ID
    domainname: str = ""
    labels: Mapping[str, str] = _EMPTY  # label files then --label
    stop_signal: str = ""  # "": the image's STOPSIGNAL, else SIGTERM
    stop_timeout: int | None = None
    healthcheck: Mapping[str, Any] | None = None  # docker's HealthConfig (Test, Interval ns ...)
    tty: bool = False
    interactive: bool = False
    attach: tuple[str, ...] = ()  # -a: "stdin", "stdout", "stderr"
    detach: bool = False
    volumes: tuple[str, ...] = ()  # -v /path: anonymous volumes, Config.Volumes with the image's
    exposed_ports: Mapping[str, Any] = _EMPTY  # --expose and -p: Config.ExposedPorts with the image's
    # -- the HostConfig side
    binds: tuple[str, ...] = ()  # -v with a source: HostConfig.Binds as given (the CLI made ./x absolute)
    mounts: tuple[
        Mapping[str, Any], ...
    ] = ()  # --mount: HostConfig.Mounts entries (docker's mount.Mount JSON)
    tmpfs: Mapping[str, str] = _EMPTY  # --tmpfs: destination -> mount options
    volumes_from: tuple[str, ...] = ()  # --volumes-from CONTAINER[:ro|rw]
    volume_driver: str = ""  # --volume-driver: the driver of volumes created for this container
    dns: tuple[str, ...] = ()  # --dns: name servers replacing the host's
    dns_search: tuple[str, ...] = ()  # --dns-search
    dns_options: tuple[str, ...] = ()  # --dns-option
    extra_hosts: tuple[str, ...] = ()  # --add-host name:ip (ip may be "host-gateway")
    port_bindings: Mapping[str, Any] = _EMPTY  # -p: HostConfig.PortBindings ("80/tcp": [{HostIp, HostPort}])
    publish_all: bool = False  # -P: HostConfig.PublishAllPorts
    # -- the endpoint on the network, taken at create (docker's NetworkingConfig.EndpointsConfig)
    ip: str = ""  # --ip
    network_aliases: tuple[str, ...] = ()  # --network-alias
    mac_address: str = ""  # --mac-address (also Config.MacAddress)
    group_add: tuple[str, ...] = ()
    init: bool | None = None  # None: --init not given (docker's HostConfig.Init is a pointer)
    read_only: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()  # as HostConfig.SecurityOpt: seccomp=<profile JSON>, ...
    memory: int = 0
    memory_swap: int = 0  # memory plus swap; -1 unlimited; 0: twice memory
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None  # <= 0: unlimited
    ulimits: tuple[Ulimit, ...] = ()
    shm_size: int = 0  # 0: docker's 64 MiB
    sysctls: Mapping[str, str] = _EMPTY
    devices: tuple[DeviceMapping, ...] = ()
    oom_kill_disable: bool = False
    oom_score_adj: int = 0
    restart_policy: RestartPolicy = RestartPolicy()
    auto_remove: bool = False  # --rm
    log_driver: str = ""  # "": the engine's default (json-file), filled in by spec.verify_options
    log_opts: Mapping[str, str] = _EMPTY
    runtime: str = ""  # "": the engine's default (pinnace), filled in by spec.verify_options
    cidfile: str = ""  # HostConfig.ContainerIDFile: the CLI writes the ID there after create
    network_mode: str = ""  # "": docker's default
    # -- the client's side only (not stored): how `run` attaches
    detach_keys: str = ""  # --detach-keys, checked by parse_detach_keys


def flag_error(flag: str, value: str, error: Exception) -> InvalidArgument:
    """pflag's line for a bad value: ``invalid argument "5x" for "-m, --memory" flag: <error>``.

    ``flag`` is spelled as pflag prints it: ``"-m, --memory"`` when the flag
    has a shorthand, else ``"--cpus"``.
    """
    return InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {error}')


# --------------------------------------------------------------------------- sizes and numbers


def parse_memory(text: str) -> int:
    """A size in bytes as docker's ``--memory``/``--shm-size`` read it (go-units RAMInBytes)."""
    from pinnace._util.units import ram_in_bytes

    return ram_in_bytes(text)


def parse_memory_swap(text: str) -> int:
    """``--memory-swap``: a size as :func:`parse_memory`, or ``-1`` for unlimited swap."""
    return -1 if text == "-1" else parse_memory(text)


def parse_cpus(text: str) -> int:
    """``--cpus 1.5`` -> 1500000000 NanoCPUs: an exact decimal or fraction, at most 9 decimals.

    The range (0.01 up to the host's CPU count) is the daemon's check
    (spec.verify_options), as in docker.
    """
    from fractions import Fraction

    try:
        if text.strip() != text or "_" in text:
            raise ValueError
        value = Fraction(text) * 1_000_000_000
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument(f"failed to parse {text} as a rational number") from None
    if value.denominator != 1:
        raise InvalidArgument("value is too precise")
    return value.numerator


def _go_int(text: str) -> int:
    """``strconv.ParseInt(text, 10, 64)``, with its error."""
    body = text[1:] if text[:1] in "+-" else text
    if body.isascii() and body.isdigit():
        value = int(text)
        if -(1 << 63) <= value < (1 << 63):
            return value
        raise InvalidArgument(f'strconv.ParseInt: parsing "{text}": value out of range')
    raise InvalidArgument(f'strconv.ParseInt: parsing "{text}": invalid syntax')


# --------------------------------------------------------------------------- ulimits, devices, sysctls

#: ``--ulimit`` names (go-units ulimitNameMapping; ``as`` is left out there too).
ULIMIT_NAMES = frozenset(
    [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ]
)


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024:2048`` or ``nproc=512`` (hard = soft) or ``core=-1``/``infinity`` (go-units ParseUlimit)."""
    name, sep, values = text.partition("=")
    if not sep:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    parts = values.split(":")
    if len(parts) > 2:
        raise InvalidArgument(
            f"too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        )
    hard = _ulimit_value(parts[1]) if len(parts) == 2 else None
    soft = _ulimit_value(parts[0])
    if hard is None:
        hard = soft
    if hard != -1:
        if soft == -1:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"
            )
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
    return Ulimit(name=name, soft=soft, hard=hard)


def _ulimit_value(text: str) -> int:
    return -1 if text == "infinity" else _go_int(text)


def _valid_device_mode(mode: str) -> bool:
    return bool(mode) and len(set(mode)) == len(mode) and set(mode) <= {"r", "w", "m"}


def _absolute(path: str) -> str:
    """``path`` cleaned as Go's ``path.Clean`` (posixpath keeps a leading ``//``); it must be absolute."""
    import posixpath

    if not path.startswith("/"):
        raise InvalidArgument(f"{path} is not an absolute path")
    return "/" + posixpath.normpath(path).lstrip("/")


def parse_device(text: str) -> DeviceMapping:
    """``/dev/fuse``, ``/dev/sda:/dev/xvdc``, ``/dev/sda:rw`` or ``/dev/sda:/dev/xvdc:rwm``.

    docker's CLI validateLinuxPath then parseLinuxDevice: the container path
    must be absolute and is cleaned, the mode is some of ``rwm`` (default
    ``rwm``).  Whether the host path is a device is the daemon's check, at
    start.
    """
    if text.count(":") > 2 or not text.split(":", 1)[0]:
        raise InvalidArgument(f"bad format for path: {text}")
    parts = text.split(":")
    if len(parts) == 3:
        host, container, mode = parts
        if not _valid_device_mode(mode):
            raise InvalidArgument(f"bad mode specified: {mode}")
        if not container.startswith("/"):
            raise InvalidArgument(f"{container} is not an absolute path")
    elif len(parts) == 2 and not _valid_device_mode(parts[1]):
        host, container, mode = parts[0], _absolute(parts[1]), "rwm"
    else:  # one path for both; the CLI cleans it
        host = container = _absolute(parts[0])
        mode = parts[1] if len(parts) == 2 else "rwm"
    return DeviceMapping(path_on_host=host, path_in_container=container, permissions=mode)


#: Sysctls a container may set (docker/cli ValidateSysctl): namespaced by IPC or network namespace.
_IPC_SYSCTLS = frozenset(
    (
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    )
)


def parse_sysctl(text: str) -> tuple[str, str]:
    """``net.ipv4.ip_forward=1`` -> (key, value); only sysctls of the container's own namespaces."""
    key, sep, value = text.partition("=")
    if sep and key and (key in _IPC_SYSCTLS or key.startswith(("net.", "fs.mqueue."))):
        return key, value
    raise InvalidArgument(f"sysctl '{text}' is not allowed")


# --------------------------------------------------------------------------- env, labels, users

_SPACES = " \t"


def parse_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """One ``-e``: ``KEY=value`` as is; ``KEY`` alone takes the caller's value, else stays bare (unset)."""
    key, sep, _ = text.partition("=")
    if not key:
        raise InvalidArgument(f"invalid environment variable: {text}")
    from pinnace._util.golang import json_text

    if sep:
        return json_text(text)
    value = (os.environ if environ is None else environ).get(key)
    return json_text(text if value is None else f"{key}={value}")


def parse_env_file(
    data: bytes | str, environ: Mapping[str, str] | None = None, *, name: str | None = None
) -> list[str]:
    """The ``KEY=value`` lines of an ``--env-file`` (or ``--label-file``), docker's rules.

    UTF-8 (a BOM is dropped); leading whitespace is dropped; blank lines and
    ``#`` comments are skipped; the value is everything after the first
    ``=``, kept byte for byte (no quote or escape processing, no
    interpolation); a key may not contain blanks.  A ``KEY`` line without
    ``=`` takes the value from ``environ`` and is left out when ``environ``
    lacks it or is None (label files).  With ``name``, errors read
    ``invalid env file (name): ...`` as docker's.
    """
    try:
        return _kv_lines(data, environ)
    except InvalidArgument as e:
        if name is None:
            raise
        raise InvalidArgument(f"invalid env file ({name}): {e}") from None


def _kv_lines(data: bytes | str, environ: Mapping[str, str] | None) -> list[str]:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    out: list[str] = []
    for number, line_bytes in enumerate(raw.split(b"\n"), 1):
        line_bytes = line_bytes.removesuffix(b"\r")  # bufio.ScanLines drops a \r before \n
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"invalid utf8 bytes at line {number}: {list(line_bytes)}") from None
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.lstrip()
        if not line or line[0] == "#":
            continue
        key, sep, _ = line.partition("=")
        if not key:
            raise InvalidArgument(f"no variable name on line '{line}'")
        if any(c in _SPACES for c in key):
            raise InvalidArgument(f"variable '{key}' contains whitespaces")
        if sep:
            out.append(line)
        elif environ is not None and line in environ:
            out.append(f"{key}={environ[line]}")
    return out


def parse_label(text: str) -> tuple[str, str]:
    """One ``--label``: ``key=value`` or ``key`` (empty value) (docker/cli ValidateLabel)."""
    key, _, value = text.partition("=")
    stripped = key.lstrip(_SPACES)
    if not stripped:
        raise InvalidArgument(f"invalid label '{text}': empty name")
    if any(c in _SPACES for c in stripped):
        raise InvalidArgument(f"label '{stripped}' contains whitespaces")
    return key, value


def kv_map(entries: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b"]`` -> ``{"a": "1", "b": ""}``; a later key wins (docker ConvertKVStringsToMap)."""
    result: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        result[key] = value
    return result


def parse_extra_host(text: str) -> str:
    """One ``--add-host``: ``name:ip`` or ``name=ip`` (ip may be ``host-gateway``), kept as ``name:ip`` (docker's ValidateExtraHost)."""
    import ipaddress

    sep = "=" if "=" in text else ":"
    name, found, ip = text.partition(sep)
    if not found or not name:
        raise InvalidArgument(f"bad format for add-host: {quote(text)}")
    ip = ip.strip("[]")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address in add-host: {quote(ip)}") from None
    return f"{name}:{ip}"


def parse_dns(text: str) -> str:
    """One ``--dns``: an IP address (docker's ValidateIPAddress)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InvalidArgument(f"IP address is not correctly formatted: {text}") from None


def parse_user(text: str) -> tuple[str, str]:
    """``-u``: ``name|uid[:group|gid]`` -> (user, group); anything after a second ``:`` is ignored, as in docker."""
    parts = text.split(":")
    return parts[0], parts[1] if len(parts) > 1 else ""


def parse_attach(text: str) -> str:
    """One ``-a``: stdin, stdout or stderr, any case."""
    stream = text.lower()
    if stream not in ("stdin", "stdout", "stderr"):
        raise InvalidArgument("valid streams are STDIN, STDOUT and STDERR")
    return stream


# --------------------------------------------------------------------------- restart, health, attach


def parse_restart_policy(text: str) -> RestartPolicy:
    """``--restart``: ``name[:count]`` (docker/cli opts.ParseRestartPolicy); the name is checked by the engine.

    An empty value is docker's default ``no``.  Which names exist and whether
    a count fits the name is the daemon's check (:func:`check_restart_policy`).
    """
    if not text:
        return RestartPolicy()
    name, sep, count = text.partition(":")
    if sep and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        from pinnace._util.golang import atoi

        try:
            retries = atoi(count)
        except InvalidArgument:
            raise InvalidArgument(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    return RestartPolicy(name=name, maximum_retry_count=retries)


#: The restart policy names dockerd knows, in the order its error lists them.
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


def check_restart_policy(policy: RestartPolicy) -> None:
    """dockerd's ValidateRestartPolicy: a known name, and a retry count only with ``on-failure``, not negative."""
    count = policy.maximum_retry_count
    if policy.name in ("no", "always", "unless-stopped"):
        if count != 0:
            message = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidArgument(message + (" and cannot be negative" if count < 0 else ""))
    elif policy.name == "on-failure":
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif policy.name:  # "": what engines before docker 25 stored for "no"
        names = ", ".join(f"'{n}'" for n in RESTART_POLICIES[:-1])
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{policy.name}'; use one of {names}, or '{RESTART_POLICIES[-1]}'"
        )


#: The ``--health-*`` duration flags and the HealthConfig field each sets.
HEALTH_DURATIONS = (
    ("health-interval", "Interval"),
    ("health-timeout", "Timeout"),
    ("health-start-period", "StartPeriod"),
    ("health-start-interval", "StartInterval"),
)


def health_config(
    cmd: str, durations: Mapping[str, int], retries: int, *, disable: bool = False
) -> dict[str, Any] | None:
    """Config.Healthcheck from the ``--health-*`` flags (docker/cli ``parse``), or None when none is given.

    ``durations`` maps the flag names of :data:`HEALTH_DURATIONS` to
    nanoseconds.  Only the fields set appear (HealthConfig's ``omitempty``):
    the rest come from the image's HEALTHCHECK when the container is created.
    ``disable`` is ``--no-healthcheck``: ``{"Test": ["NONE"]}``.
    """
    given = bool(cmd) or retries != 0 or any(durations.get(flag, 0) for flag, _ in HEALTH_DURATIONS)
    if disable:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for flag, _ in HEALTH_DURATIONS[:2]:
        if durations.get(flag, 0) < 0:
            raise InvalidArgument(f"--{flag} cannot be negative")
    if retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    for flag, _ in HEALTH_DURATIONS[2:]:
        if durations.get(flag, 0) < 0:
            raise InvalidArgument(f"--{flag} cannot be negative")
    health: dict[str, Any] = {"Test": ["CMD-SHELL", cmd]} if cmd else {}
    for flag, field in HEALTH_DURATIONS:
        if durations.get(flag, 0):
            health[field] = durations[flag]
    if retries:
        health["Retries"] = retries
    return health


#: What ``--detach-keys`` spells as ``ctrl-X``: ``ctrl-@`` is 0, ``ctrl-a`` 1 ... ``ctrl-_`` 31 (moby/term ASCII).
_CTRL_KEYS = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(text: str) -> bytes:
    """``--detach-keys ctrl-p,ctrl-q`` -> the bytes that detach (moby/term ToBytes, dockerd's error).

    A key is one character, ``ctrl-`` and one of ``@a-z[\\]^_``, or ``DEL``,
    separated by commas.
    """
    codes = bytearray()
    for key in text.split(","):
        raw = key.encode("utf-8", "surrogateescape")
        if len(raw) == 1:
            codes += raw
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL_KEYS:
            codes.append(_CTRL_KEYS.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise InvalidArgument(f"Invalid detach keys ({text}) provided")
    return bytes(codes)


# --------------------------------------------------------------------------- logging

#: The log drivers pinnace has; docker's others (syslog, journald, gelf ...) are not registered.
LOG_DRIVERS = ("json-file", "local", "none")
DEFAULT_LOG_DRIVER = "json-file"


def parse_log_opts(driver: str, entries: Iterable[str]) -> dict[str, str]:
    """``--log-opt key=value`` as the CLI sends them: a map (later wins); ``none`` takes no options."""
    values = list(entries)
    if driver == "none" and values:
        raise InvalidArgument(f"invalid logging opts for driver {driver}")
    return kv_map(values)


# --------------------------------------------------------------------------- security

#: seccomp profile names that are not files (docker/cli seccompProfileDefault/Unconfined).
SECCOMP_BUILTIN = "builtin"
SECCOMP_UNCONFINED = "unconfined"


def parse_security_opt(text: str) -> str:
    """One ``--security-opt`` as the CLI sends it: a seccomp profile file is read and inlined as JSON.

    ``no-new-privileges`` needs no value; every other option needs
    ``key=value`` (or the deprecated ``key:value``).  ``seccomp=FILE`` becomes
    ``seccomp=<the file's JSON, compacted>``; which keys are known is the
    daemon's check (spec.security_options).
    """
    key, sep, value = text.partition("=")
    if not sep and key != "no-new-privileges":
        key, sep, value = text.partition(":")
    if (not sep or not value) and key != "no-new-privileges":
        raise InvalidArgument(f"Invalid --security-opt: {quote(text)}")
    if key != "seccomp" or value in (SECCOMP_BUILTIN, SECCOMP_UNCONFINED):
        return text
    from pinnace._util import jsonc

    try:
        with open(value, "rb") as f:
            data = f.read()
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise InvalidArgument(
            f"opening seccomp profile ({value}) failed: open {value}: {reason[:1].lower()}{reason[1:]}"
        ) from None
    try:
        compact = jsonc.dumps(jsonc.loads(data), compact=True)
    except ValueError as e:
        raise InvalidArgument(f"compacting json for seccomp profile ({value}) failed: {e}") from None
    return f"seccomp={compact}"


def normalize_caps(cap_add: Iterable[str], cap_drop: Iterable[str]) -> tuple[list[str], list[str]]:
    """--cap-add/--cap-drop as docker's CLI sends them (opts.EffectiveCapAddCapDrop).

    Upper case with the ``CAP_`` prefix (``ALL`` stays ``ALL``), without
    repeats, sorted; ``ALL`` replaces every other name in its list; a
    capability both added and dropped is added.
    """
    add, drop = _cap_set(cap_add), _cap_set(cap_drop)
    if "ALL" in add:
        add = {"ALL"}
    if "ALL" in drop:
        drop = {"ALL"}
    return sorted(add), sorted(drop - add)


def _cap_set(caps: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for cap in caps:
        name = cap.strip().upper()
        if not name:
            continue
        result.add(name if name == "ALL" or name.startswith("CAP_") else "CAP_" + name)
    return result


# --------------------------------------------------------------------------- HostConfig

#: RunOptions field -> HostConfig key, for the fields copied as they are.
_HOST_FIELDS: tuple[tuple[str, str], ...] = (
    ("privileged", "Privileged"),
    ("read_only", "ReadonlyRootfs"),
    ("oom_score_adj", "OomScoreAdj"),
    ("shm_size", "ShmSize"),
    ("memory", "Memory"),
    ("memory_swap", "MemorySwap"),
    ("memory_reservation", "MemoryReservation"),
    ("nano_cpus", "NanoCpus"),
    ("cpu_shares", "CpuShares"),
    ("cpu_period", "CpuPeriod"),
    ("cpu_quota", "CpuQuota"),
    ("cpuset_cpus", "CpusetCpus"),
    ("cpuset_mems", "CpusetMems"),
    ("pids_limit", "PidsLimit"),
    ("oom_kill_disable", "OomKillDisable"),
)

_SYSTEMPATHS_UNCONFINED = "systempaths=unconfined"


def host_config(options: RunOptions) -> dict[str, Any]:
    """The HostConfig keys these options set, as ``docker inspect`` shows them.

    Other modules add the rest (Binds, Mounts, PortBindings ...).
    ``systempaths=unconfined`` is a CLI-side option in docker: it shows as
    empty MaskedPaths/ReadonlyPaths.  LogConfig and Runtime appear once set
    (:func:`pinnace.containers.spec.verify_options` fills in the defaults).
    """
    cap_add, cap_drop = normalize_caps(options.cap_add, options.cap_drop)
    security = [opt for opt in options.security_opt if opt != _SYSTEMPATHS_UNCONFINED]
    hc: dict[str, Any] = {
        "CapAdd": cap_add or None,
        "CapDrop": cap_drop or None,
        "GroupAdd": list(options.group_add) or None,
        "SecurityOpt": security or None,
        "Init": options.init,
        "Sysctls": dict(options.sysctls) or None,
        "Ulimits": [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in options.ulimits] or None,
        "Devices": [
            {
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.permissions,
            }
            for d in options.devices
        ],
    }
    for attr, key in _HOST_FIELDS:
        hc[key] = getattr(options, attr)
    hc["ContainerIDFile"] = options.cidfile
    hc["Binds"] = list(options.binds) or None
    hc["VolumeDriver"] = options.volume_driver
    hc["VolumesFrom"] = list(options.volumes_from) or None
    if options.mounts:
        hc["Mounts"] = [dict(m) for m in options.mounts]
    if options.tmpfs:
        hc["Tmpfs"] = dict(options.tmpfs)
    hc["Dns"] = list(options.dns)
    hc["DnsOptions"] = list(options.dns_options)
    hc["DnsSearch"] = list(options.dns_search)
    hc["ExtraHosts"] = list(options.extra_hosts) or None
    hc["PortBindings"] = {key: [dict(b) for b in value] for key, value in options.port_bindings.items()}
    hc["PublishAllPorts"] = options.publish_all
    if options.log_driver or options.log_opts:
        hc["LogConfig"] = {"Type": options.log_driver, "Config": dict(options.log_opts)}
    if options.network_mode:
        hc["NetworkMode"] = options.network_mode
    hc["RestartPolicy"] = {
        "Name": options.restart_policy.name,
        "MaximumRetryCount": options.restart_policy.maximum_retry_count,
    }
    hc["AutoRemove"] = options.auto_remove
    if options.runtime:
        hc["Runtime"] = options.runtime
    if _SYSTEMPATHS_UNCONFINED in options.security_opt:
        hc["MaskedPaths"] = []
        hc["ReadonlyPaths"] = []
    return hc


def from_host_config(hc: Mapping[str, Any]) -> RunOptions:
    """The HostConfig side of :class:`RunOptions` back from a stored HostConfig (the Config side stays default)."""
    from pinnace._util.record import replace

    security = list(hc.get("SecurityOpt") or ())
    if hc.get("MaskedPaths") == [] and hc.get("ReadonlyPaths") == []:
        security.append(_SYSTEMPATHS_UNCONFINED)
    options = RunOptions(
        cap_add=tuple(hc.get("CapAdd") or ()),
        cap_drop=tuple(hc.get("CapDrop") or ()),
        group_add=tuple(hc.get("GroupAdd") or ()),
        security_opt=tuple(security),
        init=hc.get("Init"),
        sysctls=MappingProxyType(dict(hc.get("Sysctls") or {})),
        ulimits=tuple(Ulimit(u["Name"], int(u["Soft"]), int(u["Hard"])) for u in hc.get("Ulimits") or ()),
        devices=tuple(
            DeviceMapping(d["PathOnHost"], d["PathInContainer"], d.get("CgroupPermissions") or "rwm")
            for d in hc.get("Devices") or ()
        ),
    )
    values = {attr: hc[key] for attr, key in _HOST_FIELDS if hc.get(key) is not None}
    log = hc.get("LogConfig") or {}
    restart = hc.get("RestartPolicy") or {}
    return replace(
        options,
        **values,
        restart_policy=RestartPolicy(
            str(restart.get("Name") or "no"), int(restart.get("MaximumRetryCount") or 0)
        ),
        auto_remove=bool(hc.get("AutoRemove")),
        log_driver=str(log.get("Type") or ""),
        log_opts=MappingProxyType(dict(log.get("Config") or {})),
        runtime=str(hc.get("Runtime") or ""),
        cidfile=str(hc.get("ContainerIDFile") or ""),
        network_mode=str(hc.get("NetworkMode") or ""),
        binds=tuple(hc.get("Binds") or ()),
        mounts=tuple(hc.get("Mounts") or ()),
        tmpfs=MappingProxyType(dict(hc.get("Tmpfs") or {})),
        volumes_from=tuple(hc.get("VolumesFrom") or ()),
        volume_driver=str(hc.get("VolumeDriver") or ""),
        dns=tuple(hc.get("Dns") or ()),
        dns_search=tuple(hc.get("DnsSearch") or ()),
        dns_options=tuple(hc.get("DnsOptions") or ()),
        extra_hosts=tuple(hc.get("ExtraHosts") or ()),
        port_bindings=MappingProxyType(dict(hc.get("PortBindings") or {})),
        publish_all=bool(hc.get("PublishAllPorts")),
    )
