"""Bearer-token auth of the registry server, as Docker's token spec has it: a token service that signs
JWTs granting what an ACL file allows, and the check of such tokens on every registry request.

The same key pair both signs and checks, so a registry and its token service agree with nothing but a
certificate: the token's ``x5c`` header carries the signer's certificate, which must be one the
registry trusts (its own, or those of ``rootcertbundle``).  That is what CNCF distribution checks, so
distribution can use pinnace's token service and pinnace can use any issuer distribution can.

ACL file (YAML or JSON): a list of entries, the first whose ``account`` and ``name`` match decides::

    - account: admin          # a glob of the user name; "*" is any signed-in user
      name: "*"               # a glob of the repository name; ${account} is the user's name
      actions: ["*"]          # pull, push, delete, or "*" for all
    - account: "*"
      name: "${account}/*"
      actions: [pull, push]
    - account: ""             # "" is the anonymous user
      name: "public/*"
      actions: [pull]
    - account: admin
      type: registry          # the catalog: type registry, name catalog, action "*"
      name: catalog
      actions: ["*"]
"""

from __future__ import annotations

import base64
import fnmatch
import os
import secrets
import threading
import time
from dataclasses import dataclass

from pinnace.distribution.server.config import ConfigError
from pinnace.distribution.server.storage import RegistryError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

ACTIONS = frozenset(("pull", "push", "delete", "*"))
#: A refresh token (``offline_token``, docker login's identity token) lives this long.
REFRESH_TTL = 90 * 24 * 3600
ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "EdDSA"]


@dataclass(frozen=True)
class Scope:
    """``type:name:actions`` of a token request or a challenge (``repository:library/busybox:pull,push``)."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        kind, _, rest = text.partition(":")
        name, sep, actions = rest.rpartition(":")
        if not (kind and sep and name):
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


@dataclass(frozen=True)
class AclEntry:
    account: str
    name: str
    type: str
    actions: frozenset[str]

    def matches(self, account: str, kind: str, name: str) -> bool:
        if kind != self.type:
            return False
        if self.account == "":
            if account:
                return False
        elif not account or not fnmatch.fnmatchcase(account, self.account):
            return False
        return fnmatch.fnmatchcase(name, self.name.replace("${account}", account))


class Acl:
    """Who may do what to which repository: the first matching entry's actions, nothing without one."""

    def __init__(self, entries: Sequence[AclEntry]) -> None:
        self.entries = list(entries)

    @classmethod
    def load(cls, path: str) -> Acl:
        import yaml  # JSON is YAML too

        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"ACL file {path}: {_first_line(e)}") from None
        if isinstance(doc, dict) and "acl" in doc:
            doc = doc["acl"]
        if not isinstance(doc, list):
            raise ConfigError(f"ACL file {path}: a list of entries expected")
        entries = []
        for i, item in enumerate(doc, 1):
            if not isinstance(item, dict):
                raise ConfigError(f"ACL file {path}: entry {i} is not a mapping")
            actions = item.get("actions", [])
            if isinstance(actions, str):
                actions = [actions]
            if not isinstance(actions, list) or not set(map(str, actions)) <= ACTIONS:
                raise ConfigError(
                    f"ACL file {path}: entry {i}: actions must be a list of pull, push, delete, *"
                )
            unknown = set(item) - {"account", "name", "type", "actions", "comment"}
            if unknown:
                raise ConfigError(f"ACL file {path}: entry {i}: unknown key {sorted(unknown)[0]!r}")
            entries.append(
                AclEntry(
                    account=str(item.get("account", "*") if item.get("account") is not None else ""),
                    name=str(item.get("name", "*")),
                    type=str(item.get("type", "repository")),
                    actions=frozenset(map(str, actions)),
                )
            )
        return cls(entries)

    def grant(self, account: str, scope: Scope) -> frozenset[str]:
        """The requested actions this account gets (all of them for an entry's ``*``)."""
        for entry in self.entries:
            if entry.matches(account, scope.type, scope.name):
                if "*" in entry.actions:
                    return scope.actions
                return scope.actions & entry.actions
        return frozenset()


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# -- keys


