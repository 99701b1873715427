"""Who may do what on the registry: basic auth from an htpasswd file, or bearer tokens (:mod:`.tokens`).

Each request needs the access distribution asks for: ``pull`` to GET or HEAD a repository's content,
``pull`` and ``push`` to upload or put a manifest, ``delete`` to delete, ``registry:catalog:*`` for the
catalog, and nothing but valid credentials for ``/v2/``.  A request short of it gets a 401 with the
challenge a client answers (``Basic realm=...`` or ``Bearer realm=...,service=...,scope=...``).
"""

from __future__ import annotations

import base64
import binascii

from pinnace.distribution.server.storage import RegistryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from aiohttp import web

    from pinnace.distribution.server.tokens import TokenVerifier

#: The token service's path on the registry's own address.
TOKEN_PATH = "/token"


class Htpasswd:
    """Users and their bcrypt hashes from an htpasswd file (``htpasswd -B``)."""

    def __init__(self, path: str) -> None:
        self.users: dict[str, bytes] = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                user, sep, hashed = line.strip().partition(":")
                if sep and user and not user.startswith("#"):
                    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                        raise ValueError(f"{path}: user {user!r}: only bcrypt hashes are supported")
                    self.users[user] = hashed.encode()
        self._known: dict[str, bool] = {}  # "user:password" seen -> valid (bcrypt is slow on purpose)

    def check(self, header: str) -> str | None:
        """The user a ``Basic`` Authorization header signs in, or None."""
        if not header.startswith("Basic "):
            return None
        try:
            pair = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = pair.partition(":")
        return user if self.check_pair(user, password) else None

    def check_pair(self, user: str, password: str) -> bool:
        pair = f"{user}:{password}"
        if pair in self._known:
            return self._known[pair]
        hashed = self.users.get(user)
        if hashed is None:
            return False
        import bcrypt

        ok = bcrypt.checkpw(password.encode(), hashed.replace(b"$2y$", b"$2b$", 1))
        if len(self._known) < 10000:
            self._known[pair] = ok
        return ok


def needs(request: web.Request) -> list[tuple[str, str, str]]:
    """The (type, name, action) a request needs, as distribution reckons it."""
    name = request.match_info.get("name")
    if name is None:
        return [("registry", "catalog", "*")] if request.path.startswith("/v2/_catalog") else []
    if request.method in ("GET", "HEAD"):
        return [("repository", name, "pull")]
    if request.method == "DELETE":
        return [("repository", name, "delete")]
    return [("repository", name, "pull"), ("repository", name, "push")]


class Authorizer:
    """No auth: everyone may do everything."""

    def authorize(self, request: web.Request) -> str:
        """The account of the request ("" for anonymous); a RegistryError 401 when it may not go on."""
        return ""

    def may(self, request: web.Request, kind: str, name: str, action: str) -> bool:
        """Whether the request's credentials also allow this (a mount's pull from its source)."""
        return True


class BasicAuth(Authorizer):
    def __init__(self, users: Htpasswd, *, anonymous_pull: bool = False) -> None:
        self.users = users
        self.anonymous_pull = anonymous_pull

    def authorize(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        account = self.users.check(header) if header else None
        if account is not None:
            return account
        if self.anonymous_pull and request.method in ("GET", "HEAD") and request.path != "/v2/":
            return ""
        raise RegistryError(
            "UNAUTHORIZED", 401, "authentication required", None,
            {"WWW-Authenticate": 'Basic realm="pinnace-registry"'},
        )  # fmt: skip


class TokenAuth(Authorizer):
    """Bearer tokens from ``realm`` (the registry's own token service when it is None)."""

    def __init__(self, verifier: TokenVerifier, *, realm: str | None, service: str) -> None:
        self.verifier = verifier
        self.realm = realm
        self.service = service

    def authorize(self, request: web.Request) -> str:
        wanted = needs(request)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise self._challenge(request, wanted, "")
        token = header[7:].strip()
        try:
            grant = self.verifier.grant(token)
        except RegistryError:
            raise self._challenge(request, wanted, "invalid_token") from None
        if not all(grant.allows(*need) for need in wanted):
            raise self._challenge(request, wanted, "insufficient_scope")
        request["grant"] = grant
        return grant.account

    def may(self, request: web.Request, kind: str, name: str, action: str) -> bool:
        grant = request.get("grant")
        return grant is not None and bool(grant.allows(kind, name, action))

    def _challenge(
        self, request: web.Request, wanted: list[tuple[str, str, str]], error: str
    ) -> RegistryError:
        realm = self.realm or f"{request.scheme}://{request.host}{TOKEN_PATH}"
        parts = [f'realm="{realm}"', f'service="{self.service}"']
        scopes: dict[tuple[str, str], list[str]] = {}
        for kind, name, action in wanted:
            scopes.setdefault((kind, name), []).append(action)
        if scopes:
            parts.append('scope="' + " ".join(f"{k}:{n}:{','.join(a)}" for (k, n), a in scopes.items()) + '"')
        if error:
            parts.append(f'error="{error}"')
        detail = [{"Type": k, "Name": n, "Action": a} for k, n, a in wanted] or None
        return RegistryError(
            "UNAUTHORIZED", 401, "authentication required", detail,
            {"WWW-Authenticate": "Bearer " + ",".join(parts)},
        )  # fmt: skip
