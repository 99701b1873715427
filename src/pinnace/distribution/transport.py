"""HTTP to one registry: connection pools, authentication, retries with back-off, insecure fallback.

urllib3 underneath: thread-safe pools (a pull's layers download on
several threads through one ``Transport``), streaming bodies, redirects
followed (registries send blobs to storage URLs) with ``Authorization``
dropped when the host changes.  Idempotent requests (GET, HEAD) are retried
on connection errors, 429 and 5xx with exponential back-off (honouring a
short ``Retry-After``); a 401 is answered once with what its challenge asks
(:mod:`pinnace.distribution.auth`).  An insecure registry is tried over
HTTPS without certificate checks, then over HTTP.
"""

from __future__ import annotations

import os

from pinnace.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from pinnace.distribution.auth import Authorizer
    from pinnace.distribution.config import Endpoint
    from pinnace.distribution.credentials import Credentials

#: Attempts of an idempotent request (the first and the retries).
ATTEMPTS = 5
#: Back-off before retry N: BACKOFF * 2**N seconds, and never more than MAX_WAIT.
BACKOFF = 0.1
MAX_WAIT = 10.0
#: Seconds to connect, and to wait for any byte of an answer (a hung server ends there);
#: ``PINNACE_REGISTRY_TIMEOUT`` sets the second.
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
RETRIED_STATUS = frozenset((429, 500, 502, 503, 504))
USER_AGENT = "pinnace/0.1.0"


class Response:
    """A registry's answer: status, headers (case-insensitive ``get``), and the body read or streamed."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.status: int = raw.status
        self.headers: Any = raw.headers

    def read(self, limit: int = -1) -> bytes:
        """The whole body (at most ``limit`` bytes: more is an error the caller names)."""
        if limit < 0:
            data: bytes = self._raw.read()
            return data
        data = self._raw.read(limit + 1)
        return bytes(data)

    def stream(self) -> Any:
        """The body as a file object (read(n)), decoded of no content-encoding: the bytes as sent."""
        return self._raw

    def close(self) -> None:
        self._raw.release_conn()

    def drain(self) -> None:
        try:
            self._raw.drain_conn()
        except Exception:
            pass
        self.close()


class Transport:
    """Requests to one registry endpoint, authorized for the scopes each names."""

    def __init__(self, endpoint: Endpoint, credentials: Callable[[], Credentials]) -> None:
        import urllib3

        from pinnace.distribution.auth import Authorizer

        self.endpoint = endpoint
        self.base = endpoint.url
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=8,
            cert_reqs="CERT_NONE" if endpoint.insecure else "CERT_REQUIRED",
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=_read_timeout()),
            retries=False,
            headers={"User-Agent": USER_AGENT},
        )
        if endpoint.insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # Redirects only (registries send blobs to storage); every other retry is ours, below.
        self._redirects = urllib3.Retry(
            total=10, connect=0, read=0, status=0, other=0, redirect=5, raise_on_status=False
        )
        self.auth: Authorizer = Authorizer(credentials, self._plain)
        self._fell_back = False

    # -- the requests

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        stream: bool = False,
        ok: Sequence[int] = (200,),
        offline: bool = False,
    ) -> Response:
        """``method`` on ``path`` (``/v2/...``, or an absolute URL the registry gave, such as an upload's
        Location); retried, authorized and redirected as the module says.  Any status comes back: the
        caller decides (``ok`` only marks which need no retry)."""
        import time

        idempotent = method in ("GET", "HEAD")
        challenged = False
        attempt = 0
        while True:
            url = path if path.startswith(("http://", "https://")) else self.base + path
            sent = dict(headers or {})
            authorization = self.auth.header(scopes)
            if authorization and _same_host(url, self.base):
                sent["Authorization"] = authorization
            try:
                raw = self._pool.request(
                    method,
                    url,
                    headers=sent,
                    body=body,
                    preload_content=False,
                    decode_content=False,
                    retries=self._redirects if idempotent else False,
                )
            except Exception as e:  # urllib3's HTTPError family, and SSL errors underneath
                if self._fall_back(e) or (url.startswith("https://") and self.base.startswith("http://")):
                    continue  # HTTPS to an insecure registry failed: HTTP now (another thread may have switched)
                attempt += 1
                if not idempotent or attempt >= ATTEMPTS or _hopeless(e):
                    raise Unavailable(f'{method.title()} "{url}": {_reason(e, url)}') from None
                time.sleep(min(BACKOFF * 2**attempt, MAX_WAIT))
                continue
            response = Response(raw)
            if response.status == 401 and not challenged:
                challenged = True
                header = response.headers.get("WWW-Authenticate", "")
                response.drain()
                if self.auth.challenged(header, scopes, sent=sent.get("Authorization", ""), offline=offline):
                    if not idempotent and body is not None and hasattr(body, "seek"):
                        body.seek(0)
                    continue
                from pinnace.errors import Unauthenticated

                raise Unauthenticated("unauthorized: authentication required")  # nothing we have would do
            if idempotent and response.status in RETRIED_STATUS and response.status not in ok:
                attempt += 1
                if attempt < ATTEMPTS:
                    wait = _retry_after(response.headers.get("Retry-After", ""), attempt)
                    response.drain()
                    time.sleep(wait)
                    continue
            return response

    def _plain(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, bytes]:
        """An unauthorized request (the token service's): (status, headers, body)."""
        try:
            if fields is not None:
                raw = self._pool.request(
                    method, url, fields=dict(fields), headers=dict(headers or {}), encode_multipart=False
                )
            else:
                raw = self._pool.request(method, url, headers=dict(headers or {}))
        except Exception as e:
            raise Unavailable(f"{method} {url}: {_reason(e)}") from None
        return raw.status, raw.headers, raw.data

    def _fall_back(self, error: BaseException) -> bool:
        """An insecure registry's HTTPS failed: use HTTP from now on (once)."""
        if not self.endpoint.insecure or self._fell_back or not self.base.startswith("https://"):
            return False
        self._fell_back = True
        self.base = "http://" + self.base[len("https://") :]
        return True

    def close(self) -> None:
        self._pool.clear()


def _read_timeout() -> float:
    try:
        return float(os.environ.get("PINNACE_REGISTRY_TIMEOUT", "")) or READ_TIMEOUT
    except ValueError:
        return READ_TIMEOUT


def _same_host(url: str, base: str) -> bool:
    def host(u: str) -> str:
        return u.partition("://")[2].partition("/")[0]

    return host(url) == host(base)


def _hopeless(error: BaseException) -> bool:
    """Nothing listens there, no such host, or it let a whole timeout pass: no retry helps."""
    text = _reason(error).lower()
    return any(
        words in text
        for words in ("connection refused", "name or service not known", "resolution", "timeout")
    )


def _retry_after(value: str, attempt: int) -> float:
    wait: float = BACKOFF * 2**attempt
    try:
        wait = max(wait, float(value))
    except ValueError:
        pass
    return min(wait, MAX_WAIT)


def _reason(error: BaseException, url: str = "") -> str:
    """The innermost cause of a urllib3 error, in docker's (Go's) few words where they exist."""
    reason = getattr(error, "reason", None)
    while reason is not None and getattr(reason, "reason", None) is not None:
        reason = reason.reason
    text = str(reason or error)
    lower = text.lower()
    host = url.partition("://")[2].partition("/")[0]
    if "connection refused" in lower:
        return f"dial tcp {host}: connect: connection refused"
    if "timed out" in lower:
        return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
    return text
