"""``pinnace registry serve`` with bearer-token auth: its own token service and ACL, forged and
refused tokens, the OAuth2 grants, and both directions of interop with CNCF distribution (distribution
trusting pinnace's tokens; pinnace trusting another issuer's)."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.pinnace_registry import as_user, serving
from tests.integration.test_registry_server import call, code

pytestmark = pytest.mark.root

USERS = {"alice": "alice-pw", "bob": "bob-pw", "admin": "admin-pw"}
ACL = """
- account: admin
  type: registry
  name: catalog
  actions: ["*"]
- account: admin
  name: "*"
  actions: ["*"]
- account: "*"
  name: "${account}/*"
  actions: [pull, push]
- account: "*"
  name: "*"
  actions: [pull]
- account: ""
  name: "public/*"
  actions: [pull]
"""


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()


def htpasswd(path: Path) -> Path:
    import bcrypt

    path.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n" for u, p in USERS.items()
        )
    )
    return path


def token(host: str, scope: str = "", user: str = "", **extra: str) -> dict[str, object]:
    query = urllib.parse.urlencode(
        {"service": "pinnace-registry", **({"scope": scope} if scope else {}), **extra}
    )
    status, _, body = call(
        host, "GET", f"/token?{query}", headers={"Authorization": basic(user)} if user else {}
    )
    assert status == 200, body
    return dict(json.loads(body))


def claims(jwt: object) -> dict[str, object]:
    payload = str(jwt).split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def bearer(doc: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {doc['token']}"}


@pytest.fixture
def token_registry(tmp_path: Path) -> object:
    acl = tmp_path / "acl.yml"
    acl.write_text(ACL)
    flags = ("--htpasswd", str(htpasswd(tmp_path / "htpasswd")), "--acl", str(acl))
    with contextlib.contextmanager(serving)(tmp_path / "registry", *flags) as host:
        yield host


def test_challenges_scopes_and_refused_tokens(token_registry: str, tmp_path: Path) -> None:
    host = token_registry
    status, headers, body = call(host, "GET", "/v2/")
    assert status == 401 and code(body) == "UNAUTHORIZED"
    assert headers["www-authenticate"] == f'Bearer realm="http://{host}/token",service="pinnace-registry"'
    status, headers, _ = call(host, "GET", "/v2/alice/app/manifests/1")
    assert 'scope="repository:alice/app:pull"' in headers["www-authenticate"]

    # the ACL: alice pushes her own repositories and pulls everyone's; bob only pulls hers
    alice = token(host, "repository:alice/app:pull,push,delete", "alice")
    access = claims(alice["token"])["access"]
    assert access == [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]
    bob = token(host, "repository:alice/app:pull,push", "bob")
    assert claims(bob["token"])["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull"]}
    ]
    anonymous = token(host, "repository:public/x:pull")
    assert claims(anonymous["token"])["sub"] == ""
    assert claims(anonymous["token"])["access"][0]["actions"] == ["pull"]  # type: ignore[index]

    assert call(host, "GET", "/v2/", headers=bearer(bob))[0] == 200
    assert call(host, "POST", "/v2/alice/app/blobs/uploads/", headers=bearer(alice))[0] == 202
    status, headers, body = call(host, "POST", "/v2/alice/app/blobs/uploads/", headers=bearer(bob))
    assert status == 401 and 'error="insufficient_scope"' in headers["www-authenticate"]
    assert 'scope="repository:alice/app:pull,push"' in headers["www-authenticate"]

    # wrong passwords get no token; the catalog is the admin's
    query = "/token?service=pinnace-registry"
    wrong = "Basic " + base64.b64encode(b"alice:nope").decode()
    assert call(host, "GET", query, headers={"Authorization": wrong})[0] == 401
    assert call(host, "GET", "/v2/_catalog", headers=bearer(alice))[0] == 401
    admin = token(host, "registry:catalog:*", "admin")
    assert call(host, "GET", "/v2/_catalog", headers=bearer(admin))[0] == 200

    # forged: a token signed by another key (its own certificate in x5c), or tampered with
    forged = _forge(tmp_path, claims(alice["token"]))
    status, headers, _ = call(host, "GET", "/v2/", headers={"Authorization": f"Bearer {forged}"})
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    head, payload, sig = str(bob["token"]).split(".")
    grown = dict(
        claims(bob["token"]), access=[{"type": "repository", "name": "alice/app", "actions": ["push"]}]
    )
    tampered = ".".join(
        [head, base64.urlsafe_b64encode(json.dumps(grown).encode()).decode().rstrip("="), sig]
    )
    assert (
        call(host, "POST", "/v2/alice/app/blobs/uploads/", headers={"Authorization": f"Bearer {tampered}"})[0]
        == 401
    )
    other = dict(claims(alice["token"]), aud="another-service")
    assert (
        call(host, "GET", "/v2/", headers={"Authorization": f"Bearer {_forge(tmp_path, other, own=True)}"})[0]
        == 401
    )


def _forge(tmp_path: Path, payload: dict[str, object], own: bool = False) -> str:
    """A token with these claims signed by a key of our own making (or by the registry's own key)."""
    import jwt

    from pinnace.distribution.server.tokens import KeyPair

    where = tmp_path / ("registry/token" if own else "evil")
    keys = KeyPair.load_or_create(str(where / "key.pem"), str(where / "cert.pem"), "pinnace-registry")
    return str(jwt.encode(payload, keys.key, algorithm=keys.algorithm, headers={"x5c": [keys.x5c]}))


def test_oauth2_password_and_refresh_grants(token_registry: str) -> None:
    host = token_registry
    offline = token(host, "", "alice", offline_token="true", client_id="docker")
    refresh = str(offline["refresh_token"])
    form = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": refresh, "service": "pinnace-registry",
         "scope": "repository:alice/app:pull,push", "client_id": "docker"}
    ).encode()  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = call(host, "POST", "/token", form, headers)
    assert status == 200, body
    assert claims(json.loads(body)["access_token"])["access"][0]["actions"] == ["pull", "push"]  # type: ignore[index]
    form = urllib.parse.urlencode(
        {"grant_type": "password", "username": "bob", "password": "bob-pw", "service": "pinnace-registry",
         "scope": "repository:bob/x:push", "client_id": "docker", "access_type": "offline"}
    ).encode()  # fmt: skip
    status, _, body = call(host, "POST", "/token", form, headers)
    assert status == 200 and json.loads(body)["refresh_token"]
    bad = form.replace(b"bob-pw", b"nope")
    assert call(host, "POST", "/token", bad, headers)[0] == 401
    forged = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "x.y.z"}).encode()
    assert call(host, "POST", "/token", forged, headers)[0] == 401
    # an access token is not a refresh token
    access = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": offline["token"]}
    ).encode()
    assert call(host, "POST", "/token", access, headers)[0] == 401


