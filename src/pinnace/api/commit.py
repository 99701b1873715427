"""``POST /commit``: a new image of a container's changes, as dockerd's ``postCommit``.

The work is ``ContainerService.commit`` (what the daemonless CLI's ``commit`` calls); this module
reads docker's query (``container``, ``repo``, ``tag``, ``comment``, ``author``, ``pause``, repeated
``changes``) and body (a container Config, optional, which the container's own then fills in) and
answers ``201 {"Id": "sha256:..."}``.
"""

from __future__ import annotations

from pinnace.api.archive import form_bool
from pinnace.api.server import call, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aiohttp import web

    from pinnace.engine import Engine
    from pinnace.oci.reference import Reference


def commit_reference(repo: str, tag: str) -> Reference | None:
    """moby's RepoTagReference: no repo, no tag; a digest refused; ``latest`` when no tag is given."""
    from pinnace.errors import InvalidArgument
    from pinnace.oci.reference import parse_normalized, with_default_tag

    if not repo:
        return None
    ref = parse_normalized(repo)
    if ref.digest:
        raise InvalidArgument("cannot import digest reference")
    return ref.with_tag(tag) if tag else with_default_tag(ref)


async def _config_body(request: web.Request) -> dict[str, Any] | None:
    """The body's container Config (HostConfig and NetworkingConfig dropped); None when there is none."""
    import json

    from pinnace.errors import InvalidArgument

    raw = await request.read()
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgument("json: cannot unmarshal into Go value of type container.Config")
    config = {k: v for k, v in doc.items() if k not in ("HostConfig", "NetworkingConfig")}
    return config or None


async def commit_container(request: web.Request) -> web.StreamResponse:
    """Commit ``container``; ``pause`` defaults to true (API 1.13 and later)."""
    query = request.query
    ref = query.get("container", "")
    tag = commit_reference(query.get("repo", ""), query.get("tag", ""))
    config = await _config_body(request)
    pause = form_bool(request, "pause", True)

    def work(engine: Engine) -> str:
        image = engine.containers.commit(
            ref,
            tag=tag,
            author=query.get("author", ""),
            message=query.get("comment", ""),
            change=query.getall("changes", []),
            pause=pause,
            config=config,
        )
        return str(image.id)

    return json_response({"Id": await call(request, work)}, 201)


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/commit", commit_container),
]
