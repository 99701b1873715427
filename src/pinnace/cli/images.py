"""Image commands: images, inspect, history, import, save, load, tag, rmi, image prune.

Each function parses its flags, calls ImageService and formats what it
returns; no engine logic lives here.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, BinaryIO

from pinnace.cli.format import render
from pinnace.cli.main import Context
from pinnace.cli.parser import Parser, UsageError, filters
from pinnace.cli.units import ago, human_size
from pinnace.errors import InvalidArgument, NotFound, PinnaceError
from pinnace.oci.digest import short_id

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "VIRTUAL SIZE",
    "Containers": "CONTAINERS",
}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def _image_id(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else short_id(image_id)


def _local_time(ts: float) -> str:
    """Go's time.String() as docker prints CreatedAt: ``2023-05-19 20:53:50 +0000 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(ts))


def ls(ctx: Context, argv: list[str]) -> int:
    p = Parser("images", "List images", "[OPTIONS] [REPOSITORY[:TAG]]")
    p.add_bool("-a", "--all", help="Show all images (default hides intermediate images)")
    p.add_bool("--digests", help="Show digests")
    p.add_list("-f", "--filter", help="Filter output based on conditions provided", dest="filter")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_bool("--no-trunc", help="Don't truncate output")
    p.add_bool("-q", "--quiet", help="Only show image IDs")
    p.add_argument("repository", nargs="?", help=argparse_suppress())
    ns = p.parse(argv)
    flt = filters(ns.filter)
    if ns.repository:
        flt.setdefault("reference", []).append(ns.repository)
    rows = ctx.engine.images.list(flt)
    now = time.time()
    if ns.quiet:
        for row in rows:
            ctx.stdout.write(_image_id(row.image.id, ns.no_trunc) + "\n")
        return 0
    data = [
        {
            "Containers": "N/A",
            "CreatedAt": _local_time(row.created),
            "CreatedSince": ago(row.created, now) if row.created else "N/A",
            "Digest": row.digest,
            "ID": _image_id(row.image.id, ns.no_trunc),
            "Repository": row.repository,
            "SharedSize": "N/A",
            "Size": human_size(row.image.size),
            "Tag": row.tag,
            "UniqueSize": "N/A",
            "VirtualSize": human_size(row.image.size),
        }
        for row in rows
    ]
    table = IMAGES_DIGESTS_TABLE if ns.digests else IMAGES_TABLE
    ctx.stdout.write(render(data, ns.format, default_table=table, headers=IMAGES_HEADERS))
    return 0


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def inspect(ctx: Context, argv: list[str]) -> int:
    p = Parser(
        "image inspect", "Display detailed information on one or more images", "[OPTIONS] IMAGE [IMAGE...]"
    )
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("--type", help="Return JSON for specified type (image)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ns = p.parse(argv)
    if ns.type not in (None, "image"):
        raise InvalidArgument(f'"{ns.type}" is not a valid value for --type')
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for ref in ns.images:
        try:
            found.append(ctx.engine.images.inspect(ref))
        except NotFound:
            missing.append(ref)
    if ns.format:
        ctx.stdout.write(render(found, ns.format, default_table="", headers={}))
    else:
        ctx.stdout.write(json.dumps(found, indent=4) + "\n")
    if missing:
        for ref in missing:
            ctx.stderr.write(f"Error: No such image: {ref}\n")
        return 1
    return 0


def history(ctx: Context, argv: list[str]) -> int:
    p = Parser("history", "Show the history of an image", "[OPTIONS] IMAGE")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_bool(
        "-H", "--human", default=True, help="Print sizes and dates in human readable format (default true)"
    )
    p.add_bool("--no-trunc", help="Don't truncate output")
    p.add_bool("-q", "--quiet", help="Only show image IDs")
    p.add_argument("image", metavar="IMAGE")
    ns = p.parse(argv)
    entries = ctx.engine.images.history(ns.image)
    now = time.time()

    def ident(entry_id: str) -> str:
        return entry_id if entry_id == "<missing>" else _image_id(entry_id, ns.no_trunc)

    if ns.quiet:
        for e in entries:
            ctx.stdout.write(ident(e.id) + "\n")
        return 0
    data = []
    for e in entries:
        created_by = e.created_by.replace("\t", " ").replace("\n", " ")
        if not ns.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        data.append(
            {
                "ID": ident(e.id),
                "CreatedSince": (ago(e.created, now) if e.created else "N/A")
                if ns.human
                else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created)),
                "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created)),
                "CreatedBy": created_by,
                "Size": human_size(e.size) if ns.human else str(e.size),
                "Comment": e.comment,
            }
        )
    ctx.stdout.write(render(data, ns.format, default_table=HISTORY_TABLE, headers=HISTORY_HEADERS))
    return 0


