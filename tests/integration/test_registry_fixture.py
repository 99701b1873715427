"""The CNCF distribution helper itself: each auth mode answers as the registry client's tests assume, and
stop() leaves no process and no listening port behind.  The token checks go past ``/v2/`` (which any
well-formed token opens) to a repository, where a 404 NAME_UNKNOWN rather than a 401 proves that
distribution accepted our issuer's signature and read the granted access."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.registry import ISSUER, SERVICE, Registry, running_registry

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/docker-registry"), reason="docker-registry (CNCF distribution) not installed"
)

registry_with = contextlib.contextmanager(running_registry)
SCOPE = "repository:demo/app:pull,push"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """Status, headers and body, for error statuses too (urllib raises those)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def _post(url: str, form: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read() or b"{}")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _listening(host: str) -> bool:
    address, _, port = host.rpartition(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((address, int(port))) == 0


def _assert_gone(registry: Registry, pid: int | None) -> None:
    assert pid is not None and registry.pid is None
    assert not _listening(registry.host)
    if registry.token_url:
        assert not _listening(urllib.parse.urlparse(registry.token_url).netloc)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[Registry]:
    yield from running_registry(tmp_path / "registry", auth="token", users={"bob": "builder"})


def test_no_auth(tmp_path: Path) -> None:
    with registry_with(tmp_path / "registry") as registry:
        status, headers, _ = _get(registry.url + "/v2/")
        assert status == 200
        assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
        assert registry.auth == "none" and registry.data.is_dir()
        assert registry.url == f"http://{registry.host}" and registry.host.startswith("127.0.0.1:")
        pid = registry.pid
    _assert_gone(registry, pid)
    assert "listening on 127.0.0.1" in registry.log()


def test_htpasswd(tmp_path: Path) -> None:
    with registry_with(tmp_path / "registry", auth="htpasswd", users={"alice": "wonderland"}) as registry:
        status, headers, _ = _get(registry.url + "/v2/")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic realm=")
        assert _get(registry.url + "/v2/", _basic("alice", "wonderland"))[0] == 200
        assert _get(registry.url + "/v2/", _basic("alice", "wrong"))[0] == 401
        pid = registry.pid
    _assert_gone(registry, pid)


def test_token_challenge_and_a_password_grant(token_registry: Registry) -> None:
    registry = token_registry
    status, headers, _ = _get(registry.url + "/v2/")
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    assert params["realm"] == registry.token_url and params["service"] == SERVICE

    query = urllib.parse.urlencode({"service": SERVICE, "scope": SCOPE})
    status, _, body = _get(f"{registry.token_url}?{query}", _basic("bob", "builder"))
    assert status == 200
    reply = json.loads(body)
    assert reply["token"] == reply["access_token"] and reply["expires_in"] == 300 and reply["issued_at"]
    assert "refresh_token" not in reply
    claims = json.loads(base64.urlsafe_b64decode(reply["token"].split(".")[1] + "=="))
    assert claims["iss"] == ISSUER and claims["aud"] == SERVICE and claims["sub"] == "bob"
    assert claims["access"] == [{"type": "repository", "name": "demo/app", "actions": ["pull", "push"]}]

    token = reply["token"]
    assert _get(registry.url + "/v2/", _bearer(token))[0] == 200
    status, _, body = _get(registry.url + "/v2/demo/app/tags/list", _bearer(token))
    assert status == 404, registry.log()[-2000:]
    assert json.loads(body)["errors"][0]["code"] == "NAME_UNKNOWN"
    # the token names demo/app only
    assert _get(registry.url + "/v2/other/app/tags/list", _bearer(token))[0] == 401
    assert registry.issued == [{"service": SERVICE, "scope": [SCOPE], "account": "bob", "grant": "password"}]


def test_token_anonymous_and_bad_credentials(token_registry: Registry) -> None:
    registry = token_registry
    query = urllib.parse.urlencode({"service": SERVICE, "scope": SCOPE, "offline_token": "true"})
    status, _, body = _get(f"{registry.token_url}?{query}")
    assert status == 200
    reply = json.loads(body)
    assert "refresh_token" not in reply  # anonymous: nothing to refresh
    claims = json.loads(base64.urlsafe_b64decode(reply["token"].split(".")[1] + "=="))
    assert claims["sub"] == "" and claims["access"] == [
        {"type": "repository", "name": "demo/app", "actions": []}
    ]
    status, headers, body = _get(registry.url + "/v2/demo/app/tags/list", _bearer(reply["token"]))
    assert status == 401
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert _get(f"{registry.token_url}?{query}", _basic("bob", "nope"))[0] == 401
    assert _get(f"{registry.token_url}?{query}", {"Authorization": "Basic !!notbase64"})[0] == 401
    assert [i["account"] for i in registry.issued] == [""]


def test_token_offline_get_gives_a_refresh_token(token_registry: Registry) -> None:
    registry = token_registry
    query = urllib.parse.urlencode({"service": SERVICE, "scope": SCOPE, "offline_token": "true"})
    status, _, body = _get(f"{registry.token_url}?{query}", _basic("bob", "builder"))
    assert status == 200
    refresh = json.loads(body)["refresh_token"]
    status, reply = _post(
        registry.token_url,
        [("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", SERVICE),
         ("scope", SCOPE), ("client_id", "pinnace")],
    )  # fmt: skip
    assert status == 200 and "refresh_token" not in reply
    assert _get(registry.url + "/v2/demo/app/tags/list", _bearer(reply["access_token"]))[0] == 404


def test_token_oauth2_password_then_refresh(token_registry: Registry) -> None:
    registry = token_registry
    status, reply = _post(
        registry.token_url,
        [("grant_type", "password"), ("username", "bob"), ("password", "builder"), ("service", SERVICE),
         ("scope", SCOPE), ("client_id", "pinnace"), ("access_type", "offline")],
    )  # fmt: skip
    assert status == 200
    refresh = reply["refresh_token"]
    assert _get(registry.url + "/v2/demo/app/tags/list", _bearer(reply["access_token"]))[0] == 404

    status, reply = _post(
        registry.token_url,
        [("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", SERVICE),
         ("scope", "repository:demo/app:pull repository:demo/other:pull"), ("client_id", "pinnace")],
    )  # fmt: skip
    assert status == 200 and "refresh_token" not in reply
    token = reply["access_token"]
    assert _get(registry.url + "/v2/demo/app/tags/list", _bearer(token))[0] == 404
    assert _get(registry.url + "/v2/demo/other/tags/list", _bearer(token))[0] == 404

    # no refresh token without access_type=offline; wrong password and unknown refresh token refused
    status, reply = _post(
        registry.token_url,
        [("grant_type", "password"), ("username", "bob"), ("password", "builder"), ("service", SERVICE),
         ("scope", SCOPE), ("client_id", "pinnace")],
    )  # fmt: skip
    assert status == 200 and "refresh_token" not in reply
    wrong = [("grant_type", "password"), ("username", "bob"), ("password", "x"), ("service", SERVICE)]
    assert _post(registry.token_url, wrong)[0] == 401
    bogus = [("grant_type", "refresh_token"), ("refresh_token", "bogus"), ("service", SERVICE)]
    assert _post(registry.token_url, bogus)[0] == 401

    assert [(i["grant"], i["account"]) for i in registry.issued] == [
        ("password", "bob"),
        ("refresh_token", "bob"),
        ("password", "bob"),
    ]
    assert registry.issued[1]["scope"] == ["repository:demo/app:pull", "repository:demo/other:pull"]


def test_acl_overrides_the_default(tmp_path: Path) -> None:
    def acl(account: str, repository: str, actions: list[str]) -> list[str]:
        if repository.startswith("public/"):
            return [a for a in actions if a == "pull"]
        return list(actions) if account == "bob" else []

    users = {"bob": "builder", "eve": "secret"}
    with registry_with(tmp_path / "registry", auth="token", users=users, acl=acl) as registry:
        query = urllib.parse.urlencode(
            {"service": SERVICE, "scope": ["repository:public/x:pull,push", SCOPE]}, doseq=True
        )
        status, _, body = _get(f"{registry.token_url}?{query}")
        claims = json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))
        assert status == 200 and claims["access"] == [
            {"type": "repository", "name": "public/x", "actions": ["pull"]},
            {"type": "repository", "name": "demo/app", "actions": []},
        ]
        status, _, body = _get(f"{registry.token_url}?{query}", _basic("eve", "secret"))
        token = json.loads(body)["token"]
        assert _get(registry.url + "/v2/public/x/tags/list", _bearer(token))[0] == 404
        assert _get(registry.url + "/v2/demo/app/tags/list", _bearer(token))[0] == 401
        pid = registry.pid
    _assert_gone(registry, pid)


def test_a_registry_that_cannot_start_raises_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        registry = Registry(tmp_path / "registry", "none", {}, None, port=taken)
        with pytest.raises(RuntimeError, match="address already in use"):
            registry.start(attempts=1)
    assert registry.pid is None