def test_pinnace_login_push_and_pull_with_tokens(
    engine: Pinnace, token_registry: str, tmp_path: Path
) -> None:
    host = token_registry
    config = tmp_path / "docker-config"
    cli = as_user(engine, config)
    bad = cli("login", "-u", "alice", "--password-stdin", host, stdin="nope\n")
    assert bad.returncode == 1 and "unauthorized" in bad.stderr.lower()
    assert (
        cli("login", "-u", "alice", "--password-stdin", host, stdin="alice-pw\n").stdout
        == "Login Succeeded\n"
    )
    engine.run("tag", "busybox", f"{host}/alice/app:1")
    engine.run("tag", "busybox", f"{host}/bob/app:1")
    assert cli("push", f"{host}/alice/app:1").returncode == 0
    denied = cli("push", f"{host}/bob/app:1")  # alice may not push to bob's
    assert denied.returncode == 1 and denied.stderr.strip()
    assert cli("login", "-u", "bob", "--password-stdin", host, stdin="bob-pw\n").returncode == 0
    other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
    pulled = as_user(other, config)("pull", "-q", f"{host}/alice/app:1")  # bob's credentials now
    assert pulled.stdout == f"{host}/alice/app:1\n", pulled.stderr
    anonymous = other.run("pull", "-q", f"{host}/alice/app:1", check=False)  # no credentials: no pull
    assert anonymous.returncode == 1


@pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry is not installed")
def test_distribution_trusts_pinnace_tokens_and_pinnace_trusts_another_issuer(
    engine: Pinnace, token_registry: str, tmp_path: Path
) -> None:
    from tests.helpers.registry import ISSUER, SERVICE, running_registry

    # CNCF distribution with pinnace's token service as its realm and pinnace's certificate as its bundle
    issuer_host = token_registry
    cert = tmp_path / "registry" / "token" / "cert.pem"
    data = tmp_path / "dist"
    data.mkdir()
    port = _free_port()
    config = data / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data}/data\nhttp:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  token:\n    realm: http://{issuer_host}/token\n    service: pinnace-registry\n"
        f"    issuer: pinnace-registry\n    rootcertbundle: {cert}\n"
    )
    proc = subprocess.Popen(
        [shutil.which("docker-registry") or "docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(f"127.0.0.1:{port}")
        ref = f"127.0.0.1:{port}/alice/dist:1"
        engine.run("tag", "busybox", ref)
        cli = as_user(engine, tmp_path / "cfg")
        login = cli("login", "-u", "alice", "--password-stdin", f"127.0.0.1:{port}", stdin="alice-pw\n")
        assert login.stdout == "Login Succeeded\n", login.stderr
        push = cli("push", ref)
        assert push.returncode == 0, push.stderr
        engine.run("tag", "busybox", f"127.0.0.1:{port}/bob/dist:1")
        denied = cli("push", f"127.0.0.1:{port}/bob/dist:1")
        assert denied.returncode == 1
    finally:
        proc.kill()
        proc.wait()

    # pinnace with distribution's test issuer (RS256, another key) as its realm
    with contextlib.contextmanager(running_registry)(
        tmp_path / "helper", auth="token", users={"carol": "carol-pw"}
    ) as helper:
        bundle = tmp_path / "helper" / "token-cert.pem"
        flags = ("--token-realm", helper.token_url, "--token-rootcertbundle", str(bundle),
                 "--token-issuer", ISSUER, "--token-service", SERVICE)  # fmt: skip
        with contextlib.contextmanager(serving)(tmp_path / "trusting", *flags) as host:
            status, headers, _ = call(host, "GET", "/v2/")
            assert status == 401 and f'realm="{helper.token_url}"' in headers["www-authenticate"]
            ref = f"{host}/carol/app:1"
            engine.run("tag", "busybox", ref)
            cli = as_user(engine, tmp_path / "cfg2")
            assert cli("login", "-u", "carol", "--password-stdin", host, stdin="carol-pw\n").returncode == 0
            push = cli("push", ref)
            assert push.returncode == 0, push.stderr
            assert any(i["account"] == "carol" for i in helper.issued)


def _free_port() -> int:
    from tests.helpers.pinnace_registry import free_port

    return free_port()


def _wait(host: str) -> None:
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {host}")