class KeyPair:
    """The token service's signing key and the self-signed certificate a registry trusts it by."""

    def __init__(self, key: Any, cert: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self.key = key
        self.cert = cert
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise ConfigError("token signing key: an RSA or a P-256 EC key expected")

    @classmethod
    def load_or_create(cls, key_path: str, cert_path: str, issuer: str) -> KeyPair:
        """The pair from its files; when neither exists, a new P-256 key and a 10-year certificate
        written there first (mode 0600 for the key), so tokens outlive a restart."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        if not os.path.exists(key_path) and not os.path.exists(cert_path):
            cls._create(key_path, cert_path, issuer)
        try:
            with open(key_path, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), password=None)
            with open(cert_path, "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
        except (OSError, ValueError) as e:
            raise ConfigError(f"token signing key: {_first_line(e)}") from None
        return cls(key, cert)

    @staticmethod
    def _create(key_path: str, cert_path: str, issuer: str) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        os.makedirs(os.path.dirname(key_path) or ".", exist_ok=True)
        fd = os.open(key_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        with open(cert_path + ".tmp", "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        os.rename(cert_path + ".tmp", cert_path)
        os.rename(key_path + ".tmp", key_path)


def load_bundle(path: str) -> list[Any]:
    """The certificates of a PEM bundle (``rootcertbundle``)."""
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            certs = x509.load_pem_x509_certificates(f.read())
    except (OSError, ValueError) as e:
        raise ConfigError(f"rootcertbundle {path}: {_first_line(e)}") from None
    return list(certs)


# -- the token service


class TokenService:
    """``GET /token`` (basic auth, ``scope``, ``offline_token``) and ``POST /token`` (OAuth2 password and
    refresh_token grants), answering Docker's token JSON.  ``users`` checks a basic header's
    credentials; ``None`` (no htpasswd) means every request is anonymous."""

    def __init__(
        self, keys: KeyPair, acl: Acl, *, issuer: str, service: str, ttl: int, users: Any = None
    ) -> None:
        self.keys = keys
        self.acl = acl
        self.issuer = issuer
        self.service = service
        self.ttl = max(int(ttl), 60)
        self.users = users

    def answer_get(
        self, authorization: str, query: Mapping[str, str], scopes: Sequence[str]
    ) -> tuple[str, dict[str, Any]]:
        """(the account, the token JSON) for a GET."""
        account = ""
        if authorization:
            account = self._basic(authorization)
        offline = query.get("offline_token") == "true"
        return account, self._grant(account, query.get("service", ""), scopes, offline=offline)

    def answer_post(self, form: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """(the account, the token JSON) for an OAuth2 POST."""
        grant = form.get("grant_type", "")
        scopes = form.get("scope", "").split()
        service = form.get("service", "")
        offline = form.get("access_type") == "offline"
        if grant == "password":
            user, password = form.get("username", ""), form.get("password", "")
            if not self._valid(user, password):
                raise _denied()
            return user, self._grant(user, service, scopes, offline=offline)
        if grant == "refresh_token":
            account = self._refresh_account(form.get("refresh_token", ""), service)
            return account, self._grant(account, service, scopes, offline=False)
        raise RegistryError("UNSUPPORTED", 400, f"unsupported grant_type {grant!r}")

    def _basic(self, header: str) -> str:
        if not header.startswith("Basic "):
            raise _denied()
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:
            raise _denied() from None
        if not (sep and self._valid(user, password)):
            raise _denied()
        return user

    def _valid(self, user: str, password: str) -> bool:
        if self.users is None or not user:
            return False
        return bool(self.users.check_pair(user, password))

    def _refresh_account(self, token: str, service: str) -> str:
        import jwt

        try:
            claims = jwt.decode(
                token, self.keys.cert.public_key(), algorithms=ALGORITHMS, audience=service or self.service,
                issuer=self.issuer, leeway=60,
            )  # fmt: skip
        except jwt.PyJWTError:
            raise _denied("invalid refresh token") from None
        account = str(claims.get("sub", ""))
        if (
            claims.get("typ") != "refresh"
            or not account
            or self.users is None
            or account not in self.users.users
        ):
            raise _denied("invalid refresh token")
        return account

    def _grant(self, account: str, service: str, scopes: Sequence[str], *, offline: bool) -> dict[str, Any]:
        import jwt

        if service and service != self.service:
            raise RegistryError("DENIED", 400, f"unknown service {service!r}")
        access = []
        for text in scopes:
            scope = Scope.parse(text)
            if scope is None:
                raise RegistryError("UNSUPPORTED", 400, f"invalid scope {text!r}")
            granted = self.acl.grant(account, scope)
            access.append({"type": scope.type, "name": scope.name, "actions": sorted(granted)})
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": account, "aud": self.service, "exp": now + self.ttl, "nbf": now - 10,
            "iat": now, "jti": secrets.token_hex(12), "access": access,
        }  # fmt: skip
        headers = {"x5c": [self.keys.x5c]}
        token = jwt.encode(claims, self.keys.key, algorithm=self.keys.algorithm, headers=headers)
        out: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.ttl,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        if offline and account:
            refresh = {
                "iss": self.issuer, "sub": account, "aud": self.service, "exp": now + REFRESH_TTL,
                "iat": now, "jti": secrets.token_hex(12), "typ": "refresh",
            }  # fmt: skip
            out["refresh_token"] = jwt.encode(
                refresh, self.keys.key, algorithm=self.keys.algorithm, headers=headers
            )
        return out


def _denied(detail: str = "incorrect username or password") -> RegistryError:
    return RegistryError("UNAUTHORIZED", 401, "authentication required", detail)


# -- checking tokens


@dataclass(frozen=True)
class Grant:
    """What a valid token says: its subject (the account) and its actions per (type, name)."""

    account: str
    actions: dict[tuple[str, str], frozenset[str]]

    def allows(self, kind: str, name: str, action: str) -> bool:
        return action in self.actions.get((kind, name), ())


class TokenVerifier:
    """Whether a bearer token is valid here and what it grants: signed by a trusted certificate (carried
    in ``x5c``, or one of the trusted ones when the token names none), for this service, by this issuer,
    in its validity window.  Verified tokens are remembered until they expire."""

    def __init__(self, trusted: Sequence[Any], *, issuer: str, service: str) -> None:
        from cryptography.hazmat.primitives import serialization

        self.trusted = list(trusted)
        self._trusted_der = {c.public_bytes(serialization.Encoding.DER) for c in self.trusted}
        self.issuer = issuer
        self.service = service
        self._seen: dict[str, tuple[float, Grant]] = {}
        self._lock = threading.Lock()

    def grant(self, token: str) -> Grant:
        """Whose the token is and what it grants; a RegistryError 401 if it is not valid here."""
        now = time.time()
        with self._lock:
            seen = self._seen.get(token)
        if seen is not None and seen[0] > now:
            return seen[1]
        claims = self._verify(token)
        actions: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                key = (str(entry.get("type", "")), str(entry.get("name", "")))
                actions[key] = actions.get(key, frozenset()) | frozenset(map(str, entry.get("actions") or []))
        grant = Grant(str(claims.get("sub", "")), actions)
        with self._lock:
            if len(self._seen) > 10000:
                self._seen = {t: v for t, v in self._seen.items() if v[0] > now}
                if len(self._seen) > 10000:
                    self._seen.clear()
            self._seen[token] = (float(claims.get("exp", now)), grant)
        return grant

    def _verify(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            keys = self._keys(header)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _invalid_token() from None
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key, algorithms=ALGORITHMS, audience=self.service, issuer=self.issuer,
                    leeway=60, options={"require": ["exp", "iss", "aud"]},
                )  # fmt: skip
                return claims
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                break
        raise _invalid_token()

    def _keys(self, header: Mapping[str, Any]) -> list[Any]:
        """The key to check the signature with: the leaf of ``x5c`` when the chain ends at a trusted
        certificate, else (no x5c) each trusted certificate's key."""
        from cryptography import x509

        chain = header.get("x5c")
        if not chain:
            return [c.public_key() for c in self.trusted]
        certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in chain]
        for i, cert in enumerate(certs):
            der = base64.b64decode(chain[i])
            if der in self._trusted_der or any(self._issued(cert, t) for t in self.trusted):
                if all(self._issued(certs[j], certs[j + 1]) for j in range(i)):
                    return [certs[0].public_key()]
                break
        raise ValueError("untrusted certificate chain")

    @staticmethod
    def _issued(cert: Any, by: Any) -> bool:
        try:
            cert.verify_directly_issued_by(by)
        except Exception:  # ValueError, TypeError, InvalidSignature: not issued by it
            return False
        return True


def _invalid_token() -> RegistryError:
    return RegistryError("UNAUTHORIZED", 401, "authentication required", "invalid token")
