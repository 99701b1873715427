"""The registry's HTTP API (OCI distribution-spec v1.1) on aiohttp; blobs sent with sendfile.

Every error is the spec's JSON (``{"errors": [{"code", "message", "detail"}]}``)
with its status; a request that breaks something unexpected gets a 500 in
the same form, logged, and stores nothing half-way (see :mod:`.storage`).
"""

from __future__ import annotations

import json
import logging
import re

from pinnace.distribution.server.storage import RegistryError, Storage, blob_unknown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from aiohttp import web

    from pinnace.distribution.server.auth import Authorizer
    from pinnace.distribution.server.config import Settings
    from pinnace.distribution.server.proxy import Proxy
    from pinnace.distribution.server.tokens import TokenService

log = logging.getLogger("pinnace.registry")
API_VERSION = "registry/2.0"
#: The spec's repository name grammar.
NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
MAX_MANIFEST = 4 * 1024 * 1024
#: A tag list or catalog page when the client names no ``n``.
PAGE = 1000
MANIFEST_TYPES = frozenset(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
INDEX_TYPES = frozenset(
    ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
)


def error_body(code: str, message: str, detail: object = None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


def make_app(
    storage: Storage,
    *,
    read_only: bool = False,
    delete_enabled: bool = True,
    authorizer: Authorizer | None = None,
    tokens: TokenService | None = None,
    proxy: Proxy | None = None,
) -> web.Application:
    """The registry's application: the API on ``storage``, behind ``authorizer`` (none: open), with the
    token service at ``/token`` when ``tokens`` is given, as a pull-through cache when ``proxy`` is."""
    from aiohttp import web

    from pinnace.distribution.server.auth import TOKEN_PATH, Authorizer

    guard = authorizer or Authorizer()

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            if request.path != TOKEN_PATH:
                request["account"] = guard.authorize(request)
            response = await handler(request)
        except RegistryError as e:
            request["error"] = e.code
            response = web.Response(
                status=e.status,
                body=error_body(e.code, e.message, e.detail),
                content_type="application/json",
                headers=e.headers,
            )
        except web.HTTPException as e:
            if e.status == 404:
                e = web.HTTPNotFound(
                    body=error_body("NOT_FOUND", "not found"), content_type="application/json"
                )
            raise e
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            request["error"] = "UNKNOWN"
            response = web.Response(
                status=500, body=error_body("UNKNOWN", "unknown error"), content_type="application/json"
            )
        response.headers["Docker-Distribution-API-Version"] = API_VERSION
        return response

    api = _Api(storage, read_only=read_only, delete_enabled=delete_enabled, guard=guard, proxy=proxy)
    app = web.Application(middlewares=[errors], client_max_size=MAX_MANIFEST)
    app.router.add_get("/v2/", api.ping)
    app.router.add_get("/v2/_catalog", api.catalog)
    app.router.add_route("*", "/v2/{name:.+}/blobs/uploads/", api.uploads)
    app.router.add_route("*", "/v2/{name:.+}/blobs/uploads/{session}", api.session)
    app.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", api.blob)
    app.router.add_route("*", "/v2/{name:.+}/manifests/{reference}", api.manifest)
    app.router.add_get("/v2/{name:.+}/tags/list", api.tags)
    app.router.add_get("/v2/{name:.+}/referrers/{digest}", api.referrers)
    if tokens is not None:
        service = tokens

        async def token(request: web.Request) -> web.StreamResponse:
            """Docker's token endpoint: GET with basic auth, or an OAuth2 POST form."""
            if request.method == "POST":
                form = await request.post()
                account, doc = service.answer_post({k: str(v) for k, v in form.items()})
            else:
                account, doc = service.answer_get(
                    request.headers.get("Authorization", ""), request.query, request.query.getall("scope", [])
                )
            request["account"] = account
            return web.json_response(doc)

        app.router.add_route("GET", TOKEN_PATH, token)
        app.router.add_route("POST", TOKEN_PATH, token)
    return app


class _Api:
    def __init__(
        self,
        storage: Storage,
        *,
        read_only: bool,
        delete_enabled: bool,
        guard: Authorizer,
        proxy: Proxy | None,
    ) -> None:
        self.storage = storage
        self.read_only = read_only
        self.delete_enabled = delete_enabled
        self.guard = guard
        self.proxy = proxy

    # -- helpers

    def _name(self, request: web.Request) -> str:
        name = request.match_info["name"]
        if len(name) > 255 or not NAME.fullmatch(name):
            raise RegistryError("NAME_INVALID", 400, "invalid repository name", {"name": name})
        return name

    def _writable(self, *, delete: bool = False) -> None:
        if self.read_only:
            raise RegistryError("UNSUPPORTED", 405, "the registry is read-only")
        if self.proxy is not None:
            raise RegistryError(
                "UNSUPPORTED", 405, "the registry is a pull-through cache: it takes no pushes"
            )
        if delete and not self.delete_enabled:
            raise RegistryError("UNSUPPORTED", 405, "deletes are disabled (storage.delete.enabled)")

    @staticmethod
    def _digest(value: str) -> str:
        if not DIGEST.fullmatch(value):
            raise RegistryError(
                "DIGEST_INVALID", 400, "provided digest did not match uploaded content", {"digest": value}
            )
        return value

    @staticmethod
    def _methods(request: web.Request, *allowed: str) -> None:
        from aiohttp import web

        if request.method not in allowed:
            raise web.HTTPMethodNotAllowed(request.method, list(allowed))

    # -- base

    async def ping(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        return web.json_response({})

    # -- blobs

    async def blob(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self._methods(request, "GET", "HEAD", "DELETE")
        name = self._name(request)
        digest = self._digest(request.match_info["digest"])
        if request.method == "DELETE":
            self._writable(delete=True)
            if not self.storage.unlink(name, digest):
                raise blob_unknown(digest)
            return web.Response(status=202, headers={"Content-Length": "0"})
        headers = {
            "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        if self.proxy is not None and not self.storage.has_blob(name, digest):
            size = await self.proxy.stat_blob(name, digest)
            if size is None:
                raise blob_unknown(digest)
            if request.method == "GET" and not self.storage.has_blob(name, digest):
                response = await self.proxy.serve_blob(request, name, digest)
                if response is not None:
                    return response
            if request.method == "HEAD":
                headers["Content-Length"] = str(size)
                return web.Response(status=200, headers=headers)
        if not self.storage.has_blob(name, digest, touch=request.method == "HEAD"):
            raise blob_unknown(digest)
        if request.method == "HEAD":
            headers["Content-Length"] = str(self.storage.blob_size(digest))
            return web.Response(status=200, headers=headers)
        return web.FileResponse(self.storage.blob_path(digest), headers=headers)  # sendfile; honours Range

    # -- uploads

    async def uploads(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self._methods(request, "POST")
        self._writable()
        name = self._name(request)
        query = request.query
        if "mount" in query and "from" in query:
            digest = self._digest(query["mount"])
            source = query["from"]
            if (
                NAME.fullmatch(source)
                and self.guard.may(request, "repository", source, "pull")
                and self.storage.mount(name, digest, source)
            ):
                return self._created(name, digest)
        if "digest" in query:  # monolithic: the whole blob in this request
            digest = self._digest(query["digest"])
            data = await request.read()
            from pinnace.distribution.server.storage import digest_invalid
            from pinnace.oci.digest import sha256_digest

            got = sha256_digest(data)
            if got != digest:
                raise digest_invalid(f"expected {digest}, the upload is {got}")
            self.storage.put_bytes(name, data, digest)
            return self._created(name, digest)
        session = self.storage.start_upload(name)
        return web.Response(status=202, headers=self._upload_headers(name, session, 0))

    def _created(self, name: str, digest: str) -> web.StreamResponse:
        from aiohttp import web

        return web.Response(
            status=201,
            headers={
                "Location": f"/v2/{name}/blobs/{digest}",
                "Docker-Content-Digest": digest,
                "Content-Length": "0",
            },
        )

    @staticmethod
    def _upload_headers(name: str, session: str, size: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{session}",
            "Docker-Upload-UUID": session,
            "Range": f"0-{max(size - 1, 0)}",
            "Content-Length": "0",
        }

    async def session(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self._methods(request, "GET", "PATCH", "PUT", "DELETE")
        name = self._name(request)
        session = request.match_info["session"]
        if request.method == "GET":
            size = self.storage.upload_offset(name, session)
            return web.Response(status=204, headers=self._upload_headers(name, session, size))
        self._writable()
        if request.method == "DELETE":
            self.storage.cancel(name, session)
            return web.Response(status=204, headers={"Content-Length": "0"})
        start = None
        content_range = request.headers.get("Content-Range", "")
        if content_range:
            m = re.fullmatch(r"(?:bytes )?(\d+)-(\d+)(?:/\d+|/\*)?", content_range.strip())
            if m is None:
                raise RegistryError(
                    "BLOB_UPLOAD_INVALID", 416, "invalid content range", {"range": content_range}
                )
            start = int(m.group(1))
        self.storage.upload_path(name, session)  # BLOB_UPLOAD_UNKNOWN before reading a body
        chunks = []
        async for chunk in request.content.iter_chunked(1 << 20):
            chunks.append(chunk)
            if len(chunks) >= 16:  # bounded memory: write as it comes
                self.storage.append(name, session, chunks, start)
                start, chunks = None, []
        size = self.storage.append(name, session, chunks, start)
        if request.method == "PATCH":
            return web.Response(status=202, headers=self._upload_headers(name, session, size))
        digest = self._digest(request.query.get("digest", ""))
        self.storage.finish(name, session, digest)
        return self._created(name, digest)

    # -- manifests

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        self._methods(request, "GET", "HEAD", "PUT", "DELETE")
        name = self._name(request)
        reference = request.match_info["reference"]
        if not (TAG.fullmatch(reference) or DIGEST.fullmatch(reference)):
            if ":" in reference:
                raise RegistryError(
                    "DIGEST_INVALID",
                    400,
                    "provided digest did not match uploaded content",
                    {"digest": reference},
                )
            raise RegistryError("TAG_INVALID", 400, "manifest tag did not match URI", {"tag": reference})
        if request.method == "PUT":
            self._writable()
            return await self._put_manifest(request, name, reference)
        if request.method == "DELETE":
            self._writable(delete=True)
            if DIGEST.fullmatch(reference):
                if not self.storage.delete_manifest(name, reference):
                    raise RegistryError("MANIFEST_UNKNOWN", 404, "manifest unknown", {"reference": reference})
            elif not self.storage.delete_tag(name, reference):
                raise RegistryError("MANIFEST_UNKNOWN", 404, "manifest unknown", {"reference": reference})
            return web.Response(status=202, headers={"Content-Length": "0"})
        if self.proxy is not None:
            found = await self.proxy.manifest(name, reference)
        else:
            found = self.storage.resolve(name, reference)
        if found is None:
            if not self.storage.known(name) and self.proxy is None:
                raise RegistryError(
                    "NAME_UNKNOWN", 404, "repository name not known to registry", {"name": name}
                )
            raise RegistryError("MANIFEST_UNKNOWN", 404, "manifest unknown", {"reference": reference})
        digest, media_type, size = found
        headers = {"Docker-Content-Digest": digest, "Content-Type": media_type, "Etag": f'"{digest}"'}
        if request.method == "HEAD":
            headers["Content-Length"] = str(size)
            return web.Response(status=200, headers=headers)
        with open(self.storage.blob_path(digest), "rb") as f:
            return web.Response(status=200, body=f.read(), headers=headers)

    async def _put_manifest(self, request: web.Request, name: str, reference: str) -> web.StreamResponse:
        from aiohttp import web

        from pinnace.oci.digest import sha256_digest

        length = request.content_length
        if length is not None and length > MAX_MANIFEST:
            raise RegistryError("SIZE_INVALID", 413, "manifest too big", {"limit": MAX_MANIFEST})
        data = await request.content.read(MAX_MANIFEST + 1)
        if len(data) > MAX_MANIFEST:
            raise RegistryError("SIZE_INVALID", 413, "manifest too big", {"limit": MAX_MANIFEST})
        digest = sha256_digest(data)
        if DIGEST.fullmatch(reference) and reference != digest:
            raise RegistryError(
                "DIGEST_INVALID", 400, "provided digest did not match uploaded content", {"digest": reference}
            )
        doc = _json_object(data)
        media_type = request.headers.get("Content-Type", "").partition(";")[0].strip() or str(
            doc.get("mediaType", "")
        )
        if doc.get("mediaType") and doc["mediaType"] != media_type:
            raise RegistryError(
                "MANIFEST_INVALID", 400, "manifest invalid", "mediaType does not match Content-Type"
            )
        if media_type not in MANIFEST_TYPES or doc.get("schemaVersion") != 2:
            raise RegistryError(
                "MANIFEST_INVALID", 400, "manifest invalid", f"unsupported manifest {media_type!r}"
            )
        self._check_references(name, doc, media_type)
        subject = doc.get("subject") or {}
        subject_digest = str(subject.get("digest", "")) if isinstance(subject, dict) else ""
        config = doc.get("config") or {}
        artifact_type = str(
            doc.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else "") or ""
        )
        self.storage.put_manifest(
            name, data, digest, media_type,
            tag="" if DIGEST.fullmatch(reference) else reference,
            subject=subject_digest, artifact_type=artifact_type,
            annotations=json.dumps(doc.get("annotations") or {}),
        )  # fmt: skip
        headers = {
            "Location": f"/v2/{name}/manifests/{digest}",
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        }
        if subject_digest:
            headers["OCI-Subject"] = subject_digest
        return web.Response(status=201, headers=headers)

    def _check_references(self, name: str, doc: dict[str, Any], media_type: str) -> None:
        """What the manifest names must be in the repository already (MANIFEST_BLOB_UNKNOWN, else)."""
        if media_type in INDEX_TYPES:
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise RegistryError("MANIFEST_INVALID", 400, "manifest invalid", "manifests missing")
            for entry in entries:
                digest = _descriptor_digest(entry)
                if not self.storage.has_manifest(name, digest):
                    raise RegistryError("MANIFEST_UNKNOWN", 400, "manifest unknown", {"digest": digest})
            return
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise RegistryError("MANIFEST_INVALID", 400, "manifest invalid", "layers missing")
        for entry in [doc.get("config"), *layers]:
            digest = _descriptor_digest(entry)
            if not self.storage.has_blob(name, digest):
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN", 400, "blob unknown to registry", {"digest": digest}
                )

    # -- listings

    async def tags(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        name = self._name(request)
        n, last = _page(request)
        upstream = await self.proxy.tags(name) if self.proxy is not None else None
        if upstream is not None:
            found = sorted(t for t in upstream if t > last)[: n + 1]
        elif self.storage.known(name):
            found = self.storage.tags(name, last, n + 1)
        else:
            raise RegistryError("NAME_UNKNOWN", 404, "repository name not known to registry", {"name": name})
        headers = {}
        if len(found) > n:
            found = found[:n]
            headers["Link"] = f'</v2/{name}/tags/list?n={n}&last={found[-1]}>; rel="next"'
        return web.json_response({"name": name, "tags": found}, headers=headers)

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        n, last = _page(request)
        found = self.storage.repositories(last, n + 1)
        headers = {}
        if len(found) > n:
            found = found[:n]
            headers["Link"] = f'</v2/_catalog?n={n}&last={found[-1]}>; rel="next"'
        return web.json_response({"repositories": found}, headers=headers)

    async def referrers(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        name = self._name(request)
        subject = self._digest(request.match_info["digest"])
        wanted = request.query.get("artifactType", "")
        manifests = []
        for digest, media_type, size, artifact_type, notes_json in self.storage.referrers(name, subject):
            if wanted and artifact_type != wanted:
                continue
            entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
            if artifact_type:
                entry["artifactType"] = artifact_type
            notes = json.loads(notes_json or "{}")
            if notes:
                entry["annotations"] = notes
            manifests.append(entry)
        body = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
        headers = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
        return web.Response(
            status=200,
            body=json.dumps(body).encode(),
            headers=headers,
            content_type="application/vnd.oci.image.index.v1+json",
        )


def _page(request: web.Request) -> tuple[int, str]:
    try:
        n = int(request.query.get("n", PAGE))
    except ValueError:
        raise RegistryError("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested") from None
    if n < 0:
        raise RegistryError("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested")
    return min(n, 10000), request.query.get("last", "")


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise RegistryError("MANIFEST_INVALID", 400, "manifest invalid", "not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", 400, "manifest invalid", "not a JSON object")
    return doc


def _descriptor_digest(entry: object) -> str:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("digest"), str)
        or not DIGEST.fullmatch(entry["digest"])
    ):
        raise RegistryError("MANIFEST_INVALID", 400, "manifest invalid", "a descriptor has no valid digest")
    return str(entry["digest"])


def serve(settings: Settings, ready: Callable[[str], None] | None = None) -> None:
    """Run the registry until SIGTERM/SIGINT (aiohttp finishes the requests in flight; every commit is
    a rename and a SQLite transaction, so nothing committed is lost and nothing half-done is seen)."""
    import asyncio

    from aiohttp import web

    storage = Storage(settings.root)
    storage.expire_uploads(ttl=settings.upload_ttl)
    authorizer, tokens = _auth(settings)
    app = make_app(
        storage,
        read_only=settings.read_only,
        delete_enabled=settings.delete_enabled,
        authorizer=authorizer,
        tokens=tokens,
        proxy=_proxy(storage, settings),
    )
    host, port = settings.host_port

    async def main() -> None:
        from pinnace.distribution.server import accesslog

        logger = accesslog.JsonAccessLogger if settings.access_log == "json" else accesslog.TextAccessLogger
        runner = web.AppRunner(
            app, access_log_class=logger, access_log=None if settings.access_log == "none" else _logger()
        )
        await runner.setup()
        context = None
        if settings.tls_cert:
            import ssl

            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
        site = web.TCPSite(runner, host, port, ssl_context=context)
        await site.start()
        if ready is not None:
            ready(f"{host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=3600)
                break
            except TimeoutError:
                storage.expire_uploads(ttl=settings.upload_ttl)  # hourly, as distribution's purging
        await runner.cleanup()

    asyncio.run(main())


def _logger() -> Any:
    import logging

    return logging.getLogger("pinnace.registry.access")


def _auth(settings: Settings) -> tuple[Authorizer | None, TokenService | None]:
    """What checks requests (basic, bearer, or nothing) and the own token service, if any."""
    import os

    from pinnace.distribution.server.auth import BasicAuth, Htpasswd, TokenAuth
    from pinnace.distribution.server.config import ConfigError
    from pinnace.distribution.server.tokens import Acl, KeyPair, TokenService, TokenVerifier, load_bundle

    users = None
    if settings.htpasswd:
        try:
            users = Htpasswd(settings.htpasswd)
        except (OSError, ValueError) as e:
            raise ConfigError(f"invalid htpasswd file: {e}") from None
    token = settings.token
    if token is None:
        return (BasicAuth(users, anonymous_pull=settings.anonymous_pull) if users else None), None
    trusted = load_bundle(token.rootcertbundle) if token.rootcertbundle else []
    service = None
    if token.acl:
        keys = KeyPair.load_or_create(
            token.signingkey or os.path.join(settings.root, "token", "key.pem"),
            token.signingcert or os.path.join(settings.root, "token", "cert.pem"),
            token.issuer,
        )
        trusted.append(keys.cert)
        service = TokenService(
            keys, Acl.load(token.acl), issuer=token.issuer, service=token.service,
            ttl=int(token.expiration), users=users,
        )  # fmt: skip
    verifier = TokenVerifier(trusted, issuer=token.issuer, service=token.service)
    return TokenAuth(verifier, realm=token.realm or None, service=token.service), service


def _proxy(storage: Storage, settings: Settings) -> Proxy | None:
    from pinnace.distribution.server.proxy import Proxy

    return Proxy(storage, settings.proxy) if settings.proxy is not None else None
