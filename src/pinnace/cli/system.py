"""System commands: system df, system prune, version."""

from __future__ import annotations

import sys

import pinnace
from pinnace._util.units import human_size
from pinnace.cli.flags import Flags
from pinnace.cli.format import render
from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.volumes.records import VolumeRecord

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
#: The container states docker's ``system df`` counts active.
ACTIVE_STATES = ("running", "paused", "restarting")
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
    if ns.flag("verbose"):
        doc = disk_usage_document(ctx, ("volume",))
        mountpoints = {str(v["Name"]): str(v.get("Mountpoint") or "") for v in doc.get("Volumes") or []}
        return _df_verbose(ctx, fmt, vol.df_rows(_volume_usage(doc), mountpoints, fmt))
    doc = disk_usage_document(ctx)
    rows = [_images_row(doc), _containers_row(doc), vol.df_row(_volume_usage(doc)), _build_cache_row(doc)]
    ctx.stdout.write(render(rows, fmt, default_table=DF_TABLE, headers=DF_HEADERS))
    return 0


def disk_usage_document(ctx: Context, kinds: Sequence[str] = ()) -> dict[str, Any]:
    """dockerd's DiskUsage document (``GET /system/df``), which ``system df`` prints from as docker's
    CLI does: the engine's, local or remote."""
    from pinnace.engine import DF_TYPES

    return ctx.engine.disk_usage(kinds or DF_TYPES)


def _with_percent(reclaimable: int, size: int) -> str:
    return human_size(reclaimable, precision=4) + (f" ({reclaimable * 100 // size}%)" if size else "")


def _images_row(doc: Mapping[str, Any]) -> dict[str, str]:
    """docker's image row: the layers' bytes; reclaimable, all but what used images hold alone."""
    images = doc.get("Images") or []
    size = int(doc.get("LayersSize") or 0)
    used = sum(
        int(i["Size"]) - int(i["SharedSize"])
        for i in images
        if i.get("Containers") and i.get("Size", -1) != -1 and i.get("SharedSize", -1) != -1
    )
    return {
        "Type": "Images",
        "TotalCount": str(len(images)),
        "Active": str(sum(1 for i in images if i.get("Containers"))),
        "Size": human_size(size, precision=4),
        "Reclaimable": _with_percent(size - used, size),
    }


def _containers_row(doc: Mapping[str, Any]) -> dict[str, str]:
    """docker's container row: writable layers; those of containers that do not run are reclaimable."""
    containers = doc.get("Containers") or []
    size = sum(int(c.get("SizeRw") or 0) for c in containers)
    active = [c for c in containers if c.get("State") in ACTIVE_STATES]
    return {
        "Type": "Containers",
        "TotalCount": str(len(containers)),
        "Active": str(len(active)),
        "Size": human_size(size, precision=4),
        "Reclaimable": _with_percent(size - sum(int(c.get("SizeRw") or 0) for c in active), size),
    }


def _volume_usage(doc: Mapping[str, Any]) -> list[tuple[VolumeRecord, int, int]]:
    """Each volume of the document with its size and how many containers use it."""
    from pinnace.client.volumes import volume_record

    out = []
    for v in doc.get("Volumes") or []:
        data = v.get("UsageData") or {}
        out.append(
            (volume_record(v), max(int(data.get("Size") or 0), 0), max(int(data.get("RefCount") or 0), 0))
        )
    return out


