"""Images: ``GET /images/json`` and ``GET /images/{name}/json``."""

from __future__ import annotations

from pinnace.api.server import call, json_response, query_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine


async def list_images(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)  # "all" lists the same: pinnace keeps no intermediate images

    def work(engine: Engine) -> list[dict[str, Any]]:
        from pinnace.images import views

        rows = engine.images.list_images(filters)
        seen: dict[str, dict[str, Any]] = {}
        matched: dict[str, set[str]] = {}  # image ID -> the names its rows were listed under
        for row in rows:
            if row.image.id not in seen:
                seen[row.image.id] = views.summary(row.image)
                matched[row.image.id] = set()
            if row.tag != "<none>":
                matched[row.image.id].add(f"{row.repository}:{row.tag}")
        if "reference" in filters:  # dockerd lists only the names that matched (docker images REPO)
            for image_id, doc in seen.items():
                repositories = {name.rpartition(":")[0] for name in matched[image_id]}
                doc["RepoTags"] = [t for t in doc["RepoTags"] if t in matched[image_id]]
                doc["RepoDigests"] = [d for d in doc["RepoDigests"] if d.partition("@")[0] in repositories]
        return list(seen.values())

    return json_response(await call(request, work))


async def inspect_image(request: web.Request) -> web.StreamResponse:
    from pinnace.api.system import older_than

    name, legacy = request.match_info["name"], older_than(request, "1.45")
    return json_response(await call(request, lambda engine: engine.images.inspect(name, legacy=legacy)))


async def create_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=&tag=``: a pull, with docker's JSON progress lines, with the
    credentials of ``X-Registry-Auth``; ``fromSrc=`` is an import (:func:`pinnace.api.build.import_image`)."""
    import asyncio
    import json

    from aiohttp import web

    from pinnace.api.build import import_image, registry_auth
    from pinnace.errors import InvalidArgument, PinnaceError

    image = request.query.get("fromImage", "")
    if not image and request.query.get("fromSrc", ""):
        return await import_image(request)
    if not image:
        raise InvalidArgument("fromImage or fromSrc is required")
    credentials = registry_auth(request, strict=False)
    tag = request.query.get("tag", "")
    ref = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}" if tag else image
    # dockerd: no tag, in the query or the name, pulls every tag of the repository (docker pull -a)
    all_tags = not tag and not _names_a_version(image)
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def event(e: Any) -> None:
        doc: dict[str, Any] = {"status": e.status}
        if e.id:
            doc["id"] = e.id
        if e.total:
            doc["progressDetail"] = {"current": e.current, "total": e.total}
        loop.call_soon_threadsafe(lines.put_nowait, doc)

    def say(doc: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(lines.put_nowait, doc)

    def work(engine: Engine) -> None:
        try:
            if all_tags:  # dockerd's stream: each tag's "Pulling from" and digest, one status at the end
                from pinnace.oci.reference import parse_normalized

                engine.registry.pull_all_tags(
                    image,
                    progress=event,
                    credentials=credentials,
                    starting=lambda r: say({"status": f"Pulling from {r.path}", "id": r.tag}),
                    done=lambda result: say({"status": f"Digest: {result.digest}"}),
                )
                say({"status": f"Status: Downloaded newer image for {parse_normalized(image).familiar_name}"})
            else:
                result = engine.registry.pull(ref, progress=event, credentials=credentials)
                say({"status": f"Digest: {result.digest}"})
                say({"status": f"Status: Downloaded newer image for {result.reference.familiar()}"})
        except PinnaceError as e:
            loop.call_soon_threadsafe(
                lines.put_nowait, {"errorDetail": {"message": e.message}, "error": e.message}
            )
        finally:
            loop.call_soon_threadsafe(lines.put_nowait, None)

    task = asyncio.ensure_future(call(request, work))
    while (doc := await lines.get()) is not None:
        await response.write(json.dumps(doc).encode() + b"\r\n")
    await task
    await response.write_eof()
    return response


async def tag_image(request: web.Request) -> web.StreamResponse:
    from aiohttp import web

    name, repo, tag = request.match_info["name"], request.query.get("repo", ""), request.query.get("tag", "")
    target = f"{repo}:{tag}" if tag else repo
    await call(request, lambda engine: engine.images.tag(name, target))
    return web.Response(status=201)


async def remove_image(request: web.Request) -> web.StreamResponse:
    from pinnace.api.server import query_bool
    from pinnace.errors import PinnaceError

    name, force = request.match_info["name"], query_bool(request, "force")

    def work(engine: Engine) -> list[dict[str, str]]:
        out = []
        for item in engine.images.remove([name], force=force):
            if isinstance(item, PinnaceError):
                raise item
            out.append({item.action: item.name})
        return out

    return json_response(await call(request, work))


async def image_history(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]

    def work(engine: Engine) -> list[dict[str, Any]]:
        return [
            {"Id": e.id, "Created": int(e.created), "CreatedBy": e.created_by, "Tags": None, "Size": e.size,
             "Comment": e.comment}
            for e in engine.images.history(name)
        ]  # fmt: skip

    return json_response(await call(request, work))


ROUTES = [
    ("POST", "/images/create", create_image),
    ("POST", "/images/{name:.+}/tag", tag_image),
    ("GET", "/images/{name:.+}/history", image_history),
    ("DELETE", "/images/{name:.+}", remove_image),
    ("GET", "/images/json", list_images),
    ("GET", "/images/{name:.+}/json", inspect_image),
]


def _names_a_version(image: str) -> bool:
    """Whether ``fromImage`` carries a tag or a digest itself (``busybox:1.36``, ``x@sha256:...``)."""
    from pinnace.errors import PinnaceError
    from pinnace.oci.reference import parse_normalized

    try:
        parsed = parse_normalized(image)
    except PinnaceError:
        return True  # not a repository name: the pull says why
    return bool(parsed.tag or parsed.digest)
