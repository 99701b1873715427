"""Image commands: images, inspect, history, import, save, load, tag, rmi, image prune.

Each function parses its flags, calls ImageService and formats what it
returns; no engine logic lives here.  Imports are kept light: ``images``
is benchmarked as CLI start-up.
"""

from __future__ import annotations

import sys
import time

from pinnace._util.units import ago, human_size
from pinnace.cli.flags import Flags
from pinnace.cli.format import render
from pinnace.errors import InvalidArgument, NotFound, PinnaceError
from pinnace.oci.digest import short_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from pinnace.cli.flags import Values
    from pinnace.cli.main import Context

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


def filters(values: list[str]) -> dict[str, list[str]]:
    """``--filter key=value`` (repeatable) into docker's filter map."""
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise InvalidArgument("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(arg)
    return out


def ls(ctx: Context, argv: list[str]) -> int:
    p = Flags("images", "List images", "[OPTIONS] [REPOSITORY[:TAG]]")
    p.add_bool("all", "a", help="Show all images (default hides intermediate images)")
    p.add_bool("digests", help="Show digests")
    p.add_list("filter", "f", help="Filter output based on conditions provided", metavar="filter")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("no-trunc", help="Don't truncate output")
    p.add_bool("quiet", "q", help="Only show image IDs")
    ns = p.parse(argv, max_args=1)
    no_trunc = ns.flag("no_trunc")
    flt = filters(ns.values("filter"))
    if ns.args:
        flt.setdefault("reference", []).append(ns.args[0])
    rows = ctx.engine.images.list_images(flt)
    if ns.flag("quiet"):
        ctx.stdout.write("".join(_image_id(row.image.id, no_trunc) + "\n" for row in rows))
        return 0
    now = time.time()
    data = [
        {
            "Containers": "N/A",
            "CreatedAt": _local_time(row.created),
            "CreatedSince": ago(row.created, now) if row.created else "N/A",
            "Digest": row.digest,
            "ID": _image_id(row.image.id, no_trunc),
            "Repository": row.repository,
            "SharedSize": "N/A",
            "Size": human_size(row.image.size),
            "Tag": row.tag,
            "UniqueSize": "N/A",
            "VirtualSize": human_size(row.image.size),
        }
        for row in rows
    ]
    table = IMAGES_DIGESTS_TABLE if ns.flag("digests") else IMAGES_TABLE
    ctx.stdout.write(render(data, ns.value("format"), default_table=table, headers=IMAGES_HEADERS))
    return 0


def inspect(ctx: Context, argv: list[str]) -> int:
    return inspect_objects(
        ctx, argv, ("image",), "image inspect", "Display detailed information on one or more images", "IMAGE"
    )


def inspect_any(ctx: Context, argv: list[str]) -> int:
    """``pinnace inspect``: containers first, then images, then volumes, as docker looks them up."""
    return inspect_objects(
        ctx,
        argv,
        ("container", "image", "volume"),
        "inspect",
        "Return low-level information on Docker objects",
        "NAME|ID",
    )


def inspect_objects(
    ctx: Context, argv: list[str], kinds: tuple[str, ...], command: str, summary: str, what: str
) -> int:
    """The inspect commands: each argument looked up as each of ``kinds`` in turn (``--type`` narrows)."""
    p = Flags(command, summary, f"[OPTIONS] {what} [{what}...]")
    p.add_string("format", "f", help="Format output using a custom template")
    if len(kinds) > 1:
        p.add_string("type", help="Only inspect objects of the given type")
    else:
        p.add_string("type", help=f"Return JSON for specified type ({kinds[0]})")
    p.add_bool("size", "s", help="Display total file sizes if the type is container")
    ns = p.parse(argv, min_args=1)
    kind = ns.value("type")
    if kind is not None:
        if kind not in kinds:
            raise InvalidArgument(f'"{kind}" is not a valid value for --type')
        kinds = (kind,)
    lookups = {
        "image": ctx.engine.images.inspect,
        "container": lambda ref: _inspect_container(ctx, ref),
        "volume": lambda ref: _inspect_volume(ctx, ref),
    }
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for ref in ns.args:
        for k in kinds:
            try:
                found.append(lookups[k](ref))
                break
            except NotFound:
                continue
        else:
            missing.append(ref)
    fmt = ns.value("format")
    if fmt:
        ctx.stdout.write(render(found, fmt, default_table="", headers={}))
    else:
        from pinnace._util import jsonc

        ctx.stdout.write(jsonc.dumps(found, indent="    ") + "\n")
    noun = (
        {"image": "image", "container": "container", "volume": "volume"}.get(kinds[0], "object")
        if len(kinds) == 1
        else "object"
    )
    for ref in missing:
        ctx.stderr.write(f"Error: No such {noun}: {ref}\n")
    return 1 if missing else 0


def _inspect_volume(ctx: Context, ref: str) -> dict[str, Any]:
    if not ref:
        raise NotFound(f"get {ref}: no such volume")
    from pinnace.cli.volumes import inspect_document

    return inspect_document(ctx.engine.volumes, ref)


def _inspect_container(ctx: Context, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = ctx.engine.containers.inspect(ref)
    return doc


def history(ctx: Context, argv: list[str]) -> int:
    p = Flags("history", "Show the history of an image", "[OPTIONS] IMAGE")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("human", "H", default=True, help="Print sizes and dates in human readable format")
    p.add_bool("no-trunc", help="Don't truncate output")
    p.add_bool("quiet", "q", help="Only show image IDs")
    ns = p.parse(argv, min_args=1, max_args=1)
    entries = ctx.engine.images.history(ns.args[0])
    no_trunc, human = ns.flag("no_trunc"), ns.flag("human")

    def ident(entry_id: str) -> str:
        return entry_id if entry_id == "<missing>" else _image_id(entry_id, no_trunc)

    if ns.flag("quiet"):
        ctx.stdout.write("".join(ident(e.id) + "\n" for e in entries))
        return 0
    now = time.time()
    data = []
    for e in entries:
        created_by = e.created_by.replace("\t", " ").replace("\n", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created))
        data.append(
            {
                "ID": ident(e.id),
                "CreatedSince": (ago(e.created, now) if e.created else "N/A") if human else iso,
                "CreatedAt": iso,
                "CreatedBy": created_by,
                "Size": human_size(e.size) if human else str(e.size),
                "Comment": e.comment,
            }
        )
    ctx.stdout.write(render(data, ns.value("format"), default_table=HISTORY_TABLE, headers=HISTORY_HEADERS))
    return 0


def import_(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "import",
        "Import the contents from a tarball to create a filesystem image",
        "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    )
    p.add_list("change", "c", help="Apply Dockerfile instruction to the created image")
    p.add_string("message", "m", help="Set commit message for imported image")
    p.add_string("platform", help="Set platform if server is multi-platform capable")
    ns = p.parse(argv, min_args=1, max_args=2)
    source = ns.args[0]
    reference = ns.args[1] if len(ns.args) > 1 else None
    changes, message = ns.values("change"), ns.value("message") or ""
    if source.startswith(("http://", "https://")):
        raise InvalidArgument("importing from a URL is not supported: download the file and import it")
    if source == "-":
        img = ctx.engine.images.import_rootfs(
            sys.stdin.buffer, source="-", tag=reference, changes=changes, message=message
        )
    else:
        with _open_input(source) as stream:
            img = ctx.engine.images.import_rootfs(
                stream, source=source, tag=reference, changes=changes, message=message
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
    p = Flags(
        "save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        "[OPTIONS] IMAGE [IMAGE...]",
    )
    p.add_string("output", "o", help="Write to a file, instead of STDOUT")
    p.add_string("format", default="docker", help="Archive format: docker or oci")
    ns = p.parse(argv, min_args=1)
    fmt = ns.value("format") or "docker"
    output = ns.value("output")
    if output is None:
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        ctx.engine.images.save(ns.args, sys.stdout.buffer, fmt=fmt)
        return 0
    _save_to_file(ctx, ns.args, output, fmt)
    return 0


def _save_to_file(ctx: Context, refs: list[str], path: str, fmt: str) -> None:
    """Write next to the target and rename: a failed save never leaves a truncated archive.  An output
    that is no regular file (``/dev/null``, a fifo) is written straight into: a rename would put a file
    in its place."""
    import os
    import stat

    tmp = ""
    try:
        try:
            special = not stat.S_ISREG(os.stat(path).st_mode)
        except FileNotFoundError:
            special = False
        if not special:
            tmp = f"{path}.pinnace-tmp-{os.getpid()}"
        with open(tmp or path, "wb") as out:
            ctx.engine.images.save(refs, out, fmt=fmt)
        if tmp:
            os.replace(tmp, path)
    except OSError as exc:
        raise InvalidArgument(f"failed to save to {path}: {exc.strerror}") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def load(ctx: Context, argv: list[str]) -> int:
    p = Flags("load", "Load an image from a tar archive or STDIN", "[OPTIONS]")
    p.add_string("input", "i", help="Read from tar archive file, instead of STDIN")
    p.add_bool("quiet", "q", help="Suppress the load output")
    ns = p.parse(argv, max_args=0)
    path = ns.value("input")
    if path is None:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        loaded = ctx.engine.images.load(sys.stdin.buffer)
    else:
        with _open_input(path) as stream:
            loaded = ctx.engine.images.load(stream)
    # -q hides progress only, as docker's: what was loaded is said all the same (once per name)
    said: set[str] = set()
    for item in loaded:
        lines = [f"Loaded image: {n.familiar()}\n" for n in item.names]
        for line in lines or [f"Loaded image ID: {item.image_id}\n"]:
            if line not in said:
                said.add(line)
                ctx.stdout.write(line)
    return 0


def tag(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "tag",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    )
    ns = p.parse(argv, min_args=2, max_args=2)
    ctx.engine.images.tag(ns.args[0], ns.args[1])
    return 0


def rm(ctx: Context, argv: list[str]) -> int:
    p = Flags("rmi", "Remove one or more images", "[OPTIONS] IMAGE [IMAGE...]")
    p.add_bool("force", "f", help="Force removal of the image")
    p.add_bool("no-prune", help="Do not delete untagged parents")
    ns = p.parse(argv, min_args=1)
    failed = False
    for item in ctx.engine.images.remove(ns.args, force=ns.flag("force")):
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
    p = Flags("image prune", "Remove unused images", "[OPTIONS]")
    p.add_bool("all", "a", help="Remove all unused images, not just dangling ones")
    p.add_list("filter", help='Provide filter values (e.g. "until=<timestamp>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    ns = p.parse(argv, max_args=0)
    everything = ns.flag("all")
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if everything
        else "WARNING! This will remove all dangling images."
    )
    return run_prune(ctx, ns, warning)


def run_prune(ctx: Context, ns: Values, warning: str, before: Callable[[], int] | None = None) -> int:
    """The part ``image prune`` and ``system prune`` share: ask, prune, report as docker.

    ``before`` runs once confirmed, ahead of the images (``system prune
    --volumes``: docker prunes volumes first); it prints its own section
    and returns the bytes it freed, counted in the total.
    """
    if not ns.flag("force") and not confirm(ctx, warning):
        return 0
    freed = before() if before is not None else 0
    report = ctx.engine.images.prune(all_images=ns.flag("all"), filters=filters(ns.values("filter")))
    if report.removals:
        ctx.stdout.write("Deleted Images:\n")
        for r in report.removals:
            ctx.stdout.write(f"{r.action.lower()}: {r.name}\n")
        ctx.stdout.write("\n")
    ctx.stdout.write(f"Total reclaimed space: {human_size(report.reclaimed + freed, precision=4)}\n")
    return 0
