"""The flags of ``run`` and ``create``, docker's, parsed into :class:`RunOptions`.

Kept apart from the commands (:mod:`pinnace.cli.containers`) because the
flag set is large and both commands share it.

Errors come out as docker's CLI prints them, exit 125, in two kinds:

- a bad flag value is pflag's (``invalid argument "5x" for "-m, --memory"
  flag: invalid suffix: 'x'``): the flag's own parser refused it;
- a value the CLI refuses once every flag is read (docker/cli's ``parse``:
  env and label files, devices, the restart policy, log options, the
  healthcheck flags, conflicting flags) reads ``pinnace: <error>.``

both followed by ``See 'pinnace run --help'.``.  What only the engine can
judge (image, restart policy names, log drivers, runtimes, resources) is
checked by :func:`pinnace.containers.spec.verify_options` at create, as
dockerd does.

Two steps of ``docker run`` happen on the client and are here for the
commands to call: :func:`ensure_image` (``--pull``) before create and
:func:`write_cidfile` (``--cidfile``) after.
"""

from __future__ import annotations

import os

from pinnace._util.golang import json_text
from pinnace.cli.flags import Flags, UsageError
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    from pinnace.cli.flags import Values
    from pinnace.cli.main import Context
    from pinnace.containers.options import RunOptions, Ulimit

    _T = TypeVar("_T")
    _D = TypeVar("_D")

#: ``--pull`` values (docker/cli PullImageAlways, PullImageMissing, PullImageNever).
PULL_POLICIES = ("always", "missing", "never")


