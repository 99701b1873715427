"""Container management commands: restart, pause, unpause, top, stats, rename, update, container prune.

Each parses docker's flags, calls the ContainerService and prints what
docker prints.  Commands over several containers go on past a failure as
docker's do: what worked is printed (the name as given), the daemon's
errors follow on stderr, and the exit code is 1.
"""

from __future__ import annotations

from pinnace.cli.flags import Flags, UsageError
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pinnace.cli.flags import Values
    from pinnace.cli.main import Context
    from pinnace.containers.stats import Sample
    from pinnace.containers.update import UpdateConfig

STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}

#: Seconds between two readings of a container's cgroup (docker's stats collector interval).
STATS_INTERVAL = 1.0


def _for_each(ctx: Context, refs: list[str], action: Callable[[str], object]) -> int:
    """Run ``action`` on each container, printing the ones that worked, then the errors (docker's loop)."""
    errors = []
    for ref in refs:
        try:
            action(ref)
        except PinnaceError as e:
            errors.append(f"Error response from daemon: {e}")
            continue
        ctx.stdout.write(ref + "\n")
    if errors:
        ctx.stdout.flush()
        ctx.stderr.write("\n".join(errors) + "\n")
        return 1
    return 0


def _int64(command: str, flag: str, text: str) -> int:
    """A pflag int64 value; pflag's usage error for anything else."""
    from pinnace._util.golang import quote

    body = text[1:] if text[:1] in "+-" else text
    if body.isascii() and body.isdigit() and -(2**63) <= int(text) < 2**63:
        return int(text)
    reason = "value out of range" if body.isascii() and body.isdigit() else "invalid syntax"
    raise UsageError(
        f'invalid argument "{text}" for "{flag}" flag: strconv.ParseInt: parsing {quote(text)}: {reason}',
        command,
    )


# --------------------------------------------------------------------------- restart, pause, unpause


