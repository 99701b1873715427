"""Registry authentication: the ``WWW-Authenticate`` challenge, basic auth and Docker's bearer-token flow.

A registry answers 401 with a challenge.  ``Basic`` wants the user's
credentials on every request.  ``Bearer realm=...,service=...,scope=...``
(Docker's token spec, which Docker Hub and CNCF distribution use) sends us
to the realm for a token: an identity (refresh) token goes there by OAuth2
``POST`` (grant_type=refresh_token), a username and password by ``GET`` with
basic auth, and an anonymous client asks with neither.  Tokens are kept
per (realm, service, scopes) until they expire, so a pull's requests share
one.  The scopes a request needs are ours to say (``repository:NAME:pull``,
``...:pull,push``; the source repository's pull scope for a cross-repository
mount), not the challenge's, as docker's client does.
"""

from __future__ import annotations

from pinnace._util.record import record
from pinnace.errors import PermissionDenied, Unauthenticated, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from pinnace.distribution.credentials import Credentials

#: Who we say we are to a token service (docker sends "docker").
CLIENT_ID = "pinnace"
#: A token's life when the service does not say (the token spec's default).
DEFAULT_EXPIRY = 60


@record
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: tuple[tuple[str, str], ...] = ()

    def get(self, key: str) -> str:
        for k, v in self.params:
            if k == key:
                return v
        return ""


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` header (RFC 7235: scheme, then ``key=value`` or quoted)."""
    out: list[Challenge] = []
    i, n = 0, len(header)
    scheme = ""
    params: list[tuple[str, str]] = []
    while i < n:
        while i < n and header[i] in " ,\t":
            i += 1
        start = i
        while i < n and header[i] not in " =,\t":
            i += 1
        token = header[start:i]
        if not token:
            break
        j = i
        while j < n and header[j] in " \t":
            j += 1
        if j < n and header[j] == "=":  # a parameter of the current scheme
            i = j + 1
            while i < n and header[i] in " \t":
                i += 1
            if i < n and header[i] == '"':
                i += 1
                value = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    value.append(header[i])
                    i += 1
                i += 1
                params.append((token.lower(), "".join(value)))
            else:
                start = i
                while i < n and header[i] not in ",":
                    i += 1
                params.append((token.lower(), header[start:i].strip()))
        else:  # a new scheme
            if scheme:
                out.append(Challenge(scheme, tuple(params)))
            scheme, params = token.lower(), []
    if scheme:
        out.append(Challenge(scheme, tuple(params)))
    return out


class Authorizer:
    """The ``Authorization`` header for a registry's requests: from its last challenge and our credentials.

    ``credentials()`` is asked once, when a challenge first needs them
    (reading a credential helper costs a process).
    """

    def __init__(self, credentials: Callable[[], Credentials], fetch: Callable[..., Any]) -> None:
        self._credentials = credentials
        self._creds: Credentials | None = None
        self._fetch = fetch  # fetch(method, url, headers=..., fields=...) -> (status, headers, body bytes)
        self._challenge: Challenge | None = None
        import threading

        self._lock = threading.RLock()  # a pull's threads meet the first challenge together
        self._tokens: dict[tuple[str, str, tuple[str, ...]], tuple[str, float]] = {}
        #: A refresh token the token service gave us (``pinnace login`` stores it as the identity token).
        self.refresh_token = ""

    @property
    def creds(self) -> Credentials:
        if self._creds is None:
            self._creds = self._credentials()
        return self._creds

    def use_credentials(self, creds: Credentials) -> None:
        """Authenticate with these instead of the stored ones (``login``)."""
        self._creds = creds
        self._tokens.clear()

    def header(self, scopes: Sequence[str]) -> str:
        """The Authorization value for a request needing ``scopes`` ("" before any challenge)."""
        challenge = self._challenge
        if challenge is None:
            return ""
        if challenge.scheme == "basic":
            return _basic(self.creds) if not self.creds.empty else ""
        if challenge.scheme == "bearer":
            return "Bearer " + self.token(scopes)
        return ""

    def challenged(
        self, header: str, scopes: Sequence[str], *, sent: str = "", offline: bool = False
    ) -> bool:
        """A 401's challenge arrived for a request sent with Authorization ``sent`` ("" for none): remember
        the challenge and get what it asks for; False when a retry cannot help (what we sent is what we
        have).  Requests on several threads may all meet the first challenge: each retries once."""
        found = [c for c in parse_challenges(header) if c.scheme in ("bearer", "basic")]
        if not found:
            return False
        with self._lock:
            self._challenge = next((c for c in found if c.scheme == "bearer"), found[0])
            if self._challenge.scheme == "basic":
                return not self.creds.empty and sent != _basic(self.creds)
            key = self._key(scopes)
            cached = self._tokens.get(key)
            if cached is not None and sent == "Bearer " + cached[0]:
                self._tokens.pop(key, None)  # that token was refused: one more try with a fresh one
                if not self.creds.empty:
                    self.token(scopes, offline=offline)
                    return self._tokens[key][0] != cached[0]
                return False
            self.token(scopes, offline=offline)
            return True

    def _key(self, scopes: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
        assert self._challenge is not None
        return (self._challenge.get("realm"), self._challenge.get("service"), tuple(sorted(scopes)))

    def token(self, scopes: Sequence[str], *, offline: bool = False) -> str:
        """A bearer token for ``scopes`` from the challenge's realm (cached until it expires)."""
        import time

        key = self._key(scopes)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        realm, service = key[0], key[1]
        if not realm.startswith(("http://", "https://")):
            raise Unavailable(f"invalid token auth challenge: realm {realm!r}")
        creds = self.creds
        if creds.identity_token:
            doc = self._oauth(realm, service, scopes, creds)
        else:
            doc = self._get(realm, service, scopes, creds, offline=offline)
        token = str(doc.get("token") or doc.get("access_token") or "")
        if not token:
            raise Unavailable(f"token service {realm} returned no token")
        if doc.get("refresh_token"):
            self.refresh_token = str(doc["refresh_token"])
        expires = doc.get("expires_in")
        life = (
            expires
            if isinstance(expires, int) and not isinstance(expires, bool) and expires > 0
            else DEFAULT_EXPIRY
        )
        self._tokens[key] = (token, time.monotonic() + max(life - 5, 1))
        return token

    def _get(
        self, realm: str, service: str, scopes: Sequence[str], creds: Credentials, *, offline: bool
    ) -> dict[str, Any]:
        from urllib.parse import urlencode

        query: list[tuple[str, str]] = [("service", service)] if service else []
        query += [("scope", s) for s in scopes]
        headers = {}
        if creds.username and creds.password:
            headers["Authorization"] = _basic(creds)
            query.append(("account", creds.username))
            if offline:
                query += [("offline_token", "true"), ("client_id", CLIENT_ID)]
        sep = "&" if "?" in realm else "?"
        url = realm + (sep + urlencode(query) if query else "")
        return self._answer(realm, *self._fetch("GET", url, headers=headers))

    def _oauth(self, realm: str, service: str, scopes: Sequence[str], creds: Credentials) -> dict[str, Any]:
        fields = {
            "grant_type": "refresh_token",
            "refresh_token": creds.identity_token,
            "service": service,
            "client_id": CLIENT_ID,
            "scope": " ".join(scopes),
        }
        return self._answer(realm, *self._fetch("POST", realm, fields=fields))

    def _answer(self, realm: str, status: int, _headers: Any, body: bytes) -> dict[str, Any]:
        from pinnace._util import jsonc

        if status == 401:
            raise Unauthenticated("unauthorized: incorrect username or password")
        if status == 403:
            raise PermissionDenied(f"denied: the token service {realm} refused access")
        if status != 200:
            raise Unavailable(f"token service {realm} answered {status}")
        try:
            doc = jsonc.loads(body)
        except ValueError:
            raise Unavailable(f"token service {realm} answered with no JSON") from None
        if not isinstance(doc, dict):
            raise Unavailable(f"token service {realm} answered with no JSON object")
        return doc


def _basic(creds: Credentials) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
