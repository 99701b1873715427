"""CNCF distribution (``docker-registry``) on 127.0.0.1 for the registry client's tests: with no auth,
htpasswd basic auth, or token auth from a small token issuer of our own (Docker's token spec).

``running_registry(tmp_path, auth=..., users=...)`` yields a :class:`Registry` and stops it (and its
issuer) by pid at the end; ``start_registry`` is the same without the stop.  Everything (config, storage
under ``data/``, ``registry.log``, htpasswd, the issuer's certificate) lives in the given directory, so
give each registry a directory of its own.  The issuer signs RS256 JWTs with a key whose self-signed certificate is the
registry's ``rootcertbundle``; the certificate travels in the token's ``x5c`` header, which distribution
verifies against that bundle.  ``Registry.issued`` records every token request (account, scopes, grant).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

SERVICE = "pinnace-test-registry"
ISSUER = "pinnace-test-issuer"
BINARY = "/usr/bin/docker-registry"

Acl = Callable[[str, str, list[str]], list[str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_acl(account: str, _repository: str, actions: list[str]) -> list[str]:
    return list(actions) if account else []


class Registry:
    """One distribution process (and, for ``auth="token"``, its issuer thread).

    ``port`` pins the listening port; without it a free one is picked, and picked again if another
    process takes it between the probe and distribution's bind (the window of ``_free_port``)."""

    def __init__(
        self, base: Path, auth: str, users: dict[str, str], acl: Acl | None, port: int | None = None
    ) -> None:
        if auth not in ("none", "htpasswd", "token"):
            raise ValueError(f"auth must be none, htpasswd or token, not {auth!r}")
        self.base = base
        self.auth = auth
        self.users = users
        self.acl = acl or _default_acl
        self.data = base / "data"
        self._fixed_port = port is not None
        self.port = port if port is not None else _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.token_url = ""
        self.issued: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._issuer: ThreadingHTTPServer | None = None
        self._refresh: dict[str, str] = {}  # refresh token -> account

    @property
    def pid(self) -> int | None:
        """The registry process's pid while it runs (None before start and after stop)."""
        return self._proc.pid if self._proc is not None else None

    # -- the registry

    def start(self, attempts: int = 3) -> None:
        """Start the issuer (token mode) and distribution; return once ``GET /v2/`` answers 200 or 401."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        cert = self._start_issuer() if self.auth == "token" else None
        htpasswd = self._htpasswd() if self.auth == "htpasswd" else None
        for attempt in range(attempts):
            if attempt:
                self.port = _free_port()
                self.host = f"127.0.0.1:{self.port}"
                self.url = f"http://{self.host}"
            try:
                self._serve(htpasswd, cert)
                return
            except _PortTaken:
                if self._fixed_port or attempt == attempts - 1:
                    tail = self.log()[-2000:]
                    self.stop()
                    raise RuntimeError(f"docker-registry did not start on {self.host}: {tail}") from None
            except BaseException:
                self.stop()
                raise

    def _serve(self, htpasswd: Path | None, cert: Path | None) -> None:
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.data}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
        ]
        if htpasswd is not None:
            lines += ["auth:", "  htpasswd:", "    realm: pinnace-test", f"    path: {htpasswd}"]
        elif cert is not None:
            lines += [
                "auth:",
                "  token:",
                f"    realm: {self.token_url}",
                f"    service: {SERVICE}",
                f"    issuer: {ISSUER}",
                f"    rootcertbundle: {cert}",
            ]
        config = self.base / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        with open(self.base / "registry.log", "wb") as log:
            self._proc = subprocess.Popen(
                [BINARY if os.path.exists(BINARY) else shutil.which("docker-registry") or BINARY,
                 "serve", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        # Only an answer after distribution's own "listening on" line counts: a stranger that took the port
        # first (another test's registry) would answer /v2/ too.
        deadline = time.monotonic() + 15
        while True:
            if "listening on" in self.log():
                try:
                    with urllib.request.urlopen(self.url + "/v2/", timeout=2) as reply:
                        if reply.status == 200:
                            return
                except urllib.error.HTTPError as e:
                    e.close()
                    if e.code == 401:
                        return
                except OSError:
                    pass
            if self._proc.poll() is not None:
                self._proc = None
                if "address already in use" in self.log():
                    raise _PortTaken
                raise RuntimeError(f"docker-registry exited at start: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer within 15 s: {self.log()[-2000:]}")
            time.sleep(0.05)

    def _htpasswd(self) -> Path:
        import bcrypt

        path = self.base / "htpasswd"
        path.write_text(
            "".join(
                f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                for u, p in self.users.items()
            )
        )
        return path

    def log(self) -> str:
        """What distribution wrote (stdout and stderr), for assertion messages."""
        try:
            return (self.base / "registry.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill distribution by pid and reap it, and shut the issuer's server; safe to call twice."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        if self._issuer is not None:
            self._issuer.shutdown()
            self._issuer.server_close()
            self._issuer = None

    # -- the token issuer

    def _start_issuer(self) -> Path:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        path = self.base / "token-cert.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._key = key
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                account = registry._basic(self.headers.get("Authorization", ""))
                if account is None:
                    self._send(401, {"details": "incorrect username or password"})
                    return
                offline = query.get("offline_token", [""])[0] == "true" and bool(account)
                self._send(
                    200,
                    registry._grant(
                        account, query.get("service", [""])[0], query.get("scope", []), "password", offline
                    ),
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                grant = form.get("grant_type", [""])[0]
                scopes = " ".join(form.get("scope", [])).split()
                service = form.get("service", [""])[0]
                if grant == "refresh_token":
                    account = registry._refresh.get(form.get("refresh_token", [""])[0])
                    if account is None:
                        self._send(401, {"details": "invalid refresh token"})
                        return
                    self._send(200, registry._grant(account, service, scopes, "refresh_token", False))
                elif grant == "password":
                    user, password = form.get("username", [""])[0], form.get("password", [""])[0]
                    if registry.users.get(user) != password:
                        self._send(401, {"details": "incorrect username or password"})
                        return
                    offline = form.get("access_type", [""])[0] == "offline"
                    self._send(200, registry._grant(user, service, scopes, "password", offline))
                else:
                    self._send(400, {"details": f"unsupported grant_type {grant!r}"})

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._issuer = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._issuer.daemon_threads = True
        self.token_url = f"http://127.0.0.1:{self._issuer.server_address[1]}/token"
        threading.Thread(target=self._issuer.serve_forever, daemon=True).start()
        return path

    def _basic(self, header: str) -> str | None:
        """The account of a basic Authorization header: "" for none, None for wrong credentials."""
        if not header.startswith("Basic "):
            return ""
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError both are
            return None
        return user if sep and user in self.users and self.users[user] == password else None

    def _grant(
        self, account: str, service: str, scopes: list[str], grant: str, offline: bool
    ) -> dict[str, Any]:
        import jwt

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository":
                granted = self.acl(account, name, [a for a in actions.split(",") if a])
                access.append({"type": kind, "name": name, "actions": granted})
        self.issued.append({"service": service, "scope": list(scopes), "account": account, "grant": grant})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": account, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": secrets.token_hex(8), "access": access,
        }  # fmt: skip
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": [self._x5c]})
        out: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        if offline:
            refresh = secrets.token_hex(16)
            self._refresh[refresh] = account
            out["refresh_token"] = refresh
        return out


class _PortTaken(Exception):
    """distribution exited because its port was taken: worth another port."""


def start_registry(
    tmp_path: Path, auth: str = "none", users: dict[str, str] | None = None, acl: Acl | None = None
) -> Registry:
    registry = Registry(tmp_path, auth, dict(users or {}), acl)
    registry.start()
    return registry


def running_registry(
    tmp_path: Path, auth: str = "none", users: dict[str, str] | None = None, acl: Acl | None = None
) -> Iterator[Registry]:
    """A registry for the length of a ``yield from`` (a fixture) or a ``next()`` ... ``close()``."""
    registry = start_registry(tmp_path, auth, users, acl)
    try:
        yield registry
    finally:
        registry.stop()
