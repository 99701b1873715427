"""One repository of a registry, through the OCI distribution-spec v1.1 API.

Manifests come back verified (their digest computed from the bytes; the
reference's or the registry's ``Docker-Content-Digest`` checked against
it) and bounded (4 MiB, as the spec suggests and docker enforces); blobs
come back as streams their consumer verifies.  The registry's JSON errors
become docker's messages.
"""

from __future__ import annotations

from pinnace.errors import (
    DigestMismatch,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from pinnace.oci import mediatype
from pinnace.oci.manifest import MAX_MANIFEST_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pinnace.distribution.transport import Response, Transport

#: What a pull accepts, best first (docker's list, with OCI's).
MANIFEST_ACCEPT = ", ".join(
    (
        mediatype.OCI_INDEX,
        mediatype.DOCKER_MANIFEST_LIST,
        mediatype.OCI_MANIFEST,
        mediatype.DOCKER_MANIFEST,
    )
)


class ErrorBody:
    """The first error of a registry's JSON error body: code and message (both "" when there is none)."""

    def __init__(self, body: bytes) -> None:
        from pinnace._util import jsonc

        self.code = ""
        self.message = ""
        try:
            doc = jsonc.loads(body)
            first = doc.get("errors", [])[0]
            self.code = str(first.get("code", ""))
            self.message = str(first.get("message", ""))
        except (ValueError, AttributeError, IndexError, TypeError):
            pass

    def __str__(self) -> str:
        code = self.code.lower().replace("_", " ")
        return f"{code}: {self.message}" if code and self.message else code or self.message


class Repository:
    """A repository (``library/busybox``) of the registry behind ``transport``."""

    def __init__(self, transport: Transport, name: str, *, push: bool = False) -> None:
        self.transport = transport
        self.name = name
        self.scopes = [f"repository:{name}:pull,push" if push else f"repository:{name}:pull"]

    def _request(self, method: str, path: str, **kw: Any) -> Response:
        return self.transport.request(method, f"/v2/{self.name}/{path}", scopes=self.scopes, **kw)

    # -- manifests

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(the manifest's bytes, its media type, its digest) for a tag or digest; NotFound as docker says."""
        from pinnace.oci.digest import sha256_digest

        response = self._request("GET", f"manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
        try:
            if response.status != 200:
                self.fail(response, f"manifest {reference}")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
                raise InvalidArgument(
                    f"manifest {reference} is too big ({length} bytes; at most {MAX_MANIFEST_BYTES})"
                )
            data = response.read(MAX_MANIFEST_BYTES)
        finally:
            response.close()
        if len(data) > MAX_MANIFEST_BYTES:
            raise InvalidArgument(f"manifest {reference} is too big (more than {MAX_MANIFEST_BYTES} bytes)")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and reference != digest:
            raise DigestMismatch(f"manifest verification failed for digest {reference}")
        claimed = response.headers.get("Docker-Content-Digest", "")
        if claimed.startswith("sha256:") and claimed != digest:
            raise DigestMismatch(
                f"manifest {reference}: the registry says {claimed}, its content is {digest}"
            )
        media_type = response.headers.get("Content-Type", "").partition(";")[0].strip()
        return data, media_type, digest

    def tags(self, page: int = 1000) -> list[str]:
        """Every tag of the repository (``tags/list``, following the ``Link`` of each page)."""
        from pinnace._util import jsonc

        found: list[str] = []
        path = f"/v2/{self.name}/tags/list?n={page}"
        for _ in range(10000):
            response = self.transport.request("GET", path, scopes=self.scopes)
            try:
                if response.status != 200:
                    self.fail(response, "tags")
                data = response.read(MAX_MANIFEST_BYTES)
                link = str(response.headers.get("Link", ""))
            finally:
                response.close()
            try:
                doc = jsonc.loads(data)
            except ValueError:
                raise Unavailable(f"the registry's tag list of {self.name} is not JSON") from None
            found += [str(t) for t in doc.get("tags") or []]
            if not link.startswith("<"):
                break
            path = link[1:].partition(">")[0]
        return found

    # -- blobs

    def blob(self, digest: str, offset: int = 0) -> Response:
        """A stream of the blob from ``offset`` (status 206 when the registry honoured the Range)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request("GET", f"blobs/{digest}", headers=headers, ok=(200, 206))
        if response.status not in (200, 206):
            try:
                self.fail(response, f"blob {digest}")
            finally:
                response.close()
        return response

    def has_blob(self, digest: str) -> bool:
        """Whether the repository has the blob (``HEAD``)."""
        response = self._request("HEAD", f"blobs/{digest}", ok=(200, 404))
        response.drain()
        if response.status in (200, 404):
            return response.status == 200
        self.fail(response, f"blob {digest}")
        return False

    # -- uploads

    def start_upload(self) -> str:
        """A new upload session's location."""
        response = self._request("POST", "blobs/uploads/", ok=(202,))
        try:
            if response.status != 202:
                self.fail(response, "blob upload")
            return self._location(response)
        finally:
            response.drain()

    def mount(self, digest: str, source: str) -> tuple[bool, str]:
        """Mount a blob of repository ``source`` here: (True, "") when mounted, else (False, the upload
        session the registry opened instead, or "")."""
        scopes = [*self.scopes, f"repository:{source}:pull"]
        response = self.transport.request(
            "POST",
            f"/v2/{self.name}/blobs/uploads/?mount={digest}&from={source}",
            scopes=scopes,
            ok=(201, 202),
        )
        try:
            if response.status == 201:
                return True, ""
            if response.status == 202:
                return False, self._location(response)
            return False, ""  # refused (the source is not ours to read): a plain upload then
        finally:
            response.drain()

    def upload(
        self, location: str, data: Any, digest: str, size: int, chunk: int, sent: Callable[[int], None]
    ) -> None:
        """Upload ``size`` bytes of file ``data`` to the session at ``location`` and close it as ``digest``:
        one PUT when it fits in a ``chunk``, else PATCHes with Content-Range then the PUT."""
        if size <= chunk:
            body = data.read()
            response = self._put_upload(location, digest, body)
            self._done(response, digest)
            sent(size)
            return
        offset = 0
        while offset < size:
            piece = data.read(min(chunk, size - offset))
            if not piece:
                raise Unavailable(f"blob {digest}: the store gave {offset} of {size} bytes")
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                "Content-Length": str(len(piece)),
            }
            response = self.transport.request(
                "PATCH", self._absolute(location), scopes=self.scopes, headers=headers, body=piece, ok=(202,)
            )
            try:
                if response.status != 202:
                    self.fail(response, f"blob upload {digest}")
                location = self._location(response)
            finally:
                response.drain()
            offset += len(piece)
            sent(offset)
        self._done(self._put_upload(location, digest, b""), digest)

    def _put_upload(self, location: str, digest: str, body: bytes) -> Response:
        url = self._absolute(location)
        url += ("&" if "?" in url else "?") + f"digest={digest}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(body))}
        return self.transport.request("PUT", url, scopes=self.scopes, headers=headers, body=body, ok=(201,))

    def _done(self, response: Response, digest: str) -> None:
        try:
            if response.status != 201:
                self.fail(response, f"blob upload {digest}")
        finally:
            response.drain()

    def _location(self, response: Response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise Unavailable("the registry opened an upload session with no Location")
        return str(location)

    def _absolute(self, location: str) -> str:
        """A Location as a URL (the spec allows a path relative to the registry)."""
        if location.startswith(("http://", "https://")):
            return location
        return self.transport.base + ("" if location.startswith("/") else "/") + location

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        """Put the manifest under ``tag``; its digest as the registry says (else as computed)."""
        from pinnace.oci.digest import sha256_digest

        headers = {"Content-Type": media_type, "Content-Length": str(len(data))}
        response = self._request("PUT", f"manifests/{tag}", headers=headers, body=data, ok=(201,))
        try:
            if response.status != 201:
                self.fail(response, f"manifest {tag}")
            return str(response.headers.get("Docker-Content-Digest") or sha256_digest(data))
        finally:
            response.drain()

    def fail(self, response: Response, what: str) -> None:
        """Raise docker's error for a registry's non-success answer about ``what``."""
        status = response.status
        error = ErrorBody(response.read(65536))
        if status == 401:
            raise Unauthenticated(f"unauthorized: {error.message or 'authentication required'}")
        if status == 403 or error.code == "DENIED":
            raise PermissionDenied(f"denied: {error.message or 'requested access to the resource is denied'}")
        if status == 404:
            raise NotFound(str(error) or f"{what}: not found")
        if status == 429:
            raise Unavailable(f"toomanyrequests: {error.message or 'too many requests'}")
        raise Unavailable(f"{what}: the registry answered {status}" + (f": {error}" if str(error) else ""))
