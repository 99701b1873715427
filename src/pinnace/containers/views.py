"""What container commands show, in Docker's shapes: ``inspect`` JSON, ``ps`` rows, ``ps --filter``.

Pure functions of :class:`~pinnace.containers.records.ContainerRecord`
values (no I/O, no clock unless ``now`` is left out), so the CLI and the API
server show the same thing and tests need no store.  What each one copies:

- :func:`inspect` is moby's container ``InspectResponse`` (api/types/container),
  key for key and in its order: scripts and SDKs index into it, and people
  diff it against docker's.  Config and HostConfig are filled out to every
  field docker prints, from the record's partial documents.
- :func:`status_text` is moby's ``State.String()`` (container/state.go), the
  STATUS column, with go-units' ``HumanDuration``.
- :func:`ps_row` is docker/cli's ``ContainerContext`` (formatter/container.go)
  over the daemon's container summary (container/view.go): the values of the
  ``docker ps --format`` placeholders.
- :func:`parse_filters` is the CLI's ``--filter`` flag; :func:`ps_list` and
  :func:`matches` are the daemon's list filtering (daemon/list.go), with its
  error texts.
"""

from __future__ import annotations

import functools

from pinnace._util.units import human_duration, human_size
from pinnace.containers.records import ZERO_TIME
from pinnace.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from pinnace.containers.records import ContainerRecord

    #: ``resolve_image(ref)``: IDs of the image ``ref`` names and of the images built on it.
    ImageResolver = Callable[[str], Iterable[str]]

#: The storage driver docker names in ``Driver`` and ``GraphDriver.Name``.
DRIVER = "overlay2"

#: ``State.Running`` is true in these statuses (docker keeps Running set while paused or restarting).
_RUNNING = frozenset(("running", "paused", "restarting"))

# --------------------------------------------------------------------------- inspect

#: Config fields in docker's order, with the value docker prints when unset.
_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", None),
    ("Cmd", None),
    ("Healthcheck", None),
    ("ArgsEscaped", False),
    ("Image", ""),
    ("Volumes", None),
    ("WorkingDir", ""),
    ("Entrypoint", None),
    ("NetworkDisabled", False),
    ("MacAddress", ""),
    ("OnBuild", None),
    ("Labels", None),
    ("StopSignal", ""),
    ("StopTimeout", None),
    ("Shell", None),
)
#: Config fields tagged ``omitempty``: left out when empty (StopTimeout is a pointer: only when null).
_CONFIG_OMIT = frozenset(
    ("ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal", "Shell")
)

