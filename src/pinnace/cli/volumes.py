"""Volume commands: volume create, ls, inspect, rm, prune, and the volume rows ``system df`` prints.

Each parses docker's flags, calls the VolumeService (``ctx.engine.volumes``)
and prints what docker's CLI prints: the daemon's refusals as ``Error
response from daemon: ...`` lines on stderr with exit 1, the command line's
own mistakes as usage errors (exit 125).  ``volume ls`` rows carry the
fields of docker's volume formatter (``.Links`` and ``.Size`` are ``N/A``
outside ``system df``, as docker's are).
"""

from __future__ import annotations

from pinnace.cli.flags import Flags, UsageError
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.volumes.records import VolumeRecord
    from pinnace.volumes.service import VolumeService

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
#: docker's volume formatter headers (cluster-only fields included: they print N/A here).
LS_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Group": "GROUP",
    "Availability": "AVAILABILITY",
    "Status": "STATUS",
}
#: ``system df -v``'s volume table.
DF_VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"

PRUNE_WARNING = "WARNING! This will remove anonymous local volumes not used by at least one container."
PRUNE_ALL_WARNING = "WARNING! This will remove all local volumes not used by at least one container."


# --------------------------------------------------------------------------- helpers


def parse_filters(values: Sequence[str], flag: str, command: str) -> dict[str, list[str]]:
    """``--filter key=value`` (repeatable) into docker's filter map, as docker/cli's FilterOpt reads it.

    The key is trimmed and lower-cased, the value trimmed, a repeated pair
    counted once; a value without ``=`` is pflag's usage error (exit 125).
    """
    out: dict[str, list[str]] = {}
    for text in values:
        if not text:
            continue
        key, sep, value = text.partition("=")
        if not sep:
            raise UsageError(
                f'invalid argument "{text}" for "{flag}" flag: bad format of filter (expected name=value)',
                command,
            )
        seen = out.setdefault(key.strip().lower(), [])
        value = value.strip()
        if value not in seen:
            seen.append(value)
    return out


def natural_key(name: str) -> list[tuple[int, int, bytes, int] | tuple[int, int]]:
    """A sort key giving docker's ``volume ls`` order (fvbommel/sortorder's NaturalLess).

    Runs of digits compare as numbers (``v2`` before ``v10``; with equal
    values, fewer leading zeros first) and sort before any other
    character, which compares bytewise; a name that is a prefix of another
    comes first.
    """
    data = name.encode()
    key: list[tuple[int, int, bytes, int] | tuple[int, int]] = []
    i = 0
    while i < len(data):
        if 0x30 <= data[i] <= 0x39:
            start = i
            while i < len(data) and data[i] == 0x30:
                i += 1
            nonzero = i
            while i < len(data) and 0x30 <= data[i] <= 0x39:
                i += 1
            digits = data[nonzero:i]
            key.append((0, len(digits), digits, nonzero - start))
        else:
            key.append((1, data[i]))
            i += 1
    return key


def volume_row(rec: VolumeRecord, mountpoint: str, usage: tuple[int, int] | None = None) -> dict[str, str]:
    """The fields of docker's volume formatter for one volume, as strings.

    ``usage`` is ``(size in bytes, containers using it)``, which only
    ``system df`` knows; without it ``.Links`` and ``.Size`` are ``N/A``.
    Docker joins ``.Labels`` in its map's random order; here they are sorted.
    """
    from pinnace._util.units import human_size

    return {
        "Availability": "N/A",
        "Driver": rec.driver,
        "Group": "N/A",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(rec.labels.items())),
        "Links": "N/A" if usage is None else str(usage[1]),
        "Mountpoint": mountpoint,
        "Name": rec.name,
        "Scope": "local",
        "Size": "N/A" if usage is None else human_size(usage[0], precision=4),
        "Status": "N/A",
    }


class VolumeRow:
    """A volume row for formats that call ``{{.Label "key"}}``: a method, which a dict row cannot have.

    Fields are attributes (the template engine reads them like a Go
    struct's); ``{{json .}}`` prints the fields, in the sorted order Go's
    encoding of docker's row map gives them.
    """

    def __init__(self, fields: Mapping[str, str], labels: Mapping[str, str]) -> None:
        self.__dict__.update(fields)
        self._fields = dict(fields)
        self._labels = dict(labels)

    def Label(self, name: str) -> str:  # docker's template method: ``{{.Label "key"}}``
        return self._labels.get(name, "")

    def json_fields(self) -> list[tuple[str, Any]]:
        return sorted(self._fields.items())