def _build_cache_row(doc: Mapping[str, Any]) -> dict[str, str]:
    """docker's build cache row: the steps, the bytes of those whose layer no image shares, and of
    those what is not in use (reclaimable)."""
    steps = doc.get("BuildCache") or []
    own = [s for s in steps if not s.get("Shared")]
    return {
        "Type": "Build Cache",
        "TotalCount": str(len(steps)),
        "Active": str(sum(1 for s in steps if s.get("InUse"))),
        "Size": human_size(sum(int(s.get("Size") or 0) for s in own), precision=4),
        "Reclaimable": human_size(
            sum(int(s.get("Size") or 0) for s in own if not s.get("InUse")), precision=4
        ),
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


# --------------------------------------------------------------------------- system prune


def prune(ctx: Context, argv: list[str]) -> int:
    """docker's ``system prune``: stopped containers, unused networks, (``--volumes``) unused anonymous
    volumes, dangling (``-a``: unused) images and the build cache, each by its service's own prune
    (local or remote alike), the filters passed to every one, one total at the end."""
    p = Flags("system prune", "Remove unused data", "[OPTIONS]")
    p.add_bool("all", "a", help="Remove all unused images not just dangling ones")
    p.add_list("filter", help='Provide filter values (e.g. "label=<key>=<value>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    p.add_bool("volumes", help="Prune anonymous volumes")
    ns = p.parse(argv, max_args=0)
    from pinnace.cli import volumes as vol
    from pinnace.cli.images import confirm

    everything, with_volumes = ns.flag("all"), ns.flag("volumes")
    filters = vol.parse_filters(ns.values("filter"), "--filter", "system prune")
    if with_volumes and "until" in filters:
        ctx.stderr.write('ERROR: The "until" filter is not supported with "--volumes"\n')
        return 1
    if not ns.flag("force") and not confirm(ctx, _prune_warning(everything, with_volumes, filters)):
        return 0
    steps = [_prune_containers, _prune_networks]
    if with_volumes:
        steps.append(_prune_volumes)
    steps += [_prune_images, _prune_build_cache]
    freed = 0
    for step in steps:
        try:
            output, reclaimed = step(ctx, everything, filters)
        except PinnaceError as e:
            ctx.stdout.flush()
            ctx.stderr.write(f"Error response from daemon: {e}\n")
            return 1
        ctx.stdout.write(output)
        freed += reclaimed
    ctx.stdout.write(f"Total reclaimed space: {human_size(freed, precision=4)}\n")
    return 0


def _prune_warning(everything: bool, volumes: bool, filters: Mapping[str, Sequence[str]]) -> str:
    """docker's confirmation text: what goes, then the label/until filters it goes by (natural order)."""
    from pinnace.cli.volumes import natural_key

    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append(
        "all images without at least one container associated to them"
        if everything
        else "all dangling images"
    )
    items.append("all build cache" if everything else "unused build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {item}\n" for item in items)
    shown = sorted(
        (f"{key}={value}" for key in ("label", "label!", "until") for value in filters.get(key, ())),
        key=natural_key,
    )
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n" + "".join(f"  - {f}\n" for f in shown)
    return text


def _section(title: str, lines: Sequence[str]) -> str:
    """One pruner's report as docker prints it (a blank line after), "" when it removed nothing."""
    return f"{title}:\n" + "".join(line + "\n" for line in lines) + "\n" if lines else ""


_Pruned = tuple[str, int]


def _prune_containers(ctx: Context, everything: bool, filters: Mapping[str, Sequence[str]]) -> _Pruned:
    deleted, reclaimed = ctx.engine.containers.prune(filters)
    return _section("Deleted Containers", list(deleted)), int(reclaimed) if deleted else 0


def _prune_networks(ctx: Context, everything: bool, filters: Mapping[str, Sequence[str]]) -> _Pruned:
    from pinnace.cli.networks import prune_networks, prune_output

    return prune_output(prune_networks(ctx, filters)), 0


def _prune_volumes(ctx: Context, everything: bool, filters: Mapping[str, Sequence[str]]) -> _Pruned:
    """Only anonymous volumes, whatever ``-a`` says (docker's volume pruner ignores it here)."""
    from pinnace.cli.volumes import prune_output

    deleted, reclaimed = ctx.engine.volumes.prune(filters)
    return prune_output(deleted), int(reclaimed) if deleted else 0


def _prune_images(ctx: Context, everything: bool, filters: Mapping[str, Sequence[str]]) -> _Pruned:
    report = ctx.engine.images.prune(all_images=everything, filters=filters)
    lines = [f"{r.action.lower()}: {r.name}" for r in report.removals]
    return _section("Deleted Images", lines), int(report.reclaimed)


def _prune_build_cache(ctx: Context, everything: bool, filters: Mapping[str, Sequence[str]]) -> _Pruned:
    """The builder's cache (docker's "dangling" rows, every row with ``-a``): ``until`` is how long
    unused (docker maps it to BuildKit's ``unused-for``); the cache has no labels, and docker's label
    filters do not apply to it."""
    from pinnace.build.cache import cache_id

    older = _unused_for(filters.get("until", ()))
    report = ctx.engine.prune_build_cache(everything=everything, older_than=older)
    return _section("Deleted build cache objects", [cache_id(k) for k in report.deleted]), report.reclaimed


def _unused_for(until: Sequence[str]) -> float:
    """``until`` filters (a Go duration or a timestamp, as the other pruners read them) as the seconds
    a cache row must have gone unused (0: any); the latest bound wins."""
    import time

    from pinnace._util.gotime import get_timestamp, parse_timestamps
    from pinnace.errors import InvalidArgument

    now = time.time_ns()
    older = 0.0
    for value in until:
        try:
            older = max((now - parse_timestamps(get_timestamp(value, now))) / 1e9, 0.0)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
    return older


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