#: HostConfig fields in docker's order (HostConfig, then its embedded Resources, then the rest),
#: with the value ``docker create`` stores when the flag is not given.
_HOST_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Binds", None),
    ("ContainerIDFile", ""),
    ("LogConfig", {"Type": "json-file", "Config": {}}),
    ("NetworkMode", "bridge"),
    ("PortBindings", {}),
    ("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0}),
    ("AutoRemove", False),
    ("VolumeDriver", ""),
    ("VolumesFrom", None),
    ("ConsoleSize", [0, 0]),
    ("Annotations", None),
    ("CapAdd", None),
    ("CapDrop", None),
    ("CgroupnsMode", "private"),
    ("Dns", []),
    ("DnsOptions", []),
    ("DnsSearch", []),
    ("ExtraHosts", None),
    ("GroupAdd", None),
    ("IpcMode", "private"),
    ("Cgroup", ""),
    ("Links", None),
    ("OomScoreAdj", 0),
    ("PidMode", ""),
    ("Privileged", False),
    ("PublishAllPorts", False),
    ("ReadonlyRootfs", False),
    ("SecurityOpt", None),
    ("StorageOpt", None),
    ("Tmpfs", None),
    ("UTSMode", ""),
    ("UsernsMode", ""),
    ("ShmSize", 64 * 1024 * 1024),
    ("Sysctls", None),
    ("Runtime", ""),
    ("Isolation", ""),
    ("CpuShares", 0),
    ("Memory", 0),
    ("NanoCpus", 0),
    ("CgroupParent", ""),
    ("BlkioWeight", 0),
    ("BlkioWeightDevice", []),
    ("BlkioDeviceReadBps", []),
    ("BlkioDeviceWriteBps", []),
    ("BlkioDeviceReadIOps", []),
    ("BlkioDeviceWriteIOps", []),
    ("CpuPeriod", 0),
    ("CpuQuota", 0),
    ("CpuRealtimePeriod", 0),
    ("CpuRealtimeRuntime", 0),
    ("CpusetCpus", ""),
    ("CpusetMems", ""),
    ("Devices", []),
    ("DeviceCgroupRules", None),
    ("DeviceRequests", None),
    ("KernelMemory", 0),
    ("KernelMemoryTCP", 0),
    ("MemoryReservation", 0),
    ("MemorySwap", 0),
    ("MemorySwappiness", None),
    ("OomKillDisable", None),
    ("PidsLimit", None),
    ("Ulimits", []),
    ("CpuCount", 0),
    ("CpuPercent", 0),
    ("IOMaximumIOps", 0),
    ("IOMaximumBandwidth", 0),
    ("Mounts", None),
    ("MaskedPaths", None),
    ("ReadonlyPaths", None),
    ("Init", None),
)
#: HostConfig fields tagged ``omitempty`` (Init is a pointer: left out only when null).
_HOST_CONFIG_OMIT = frozenset(
    ("Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "KernelMemory", "KernelMemoryTCP", "Mounts")
)

#: The files docker keeps per container, named as inspect names them.
_FILE_FIELDS = ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath")


def inspect(
    record: ContainerRecord,
    *,
    image_ref: str = "",
    graph_driver: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    size_rw: int | None = None,
    size_root_fs: int | None = None,
    mounts: Sequence[Mapping[str, Any]] = (),
    network: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """``docker container inspect``'s object for one container.

    ``image_ref`` is what ``Image`` shows (docker: the image ID), by default
    the record's ``image_id``.  ``graph_driver`` is ``GraphDriver.Data``
    (LowerDir, MergedDir, UpperDir, WorkDir), null when not given.
    ``files`` maps ResolvConfPath, HostnamePath, HostsPath and LogPath to
    their paths; docker leaves them empty until the container first starts.
    ``size_rw``/``size_root_fs`` are ``inspect --size``'s SizeRw and
    SizeRootFs, shown only when given.  ``mounts`` is ``Mounts``
    (:func:`pinnace.containers.mounts.inspect`).  ``now`` is accepted for symmetry with
    :func:`ps_row`: inspect shows absolute times only.
    """
    del now
    config = record.config
    command = list(config.get("Entrypoint") or ()) + list(config.get("Cmd") or ())
    paths = files or {}
    out: dict[str, Any] = {
        "Id": record.id,
        "Created": record.created,
        "Path": command[0] if command else "",
        "Args": command[1:],
        "State": state(record),
        "Image": image_ref or record.image_id,
        **{key: paths.get(key, "") for key in _FILE_FIELDS},
        "Name": "/" + record.name,
        "RestartCount": record.restart_count,
        "Driver": DRIVER,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config(record),
        "GraphDriver": {"Data": None if graph_driver is None else dict(graph_driver), "Name": DRIVER},
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
    if size_root_fs is not None:
        out["SizeRootFs"] = size_root_fs
    out["Mounts"] = [dict(m) for m in mounts]
    out["Config"] = container_config(record)
    out["NetworkSettings"] = dict(network) if network is not None else network_settings()
    return out


def state(record: ContainerRecord) -> dict[str, Any]:
    """``State`` of inspect: the record's status as docker's flags, with ``Health`` only when it has one."""
    status = record.status
    out: dict[str, Any] = {
        "Status": status,
        "Running": status in _RUNNING,
        "Paused": status == "paused",
        "Restarting": status == "restarting",
        "OOMKilled": record.oom_killed,
        "Dead": status == "dead",
        "Pid": record.pid,
        "ExitCode": record.exit_code,
        "Error": record.error,
        "StartedAt": record.started_at or ZERO_TIME,
        "FinishedAt": record.finished_at or ZERO_TIME,
    }
    if record.health is not None:
        health = record.health
        out["Health"] = {
            "Status": health.get("Status", ""),
            "FailingStreak": health.get("FailingStreak", 0),
            "Log": [dict(entry) for entry in health.get("Log") or ()],
        }
    return out


def container_config(record: ContainerRecord) -> dict[str, Any]:
    """The record's Config with every field docker prints, in docker's order."""
    return _ordered(record.config, _CONFIG_FIELDS, _CONFIG_OMIT)


def host_config(record: ContainerRecord) -> dict[str, Any]:
    """The record's HostConfig with every field docker prints, in docker's order.

    Fields the record lacks show docker's ``docker create`` default; Runtime
    falls back to the record's runtime.
    """
    stored = record.host_config
    if record.runtime and not stored.get("Runtime"):
        stored = {**stored, "Runtime": record.runtime}
    return _ordered(stored, _HOST_CONFIG_FIELDS, _HOST_CONFIG_OMIT, pointers=("Init",))


def network_settings() -> dict[str, Any]:
    """``NetworkSettings`` with docker's keys and empty values: the container has no network of docker's yet."""
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {},
    }


def _ordered(
    stored: Mapping[str, Any],
    fields: tuple[tuple[str, Any], ...],
    omit_empty: frozenset[str],
    *,
    pointers: tuple[str, ...] = ("StopTimeout",),
) -> dict[str, Any]:
    """``stored`` as Go marshals its struct: every field in order, ``omitempty`` ones only when set.

    Keys docker does not know are kept, last, so nothing stored is hidden.
    """
    out: dict[str, Any] = {}
    for key, default in fields:
        value = _plain(stored[key]) if key in stored else _plain(default)
        if key in pointers:
            if value is None:
                continue
        elif key in omit_empty and value in (None, "", 0, False, {}, []):
            continue
        out[key] = value
    known = {key for key, _ in fields}
    out.update((key, _plain(value)) for key, value in stored.items() if key not in known)
    return out


def _plain(value: Any) -> Any:
    """A fresh JSON value: mappings (MappingProxyType too) as dicts, sequences as lists."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


# --------------------------------------------------------------------------- status


def status_text(record: ContainerRecord, now: float | None = None) -> str:
    """The STATUS column: ``Up 2 minutes (healthy)``, ``Exited (137) 2 hours ago``, ``Created`` ...

    moby's State.String(): running states count from StartedAt, exited and
    restarting from FinishedAt; a created or exited container that never
    started reads ``Created``, one that started but has no finish time reads
    "" (as docker's).
    """
    if now is None:
        import time

        now = time.time()
    status = record.status
    if status in _RUNNING:
        if status == "paused":
            return f"Up {_since(record.started_at, now)} (Paused)"
        if status == "restarting":
            return f"Restarting ({record.exit_code}) {_since(record.finished_at, now)} ago"
        health = _health_status(record)
        if health != "none":
            shown = "health: starting" if health == "starting" else health
            return f"Up {_since(record.started_at, now)} ({shown})"
        return f"Up {_since(record.started_at, now)}"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    if _is_zero(record.started_at):
        return "Created"
    if _is_zero(record.finished_at):
        return ""
    return f"Exited ({record.exit_code}) {_since(record.finished_at, now)} ago"


def _health_status(record: ContainerRecord) -> str:
    """``starting``/``healthy``/``unhealthy``, or ``none`` without a healthcheck (moby's Snapshot.Health)."""
    if record.health is None:
        return "none"
    return str(record.health.get("Status") or "none")


def _since(timestamp: str, now: float) -> str:
    return human_duration(now - _unix_ns(timestamp) / 1e9)


# --------------------------------------------------------------------------- times


def _is_zero(timestamp: str) -> bool:
    """Go's ``time.Time.IsZero`` for a stored timestamp (empty counts as zero)."""
    return not timestamp or timestamp.startswith("0001-01-01T00:00:00")


@functools.lru_cache(maxsize=4096)  # ps and its API list parse the same few timestamps over and over
def _unix_ns(timestamp: str) -> int:
    """RFC 3339 with up to nanoseconds (Go's RFC3339Nano) -> nanoseconds since the epoch; 0 if unreadable.

    Whole nanoseconds, so ordering by it is exact (the text is not: Go trims
    trailing zeros of the fraction).  No datetime import: this runs per row.
    """
    try:
        date, _, clock = timestamp.partition("T")
        year, month, day = (int(part) for part in date.split("-"))
        offset = 0
        if clock.endswith(("Z", "z")):
            clock = clock[:-1]
        else:
            sign_at = max(clock.rfind("+"), clock.rfind("-"))
            if sign_at > 0:
                hours, _, minutes = clock[sign_at + 1 :].partition(":")
                offset = (int(hours) * 60 + int(minutes or 0)) * 60
                if clock[sign_at] == "-":
                    offset = -offset
                clock = clock[:sign_at]
        hms, _, fraction = clock.partition(".")
        hour, minute, second = (int(part) for part in hms.split(":"))
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        return 0
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000_000 + nanos


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _local_time(seconds: int) -> str:
    """Go's ``time.Unix(s, 0).String()``, docker's CreatedAt: ``2024-01-02 03:04:05 +0000 UTC`` in local time."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(seconds))


# --------------------------------------------------------------------------- ps rows


def command_text(record: ContainerRecord) -> str:
    """The daemon's ``Command`` of a container summary: Path, then Args, those with a space in single quotes."""
    config = record.config
    command = list(config.get("Entrypoint") or ()) + list(config.get("Cmd") or ())
    if not command:
        return ""
    return " ".join([command[0], *(f"'{arg}'" if " " in arg else arg for arg in command[1:])])


def ps_row(
    record: ContainerRecord,
    *,
    now: float | None = None,
    no_trunc: bool = False,
    image: str | None = None,
    size_rw: int = 0,
    size_root_fs: int = 0,
    network: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The ``docker ps`` placeholders of one container, as strings (``{{.ID}}``, ``{{.Status}}`` ...).

    ``network`` is the container's ``NetworkSettings``: its ``Ports`` and
    the names of its ``Networks`` (sorted, comma-separated, as docker's
    formatter joins them).

    ``image`` overrides what ``.Image`` starts from: docker shows the image
    ID instead of the name the container was created with once that name
    points at another image, which only the image store knows.
    ``size_rw``/``size_root_fs`` feed ``.Size`` (``ps -s``).  ``.Label`` is a
    template function, left to the formatter.
    """
    if now is None:
        import time

        now = time.time()
    from pinnace._util.golang import quote

    created = _unix_ns(record.created) // 1_000_000_000
    command = command_text(record)
    labels = record.labels or record.config.get("Labels") or {}
    size = human_size(size_rw)
    if size_root_fs > 0:
        size = f"{size} (virtual {human_size(size_root_fs)})"
    return {
        "ID": record.id if no_trunc else record.id[:12],
        "Image": _image_column(record.image_name if image is None else image, record.image_id, no_trunc),
        "Command": quote(command if no_trunc else _ellipsis(command, 20)),
        "CreatedAt": _local_time(created),
        "RunningFor": human_duration(now - created) + " ago",
        "Ports": ports_text((network or {}).get("Ports") or {}),
        "State": record.status,
        "Status": status_text(record, now),
        "Size": size,
        "Names": record.name,
        "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
        "Mounts": ",".join(_mount_names(record, no_trunc)),
        "Networks": ",".join(sorted((network or {}).get("Networks") or {})),
        "LocalVolumes": str(sum(1 for m in record.mounts if m.get("type") == "volume")),
    }


def ports_text(ports: Mapping[str, Any]) -> str:
    """ps's PORTS: ``127.0.0.1:8080->80/tcp`` for a published port, ``80/tcp`` for one only exposed."""
    out = []
    for key, bindings in ports.items():
        if not bindings:
            out.append(key)
            continue
        out.extend(f"{b['HostIp']}:{b['HostPort']}->{key}" for b in bindings)
    return ", ".join(out)


def _mounts_match(rec: ContainerRecord, value: str) -> bool:
    """``--filter volume=X``: the container mounts volume X, or something at destination X (moby's rule)."""
    return any(m.get("destination") == value or (m.get("name") or None) == value for m in rec.mounts)


def _mount_names(rec: ContainerRecord, no_trunc: bool) -> list[str]:
    """ps's ``.Mounts``: each mount's volume name, or its host path, shortened as docker's formatter does."""
    names = [str(m.get("name") or m.get("source") or "") for m in rec.mounts if m.get("shown", True)]
    return names if no_trunc else [_ellipsis(name, 15) for name in names]


def _truncate_id(text: str) -> str:
    """docker/cli's TruncateID: drop an ``algo:`` prefix, keep 12 characters."""
    return text.partition(":")[2][:12] if ":" in text else text[:12]


def _image_column(image: str, image_id: str, no_trunc: bool) -> str:
    """``.Image``: as given with --no-trunc; otherwise a short ID, or the familiar name without digest."""
    if not image:
        return "<no image>"
    if no_trunc:
        return image
    short = _truncate_id(image_id)
    if short == _truncate_id(image):
        return short
    from pinnace._util.record import replace
    from pinnace.oci.reference import parse_normalized

    try:
        ref = parse_normalized(image)
    except InvalidArgument:
        return image
    return replace(ref, digest="").familiar() if ref.digest else ref.familiar()


def _ellipsis(text: str, width: int) -> str:
    """docker/cli's Ellipsis: at most ``width`` terminal columns, ending in "…" when cut."""
    if text.isascii():
        return text if len(text) <= width else text[: width - 1] + "…"
    import unicodedata

    total = 0
    ends: list[int] = []
    for ch in text:
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        ends.append(total)
    if total <= width:
        return text
    for i in range(len(ends) - 1):
        if ends[i] <= width - 1 < ends[i + 1]:
            return text[: i + 1] + "…"
    return text


# --------------------------------------------------------------------------- ps order and filters


def ps_order(records: Iterable[ContainerRecord]) -> list[ContainerRecord]:
    """Newest first by creation time, to the nanosecond, as docker lists; ties keep their order."""
    return sorted(records, key=lambda r: _unix_ns(r.created), reverse=True)


def parse_filters(args: Iterable[str]) -> dict[str, list[str]]:
    """``--filter key=value`` flags into docker's filter map (docker/cli opts.FilterOpt).

    The key is trimmed and lowercased, the value trimmed; repeats collapse
    (docker keeps a set); an empty flag is ignored.  Whether a key or value
    is valid is the daemon's check, in :func:`ps_list`/:func:`matches`.
    """
    out: dict[str, list[str]] = {}
    for arg in args:
        if not arg:
            continue
        key, sep, value = arg.partition("=")
        if not sep:
            raise InvalidArgument("bad format of filter (expected name=value)")
        values = out.setdefault(key.strip().lower(), [])
        value = value.strip()
        if value not in values:
            values.append(value)
    return out


#: The filters ``docker ps`` accepts (moby acceptedPsFilterTags).
FILTER_KEYS = frozenset(
    (
        "ancestor",
        "before",
        "exited",
        "id",
        "isolation",
        "label",
        "name",
        "status",
        "health",
        "since",
        "volume",
        "network",
        "is-task",
        "publish",
        "expose",
    )
)
_STATUSES = frozenset(("created", "restarting", "running", "removing", "paused", "exited", "dead"))
_HEALTH = frozenset(("starting", "healthy", "unhealthy", "none"))


def ps_list(
    records: Iterable[ContainerRecord],
    filters: Mapping[str, Sequence[str]] | None = None,
    *,
    show_all: bool = False,
    limit: int = -1,
    resolve_image: ImageResolver | None = None,
) -> list[ContainerRecord]:
    """What ``docker ps`` lists: ``records`` filtered and ordered as the daemon does.

    Only running containers unless ``show_all`` (``-a``), a ``status``
    filter, or a ``limit`` (``-n N``; ``-l`` is ``limit=1``), which also caps
    the count.  ``before``/``since`` take a container's full ID or name.
    Raises InvalidArgument with docker's words for an unknown filter or a
    bad value, NotFound for a ``before``/``since`` container that does not
    exist.
    """
    ordered = ps_order(records)
    match = _Matcher(filters or {}, ordered, resolve_image)
    show_all = show_all or "status" in match.filters or limit > 0
    out: list[ContainerRecord] = []
    for position, rec in enumerate(ordered):
        if limit > 0 and len(out) >= limit:
            break
        if not match.in_range(position):
            continue
        if not show_all and rec.status not in _RUNNING:
            continue
        if match(rec):
            out.append(rec)
    return out


def matches(
    record: ContainerRecord,
    filters: Mapping[str, Sequence[str]],
    *,
    all_records: Iterable[ContainerRecord],
    resolve_image: ImageResolver | None = None,
) -> bool:
    """Whether ``record`` passes docker's ``ps --filter`` (not the running-only default of ``ps``).

    ``all_records`` are every container, for the ``id`` filter (a prefix
    must name one container only), ``before`` and ``since``.  ``ancestor``
    uses ``resolve_image`` when given (docker also lists containers of
    images built on the one named); without it, the value is compared with
    the record's image ID and name.  Errors as :func:`ps_list`.
    """
    ordered = ps_order(all_records)
    match = _Matcher(filters, ordered, resolve_image)
    if match.before is not None or match.since is not None:
        position = next((i for i, r in enumerate(ordered) if r.id == record.id), None)
        if position is None or not match.in_range(position):
            return False
    return match(record)


class _Matcher:
    """A checked filter map and the tests it asks for, made once per listing (moby foldFilter)."""

    def __init__(
        self,
        filters: Mapping[str, Sequence[str]],
        ordered: list[ContainerRecord],
        resolve_image: ImageResolver | None,
    ) -> None:
        self.filters = {key: list(dict.fromkeys(values)) for key, values in filters.items()}
        for key in self.filters:
            if key not in FILTER_KEYS:
                raise InvalidArgument(f"invalid filter '{key}'")
        get = self.filters.get
        from pinnace._util.golang import atoi

        self.exited = [atoi(value) for value in get("exited", ())]
        for value in get("status", ()):
            if value not in _STATUSES:
                raise InvalidArgument(f"Invalid filter 'status={value}'")
        self.is_task: bool | None = None
        if "is-task" in self.filters:
            tasks = self.filters["is-task"]
            if "true" in tasks:
                self.is_task = True
            elif "false" in tasks:
                self.is_task = False
            else:
                raise InvalidArgument(f"Invalid filter 'is-task=[{' '.join(tasks)}]'")
        for value in get("health", ()):
            if value not in _HEALTH:
                raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        self.before: int | None = None
        self.since: int | None = None
        for value in get("before", ()):
            self.before = _position_of(value, ordered)
        for value in get("since", ()):
            self.since = _position_of(value, ordered)
        self.images: set[str] | None = None
        if "ancestor" in self.filters and resolve_image is not None:
            self.images = set()
            for ref in self.filters["ancestor"]:
                try:
                    self.images.update(resolve_image(ref))
                except (NotFound, InvalidArgument):
                    continue  # docker logs a warning and ignores an unknown ancestor
        self.ports = {key: _ports(key, get(key, ())) for key in ("publish", "expose") if key in self.filters}
        self.ids: set[str] | None = None
        if "id" in self.filters:
            self.ids = set()
            for prefix in self.filters["id"]:
                found = [r.id for r in ordered if prefix and r.id.startswith(prefix)]
                if len(found) == 1:
                    self.ids.add(found[0])

    def in_range(self, position: int) -> bool:
        """``before``/``since``: strictly older / newer than their container, by list position."""
        if self.before is not None and position <= self.before:
            return False
        return self.since is None or position < self.since

    def __call__(self, rec: ContainerRecord) -> bool:
        f = self.filters
        if "name" in f and not (_match(f["name"], "/" + rec.name) or _match(f["name"], rec.name)):
            return False
        if self.ids is not None and rec.id not in self.ids:
            return False
        if self.is_task:  # no pinnace container is a swarm task
            return False
        if "label" in f and not _match_labels(f["label"], rec.labels or rec.config.get("Labels") or {}):
            return False
        if self.exited and not (
            rec.exit_code in self.exited and rec.status not in _RUNNING and not _is_zero(rec.started_at)
        ):
            return False
        if "status" in f and rec.status not in f["status"]:
            return False
        if "health" in f and _health_status(rec) not in f["health"]:
            return False
        if "volume" in f and not any(_mounts_match(rec, value) for value in f["volume"]):
            return False
        if "ancestor" in f and not self._ancestor(rec):
            return False
        if "network" in f:  # the container is on no docker network yet
            return False
        return not self.ports  # published or exposed ports: none yet

    def _ancestor(self, rec: ContainerRecord) -> bool:
        if self.images is not None:
            return rec.image_id in self.images
        return any(_same_image(value, rec) for value in self.filters["ancestor"])


def _position_of(ref: str, ordered: list[ContainerRecord]) -> int:
    """A ``before``/``since`` container by full ID, then exact name (moby idOrNameFilter)."""
    bare = ref[1:] if ref.startswith("/") else ref
    ids = [rec.id for rec in ordered]
    if ref in ids:
        return ids.index(ref)
    for position, rec in enumerate(ordered):
        if rec.name == bare:
            return position
    raise NotFound(f"No such container: {ref}")


def _match(patterns: Sequence[str], source: str) -> bool:
    """moby filters.Args.Match: equal to a value, or a value as a regular expression found in ``source``."""
    if source in patterns:
        return True
    import re

    for pattern in patterns:
        try:
            if re.search(pattern, source):
                return True
        except re.error:
            continue  # docker skips a value that is not a valid expression
    return False


def _match_labels(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    """moby MatchKVList: every ``key`` or ``key=value`` holds."""
    if not labels:
        return False
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _same_image(value: str, rec: ContainerRecord) -> bool:
    """``ancestor`` without an image store: the value is the record's image, by ID, ID prefix or name."""
    image_id = rec.image_id
    hex_id = image_id.partition(":")[2]
    if value in (image_id, hex_id) or (_is_hex(value) and hex_id.startswith(value)):
        return True
    if not rec.image_name:
        return False
    from pinnace.oci.reference import parse_normalized, with_default_tag

    try:
        return str(with_default_tag(parse_normalized(value))) == str(
            with_default_tag(parse_normalized(rec.image_name))
        )
    except InvalidArgument:
        return False


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def _ports(key: str, values: Iterable[str]) -> set[str]:
    """``publish``/``expose`` values (``80``, ``8000-8080/udp``) as ``port/proto`` (moby portOp)."""
    out: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        port, _, proto = value.partition("/")
        proto = proto.split("/")[0] or "tcp"
        try:
            start, end = _port_range(port)
        except InvalidArgument as e:
            raise InvalidArgument(f"error while looking up for {key} {value}: {e}") from None
        out.update(f"{p}/{proto}" for p in range(start, end + 1))
    return out


def _port_range(text: str) -> tuple[int, int]:
    """go-connections nat.ParsePortRange, with strconv.ParseUint's errors."""
    if not text:
        raise InvalidArgument("empty string specified for ports")
    first, dash, last = text.partition("-")
    last = last.split("-")[0] if dash else first
    start, end = _port(first), _port(last)
    if end < start:
        raise InvalidArgument(f"invalid range specified for port: {text}")
    return start, end


def _port(text: str) -> int:
    from pinnace._util.golang import is_digits, quote

    if not is_digits(text):
        raise InvalidArgument(f"strconv.ParseUint: parsing {quote(text)}: invalid syntax")
    if int(text) > 65535:
        raise InvalidArgument(f"strconv.ParseUint: parsing {quote(text)}: value out of range")
    return int(text)


def summary(
    record: ContainerRecord,
    *,
    network: Mapping[str, Any] | None = None,
    mounts: Sequence[Mapping[str, Any]] = (),
    now: float | None = None,
) -> dict[str, Any]:
    """One container of the Engine API's ``GET /containers/json`` (what ``docker ps`` reads)."""
    settings = dict(network or {})
    labels = record.labels or record.config.get("Labels") or {}
    ports = []
    for key, bindings in sorted((settings.get("Ports") or {}).items()):
        private, _, proto = key.partition("/")
        for binding in bindings or [None]:
            entry: dict[str, Any] = {"PrivatePort": int(private), "Type": proto or "tcp"}
            if binding:
                entry.update(IP=binding.get("HostIp", ""), PublicPort=int(binding.get("HostPort") or 0))
            ports.append(entry)
    mode = str(record.host_config.get("NetworkMode") or "default")
    return {
        "Id": record.id,
        "Names": ["/" + record.name],
        "Image": record.image_name or record.image_id,
        "ImageID": record.image_id,
        "Command": command_text(record),
        "Created": _unix_ns(record.created) // 1_000_000_000,
        "Ports": ports,
        "Labels": dict(labels),
        "State": record.status,
        "Status": status_text(record, now),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": dict(settings.get("Networks") or {})},
        "Mounts": [
            {
                k: m[k]
                for k in ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")
                if k in m
            }
            for m in mounts
        ],
    }