def _rows(
    recs: Sequence[VolumeRecord],
    mountpoint: Callable[[str], str],
    fmt: str | None,
    usage: Mapping[str, tuple[int, int]],
) -> list[Any]:
    """Rows for :func:`pinnace.cli.format.render`: plain dicts (its fast path) unless ``fmt`` calls ``.Label``."""
    rows = [volume_row(r, mountpoint(r.name), usage.get(r.name)) for r in recs]
    if fmt and ".Label" in fmt.replace(".Labels", ""):
        return [VolumeRow(row, rec.labels) for row, rec in zip(rows, recs, strict=True)]
    return rows


def _daemon_error(ctx: Context, error: PinnaceError) -> int:
    ctx.stdout.flush()
    ctx.stderr.write(f"Error response from daemon: {error}\n")
    return 1


def _pflag_error(flag: str, text: str, error: InvalidArgument, command: str) -> UsageError:
    return UsageError(f'invalid argument "{text}" for "{flag}" flag: {error}', command)


# --------------------------------------------------------------------------- create


def create(ctx: Context, argv: list[str]) -> int:
    p = _Flags("volume create", "Create a volume", "[OPTIONS] [VOLUME]", hidden=("name",))
    p.add_string("driver", "d", default="local", help="Specify volume driver name")
    p.add_list("label", help="Set metadata for a volume")
    p.add_string("name", help="Specify volume name")
    p.add_list("opt", "o", help="Set driver specific options", metavar="map")
    ns = p.parse(argv, max_args=1)
    name = ns.value("name") or ""
    if ns.args:
        if name:
            ctx.stderr.write(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"
            )
            return 1
        name = ns.args[0]
    from pinnace.containers.options import parse_label

    labels: dict[str, str] = {}
    for text in ns.values("label"):
        try:
            key, value = parse_label(text)
        except InvalidArgument as e:
            raise _pflag_error("--label", text, e, "volume create") from None
        labels[key] = value
    options: dict[str, str] = {}
    for text in ns.values("opt"):
        key, _, value = text.partition("=")
        options[key] = value
    try:
        rec = ctx.engine.volumes.create(name, driver=ns.value("driver") or "", labels=labels, options=options)
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    ctx.stdout.write(rec.name + "\n")
    return 0


class _Flags(Flags):
    """Flags with pflag's Hidden ones: parsed, but not listed by ``--help`` (``volume create --name``)."""

    def __init__(self, command: str, summary: str, usage: str, *, hidden: tuple[str, ...]) -> None:
        super().__init__(command, summary, usage)
        self.hidden = hidden

    def help(self) -> str:
        every = self._flags
        self._flags = [f for f in every if f.name not in self.hidden]
        try:
            return super().help()
        finally:
            self._flags = every


# --------------------------------------------------------------------------- ls


def ls(ctx: Context, argv: list[str]) -> int:
    p = Flags("volume ls", "List volumes", "[OPTIONS]")
    p.add_list("filter", "f", help="Provide filter values (e.g. 'dangling=true')", metavar="filter")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("quiet", "q", help="Only display volume names")
    ns = p.parse(argv, max_args=0)
    filters = parse_filters(ns.values("filter"), "-f, --filter", "volume ls")
    service = ctx.engine.volumes
    try:
        recs = service.list(filters)
    except PinnaceError as e:
        return _daemon_error(ctx, e)
    recs.sort(key=lambda r: natural_key(r.name))
    fmt = ns.value("format") or "table"
    quiet = ns.flag("quiet")
    if fmt == "table" and quiet:
        ctx.stdout.write("".join(r.name + "\n" for r in recs))
        return 0
    if fmt == "raw":
        fmt = "name: {{.Name}}" if quiet else "name: {{.Name}}\\ndriver: {{.Driver}}\\n"
    from pinnace.cli.format import render

    rows = _rows(recs, service.mountpoint, fmt, {})
    ctx.stdout.write(render(rows, fmt, default_table=LS_TABLE, headers=LS_HEADERS))
    return 0


# --------------------------------------------------------------------------- inspect


