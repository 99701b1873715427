"""System commands: system df, system prune, version."""

from __future__ import annotations

import platform
import sys

import pinnace
from pinnace.cli.format import render
from pinnace.cli.images import confirm, print_prune
from pinnace.cli.main import Context
from pinnace.cli.parser import Parser, filters
from pinnace.cli.units import human_size

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}


def df(ctx: Context, argv: list[str]) -> int:
    p = Parser("system df", "Show docker disk usage", "[OPTIONS]")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_bool("-v", "--verbose", help="Show detailed information on space usage")
    ns = p.parse(argv)
    usage = ctx.engine.images.disk_usage()
    pct = f" ({usage.reclaimable * 100 // usage.size}%)" if usage.size else ""
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(usage.images),
            "Active": str(usage.active),
            "Size": human_size(usage.size),
            "Reclaimable": human_size(usage.reclaimable) + pct,
        },
        {"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
        {"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
    ]
    ctx.stdout.write(render(rows, ns.format, default_table=DF_TABLE, headers=DF_HEADERS))
    return 0


def prune(ctx: Context, argv: list[str]) -> int:
    p = Parser("system prune", "Remove unused data", "[OPTIONS]")
    p.add_bool("-a", "--all", help="Remove all unused images not just dangling ones")
    p.add_list("--filter", help='Provide filter values (e.g. "label=<key>=<value>")', dest="filter")
    p.add_bool("-f", "--force", help="Do not prompt for confirmation")
    p.add_bool("--volumes", help="Prune anonymous volumes")
    ns = p.parse(argv)
    images = (
        "all images without at least one container associated to them" if ns.all else "all dangling images"
    )
    warning = (
        f"WARNING! This will remove:\n  - {images}\n  - unused content, snapshots and unfinished imports"
    )
    if not ns.force and not confirm(ctx, warning):
        return 0
    report = ctx.engine.images.prune(all_images=ns.all, filters=filters(ns.filter))
    print_prune(ctx, report.removals, report.reclaimed)
    return 0


def version(ctx: Context, argv: list[str]) -> int:
    p = Parser("version", "Show the pinnace version information", "[OPTIONS]")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    ns = p.parse(argv)
    info = {
        "Client": {
            "Version": pinnace.__version__,
            "ApiVersion": "1.41",
            "PythonVersion": platform.python_version(),
            "Os": sys.platform,
            "Arch": platform.machine(),
        }
    }
    if ns.format:
        ctx.stdout.write(render([info], ns.format, default_table="", headers={}))
        return 0
    c = info["Client"]
    ctx.stdout.write(
        "Client:\n"
        f" Version:           {c['Version']}\n"
        f" API version:       {c['ApiVersion']}\n"
        f" Python version:    {c['PythonVersion']}\n"
        f" OS/Arch:           {c['Os']}/{c['Arch']}\n"
        " Mode:              daemonless\n"
    )
    return 0
