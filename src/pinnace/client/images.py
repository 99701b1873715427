"""Images and the registry over the Engine API: records from inspect, pull with progress, tag, remove."""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any

    from pinnace.client.http import Client
    from pinnace.distribution.pull import PullEvent, PullResult
    from pinnace.images.records import Image
    from pinnace.images.views import HistoryEntry, Summary


def image_record(doc: Mapping[str, Any]) -> Image:
    """An Image from ``GET /images/{name}/json`` (tags and digests as the API's familiar names)."""
    from pinnace.images.records import Image
    from pinnace.oci.digest import Digest

    return Image(
        id=doc["Id"],
        manifest_digest=Digest(next(iter(d.partition("@")[2] for d in doc.get("RepoDigests") or []), "")),
        manifest_media_type="",
        created=str(doc.get("Created") or ""),
        size=int(doc.get("Size") or 0),
        added_at=0.0,
        labels=MappingProxyType(dict((doc.get("Config") or {}).get("Labels") or {})),
        tags=tuple(doc.get("RepoTags") or ()),
        repo_digests=tuple(doc.get("RepoDigests") or ()),
    )


class RemoteImages(Service):
    def inspect(self, ref: str) -> dict[str, Any]:
        from pinnace.client.http import name

        doc: dict[str, Any] = self.client.get(f"/images/{name(ref)}/json")
        return doc

    def get(self, ref: str) -> Image:
        return image_record(self.inspect(ref))

    def history(self, ref: str) -> builtins.list[HistoryEntry]:
        from pinnace.client.http import name
        from pinnace.images.views import HistoryEntry

        return [
            HistoryEntry(
                id=str(e.get("Id") or "<missing>"),
                created=float(e.get("Created") or 0),
                created_by=str(e.get("CreatedBy") or ""),
                size=int(e.get("Size") or 0),
                comment=str(e.get("Comment") or ""),
                empty_layer=not e.get("Size"),
            )
            for e in self.client.get(f"/images/{name(ref)}/history") or []
        ]

    def list_images(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[Summary]:
        """``docker images``'s rows: the service's images (its filters), one row per name as locally."""
        import json

        from pinnace.images import views

        query = {"filters": json.dumps({k: list(v) for k, v in filters.items()}) if filters else None}
        images = []
        for summary in self.client.get("/images/json", query):
            created = summary.get("Created") or 0
            images.append(
                image_record(
                    {
                        **summary,
                        "Created": _rfc3339(int(created)),
                        "Config": {"Labels": summary.get("Labels")},
                    }
                )
            )
        rows = [row for img in images for row in views.summaries(img)]
        if filters and "reference" in filters:
            from pinnace.images.service import _match_reference

            rows = [r for r in rows if any(_match_reference(r, p) for p in filters["reference"])]
        rows.sort(key=lambda r: r.created, reverse=True)
        return rows

    def tag(self, source: str, target: str) -> None:
        from pinnace.client.http import name
        from pinnace.oci.reference import parse_normalized

        ref = parse_normalized(target)
        repo = str(ref).rpartition(":")[0] if ref.tag else str(ref)
        self.client.request("POST", f"/images/{name(source)}/tag", {"repo": repo, "tag": ref.tag or "latest"})

    def remove(self, refs: Iterable[str], *, force: bool = False) -> Iterator[Any]:
        """As the local ``remove``: each removal (``Untagged``/``Deleted`` and the name), or the error."""
        from pinnace.client.http import name
        from pinnace.errors import PinnaceError
        from pinnace.images.remove import Removal

        for ref in refs:
            try:
                for item in self.client.json("DELETE", f"/images/{name(ref)}", {"force": force}) or []:
                    for action, what in item.items():
                        yield Removal(action, what)
            except PinnaceError as e:
                yield e


def _rfc3339(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class RemoteRegistry(Service):
    def __init__(self, client: Client, images: RemoteImages) -> None:
        super().__init__(client)
        self.images = images

    def pull(
        self,
        ref: str,
        *,
        platform: Any = None,
        progress: Callable[[PullEvent], None] | None = None,
        credentials: Any = None,
    ) -> PullResult:
        """``POST /images/create``: the service pulls; its progress lines become PullEvents."""
        del credentials
        from pinnace.distribution.pull import PullEvent, PullResult
        from pinnace.oci.reference import parse_normalized, with_default_tag

        wanted = parse_normalized(ref)
        if not wanted.digest:
            wanted = with_default_tag(wanted)
        query: dict[str, Any] = {"fromImage": wanted.name, "tag": wanted.digest or wanted.tag}
        if platform is not None:
            query["platform"] = _platform_text(platform)
        digest, up_to_date = "", False
        response = self.client.open("POST", "/images/create", query)
        for doc in self.client.json_lines(response):
            if doc.get("error") or doc.get("errorDetail"):
                message = str((doc.get("errorDetail") or {}).get("message") or doc.get("error"))
                raise _pull_error_kind(message)
            status = str(doc.get("status") or "")
            if status.startswith("Digest: "):
                digest = status[len("Digest: ") :]
            elif status.startswith("Status: "):
                up_to_date = "up to date" in status
            elif doc.get("id") and progress is not None:
                detail = doc.get("progressDetail") or {}
                progress(
                    PullEvent(
                        str(doc["id"]), status, int(detail.get("current") or 0), int(detail.get("total") or 0)
                    )
                )
        image = self.images.get(str(wanted))
        return PullResult(image=image, reference=wanted, digest=digest, up_to_date=up_to_date)


def _platform_text(platform: Any) -> str:
    parts = [
        getattr(platform, "os", ""),
        getattr(platform, "architecture", ""),
        getattr(platform, "variant", ""),
    ]
    return "/".join(p for p in parts if p) or str(platform)


def _pull_error_kind(message: str) -> Exception:
    """The pinnace error kind a pull failure's message names (the CLI words them as docker does)."""
    from pinnace import errors

    if message.startswith(("manifest unknown", "name unknown")):
        return errors.NotFound(message)
    if "denied" in message or "unauthorized" in message:
        return errors.PermissionDenied(message)
    return errors.PinnaceError(message)
