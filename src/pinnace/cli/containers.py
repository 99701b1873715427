"""Container commands: run, create, start, ps, logs, wait, kill, rm (a first subset of issue 4).

Each function parses docker's flags, calls the ContainerService and prints
what docker prints.  Not yet: -i/-t/attach, restart policies, healthchecks,
stop, exec, inspect of containers (the views exist in containers.views).
"""

from __future__ import annotations

import os

from pinnace.cli.container_flags import create_flags, ensure_image, run_options, write_cidfile
from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from pinnace.cli.flags import Values
    from pinnace.cli.main import Context
    from pinnace.containers.service import ContainerService
    from pinnace.logs.common import LogRecord
    from pinnace.runtime.cgroups import WarmUp

PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "State": "STATE",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}


def create(ctx: Context, argv: list[str]) -> int:
    p = create_flags("create", "Create a new container")
    ns = p.parse(argv, min_args=1)
    options = run_options(ns)
    try:
        ensure_image(ctx, ns)
        record, warnings = ctx.engine.containers.create(options, name=ns.value("name") or "")
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    write_cidfile(options.cidfile, record.id)
    for line in warnings:
        ctx.stderr.write(f"WARNING: {line}\n")
    ctx.stdout.write(record.id + "\n")
    return 0


def run(ctx: Context, argv: list[str]) -> int:
    p = create_flags("run", "Create and run a new container from an image")
    p.add_bool("sig-proxy", help="Proxy received signals to the process", default=True)
    ns = p.parse(argv, min_args=1)
    if ns.flag("detach"):
        return _run(ctx, ns, None)
    from pinnace.runtime.cgroups import WarmUp

    # Attached, someone waits for it: keep the cgroup lock warm until the container's cgroups
    # are made (~30 ms from now, in the monitor's child), so they cost no RCU grace period.
    # Not for -d: fifty of those at once would only contend for the lock.
    warm = WarmUp()
    try:
        return _run(ctx, ns, warm)
    finally:
        warm.stop()


def _run(ctx: Context, ns: Values, warm: WarmUp | None) -> int:
    service = ctx.engine.containers
    options = run_options(ns)
    if options.tty and options.interactive and not ns.flag("detach") and not os.isatty(0):
        raise InvalidArgument("the input device is not a TTY")
    try:
        ensure_image(ctx, ns)
        record, warnings = service.create(options, name=ns.value("name") or "")
    except PinnaceError as e:
        # docker run: an engine refusal before the container exists is 125, with the help pointer.
        ctx.stderr.write(
            f"pinnace: Error response from daemon: {str(e).rstrip('.')}.\nSee 'pinnace run --help'.\n"
        )
        return 125
    write_cidfile(options.cidfile, record.id)
    for line in warnings:
        ctx.stderr.write(f"WARNING: {line}\n")
    detach = ns.flag("detach")
    config = record.config
    attached: dict[str, Any] = {}

    def connect(run_dir: str) -> None:
        from pinnace.shim.protocol import connect as connect_to

        attached["sock"] = connect_to(run_dir)

    try:
        service.start(record.id, attach=None if detach else connect, remover=not detach)
    except PinnaceError as e:
        # docker run: 127 when the command is not found, 126 when it cannot run, 125 otherwise.
        ctx.stderr.write(f"pinnace: Error response from daemon: {e}\n")
        if ns.flag("rm"):
            service.remove(record.id, force=True, volumes=True)
        if "executable file not found" in str(e) or "no such file or directory" in str(e):
            return 127
        cannot_run = ("permission denied", "exec format error", "is a directory")
        return 126 if any(reason in str(e) for reason in cannot_run) else 125
    if warm is not None:
        warm.stop()
    if detach:
        ctx.stdout.write(record.id + "\n")
        return 0
    ctx.stdout.flush()
    ctx.stderr.flush()
    code = _session(ctx, service, record.id, attached.get("sock"), config, ns)
    if code is None:
        return 0  # detached: the container runs on
    if ns.flag("rm"):
        try:
            service.remove(record.id, force=True, volumes=True)
        except NotFound:
            pass
    return int(code)


def _session(
    ctx: Context, service: ContainerService, container_id: str, sock: Any, config: Any, ns: Values
) -> int | None:
    """Attach our stdio to a started container as its Config says (docker's Attach* fields)."""
    from pinnace.cli.attach import session

    if sock is None:  # the monitor started it without us (no attach in time): wait like `docker wait`
        return service.wait(container_id)
    streams = [key for key in ("AttachStdin", "AttachStdout", "AttachStderr") if key in config]
    return session(
        service,
        container_id,
        sock,
        config,
        stdin=bool(config.get("AttachStdin")) if streams else bool(config.get("OpenStdin")),
        stdout=bool(config.get("AttachStdout")) if streams else True,
        stderr=bool(config.get("AttachStderr")) if streams else True,
        detach_keys=ns.value("detach_keys") if ns.has("detach_keys") else None,
        sig_proxy=ns.flag("sig_proxy"),
    )