def create_flags(command: str, summary: str) -> Flags:
    """The flags of ``run`` (``command == "run"``) or ``create``, named and documented as docker's."""
    p = Flags(command, summary, "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    if command == "run":
        p.add_bool("detach", "d", help="Run container in background and print container ID")
        p.add_string("detach-keys", help="Override the key sequence for detaching a container")
    p.add_string("name", help="Assign a name to the container")
    p.add_string("platform", help="Set platform if server is multi-platform capable")
    p.add_string("pull", help='Pull image before running ("always", "missing", "never")', default="missing")
    p.add_bool("quiet", "q", help="Suppress the pull output")
    p.add_bool(
        "rm", help="Automatically remove the container and its associated anonymous volumes when it exits"
    )
    # -- stdio
    p.add_list("attach", "a", help="Attach to STDIN, STDOUT or STDERR")
    p.add_bool("interactive", "i", help="Keep STDIN open even if not attached")
    p.add_bool("tty", "t", help="Allocate a pseudo-TTY")
    # -- what runs, as whom
    p.add_list("env", "e", help="Set environment variables")
    p.add_list("env-file", help="Read in a file of environment variables")
    p.add_list("label", "l", help="Set meta data on a container")
    p.add_list("label-file", help="Read in a line delimited file of labels")
    p.add_string("workdir", "w", help="Working directory inside the container")
    p.add_string("user", "u", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_list("group-add", help="Add additional groups to join")
    p.add_string("entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_string("hostname", "h", help="Container host name")
    p.add_string("domainname", help="Container NIS domain name")
    p.add_bool("init", help="Run an init inside the container that forwards signals and reaps processes")
    p.add_string("restart", help="Restart policy to apply when a container exits", default="no")
    p.add_string("stop-signal", help="Signal to stop the container")
    p.add_string("stop-timeout", help="Timeout (in seconds) to stop a container", metavar="int")
    p.add_string("cidfile", help="Write the container ID to the file")
    # -- security
    p.add_bool("read-only", help="Mount the container's root filesystem as read only")
    p.add_bool("privileged", help="Give extended privileges to this container")
    p.add_list("cap-add", help="Add Linux capabilities")
    p.add_list("cap-drop", help="Drop Linux capabilities")
    p.add_list("security-opt", help="Security Options")
    p.add_string("runtime", help="Runtime to use for this container")
    # -- resources
    p.add_string("memory", "m", help="Memory limit", metavar="bytes")
    p.add_string(
        "memory-swap",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
        metavar="bytes",
    )
    p.add_string("memory-reservation", help="Memory soft limit", metavar="bytes")
    p.add_string("cpus", help="Number of CPUs", metavar="decimal")
    p.add_string("cpu-shares", "c", help="CPU shares (relative weight)", metavar="int")
    p.add_string("cpu-period", help="Limit CPU CFS (Completely Fair Scheduler) period", metavar="int")
    p.add_string("cpu-quota", help="Limit CPU CFS (Completely Fair Scheduler) quota", metavar="int")
    p.add_string("cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_string("cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_string("pids-limit", help="Tune container pids limit (set -1 for unlimited)", metavar="int")
    p.add_list("ulimit", help="Ulimit options", metavar="ulimit")
    p.add_string("shm-size", help="Size of /dev/shm", metavar="bytes")
    p.add_list("sysctl", help="Sysctl options", metavar="map")
    p.add_list("device", help="Add a host device to the container")
    p.add_bool("oom-kill-disable", help="Disable OOM Killer")
    p.add_string("oom-score-adj", help="Tune host's OOM preferences (-1000 to 1000)", metavar="int")
    # -- logging
    p.add_string("log-driver", help="Logging driver for the container")
    p.add_list("log-opt", help="Log driver options")
    # -- health
    p.add_string("health-cmd", help="Command to run to check health")
    p.add_string(
        "health-interval", help="Time between running the check (ms|s|m|h) (default 0s)", metavar="duration"
    )
    p.add_string("health-retries", help="Consecutive failures needed to report unhealthy", metavar="int")
    p.add_string(
        "health-timeout",
        help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
        metavar="duration",
    )
    p.add_string(
        "health-start-period",
        help="Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)",
        metavar="duration",
    )
    p.add_string(
        "health-start-interval",
        help="Time between running the check during the start period (ms|s|m|h) (default 0s)",
        metavar="duration",
    )
    p.add_bool("no-healthcheck", help="Disable any container-specified HEALTHCHECK")
    p.add_string("network", help="Connect a container to a network", metavar="network")
    p.add_list("dns", help="Set custom DNS servers", metavar="list")
    p.add_list("dns-search", help="Set custom DNS search domains", metavar="list")
    p.add_list("dns-option", help="Set DNS options", metavar="list")
    p.add_list("add-host", help="Add a custom host-to-IP mapping (host:ip)", metavar="list")
    p.add_list("publish", "p", help="Publish a container's port(s) to the host", metavar="list")
    p.add_bool("publish-all", "P", help="Publish all exposed ports to random ports")
    p.add_list("expose", help="Expose a port or a range of ports", metavar="list")
    p.add_string("ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_list("network-alias", help="Add network-scoped alias for the container", metavar="list")
    p.add_string("mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    # -- storage
    p.add_list("volume", "v", help="Bind mount a volume", metavar="list")
    p.add_list("mount", help="Attach a filesystem mount to the container", metavar="mount")
    p.add_list("tmpfs", help="Mount a tmpfs directory", metavar="list")
    p.add_list("volumes-from", help="Mount volumes from the specified container(s)", metavar="list")
    p.add_string("volume-driver", help="Optional volume driver for the container")
    return p


# --------------------------------------------------------------------------- errors


def _command(ns: Values) -> str:
    """``run`` or ``create``: only ``run`` has ``--detach`` (see create_flags)."""
    return "run" if ns.has("detach") else "create"


def _refused(ns: Values, error: Exception) -> UsageError:
    """docker/cli reportError's line: ``pinnace: <error>.``, then the command's help pointer (exit 125)."""
    return UsageError(f"pinnace: {str(error).rstrip('.')}.", _command(ns))


def _flag(ns: Values, name: str, short: str, parse: Callable[[str], _T], text: str) -> _T:
    """``parse(text)``, its error as pflag's line for flag ``--name`` (``-s, --name`` with a shorthand)."""
    try:
        return parse(text)
    except InvalidArgument as e:
        from pinnace.containers.options import flag_error

        shown = f"-{short}, --{name}" if short else f"--{name}"
        raise UsageError(flag_error(shown, text, e).message, _command(ns)) from None


def _flag_value(ns: Values, name: str, short: str, parse: Callable[[str], _T], default: _D) -> _T | _D:
    """A single-valued flag parsed by ``parse``, or ``default`` when not given."""
    text = ns.value(name.replace("-", "_"))
    return default if text is None else _flag(ns, name, short, parse, text)


# --------------------------------------------------------------------------- RunOptions


def run_options(ns: Values) -> RunOptions:
    """The parsed flags as RunOptions (docker's parsers, docker's errors, exit 125)."""
    from pinnace._util.golang import parse_duration, parse_int
    from pinnace._util.record import replace
    from pinnace.containers import options as o

    def int_flag(name: str, short: str = "") -> int:
        return _flag_value(ns, name, short, parse_int, 0)

    def size_flag(name: str, short: str = "", parse: Callable[[str], int] = o.parse_memory) -> int:
        return _flag_value(ns, name, short, parse, 0)

    options = o.RunOptions(
        image=ns.args[0],
        cmd=tuple(json_text(a) for a in ns.args[1:]),  # as docker's CLI sends them
        entrypoint=ns.value("entrypoint"),
        workdir=ns.value("workdir") or "",
        user=ns.value("user") or "",
        hostname=ns.value("hostname") or "",
        domainname=ns.value("domainname") or "",
        stop_signal=ns.value("stop_signal") or "",
        stop_timeout=_flag_value(ns, "stop-timeout", "", parse_int, None),
        tty=ns.flag("tty"),
        interactive=ns.flag("interactive"),
        attach=tuple(_flag(ns, "attach", "a", o.parse_attach, a) for a in ns.values("attach")),
        detach=ns.has("detach") and ns.flag("detach"),
        group_add=tuple(ns.values("group_add")),
        init=True if ns.flag("init") else None,
        read_only=ns.flag("read_only"),
        privileged=ns.flag("privileged"),
        cap_add=tuple(ns.values("cap_add")),
        cap_drop=tuple(ns.values("cap_drop")),
        memory=size_flag("memory", "m"),
        memory_swap=size_flag("memory-swap", parse=o.parse_memory_swap),
        memory_reservation=size_flag("memory-reservation"),
        nano_cpus=_flag_value(ns, "cpus", "", o.parse_cpus, 0),
        cpu_shares=int_flag("cpu-shares", "c"),
        cpu_period=int_flag("cpu-period"),
        cpu_quota=int_flag("cpu-quota"),
        cpuset_cpus=ns.value("cpuset_cpus") or "",
        cpuset_mems=ns.value("cpuset_mems") or "",
        pids_limit=_flag_value(ns, "pids-limit", "", parse_int, None),
        ulimits=_ulimits(ns),
        shm_size=size_flag("shm-size"),
        sysctls=dict(_flag(ns, "sysctl", "", o.parse_sysctl, s) for s in ns.values("sysctl")),
        oom_kill_disable=ns.flag("oom_kill_disable"),
        oom_score_adj=int_flag("oom-score-adj"),
        auto_remove=ns.flag("rm"),
        runtime=ns.value("runtime") or "",
        cidfile=ns.value("cidfile") or "",
        dns=tuple(_flag(ns, "dns", "", o.parse_dns, d) for d in ns.values("dns")),
        dns_search=tuple(ns.values("dns_search")),
        dns_options=tuple(ns.values("dns_option")),
        extra_hosts=tuple(_flag(ns, "add-host", "", o.parse_extra_host, h) for h in ns.values("add_host")),
    )
    env = [_flag(ns, "env", "e", o.parse_env, e) for e in ns.values("env")]
    storage = _storage(ns)
    labels = [_flag(ns, "label", "l", _label, label) for label in ns.values("label")]
    durations = {flag: _flag_value(ns, flag, "", parse_duration, 0) for flag, _ in o.HEALTH_DURATIONS}
    retries = _flag_value(ns, "health-retries", "", parse_int, 0)

    # docker/cli's parse(): what is checked once every flag has its value.
    try:
        pull = ns.value("pull") or "missing"
        if pull not in PULL_POLICIES:
            raise InvalidArgument(
                f'invalid pull option: \'{pull}\': must be one of "always", "missing" or "never"'
            )
        devices = tuple(o.parse_device(d) for d in ns.values("device"))
        ports = _ports(ns)
        env_files = [entry for path in ns.values("env_file") for entry in _read_kv_file(path, os.environ)]
        label_files = [entry for path in ns.values("label_file") for entry in _read_kv_file(path, None)]
        restart = o.parse_restart_policy(ns.value("restart") or "")
        log_driver = ns.value("log_driver") or ""
        log_opts = o.parse_log_opts(log_driver, ns.values("log_opt"))
        security = tuple(o.parse_security_opt(s) for s in ns.values("security_opt"))
        health = o.health_config(
            ns.value("health_cmd") or "", durations, retries, disable=ns.flag("no_healthcheck")
        )
        if options.auto_remove and restart.name not in ("", "no"):
            raise InvalidArgument("Conflicting options: --restart and --rm")
        if options.detach and options.attach:
            raise InvalidArgument("Conflicting options: -a and -d")
        detach_keys = (ns.value("detach_keys") if ns.has("detach_keys") else None) or ""
        if detach_keys:
            o.parse_detach_keys(detach_keys)
        if options.cidfile:
            _check_cidfile(options.cidfile)
    except InvalidArgument as e:
        raise _refused(ns, e) from None
    network = ns.value("network")
    return replace(
        options,
        env=tuple(env_files + env),
        labels=o.kv_map(label_files + labels),
        devices=devices,
        restart_policy=restart,
        log_driver=log_driver,
        log_opts=log_opts,
        security_opt=security,
        healthcheck=health,
        detach_keys=detach_keys,
        network_mode=network or "",
        ip=ns.value("ip") or "",
        network_aliases=tuple(ns.values("network_alias")),
        mac_address=ns.value("mac_address") or "",
        publish_all=ns.flag("publish_all"),
        **ports,
        **storage,
    )


def _ports(ns: Values) -> dict[str, Any]:
    """``-p`` and ``--expose`` as docker's CLI sends them: ExposedPorts and PortBindings."""
    if not ns.values("publish") and not ns.values("expose"):
        return {}
    from pinnace.network.ports import parse_ports

    exposed, bindings = parse_ports(ns.values("publish"), ns.values("expose"))
    return {"exposed_ports": exposed, "port_bindings": bindings}


def _storage(ns: Values) -> dict[str, Any]:
    """``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from``: RunOptions fields, as docker's CLI sends them.

    ``-v`` with a source is a Bind (``./x`` made absolute), without one an
    anonymous volume in Config.Volumes; ``--mount`` is parsed here (pflag's
    error for a bad value); the rest the engine checks at create.
    """
    if not any(ns.values(name) for name in ("volume", "mount", "tmpfs", "volumes_from")) and not ns.value(
        "volume_driver"
    ):
        return {}
    from pinnace.volumes import specs

    binds: list[str] = []
    anonymous: list[str] = []
    cwd = os.getcwd()
    for text in ns.values("volume"):
        kind, value = _flag(ns, "volume", "v", lambda t: specs.cli_volume(t, cwd), text)
        (binds if kind == "binds" else anonymous).append(value)
    return {
        "binds": tuple(binds),
        "volumes": tuple(anonymous),
        "mounts": tuple(_flag(ns, "mount", "", specs.parse_mount_flag, m) for m in ns.values("mount")),
        "tmpfs": dict(_flag(ns, "tmpfs", "", specs.parse_tmpfs_flag, t) for t in ns.values("tmpfs")),
        "volumes_from": tuple(ns.values("volumes_from")),
        "volume_driver": ns.value("volume_driver") or "",
    }


def _label(text: str) -> str:
    """One ``--label`` checked as docker's ValidateLabel, kept as ``key=value``."""
    from pinnace.containers.options import parse_label

    key, value = parse_label(text)
    return f"{key}={value}"


def _ulimits(ns: Values) -> tuple[Ulimit, ...]:
    """``--ulimit`` values by name (a later one replaces an earlier one), in name order, as docker sends them."""
    from pinnace.containers.options import parse_ulimit

    by_name: dict[str, Ulimit] = {}
    for text in ns.values("ulimit"):
        limit = _flag(ns, "ulimit", "", parse_ulimit, text)
        by_name[limit.name] = limit
    return tuple(by_name[name] for name in sorted(by_name))


def _read_kv_file(path: str, environ: Mapping[str, str] | None) -> list[str]:
    """The entries of an ``--env-file`` (``environ`` given) or ``--label-file``, docker's errors."""
    from pinnace.containers.options import parse_env_file

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {_reason(e)}") from None
    return parse_env_file(data, environ, name=path)


def _reason(error: OSError) -> str:
    """An OSError's reason as Go prints it: lower case (``no such file or directory``)."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return reason[:1].lower() + reason[1:]


# --------------------------------------------------------------------------- --cidfile


def _check_cidfile(path: str) -> None:
    """Refuse, before the container exists, a ``--cidfile`` docker could not create (newCIDFile)."""
    if os.path.lexists(path):
        raise InvalidArgument(
            f"container ID file found, make sure the other container isn't running or delete {path}"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InvalidArgument(
            f"failed to create the container ID file: open {path}: no such file or directory"
        )


def write_cidfile(path: str, container_id: str) -> None:
    """``--cidfile``: write the new container's ID to ``path`` (no newline, as docker), which must not exist.

    Call it right after create; :func:`run_options` already refused a path
    that exists, so this only fails if another process made it meanwhile.
    """
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise InvalidArgument(
            f"container ID file found, make sure the other container isn't running or delete {path}"
        ) from None
    except OSError as e:
        raise InvalidArgument(f"failed to create the container ID file: open {path}: {_reason(e)}") from None
    try:
        os.write(fd, container_id.encode())
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- --pull


def ensure_image(ctx: Context, ns: Values) -> None:
    """``--pull`` before create, as docker's CLI: ``never`` leaves the image check to create.

    ``missing`` (the default) prints ``Unable to find image 'busybox:latest'
    locally`` (unless ``-q``) when the image is not in the store, then pulls
    it, its progress on stderr; ``always`` pulls every time (a pull of what
    is here already only checks its digest).
    """
    from pinnace.errors import NotFound

    policy = ns.value("pull") or "missing"
    image = ns.args[0]
    if policy == "never":
        return
    quiet = ns.flag("quiet")
    if policy == "missing":
        try:
            if ctx.remote:  # the service's images (a remote engine has no local records)
                ctx.engine.images.inspect(image)
            else:
                from pinnace.images.records import ImageRecords

                ImageRecords(ctx.engine.db).resolve(image)
            return
        except NotFound:
            pass
        if not quiet:
            ctx.stderr.write(f"Unable to find image '{_familiar(image)}' locally\n")
    from pinnace.cli.registry import pull_image

    platform = ns.value("platform")
    pull_image(ctx, image, out=ctx.stderr, quiet=quiet, platform=platform)


def _familiar(image: str) -> str:
    """``busybox`` -> ``busybox:latest``: docker's FamiliarString of TagNameOnly, for its messages."""
    from pinnace.oci.reference import parse_normalized, with_default_tag

    try:
        return with_default_tag(parse_normalized(image)).familiar()
    except InvalidArgument:
        return image
