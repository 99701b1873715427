"""Container commands: run, create, start, ps, logs, wait, kill, rm (a first subset of issue 4).

Each function parses docker's flags, calls the ContainerService and prints
what docker prints.  Not yet: -i/-t/attach, restart policies, healthchecks,
stop, exec, inspect of containers (the views exist in containers.views).
"""

from __future__ import annotations

from pinnace.cli.container_flags import create_flags, run_options
from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument, NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from pinnace.cli.main import Context
    from pinnace.logs.jsonfile import LogRecord

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
    record, warnings = ctx.engine.containers.create(run_options(ns), name=ns.value("name") or "")
    for line in warnings:
        ctx.stderr.write(f"WARNING: {line}\n")
    ctx.stdout.write(record.id + "\n")
    return 0


def run(ctx: Context, argv: list[str]) -> int:
    p = create_flags("run", "Create and run a new container from an image")
    ns = p.parse(argv, min_args=1)
    service = ctx.engine.containers
    record, warnings = service.create(run_options(ns), name=ns.value("name") or "")
    for line in warnings:
        ctx.stderr.write(f"WARNING: {line}\n")
    try:
        service.start(record.id)
    except PinnaceError as e:
        # docker run: 127 when the command is not found, 126 when it cannot run, 125 otherwise.
        ctx.stderr.write(f"pinnace: Error response from daemon: {e}\n")
        if ns.flag("rm"):
            service.remove(record.id, force=True)
        if "executable file not found" in str(e) or "no such file or directory" in str(e):
            return 127
        return 126 if "permission denied" in str(e) or "exec format error" in str(e) else 125
    if ns.flag("detach"):
        ctx.stdout.write(record.id + "\n")
        return 0
    _copy_logs(ctx, service.logs(record.id, follow=True))
    code = service.wait(record.id)
    if ns.flag("rm"):
        service.remove(record.id, force=True)
    return int(code)


def _copy_logs(ctx: Context, records: Iterable[LogRecord], *, timestamps: bool = False) -> None:
    """Write log records to our stdout/stderr as they come (with ``-t``, docker's timestamp first)."""
    from pinnace.logs.jsonfile import format_record

    for rec in records:
        text = ctx.stdout if rec.stream == "stdout" else ctx.stderr
        data = format_record(rec, timestamps=timestamps)
        binary = getattr(text, "buffer", None)
        if binary is not None:
            text.flush()
            binary.write(data)
            binary.flush()
        else:
            text.write(data.decode(errors="replace"))


def start(ctx: Context, argv: list[str]) -> int:
    p = Flags("start", "Start one or more stopped containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    ns = p.parse(argv, min_args=1)
    failed = False
    for ref in ns.args:
        try:
            ctx.engine.containers.start(ref)
            ctx.stdout.write(ref + "\n")
        except PinnaceError as e:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            failed = True
    if failed:
        raise InvalidArgument("failed to start containers: " + ", ".join(ns.args))
    return 0


def ps(ctx: Context, argv: list[str]) -> int:
    p = Flags("ps", "List containers")
    p.add_bool("all", "a", help="Show all containers (default shows just running)")
    p.add_list("filter", "f", help="Filter output based on conditions provided", metavar="filter")
    p.add_string("format", help="Format output using a custom template")
    p.add_string("last", "n", help="Show n last created containers (includes all states)", metavar="int")
    p.add_bool("latest", "l", help="Show the latest created container (includes all states)")
    p.add_bool("no-trunc", help="Don't truncate output")
    p.add_bool("quiet", "q", help="Only display container IDs")
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
    rows = [views.ps_row(r, no_trunc=no_trunc) for r in records]
    table = PS_TABLE.replace("{{.CreatedAt}}", "{{.RunningFor}}")
    ctx.stdout.write(render(rows, ns.value("format"), default_table=table, headers=PS_HEADERS))
    return 0


def logs(ctx: Context, argv: list[str]) -> int:
    p = Flags("logs", "Fetch the logs of a container", "[OPTIONS] CONTAINER")
    p.add_bool("follow", "f", help="Follow log output")
    p.add_string("tail", "n", help='Number of lines to show from the end of the logs (default "all")')
    p.add_bool("timestamps", "t", help="Show timestamps")
    ns = p.parse(argv, min_args=1, max_args=1)
    tail_text = ns.value("tail")
    tail = None if tail_text in (None, "all") else int(tail_text)
    records = ctx.engine.containers.logs(ns.args[0], follow=ns.flag("follow"), tail=tail)
    _copy_logs(ctx, records, timestamps=ns.flag("timestamps"))
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
    failed = []
    for ref in ns.args:
        try:
            ctx.engine.containers.remove(ref, force=ns.flag("force"))
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
