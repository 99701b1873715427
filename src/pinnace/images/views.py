"""What image commands show, in Docker's shapes: inspect JSON, history rows, list summaries.

These are data, not text: the CLI formats them (tables, --format) and the
API server will serve the same dicts, so both fronts agree by construction.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.images.records import Image
from pinnace.images.stores import Stores
from pinnace.oci.reference import familiar_string as familiar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pinnace.oci.config import ImageConfig

#: The container config fields docker always shows in ``image inspect``, in its order.
_CONFIG_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", None),
    ("Cmd", None),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", None),
    ("WorkingDir", ""),
    ("Entrypoint", None),
    ("OnBuild", None),
    ("Labels", None),
    ("StopSignal", None),
    ("Shell", None),
)
_OMIT_WHEN_EMPTY = {"ExposedPorts", "Healthcheck", "ArgsEscaped", "StopSignal", "Shell"}


def config_of(stores: Stores, img: Image) -> ImageConfig:
    from pinnace.oci.config import ImageConfig
    from pinnace.oci.manifest import MAX_MANIFEST_BYTES

    return ImageConfig.parse(stores.content.read_bytes(img.id, MAX_MANIFEST_BYTES))


def parse_time(value: str) -> float:
    """RFC 3339 (with nanoseconds) to unix time; 0 when absent or unreadable."""
    if not value:
        return 0.0
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python takes at most microseconds
        head, _, rest = text.partition(".")
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac) :]
        text = f"{head}.{frac[:6]}{tz}"
    import datetime

    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def rfc3339(ts: float) -> str:
    import datetime

    dt = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def _config_doc(raw: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, default in _CONFIG_DEFAULTS:
        value = raw.get(key, default)
        if key in _OMIT_WHEN_EMPTY and value in (None, "", {}):
            continue
        config[key] = value
    return config


def inspect(stores: Stores, img: Image, *, legacy: bool = False) -> dict[str, Any]:
    """``docker image inspect``'s document; ``legacy``: with the ``Container`` and ``ContainerConfig``
    fields that dockerd still gives clients of API versions before 1.45 (docker-compose 1.x reads them)."""
    cfg = config_of(stores, img)
    old: dict[str, Any] = {}
    if legacy:
        container_config = cfg.raw.get("container_config")
        old = {
            "Container": str(cfg.raw.get("container") or ""),
            "ContainerConfig": _config_doc(container_config if isinstance(container_config, dict) else {}),
        }
    return {
        "Id": img.id,
        "RepoTags": [familiar(t) for t in img.tags],
        "RepoDigests": [familiar(d) for d in img.repo_digests],
        "Parent": str(cfg.raw.get("parent") or ""),
        "Comment": str(
            cfg.raw.get("comment") or (cfg.history[-1].get("comment") if cfg.history else "") or ""
        ),
        "Created": cfg.created,
        **old,
        "DockerVersion": str(cfg.raw.get("docker_version") or ""),
        "Author": str(cfg.raw.get("author") or ""),
        "Config": _config_doc(cfg.config),
        "Architecture": cfg.architecture,
        **({"Variant": cfg.raw["variant"]} if cfg.raw.get("variant") else {}),
        "Os": cfg.os,
        "Size": img.size,
        "GraphDriver": {"Data": None, "Name": "overlayfs"},
        "RootFS": {"Type": "layers", "Layers": list(cfg.diff_ids)},
        "Metadata": {
            "LastTagTime": rfc3339(img.last_tag_time) if img.last_tag_time else "0001-01-01T00:00:00Z"
        },
    }


@record
class HistoryEntry:
    id: str  # image ID for the top entry, "<missing>" otherwise (as docker)
    created: float
    created_by: str
    size: int
    comment: str
    empty_layer: bool


def history(stores: Stores, img: Image) -> list[HistoryEntry]:
    """Newest first, as ``docker history`` prints."""
    cfg = config_of(stores, img)
    layers = stores.records.layers(img.id)
    sizes = [stores.snapshots.usage(x.chain_id).size for x in layers]
    entries = cfg.history or [{"created": cfg.created} for _ in layers]
    out: list[HistoryEntry] = []
    layer_index = 0
    for h in entries:
        empty = bool(h.get("empty_layer"))
        size = 0
        if not empty and layer_index < len(sizes):
            size = sizes[layer_index]
            layer_index += 1
        out.append(
            HistoryEntry(
                id="<missing>",
                created=parse_time(str(h.get("created") or "")),
                created_by=str(h.get("created_by") or ""),
                size=size,
                comment=str(h.get("comment") or ""),
                empty_layer=empty,
            )
        )
    out.reverse()
    if out:
        top = out[0]
        out[0] = HistoryEntry(img.id, top.created, top.created_by, top.size, top.comment, top.empty_layer)
    return out


@record
class Summary:
    """One row of ``docker images``: an image under one of its names (or none)."""

    image: Image
    repository: str  # familiar repository or "<none>"
    tag: str  # tag or "<none>"
    digest: str  # manifest digest for --digests, "<none>" when unknown

    @property
    def created(self) -> float:
        return parse_time(self.image.created)


def summaries(img: Image) -> list[Summary]:
    """Docker's rows for one image: one per tag; "<none>" rows for digest-only or untagged."""
    digest_by_repo = {familiar(d).split("@", 1)[0]: d.split("@", 1)[1] for d in img.repo_digests}
    rows = []
    for tag in img.tags:
        name, _, tag_part = familiar(tag).rpartition(":")
        rows.append(Summary(img, name, tag_part, digest_by_repo.get(name, "<none>")))
    tagged_repos = {r.repository for r in rows}
    for repo, digest in digest_by_repo.items():
        if repo not in tagged_repos:
            rows.append(Summary(img, repo, "<none>", digest))
    if not rows:
        rows.append(Summary(img, "<none>", "<none>", "<none>"))
    return rows


def summary(img: Image, containers: int = -1) -> dict[str, Any]:
    """One image of the Engine API's ``GET /images/json`` (what ``docker images`` reads)."""
    return {
        "Id": img.id,
        "ParentId": "",
        "RepoTags": [familiar(t) for t in img.tags],
        "RepoDigests": [familiar(d) for d in img.repo_digests],
        "Created": int(parse_time(img.created)),
        "Size": img.size,
        "SharedSize": -1,
        "VirtualSize": img.size,
        "Labels": dict(img.labels) or None,
        "Containers": containers,
    }