def import_(ctx: Context, argv: list[str]) -> int:
    p = Parser(
        "import",
        "Import the contents from a tarball to create a filesystem image",
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    )
    p.add_list("-c", "--change", help="Apply Dockerfile instruction to the created image", dest="change")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    ns = p.parse(argv)
    if ns.source.startswith(("http://", "https://")):
        raise InvalidArgument("importing from a URL is not supported: download the file and import it")
    if ns.source == "-":
        img = ctx.engine.images.import_rootfs(
            sys.stdin.buffer, source="-", tag=ns.reference, changes=ns.change, message=ns.message
        )
    else:
        stream = _open_input(ns.source)
        with stream:
            img = ctx.engine.images.import_rootfs(
                stream, source=ns.source, tag=ns.reference, changes=ns.change, message=ns.message
            )
    ctx.stdout.write(img.id + "\n")
    return 0


def _open_input(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InvalidArgument(f"open {path}: no such file or directory") from None
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror}") from None


def save(ctx: Context, argv: list[str]) -> int:
    p = Parser(
        "save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        "[OPTIONS] IMAGE [IMAGE...]",
    )
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument(
        "--format", default="docker", choices=("docker", "oci"), help="Archive format (docker|oci)"
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ns = p.parse(argv)
    if ns.output is None:
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        ctx.engine.images.save(ns.images, sys.stdout.buffer, fmt=ns.format)
        return 0
    _save_to_file(ctx, ns.images, ns.output, ns.format)
    return 0


def _save_to_file(ctx: Context, refs: list[str], path: str, fmt: str) -> None:
    """Write next to the target and rename: a failed save never leaves a truncated archive."""
    import os

    tmp = f"{path}.pinnace-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            ctx.engine.images.save(refs, out, fmt=fmt)
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidArgument(f"failed to save to {path}: {exc.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(ctx: Context, argv: list[str]) -> int:
    p = Parser("load", "Load an image from a tar archive or STDIN", "[OPTIONS]")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_bool("-q", "--quiet", help="Suppress the load output")
    ns = p.parse(argv)
    if ns.input is None:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        loaded = ctx.engine.images.load(sys.stdin.buffer)
    else:
        with _open_input(ns.input) as stream:
            loaded = ctx.engine.images.load(stream)
    if not ns.quiet:
        for item in loaded:
            if item.names:
                for name in item.names:
                    ctx.stdout.write(f"Loaded image: {name.familiar()}\n")
            else:
                ctx.stdout.write(f"Loaded image ID: {item.image_id}\n")
    return 0


def tag(ctx: Context, argv: list[str]) -> int:
    p = Parser(
        "tag",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    )
    p.add_argument("source")
    p.add_argument("target")
    ns = p.parse(argv)
    ctx.engine.images.tag(ns.source, ns.target)
    return 0


def rm(ctx: Context, argv: list[str]) -> int:
    p = Parser("rmi", "Remove one or more images", "[OPTIONS] IMAGE [IMAGE...]")
    p.add_bool("-f", "--force", help="Force removal of the image")
    p.add_bool("--no-prune", help="Do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ns = p.parse(argv)
    failed = False
    for item in ctx.engine.images.remove(ns.images, force=ns.force):
        if isinstance(item, PinnaceError):
            ctx.stderr.write(f"Error response from daemon: {item.message}\n")
            failed = True
        else:
            ctx.stdout.write(f"{item.action}: {item.name}\n")
    return 1 if failed else 0


def confirm(ctx: Context, warning: str) -> bool:
    """docker's prompt; no answer (stdin closed) is a no."""
    ctx.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def prune(ctx: Context, argv: list[str]) -> int:
    p = Parser("image prune", "Remove unused images", "[OPTIONS]")
    p.add_bool("-a", "--all", help="Remove all unused images, not just dangling ones")
    p.add_list("--filter", help='Provide filter values (e.g. "until=<timestamp>")', dest="filter")
    p.add_bool("-f", "--force", help="Do not prompt for confirmation")
    ns = p.parse(argv)
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if ns.all
        else "WARNING! This will remove all dangling images."
    )
    if not ns.force and not confirm(ctx, warning):
        return 0
    report = ctx.engine.images.prune(all_images=ns.all, filters=filters(ns.filter))
    print_prune(ctx, report.removals, report.reclaimed)
    return 0


def print_prune(ctx: Context, removals: list[Any], reclaimed: int) -> None:
    if removals:
        ctx.stdout.write("Deleted Images:\n")
        for r in removals:
            ctx.stdout.write(f"{r.action.lower()}: {r.name}\n")
        ctx.stdout.write("\n")
    ctx.stdout.write(f"Total reclaimed space: {human_size(reclaimed)}\n")


__all__ = ["history", "import_", "inspect", "load", "ls", "prune", "rm", "save", "tag", "UsageError"]