def _copy_logs(
    ctx: Context, records: Iterable[LogRecord], *, timestamps: bool = False, details: bool = False
) -> None:
    """Write log records to our stdout/stderr as they come (``-t``: docker's timestamp; ``--details``: attrs)."""
    from pinnace.logs.common import format_record

    for rec in records:
        text = ctx.stdout if rec.stream == "stdout" else ctx.stderr
        data = format_record(rec, timestamps=timestamps, details=details)
        binary = getattr(text, "buffer", None)
        if binary is not None:
            text.flush()
            binary.write(data)
            binary.flush()
        else:
            text.write(data.decode(errors="replace"))


def start(ctx: Context, argv: list[str]) -> int:
    p = Flags("start", "Start one or more stopped containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.add_bool("attach", "a", help="Attach STDOUT/STDERR and forward signals")
    p.add_bool("interactive", "i", help="Attach container's STDIN")
    p.add_string("detach-keys", help="Override the key sequence for detaching a container")
    ns = p.parse(argv, min_args=1)
    service = ctx.engine.containers
    if ns.flag("attach") or ns.flag("interactive"):
        if len(ns.args) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        return _start_attached(ctx, service, ns)
    failed = False
    for ref in ns.args:
        try:
            service.start(ref)
            ctx.stdout.write(ref + "\n")
        except PinnaceError as e:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            failed = True
    if failed:
        raise InvalidArgument("failed to start containers: " + ", ".join(ns.args))
    return 0


def _start_attached(ctx: Context, service: ContainerService, ns: Values) -> int:
    """``start -a``/``-i``: attach, then start, then relay until it ends (docker's exit code)."""
    from pinnace.cli.attach import session
    from pinnace.shim.protocol import connect

    record = service.get(ns.args[0])
    if record.status in ("running", "paused", "restarting"):
        sock = connect(service.run_dir(record.id))
    else:
        attached: dict[str, Any] = {}
        service.start(record.id, attach=lambda run_dir: attached.update(sock=connect(run_dir)), remover=True)
        sock = attached.get("sock")
    if sock is None:
        code: int | None = service.wait(record.id)
    else:
        code = session(
            service,
            record.id,
            sock,
            record.config,
            stdin=ns.flag("interactive") and bool(record.config.get("OpenStdin")),
            detach_keys=ns.value("detach_keys"),
        )
    if code is not None and record.host_config.get("AutoRemove"):  # ours to remove (we claimed it)
        try:
            service.remove(record.id, force=True, volumes=True)
        except PinnaceError:
            pass
    return 0 if code is None else int(code)


def attach(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "attach",
        "Attach local standard input, output, and error streams to a running container",
        "[OPTIONS] CONTAINER",
    )
    p.add_string("detach-keys", help="Override the key sequence for detaching a container")
    p.add_bool("no-stdin", help="Do not attach STDIN")
    p.add_bool("sig-proxy", help="Proxy all received signals to the process", default=True)
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace.cli.attach import session
    from pinnace.errors import Conflict
    from pinnace.shim.protocol import connect

    service = ctx.engine.containers
    record = service.get(ns.args[0])
    if record.status == "paused":
        raise Conflict("You cannot attach to a paused container, unpause it first")
    if record.status not in ("running", "restarting"):
        raise Conflict("You cannot attach to a stopped container, start it first")
    try:
        sock = connect(service.run_dir(record.id))
    except OSError:
        raise Conflict("You cannot attach to a stopped container, start it first") from None
    code = session(
        service,
        record.id,
        sock,
        record.config,
        stdin=not ns.flag("no_stdin") and bool(record.config.get("OpenStdin")),
        detach_keys=ns.value("detach_keys"),
        sig_proxy=ns.flag("sig_proxy"),
    )
    return 0 if code is None else int(code)


def ps(ctx: Context, argv: list[str]) -> int:
    p = Flags("ps", "List containers")
    p.add_bool("all", "a", help="Show all containers (default shows just running)")
    p.add_list("filter", "f", help="Filter output based on conditions provided", metavar="filter")
    p.add_string("format", help="Format output using a custom template")
    p.add_string("last", "n", help="Show n last created containers (includes all states)", metavar="int")
    p.add_bool("latest", "l", help="Show the latest created container (includes all states)")
    p.add_bool("no-trunc", help="Don't truncate output")
    p.add_bool("quiet", "q", help="Only display container IDs")
    p.add_bool("size", "s", help="Display total file sizes")
    ns = p.parse(argv, max_args=0)
    from pinnace.cli.format import render
    from pinnace.containers import views

    limit = 1 if ns.flag("latest") else int(ns.value("last") or -1)
    records = views.ps_list(
        ctx.engine.containers.list(),
        views.parse_filters(ns.values("filter")),
        show_all=ns.flag("all"),
        limit=limit,
    )
    no_trunc = ns.flag("no_trunc")
    if ns.flag("quiet"):
        ctx.stdout.write("".join((r.id if no_trunc else r.id[:12]) + "\n" for r in records))
        return 0
    service = ctx.engine.containers
    sized = ns.flag("size") or "{{.Size}}" in (ns.value("format") or "")
    rows = []
    for r in records:
        size_rw, size_root_fs = service.sizes(r) if sized else (0, 0)
        settings = service.network_settings(r) if r.host_config.get("NetworkMode") else None
        rows.append(
            views.ps_row(
                r,
                no_trunc=no_trunc,
                size_rw=size_rw,
                size_root_fs=size_root_fs,
                network=settings,
            )
        )
    table = PS_TABLE.replace("{{.CreatedAt}}", "{{.RunningFor}}")
    if ns.flag("size"):
        table += "\t{{.Size}}"
    ctx.stdout.write(render(rows, ns.value("format"), default_table=table, headers=PS_HEADERS))
    return 0


def logs(ctx: Context, argv: list[str]) -> int:
    """docker logs: the container is looked up first, then --since/--until read as the docker client reads them."""
    relative = '(e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'
    p = Flags("logs", "Fetch the logs of a container", "[OPTIONS] CONTAINER")
    p.add_bool("details", help="Show extra details provided to logs")
    p.add_bool("follow", "f", help="Follow log output")
    p.add_string("since", help=f"Show logs since timestamp {relative}")
    p.add_string("tail", "n", help='Number of lines to show from the end of the logs (default "all")')
    p.add_bool("timestamps", "t", help="Show timestamps")
    p.add_string("until", help=f"Show logs before a timestamp {relative}")
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace._util.gotime import since_arg

    service = ctx.engine.containers
    try:
        record = service.get(ns.args[0])
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    try:
        window = {k: since_arg(k, v) for k in ("since", "until") if (v := ns.value(k))}
    except InvalidArgument as e:
        ctx.stderr.write(f"{e}\n")
        return 1
    try:
        records = service.logs(record.id, follow=ns.flag("follow"), tail=ns.value("tail") or "all", **window)
        _copy_logs(ctx, records, timestamps=ns.flag("timestamps"), details=ns.flag("details"))
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    return 0


def wait(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "wait",
        "Block until one or more containers stop, then print their exit codes",
        "CONTAINER [CONTAINER...]",
    )
    ns = p.parse(argv, min_args=1)
    for ref in ns.args:
        ctx.stdout.write(f"{ctx.engine.containers.wait(ref)}\n")
    return 0


def kill(ctx: Context, argv: list[str]) -> int:
    p = Flags("kill", "Kill one or more running containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.add_string("signal", "s", help="Signal to send to the container")
    ns = p.parse(argv, min_args=1)
    from pinnace.runtime import signals

    signum = signals.parse(ns.value("signal") or "KILL")
    for ref in ns.args:
        ctx.engine.containers.kill(ref, signum)
        ctx.stdout.write(ref + "\n")
    return 0


def rm(ctx: Context, argv: list[str]) -> int:
    p = Flags("rm", "Remove one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.add_bool("force", "f", help="Force the removal of a running container (uses SIGKILL)")
    p.add_bool("volumes", "v", help="Remove anonymous volumes associated with the container")
    ns = p.parse(argv, min_args=1)
    service = ctx.engine.containers
    if ns.flag("force") and len(ns.args) > 1:
        # Kill them all first, then remove each: their exits overlap instead of adding up.
        for ref in ns.args:
            try:
                service.kill(ref, 9)
            except PinnaceError:
                pass  # not running, or no such container: the removal below says so
    failed = []
    for ref in ns.args:
        try:
            service.remove(ref, force=ns.flag("force"), volumes=ns.flag("volumes"))
            ctx.stdout.write(ref + "\n")
        except NotFound as e:
            if not ns.flag("force"):
                ctx.stderr.write(f"Error response from daemon: {e}\n")
                failed.append(ref)
        except PinnaceError as e:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            failed.append(ref)
    return 1 if failed else 0


def stop(ctx: Context, argv: list[str]) -> int:
    p = Flags("stop", "Stop one or more running containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.add_string("signal", "s", help="Signal to send to the container")
    p.add_string("time", "t", help="Seconds to wait before killing the container", metavar="int")
    ns = p.parse(argv, min_args=1)
    timeout_text = ns.value("time")
    try:
        timeout = int(timeout_text) if timeout_text is not None else None
    except ValueError:
        raise InvalidArgument(
            f'invalid argument "{timeout_text}" for "-t, --time" flag: strconv.ParseInt: parsing "{timeout_text}": invalid syntax'
        ) from None
    failed = False
    for ref in ns.args:
        try:
            ctx.engine.containers.stop(ref, timeout=timeout, signal=ns.value("signal"))
            ctx.stdout.write(ref + "\n")
        except PinnaceError as e:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            failed = True
    return 1 if failed else 0


def inspect(ctx: Context, argv: list[str]) -> int:
    from pinnace.cli.images import inspect_objects

    return inspect_objects(
        ctx, argv, ("container",), "container inspect", "Display detailed information on one or more containers",
        "CONTAINER",
    )  # fmt: skip
