"""System commands: system df, system prune, version."""

from __future__ import annotations

import sys

import pinnace
from pinnace._util.units import human_size
from pinnace.cli.flags import Flags
from pinnace.cli.format import render
from pinnace.cli.images import run_prune

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.containers.records import ContainerUsage

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}


def df(ctx: Context, argv: list[str]) -> int:
    p = Flags("system df", "Show docker disk usage", "[OPTIONS]")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("verbose", "v", help="Show detailed information on space usage")
    ns = p.parse(argv, max_args=0)
    from pinnace.cli import volumes as vol

    fmt = ns.value("format")
    volume_service = ctx.engine.volumes
    volume_usage = volume_service.usage()
    if ns.flag("verbose"):
        return _df_verbose(ctx, fmt, vol.df_rows(volume_service, volume_usage, fmt))
    containers = ctx.engine.containers.disk_usage()
    usage = ctx.engine.images.disk_usage(containers.images)
    pct = f" ({usage.reclaimable * 100 // usage.size}%)" if usage.size else ""
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(usage.images),
            "Active": str(usage.active),
            "Size": human_size(usage.size, precision=4),
            "Reclaimable": human_size(usage.reclaimable, precision=4) + pct,
        },
        {
            "Type": "Containers",
            "TotalCount": str(containers.total),
            "Active": str(containers.active),
            "Size": human_size(containers.size, precision=4),
            "Reclaimable": human_size(containers.reclaimable, precision=4) + _percent(containers),
        },
        vol.df_row(volume_usage),
        _build_cache_row(ctx),
    ]
    ctx.stdout.write(render(rows, fmt, default_table=DF_TABLE, headers=DF_HEADERS))
    return 0


def _build_cache_row(ctx: Context) -> dict[str, str]:
    """The builder's cache: its steps, their layers' bytes, what only the cache holds (reclaimable)."""
    cache = ctx.engine.build_cache.usage()
    return {
        "Type": "Build Cache",
        "TotalCount": str(cache.entries),
        "Active": "0",
        "Size": human_size(cache.total, precision=4),
        "Reclaimable": human_size(cache.size, precision=4),
    }


def _df_verbose(ctx: Context, fmt: str | None, volumes: list[Any]) -> int:
    """``system df -v``: docker's per-volume section (the per-image and per-container ones are not done yet).

    A format other than ``table`` runs once over docker's verbose object
    (``{{range .Volumes}}{{.Name}} {{.Size}}{{end}}``).
    """
    from pinnace.cli import volumes as vol

    if fmt and fmt != "table":
        data = {"Images": [], "Containers": [], "Volumes": volumes, "BuildCache": []}
        ctx.stdout.write(render([data], fmt, default_table="", headers={}))
        return 0
    table = render(volumes, None, default_table=vol.DF_VOLUMES_TABLE, headers=vol.LS_HEADERS)
    ctx.stdout.write("Local Volumes space usage:\n\n" + table)
    return 0


def _percent(usage: ContainerUsage) -> str:
    return f" ({usage.reclaimable * 100 // usage.size}%)" if usage.size else ""


