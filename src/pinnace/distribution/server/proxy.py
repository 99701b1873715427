"""Pull-through cache: the registry as a mirror of an upstream one (distribution's ``proxy`` mode).

A tag is asked of the upstream on every pull (a HEAD: a manifest is fetched only when its digest is not
here yet), so the mirror follows the upstream; anything by digest is content-addressed and served from
here once cached.  A blob not cached yet streams from the upstream to the client and into the store at
once, checked against its digest before it is kept; concurrent requests for it wait for that one fetch.
When the upstream fails (unreachable, 5xx, 429 rate limits, refused credentials) whatever is cached is
served; only what was never cached gets the upstream's error.

The upstream is reached with the registry client's transport (:mod:`pinnace.distribution.transport`):
its token dance, redirects to blob storage and TLS are the client's, in worker threads.
"""

from __future__ import annotations

import asyncio
import logging

from pinnace.distribution.server.storage import RegistryError, blob_unknown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

    from pinnace.distribution.client import Repository
    from pinnace.distribution.server.config import ProxySettings
    from pinnace.distribution.server.storage import Storage
    from pinnace.distribution.transport import Response

log = logging.getLogger("pinnace.registry.proxy")
#: Upstream answers that are the upstream's trouble, not the client's: the cache serves instead.
TROUBLE = (429, 500, 502, 503, 504)
CHUNK = 1 << 20