def inspect_document(service: VolumeService, name: str) -> dict[str, Any]:
    """``volume inspect``'s object for ``name``, its maps in key order as the daemon's JSON encoder writes them."""
    doc = service.inspect(service.get(name))
    for key in ("Labels", "Options"):
        value = doc.get(key)
        if isinstance(value, dict):
            doc[key] = dict(sorted(value.items()))
    return doc


def inspect(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "volume inspect",
        "Display detailed information on one or more volumes",
        "[OPTIONS] VOLUME [VOLUME...]",
    )
    p.add_string("format", "f", help="Format output using a custom template")
    ns = p.parse(argv, min_args=1)
    from pinnace.cli.format import write_inspected

    service = ctx.engine.volumes
    return write_inspected(ctx, ns.args, ns.value("format") or "", lambda ref: inspect_document(service, ref))


# --------------------------------------------------------------------------- rm


def rm(ctx: Context, argv: list[str]) -> int:
    p = Flags("volume rm", "Remove one or more volumes", "[OPTIONS] VOLUME [VOLUME...]")
    p.add_bool("force", "f", help="Force the removal of one or more volumes")
    ns = p.parse(argv, min_args=1)
    service = ctx.engine.volumes
    errors = []
    for name in ns.args:
        try:
            service.remove(name, force=ns.flag("force"))
        except PinnaceError as e:
            errors.append(f"Error response from daemon: {e}")
            continue
        ctx.stdout.write(name + "\n")
    if errors:
        ctx.stdout.flush()
        ctx.stderr.write("\n".join(errors) + "\n")
        return 1
    return 0


# --------------------------------------------------------------------------- prune


def prune(ctx: Context, argv: list[str]) -> int:
    p = Flags("volume prune", "Remove unused local volumes", "[OPTIONS]")
    p.add_bool("all", "a", help="Remove all unused volumes, not just anonymous ones")
    p.add_list("filter", help='Provide filter values (e.g. "label=<label>")', metavar="filter")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    ns = p.parse(argv, max_args=0)
    filters = parse_filters(ns.values("filter"), "--filter", "volume prune")
    everything = ns.flag("all")
    if everything and "all" in filters:
        ctx.stderr.write("conflicting options: cannot specify both --all and --filter all=1\n")
        return 1
    from pinnace._util.units import human_size
    from pinnace.cli.images import confirm

    deleted: list[str] = []
    reclaimed = 0
    if ns.flag("force") or confirm(ctx, PRUNE_ALL_WARNING if everything else PRUNE_WARNING):
        try:
            deleted, reclaimed = ctx.engine.volumes.prune(filters, all=everything)
        except PinnaceError as e:
            return _daemon_error(ctx, e)
    ctx.stdout.write(prune_output(deleted))
    ctx.stdout.write(f"Total reclaimed space: {human_size(reclaimed, precision=4)}\n")
    return 0


def prune_output(deleted: Sequence[str]) -> str:
    """The ``Deleted Volumes:`` section of ``volume prune`` and ``system prune --volumes`` ("" if none)."""
    if not deleted:
        return ""
    return "Deleted Volumes:\n" + "".join(name + "\n" for name in deleted) + "\n"


# --------------------------------------------------------------------------- system df


def df_row(usage: Sequence[tuple[VolumeRecord, int, int]]) -> dict[str, str]:
    """``system df``'s Local Volumes row: count, how many are used, their size, what unused ones hold."""
    from pinnace._util.units import human_size

    size = sum(s for _, s, _ in usage)
    reclaimable = sum(s for _, s, links in usage if not links)
    pct = f" ({reclaimable * 100 // size}%)" if size else ""
    return {
        "Type": "Local Volumes",
        "TotalCount": str(len(usage)),
        "Active": str(sum(1 for _, _, links in usage if links)),
        "Size": human_size(size, precision=4),
        "Reclaimable": human_size(reclaimable, precision=4) + pct,
    }


def df_rows(
    usage: Sequence[tuple[VolumeRecord, int, int]], mountpoints: Mapping[str, str], fmt: str | None
) -> list[Any]:
    """``system df -v``'s volume rows (``.Links`` and ``.Size`` filled in), in ``volume ls`` order."""
    ordered = sorted(usage, key=lambda u: natural_key(u[0].name))
    sizes = {rec.name: (size, links) for rec, size, links in ordered}
    return _rows([rec for rec, _, _ in ordered], lambda name: mountpoints.get(name, ""), fmt, sizes)