def prune(ctx: Context, argv: list[str]) -> int:
    p = Flags("system prune", "Remove unused data", "[OPTIONS]")
    p.add_bool("all", "a", help="Remove all unused images not just dangling ones")
    p.add_list("filter", help='Provide filter values (e.g. "label=<key>=<value>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    p.add_bool("volumes", help="Prune anonymous volumes")
    ns = p.parse(argv, max_args=0)
    everything = ns.flag("all")
    images = (
        "all images without at least one container associated to them"
        if everything
        else "all dangling images"
    )
    volumes = "  - all anonymous volumes not used by at least one container\n" if ns.flag("volumes") else ""
    warning = f"WARNING! This will remove:\n{volumes}  - {images}\n  - unused content, snapshots and unfinished imports"
    if not ns.flag("volumes"):
        return run_prune(ctx, ns, warning)
    from pinnace.cli import volumes as vol

    filters = vol.parse_filters(ns.values("filter"), "--filter", "system prune")
    if "until" in filters:
        ctx.stderr.write('ERROR: The "until" filter is not supported with "--volumes"\n')
        return 1

    def prune_volumes() -> int:
        """docker's volume pruner in ``system prune``: anonymous unused volumes, with the same filters."""
        deleted, reclaimed = ctx.engine.volumes.prune(filters)
        ctx.stdout.write(vol.prune_output(deleted))
        return int(reclaimed)

    return run_prune(ctx, ns, warning, prune_volumes)


def version(ctx: Context, argv: list[str]) -> int:
    p = Flags("version", "Show the pinnace version information", "[OPTIONS]")
    p.add_string("format", "f", help="Format output using a custom template")
    ns = p.parse(argv, max_args=0)
    import platform

    client = {
        "Version": pinnace.__version__,
        "ApiVersion": "1.41",
        "PythonVersion": platform.python_version(),
        "Os": sys.platform,
        "Arch": platform.machine(),
    }
    server = ctx.engine.version() if ctx.remote else None  # type: ignore[attr-defined]
    fmt = ns.value("format")
    if fmt:
        doc: dict[str, Any] = {"Client": client}
        if server is not None:
            doc["Server"] = server
        ctx.stdout.write(render([doc], fmt, default_table="", headers={}))
        return 0
    ctx.stdout.write(
        "Client:\n"
        f" Version:           {client['Version']}\n"
        f" API version:       {client['ApiVersion']}\n"
        f" Python version:    {client['PythonVersion']}\n"
        f" OS/Arch:           {client['Os']}/{client['Arch']}\n"
        + (f" Context:           {ctx.context_name or 'default'}\n" if server is not None else "")
        + (" Mode:              daemonless\n" if server is None else "")
    )
    if server is not None:
        ctx.stdout.write(
            "\nServer:\n"
            f" Engine:\n"
            f"  Version:          {server.get('Version', '')}\n"
            f"  API version:      {server.get('ApiVersion', '')} (minimum version {server.get('MinAPIVersion', '')})\n"
            f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}\n"
            f"  Kernel Version:   {server.get('KernelVersion', '')}\n"
        )
    return 0


def info(ctx: Context, argv: list[str]) -> int:
    """``docker info``: the service's /info document (locally, the same document the service builds)."""
    p = Flags("info", "Display system-wide information", "[OPTIONS]")
    p.add_string("format", "f", help="Format output using a custom template")
    ns = p.parse(argv, max_args=0)
    if ctx.remote:
        doc: dict[str, Any] = ctx.engine.info()  # type: ignore[attr-defined]
    else:
        from pinnace.api.system import _info

        doc = _info(ctx.engine)
    fmt = ns.value("format")
    if fmt:
        ctx.stdout.write(render([doc], fmt, default_table="", headers={}))
        return 0
    lines = [
        "Client:",
        f" Version:    {pinnace.__version__}",
        f" Context:    {ctx.context_name or 'default'}",
        "",
        "Server:",
        f" Containers: {doc.get('Containers', 0)}",
        f"  Running: {doc.get('ContainersRunning', 0)}",
        f"  Paused: {doc.get('ContainersPaused', 0)}",
        f"  Stopped: {doc.get('ContainersStopped', 0)}",
        f" Images: {doc.get('Images', 0)}",
        f" Server Version: {doc.get('ServerVersion', '')}",
        f" Storage Driver: {doc.get('Driver', '')}",
        f" Logging Driver: {doc.get('LoggingDriver', '')}",
        f" Cgroup Driver: {doc.get('CgroupDriver', '')}",
        f" Cgroup Version: {doc.get('CgroupVersion', '')}",
        f" Kernel Version: {doc.get('KernelVersion', '')}",
        f" Operating System: {doc.get('OperatingSystem', '')}",
        f" OSType: {doc.get('OSType', '')}",
        f" Architecture: {doc.get('Architecture', '')}",
        f" CPUs: {doc.get('NCPU', 0)}",
        f" Total Memory: {human_size(int(doc.get('MemTotal') or 0), precision=4)}",
        f" Name: {doc.get('Name', '')}",
        f" ID: {doc.get('ID', '')}",
        f" Docker Root Dir: {doc.get('DockerRootDir', '')}",
    ]
    ctx.stdout.write("\n".join(lines) + "\n")
    return 0


def restore(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "system restore",
        "Bring containers back after a reboot (restart policies)",
        "[OPTIONS]",
    )
    ns = p.parse(argv, max_args=0)
    del ns
    for record in ctx.engine.containers.restore():
        ctx.stdout.write(f"{record.name}\n")
    return 0