class Proxy:
    def __init__(self, storage: Storage, settings: ProxySettings) -> None:
        from pinnace.distribution.config import Endpoint
        from pinnace.distribution.credentials import Credentials
        from pinnace.distribution.transport import Transport

        host = settings.remoteurl.partition("://")[2]
        endpoint = Endpoint(host, settings.remoteurl, insecure=settings.remoteurl.startswith("http://"))
        credentials = Credentials(settings.username, settings.password)
        self.transport = Transport(endpoint, lambda: credentials)
        self.storage = storage
        self._fetching: dict[str, asyncio.Future[None]] = {}

    def _repository(self, name: str) -> Repository:
        from pinnace.distribution.client import Repository

        return Repository(self.transport, name)

    # -- manifests

    async def manifest(self, name: str, reference: str) -> tuple[str, str, int] | None:
        """Bring ``name:reference`` up to date from the upstream; (digest, media type, size) of what to
        serve (the cached copy when the upstream fails), None when neither has it."""
        cached = self.storage.resolve(name, reference)
        if cached is not None and reference.startswith("sha256:"):
            return cached
        try:
            return await asyncio.to_thread(self._refresh, name, reference)
        except RegistryError as e:
            if cached is not None:
                log.warning("upstream failed for %s:%s (%s); serving the cached copy", name, reference, e)
                return cached
            raise

    def _refresh(self, name: str, reference: str) -> tuple[str, str, int] | None:
        from pinnace.distribution.client import MANIFEST_ACCEPT
        from pinnace.errors import PinnaceError

        tag = "" if reference.startswith("sha256:") else reference
        try:
            head = self.transport.request(
                "HEAD", f"/v2/{name}/manifests/{reference}", scopes=[f"repository:{name}:pull"],
                headers={"Accept": MANIFEST_ACCEPT}, ok=(200, 404, *TROUBLE),
            )  # fmt: skip
            head.drain()
            self._check(head, name)
            if head.status == 404:
                return None
            digest = str(head.headers.get("Docker-Content-Digest", ""))
            if digest.startswith("sha256:") and self.storage.has_manifest(name, digest):
                if tag:
                    self.storage.tag(name, tag, digest)
                return self.storage.resolve(name, digest)
            data, media_type, digest = self._repository(name).manifest(reference)
        except RegistryError:
            raise
        except PinnaceError as e:
            raise _unavailable(e) from None
        import json

        try:
            doc = json.loads(data)
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        subject = doc.get("subject")
        subject = subject if isinstance(subject, dict) else {}
        self.storage.put_manifest(
            name, data, digest, media_type or str(doc.get("mediaType", "")), tag=tag,
            subject=str(subject.get("digest", "")), artifact_type=str(doc.get("artifactType", "")),
            annotations=json.dumps(doc.get("annotations") or {}),
        )  # fmt: skip
        return digest, media_type, len(data)

    @staticmethod
    def _check(response: Response, name: str) -> None:
        if response.status in TROUBLE:
            headers = {}
            if response.status == 429:
                headers["Retry-After"] = str(response.headers.get("Retry-After", "") or "60")
                raise RegistryError("TOOMANYREQUESTS", 429, "too many requests", {"upstream": name}, headers)
            raise RegistryError(
                "UNAVAILABLE", 503, "service unavailable", f"upstream answered {response.status}"
            )

    async def tags(self, name: str) -> list[str] | None:
        """The upstream's tags of ``name`` (None when it fails: the cached ones are listed then)."""
        try:
            return await asyncio.to_thread(self._repository(name).tags)
        except Exception as e:
            log.warning("upstream failed listing the tags of %s: %s", name, e)
            return None

    # -- blobs

    async def stat_blob(self, name: str, digest: str) -> int | None:
        """The blob's size if it can be served: cached for this repository, or the upstream has it (a
        HEAD, whose answer also links a copy stored for another repository); None if not."""
        if self.storage.has_blob(name, digest):
            return self.storage.blob_size(digest)
        try:
            response = await asyncio.to_thread(
                self.transport.request, "HEAD", f"/v2/{name}/blobs/{digest}",
                scopes=[f"repository:{name}:pull"], ok=(200, 404, *TROUBLE),
            )  # fmt: skip
            response.drain()
        except Exception as e:  # the upstream's trouble: what is not cached is not there
            log.warning("upstream failed for %s@%s: %s", name, digest, e)
            return None
        if response.status != 200:
            return None
        if self.storage.exists(digest):
            self.storage.link(name, digest)
            return self.storage.blob_size(digest)
        length = str(response.headers.get("Content-Length", ""))
        return int(length) if length.isdigit() else 0

    async def serve_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse | None:
        """Stream a blob not cached yet from the upstream to the client and into the store; None when
        another request has just cached it (serve it from the store then)."""
        from aiohttp import web

        pending = self._fetching.get(digest)
        if pending is not None:
            await asyncio.shield(pending)
            return None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fetching[digest] = done
        try:
            upstream = await self._open(name, digest)
            response = web.StreamResponse(
                status=200,
                headers={"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"},
            )
            length = upstream.headers.get("Content-Length")
            if length is not None and str(length).isdigit():
                response.content_length = int(length)
            await response.prepare(request)
            await self._copy(upstream, request, response, name, digest)
            return response
        finally:
            del self._fetching[digest]
            done.set_result(None)

    async def _open(self, name: str, digest: str) -> Response:
        from pinnace.errors import NotFound, PinnaceError

        try:
            return await asyncio.to_thread(self._repository(name).blob, digest)
        except NotFound:
            raise blob_unknown(digest) from None
        except PinnaceError as e:
            raise _unavailable(e) from None

    async def _copy(
        self, upstream: Response, request: web.Request, response: web.StreamResponse, name: str, digest: str
    ) -> None:
        """Upstream to client and to an upload session; the session becomes the blob only if the digest
        holds.  A client that goes away does not stop the fetch: the cache is still filled."""
        session = self.storage.start_upload(name)
        stream = upstream.stream()
        client = True
        kept = False
        held = (
            b""  # the last chunk read: sent only once the digest holds, so no client gets a whole wrong blob
        )
        try:
            while True:
                chunk = await asyncio.to_thread(stream.read, CHUNK)
                if not chunk:
                    break
                self.storage.append(name, session, [chunk], None)
                if client and held:
                    client = await _send(response, held)
                held = chunk
            try:
                self.storage.finish(name, session, digest)  # checks the digest; cancels the session if wrong
            except RegistryError as e:
                log.error("upstream sent %s: %s; not cached", digest, e.detail)
                kept = True  # finish dropped the session already
                if request.transport is not None:
                    request.transport.close()  # the client must not take it either
                return
            kept = True
            if client and await _send(response, held):
                await response.write_eof()
        finally:
            upstream.close()
            if not kept:
                try:
                    self.storage.cancel(name, session)
                except RegistryError:
                    pass


async def _send(response: web.StreamResponse, chunk: bytes) -> bool:
    """Write to the client; False once it has gone away."""
    try:
        await response.write(chunk)
    except (ConnectionError, RuntimeError):
        return False
    return True


def _unavailable(error: Exception) -> RegistryError:
    from pinnace.errors import NotFound, Unauthenticated

    if isinstance(error, NotFound):
        return RegistryError("MANIFEST_UNKNOWN", 404, "manifest unknown", str(error))
    if isinstance(error, Unauthenticated):
        return RegistryError(
            "UNAVAILABLE", 503, "service unavailable", "the upstream refused the proxy's credentials"
        )
    return RegistryError("UNAVAILABLE", 503, "service unavailable", f"upstream: {error}")
