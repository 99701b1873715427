"""Images and the registry over the Engine API: records from inspect, pull and push with progress, tag,
remove, prune, save/load/import as streamed tars, and login with the CLI's own credentials.

As docker's CLI, the client keeps the registry credentials (its ``config.json``): ``login`` has the
service check them (``POST /auth``) and files them here; a pull or push sends them along, base64url
JSON in ``X-Registry-Auth``.
"""

from __future__ import annotations

from types import MappingProxyType

from pinnace.client.remote import Service, unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    import builtins
    import http.client
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO

    from pinnace.client.http import Client
    from pinnace.distribution.credentials import Credentials
    from pinnace.distribution.pull import PullEvent, PullResult
    from pinnace.distribution.push import PushResult
    from pinnace.images.loader import Loaded
    from pinnace.images.records import Image
    from pinnace.images.service import PruneReport
    from pinnace.images.views import HistoryEntry, Summary
    from pinnace.oci.reference import Reference


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
        from pinnace.client.remote import filters_query
        from pinnace.images import views

        query = {"filters": filters_query(filters)}
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

    def save(self, refs: Sequence[str], out: BinaryIO, *, fmt: str = "docker") -> None:
        """``GET /images/get?names=...``: the service's docker-archive, copied to ``out`` as it comes.

        The API has no format parameter: ``--format oci`` cannot be asked for (a bad name is refused
        in the local CLI's words)."""
        import http.client

        from pinnace.errors import PinnaceError

        if fmt != "docker":
            from pinnace.images.saver import check_format

            check_format(fmt)
            raise unsupported(f"image save --format {fmt}")
        response = self.client.open("GET", "/images/get", [("names", ref) for ref in refs])
        try:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        except (http.client.HTTPException, ConnectionError):  # the service failed half-way and hung up
            raise PinnaceError("save: the service's archive was cut short (see its log)") from None
        finally:
            response.close()

    def load(self, stream: BinaryIO) -> builtins.list[Loaded]:
        """``POST /images/load`` with ``stream`` as the body (sent as it is read): what was loaded, from
        the service's ``Loaded image: NAME`` / ``Loaded image ID: ID`` lines."""
        from pinnace.images.loader import Loaded
        from pinnace.oci.digest import Digest
        from pinnace.oci.reference import parse_normalized

        loaded = []
        for doc in messages(self.client, self.client.send("POST", "/images/load", body=stream)):
            for line in str(doc.get("stream") or "").splitlines():
                label, _, value = line.partition(": ")
                if label == "Loaded image":
                    loaded.append(Loaded(Digest(""), (parse_normalized(value),)))
                elif label == "Loaded image ID":
                    loaded.append(Loaded(Digest(value), ()))
        return loaded

    def import_rootfs(
        self,
        stream: BinaryIO,
        *,
        source: str,
        tag: str | None = None,
        changes: Sequence[str] = (),
        message: str = "",
    ) -> Image:
        """``POST /images/create?fromSrc=-`` with the rootfs tar as the body.  The name and changes are
        checked here first, as docker's client checks the name: a refusal comes before a byte is sent,
        in the local CLI's words."""
        del source  # the service names the body "-", as dockerd does
        from pinnace.images.changes import apply_changes
        from pinnace.oci.reference import parse_tag_target

        if tag:
            parse_tag_target(tag)
        apply_changes({}, changes)
        query = [("fromSrc", "-"), ("repo", tag or None), ("message", message or None)]
        query += [("changes", change) for change in changes]
        image_id = ""
        for doc in messages(self.client, self.client.send("POST", "/images/create", query, body=stream)):
            image_id = str(doc.get("status") or image_id)
        return self.get(image_id)

    def prune(
        self, *, all_images: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> PruneReport:
        """``POST /images/prune``: dangling images, or (``dangling=false``) every unused one."""
        from pinnace.client.remote import filters_query
        from pinnace.images.remove import Removal
        from pinnace.images.service import PruneReport

        sent = {key: list(values) for key, values in (filters or {}).items()}
        sent.setdefault("dangling", []).append("false" if all_images else "true")  # as docker's CLI adds it
        doc = self.client.json("POST", "/images/prune", {"filters": filters_query(sent)}) or {}
        removals = [
            Removal(action, what) for item in doc.get("ImagesDeleted") or [] for action, what in item.items()
        ]
        return PruneReport(removals, int(doc.get("SpaceReclaimed") or 0))


def _rfc3339(seconds: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def registry_auth(domain: str) -> dict[str, str]:
    """docker's ``X-Registry-Auth`` for a registry: the CLI's own credentials for it (its config.json),
    as base64url JSON; only the server address when it has none."""
    import base64
    import json

    from pinnace.distribution import credentials

    found = credentials.lookup(domain)
    doc = {"username": found.username, "password": found.password, "identitytoken": found.identity_token}
    doc = {key: value for key, value in doc.items() if value}
    doc["serveraddress"] = credentials.server_key(domain)
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()}


def messages(
    client: Client, response: http.client.HTTPResponse, progress: Callable[[PullEvent], None] | None = None
) -> Iterator[dict[str, Any]]:
    """The messages of one of docker's JSON streams: a layer's progress (a message with an ``id``) goes
    to ``progress``, the others are yielded, an ``error`` is raised as its pinnace kind."""
    from pinnace.distribution.pull import PullEvent

    for doc in client.json_lines(response):
        if doc.get("error") or doc.get("errorDetail"):
            raise _stream_error(str((doc.get("errorDetail") or {}).get("message") or doc.get("error")))
        if not doc.get("id"):
            yield doc
        elif progress is not None:
            detail = doc.get("progressDetail") or {}
            status = str(doc.get("status") or "")
            progress(
                PullEvent(
                    str(doc["id"]), status, int(detail.get("current") or 0), int(detail.get("total") or 0)
                )
            )


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
        """``POST /images/create``: the service pulls, with our credentials; its progress lines become
        PullEvents."""
        del credentials
        from pinnace.distribution.pull import PullResult
        from pinnace.oci.reference import parse_normalized, with_default_tag

        wanted = parse_normalized(ref)
        if not wanted.digest:
            wanted = with_default_tag(wanted)
        query: dict[str, Any] = {"fromImage": wanted.name, "tag": wanted.digest or wanted.tag}
        if platform is not None:
            query["platform"] = _platform_text(platform)
        digest, up_to_date = "", False
        response = self.client.open("POST", "/images/create", query, headers=registry_auth(wanted.domain))
        for doc in messages(self.client, response, progress):
            status = str(doc.get("status") or "")
            if status.startswith("Digest: "):
                digest = status[len("Digest: ") :]
            elif status.startswith("Status: "):
                up_to_date = "up to date" in status
        image = self.images.get(str(wanted))
        return PullResult(image=image, reference=wanted, digest=digest, up_to_date=up_to_date)

    def pull_all_tags(
        self,
        reference: str,
        *,
        platform: Any = None,
        progress: Callable[[PullEvent], None] = lambda _e: None,
        credentials: Any = None,
        starting: Callable[[Reference], None] = lambda _r: None,
        done: Callable[[PullResult], None] = lambda _r: None,
    ) -> builtins.list[PullResult]:
        """``POST /images/create`` with no tag: the service pulls every tag (dockerd's empty tag); its
        ``Pulling from`` lines (``id``: the tag) and digests frame each tag's pull here as locally."""
        del credentials
        from pinnace.distribution.pull import PullResult
        from pinnace.oci.reference import parse_normalized

        repository = parse_normalized(reference)
        query: dict[str, Any] = {"fromImage": repository.name}
        if platform is not None:
            query["platform"] = _platform_text(platform)
        current: builtins.list[Reference] = []
        results: builtins.list[PullResult] = []

        def event(e: PullEvent) -> None:
            if e.status.startswith("Pulling from "):
                current.append(repository.with_tag(e.id))
                starting(current[-1])
            else:
                progress(e)

        response = self.client.open("POST", "/images/create", query, headers=registry_auth(repository.domain))
        for doc in messages(self.client, response, event):
            status = str(doc.get("status") or "")
            if status.startswith("Digest: ") and current:
                image = self.images.get(str(current[-1]))
                results.append(PullResult(image=image, reference=current[-1], digest=status[8:], up_to_date=False))
                done(results[-1])
        return results

    def push(
        self,
        reference: str,
        *,
        progress: Callable[[PullEvent], None] | None = None,
        credentials: Any = None,
    ) -> PushResult:
        """``POST /images/{name}/push?tag=``, with our credentials: the layers' progress as the local
        push gives it, the result from the stream's ``aux``."""
        del credentials
        from pinnace.client.http import name
        from pinnace.distribution.push import PushResult
        from pinnace.errors import PinnaceError
        from pinnace.oci.reference import parse_normalized, with_default_tag

        ref = with_default_tag(parse_normalized(reference))
        path = f"/images/{name(ref.familiar_name)}/push"
        response = self.client.open("POST", path, {"tag": ref.tag}, headers=registry_auth(ref.domain))
        result = None
        for doc in messages(self.client, response, progress):
            aux = doc.get("aux") or {}
            if aux.get("Digest"):
                result = PushResult(
                    tag=str(aux.get("Tag") or ref.tag),
                    digest=str(aux["Digest"]),
                    size=int(aux.get("Size") or 0),
                )
        if result is None:
            raise PinnaceError(f"push {ref.familiar()}: the service's answer ended without a result")
        return result

    def local_tags(self, reference: str) -> builtins.list[str]:
        """The tags of the repository in the service's store (``push --all-tags``), sorted as locally."""
        from pinnace.oci.reference import parse_normalized

        repository = parse_normalized(reference).familiar_name
        rows = self.images.list_images({"reference": [repository]})
        return sorted({row.tag for row in rows if row.repository == repository and row.tag != "<none>"})

    def login(self, server: str, username: str, password: str) -> Credentials:
        """docker's login against a service: ``POST /auth`` checks the credentials with the registry,
        then they are filed here (an identity token instead of the password when the registry gave one)."""
        from pinnace.distribution import credentials
        from pinnace.distribution.credentials import Credentials
        from pinnace.distribution.service import registry_host

        host = registry_host(server)
        body = {"username": username, "password": password, "serveraddress": credentials.server_key(host)}
        token = str((self.client.json("POST", "/auth", body=body) or {}).get("IdentityToken") or "")
        kept = (
            Credentials(username=username, identity_token=token) if token else Credentials(username, password)
        )
        credentials.store(host, kept)
        return kept

    def logout(self, server: str) -> bool:
        """docker's logout: the credentials this client keeps are forgotten; the service is not asked."""
        from pinnace.distribution import credentials
        from pinnace.distribution.service import registry_host

        return credentials.erase(registry_host(server))


def _platform_text(platform: Any) -> str:
    parts = [
        getattr(platform, "os", ""),
        getattr(platform, "architecture", ""),
        getattr(platform, "variant", ""),
    ]
    return "/".join(p for p in parts if p) or str(platform)


def _stream_error(message: str) -> Exception:
    """The pinnace error kind a stream's failure message names (the CLI words them as docker does)."""
    from pinnace import errors

    if message.startswith(("manifest unknown", "name unknown", "An image does not exist locally")):
        return errors.NotFound(message)
    if "denied" in message or "unauthorized" in message:
        return errors.PermissionDenied(message)
    return errors.PinnaceError(message)