def restart(ctx: Context, argv: list[str]) -> int:
    p = Flags("restart", "Restart one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.add_string("signal", "s", help="Signal to send to the container")
    p.add_string("timeout", "t", help="Seconds to wait before killing the container", metavar="int")
    p.add_string(
        "time", help="Seconds to wait before killing the container (deprecated: use --timeout)", metavar="int"
    )
    ns = p.parse(argv, min_args=1)
    text = ns.value("timeout")
    flag = "-t, --timeout"
    if text is None and ns.value("time") is not None:
        text, flag = ns.value("time"), "--time"
    timeout = None if text is None else _int64("restart", flag, text)
    signal = ns.value("signal")
    service = ctx.engine.containers
    return _for_each(ctx, ns.args, lambda ref: service.restart(ref, timeout=timeout, signal=signal))


def pause(ctx: Context, argv: list[str]) -> int:
    p = Flags("pause", "Pause all processes within one or more containers", "CONTAINER [CONTAINER...]")
    ns = p.parse(argv, min_args=1)
    return _for_each(ctx, ns.args, ctx.engine.containers.pause)


def unpause(ctx: Context, argv: list[str]) -> int:
    p = Flags("unpause", "Unpause all processes within one or more containers", "CONTAINER [CONTAINER...]")
    ns = p.parse(argv, min_args=1)
    return _for_each(ctx, ns.args, ctx.engine.containers.unpause)


# --------------------------------------------------------------------------- top, rename


def top(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "top", "Display the running processes of a container", "CONTAINER [ps OPTIONS]", interspersed=False
    )
    ns = p.parse(argv, min_args=1)
    from pinnace.cli.format import tabwrite

    try:
        titles, processes = ctx.engine.containers.top(ns.args[0], " ".join(ns.args[1:]))
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    lines = ["\t".join(titles)] + ["\t".join(process) for process in processes]
    # docker's tabwriter here: minwidth 20, padding 3
    ctx.stdout.write(tabwrite("".join(line + "\n" for line in lines), minwidth=20, padding=3))
    return 0


def rename(ctx: Context, argv: list[str]) -> int:
    p = Flags("rename", "Rename a container", "CONTAINER NEW_NAME")
    ns = p.parse(argv, min_args=2, max_args=2)
    old, new = ns.args[0].strip(), ns.args[1].strip()
    if not old or not new:
        ctx.stderr.write("Error: Neither old nor new names may be empty\n")
        return 1
    try:
        ctx.engine.containers.rename(old, new)
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\nError: failed to rename container named {old}\n")
        return 1
    return 0


def port(ctx: Context, argv: list[str]) -> int:
    """``docker port``: the container's published ports, or the host addresses of one of them."""
    p = Flags(
        "port",
        "List port mappings or a specific mapping for the container",
        "CONTAINER [PRIVATE_PORT[/PROTO]]",
    )
    ns = p.parse(argv, min_args=1, max_args=2)
    service = ctx.engine.containers
    try:
        record = service.get(ns.args[0])
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e}\n")
        return 1
    ports = (service.network_settings(record) or {}).get("Ports") or {}
    if len(ns.args) == 2:
        number, _, proto = ns.args[1].partition("/")
        key = f"{number}/{proto or 'tcp'}"
        bindings = ports.get(key) or []
        if not bindings:
            ctx.stderr.write(f"Error: No public port '{key}' published for {ns.args[0]}\n")
            return 1
        ctx.stdout.write("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in bindings))
        return 0
    for key, bindings in ports.items():
        ctx.stdout.write("".join(f"{key} -> {b['HostIp']}:{b['HostPort']}\n" for b in bindings or ()))
    return 0


# --------------------------------------------------------------------------- update


def update(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "update", "Update configuration of one or more containers", "[OPTIONS] CONTAINER [CONTAINER...]"
    )
    p.add_string("cpu-period", help="Limit CPU CFS (Completely Fair Scheduler) period", metavar="int")
    p.add_string("cpu-quota", help="Limit CPU CFS (Completely Fair Scheduler) quota", metavar="int")
    p.add_string("cpu-shares", "c", help="CPU shares (relative weight)", metavar="int")
    p.add_string("cpus", help="Number of CPUs", metavar="decimal")
    p.add_string("cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_string("cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_string("memory", "m", help="Memory limit", metavar="bytes")
    p.add_string("memory-reservation", help="Memory soft limit", metavar="bytes")
    p.add_string(
        "memory-swap",
        help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
        metavar="bytes",
    )
    p.add_string("pids-limit", help="Tune container pids limit (set -1 for unlimited)", metavar="int")
    p.add_string("restart", help="Restart policy to apply when a container exits")
    ns = p.parse(argv, min_args=1)
    change = _update_config(ns)
    if change is None:
        ctx.stderr.write("you must provide one or more flags when using this command\n")
        return 1
    service = ctx.engine.containers
    warnings: list[str] = []

    def apply(ref: str) -> None:
        warnings.extend(service.update(ref, change)[1])

    try:
        code = _for_each(ctx, ns.args, apply)
    finally:
        if warnings:
            ctx.stdout.write("\n".join(warnings) + "\n")
    return code


def _update_config(ns: Values) -> UpdateConfig | None:
    """The flags given as an UpdateConfig, values parsed as docker's flag types; None if no flag is."""
    from pinnace.containers import options
    from pinnace.containers.update import UpdateConfig, parse_restart_policy

    values = {name: getattr(ns, name) for name in (
        "cpu_period", "cpu_quota", "cpu_shares", "cpus", "cpuset_cpus", "cpuset_mems", "memory",
        "memory_reservation", "memory_swap", "pids_limit", "restart",
    )}  # fmt: skip
    if all(v is None for v in values.values()):
        return None

    def parsed(key: str, flag: str, parse: Callable[[str], int]) -> int:
        text = values[key]
        if text is None:
            return 0
        try:
            return parse(text)
        except InvalidArgument as e:
            raise UsageError(options.flag_error(flag, text, e).message, "update") from None

    pids = values["pids_limit"]
    policy = values["restart"]
    return UpdateConfig(
        memory=parsed("memory", "-m, --memory", options.parse_memory),
        memory_swap=parsed("memory_swap", "--memory-swap", options.parse_memory_swap),
        memory_reservation=parsed("memory_reservation", "--memory-reservation", options.parse_memory),
        nano_cpus=parsed("cpus", "--cpus", options.parse_cpus),
        cpu_shares=0
        if values["cpu_shares"] is None
        else _int64("update", "-c, --cpu-shares", values["cpu_shares"]),
        cpu_period=0
        if values["cpu_period"] is None
        else _int64("update", "--cpu-period", values["cpu_period"]),
        cpu_quota=0 if values["cpu_quota"] is None else _int64("update", "--cpu-quota", values["cpu_quota"]),
        cpuset_cpus=values["cpuset_cpus"] or "",
        cpuset_mems=values["cpuset_mems"] or "",
        pids_limit=None if pids is None else _int64("update", "--pids-limit", pids),
        restart_policy=parse_restart_policy(policy) if policy else {},
    )


# --------------------------------------------------------------------------- container prune


def prune(ctx: Context, argv: list[str]) -> int:
    p = Flags("container prune", "Remove all stopped containers", "[OPTIONS]")
    p.add_list("filter", help='Provide filter values (e.g. "until=<timestamp>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    ns = p.parse(argv, max_args=0)
    from pinnace._util.units import human_size
    from pinnace.cli.images import confirm
    from pinnace.containers.views import parse_filters

    filters = parse_filters(ns.values("filter"))
    deleted: list[str] = []
    reclaimed = 0
    if ns.flag("force") or confirm(ctx, "WARNING! This will remove all stopped containers."):
        try:
            deleted, reclaimed = ctx.engine.containers.prune(filters)
        except PinnaceError as e:
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            return 1
    if deleted:
        ctx.stdout.write("Deleted Containers:\n" + "".join(i + "\n" for i in deleted) + "\n")
    ctx.stdout.write(f"Total reclaimed space: {human_size(reclaimed, precision=4)}\n")
    return 0


# --------------------------------------------------------------------------- stats


def stats(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "stats", "Display a live stream of container(s) resource usage statistics", "[OPTIONS] [CONTAINER...]"
    )
    p.add_bool("all", "a", help="Show all containers (default shows just running)")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("no-stream", help="Disable streaming stats and only pull the first result")
    p.add_bool("no-trunc", help="Do not truncate output")
    ns = p.parse(argv)
    import time

    from pinnace.cli.format import render
    from pinnace.containers import stats as st

    service = ctx.engine.containers
    named = list(ns.args)
    fmt = ns.value("format")
    trunc = not ns.flag("no_trunc")

    def targets() -> list[str]:
        if named:
            return named
        active = ("running", "paused", "restarting")
        return [r.id for r in service.list() if ns.flag("all") or r.status in active]

    def read(refs: list[str]) -> tuple[dict[str, tuple[str, str, Sample | None]], list[str]]:
        found: dict[str, tuple[str, str, Sample | None]] = {}
        errors = []
        for ref in refs:
            try:
                record, sample = service.stats_sample(ref)
            except PinnaceError as e:
                errors.append(f"Error response from daemon: {e}")
                continue
            found[ref] = (record.id, record.name, sample)
        return found, errors

    previous, errors = read(targets())
    if errors and named:
        ctx.stderr.write("\n".join(errors) + "\n")
        return 1
    while True:
        time.sleep(STATS_INTERVAL)
        current, errors = read(targets())
        rows = []
        for ref, (container_id, name, sample) in current.items():
            before = previous.get(ref)
            entry = st.entry(before[2] if before and before[0] == container_id else None, sample)
            rows.append(st.row(ref if named else container_id[:12], container_id, name, entry, trunc=trunc))
        text = render(rows, fmt, default_table=STATS_TABLE, headers=STATS_HEADERS)
        if ns.flag("no_stream"):
            ctx.stdout.write(text)
            return 0
        # Redraw in place: clear the screen, home the cursor, then the table (docker's cleanScreen).
        ctx.stdout.write("\033[2J\033[H" + text)
        ctx.stdout.flush()
        if named and not current:
            return 0
        previous = current
