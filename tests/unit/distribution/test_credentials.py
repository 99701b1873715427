"""docker's credential store: config.json ``auths``, ``credsStore`` and ``credHelpers``, with real files in
temporary directories and a real helper program that speaks the docker-credential-helpers protocol."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from pinnace.distribution import credentials
from pinnace.distribution.credentials import Credentials
from pinnace.errors import InvalidArgument, Unavailable

HUB = "https://index.docker.io/v1/"

# docker-credential-pinnacetest: the secrets in $SECRETS (a JSON file); every call appended to $CALLS.
# $HELPER_FAIL makes it fail as a broken keychain would.
HELPER = f"""#!{sys.executable}
import json, os, sys

action, data = sys.argv[1], sys.stdin.read()
with open(os.environ["CALLS"], "a") as log:
    log.write(json.dumps([action, data]) + "\\n")
if os.environ.get("HELPER_FAIL"):
    print("keychain is locked")
    sys.exit(3)
path = os.environ["SECRETS"]
db = json.load(open(path)) if os.path.exists(path) else {{}}
if action == "get":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": data, **db[data]}}))
elif action == "store":
    doc = json.loads(data)
    db[doc["ServerURL"]] = {{"Username": doc["Username"], "Secret": doc["Secret"]}}
    json.dump(db, open(path, "w"))
elif action == "erase":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    del db[data]
    json.dump(db, open(path, "w"))
else:
    sys.exit(2)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-pinnacetest"
    helper.write_text(HELPER)
    helper.chmod(0o755)
    return {
        "DOCKER_CONFIG": str(tmp_path / "cfg"),
        "HOME": str(tmp_path / "home"),
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SECRETS": str(tmp_path / "secrets.json"),
        "CALLS": str(tmp_path / "calls.jsonl"),
    }


def config_file(env: dict[str, str]) -> Path:
    return Path(env["DOCKER_CONFIG"]) / "config.json"


def write_config(env: dict[str, str], doc: object) -> Path:
    path = config_file(env)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def read_config(env: dict[str, str]) -> dict[str, Any]:
    doc = json.loads(config_file(env).read_text())
    assert isinstance(doc, dict)
    return doc


def secrets(env: dict[str, str]) -> dict[str, dict[str, str]]:
    path = Path(env["SECRETS"])
    return json.loads(path.read_text()) if path.exists() else {}


def calls(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["CALLS"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- where the file is, and the keys


def test_config_path_follows_docker_config_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert credentials.config_path({"DOCKER_CONFIG": "/etc/dc", "HOME": "/h"}) == Path("/etc/dc/config.json")
    assert credentials.config_path({"HOME": "/h"}) == Path("/h/.docker/config.json")
    assert credentials.config_path({"DOCKER_CONFIG": "", "HOME": "/h"}) == Path("/h/.docker/config.json")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert credentials.config_path() == tmp_path / "config.json"  # no env: the process's


def test_server_keys() -> None:
    assert credentials.hub_key() == HUB
    for hub in ("docker.io", "index.docker.io", "registry-1.docker.io", HUB):
        assert credentials.server_key(hub) == HUB
    assert credentials.server_key("reg.local:5000") == "reg.local:5000"
    assert credentials.server_key("ghcr.io") == "ghcr.io"
    assert credentials.server_key("https://reg.local:5000/v2/") == "reg.local:5000"


# -- auths in the file


def test_no_file_is_no_credentials_and_creates_nothing(env: dict[str, str]) -> None:
    assert credentials.lookup("reg.local", env) == Credentials()
    assert credentials.lookup("reg.local", env).empty
    assert not credentials.erase("reg.local", env)
    assert not Path(env["DOCKER_CONFIG"]).exists()


def test_store_creates_a_private_file_docker_reads(env: dict[str, str]) -> None:
    credentials.store("reg.local:5000", Credentials("alice", "s3cr:et"), env)
    path = config_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config(env) == {"auths": {"reg.local:5000": {"auth": b64("alice:s3cr:et")}}}
    assert credentials.lookup("reg.local:5000", env) == Credentials("alice", "s3cr:et")
    assert credentials.lookup("reg.local", env).empty  # the port is part of the key
    assert not [p for p in path.parent.iterdir() if p.name != "config.json"]  # no temporary file left


def test_store_keeps_every_other_key(env: dict[str, str]) -> None:
    other: dict[str, Any] = {
        "psFormat": "table {{.ID}}\\t{{.Names}}",
        "HttpHeaders": {"X-Meta": "ü"},
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "currentContext": "remote",
        "aliases": {"builder": "buildx"},
        "auths": {"ghcr.io": {"auth": b64("gh:tok"), "email": "x@example.com"}},
    }
    path = write_config(env, other)
    path.chmod(0o644)
    credentials.store("reg.local", Credentials("bob", "pw"), env)
    doc = read_config(env)
    assert doc["auths"] == {**other["auths"], "reg.local": {"auth": b64("bob:pw")}}
    assert {k: v for k, v in doc.items() if k != "auths"} == {k: v for k, v in other.items() if k != "auths"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a file of secrets is made private
    assert credentials.erase("reg.local", env)
    doc = read_config(env)
    assert doc["auths"] == other["auths"] and doc["aliases"] == other["aliases"]


def test_store_replaces_and_unchanged_store_leaves_the_file(env: dict[str, str]) -> None:
    credentials.store("reg.local", Credentials("bob", "old"), env)
    credentials.store("reg.local", Credentials("bob", "new"), env)
    assert credentials.lookup("reg.local", env) == Credentials("bob", "new")
    before = config_file(env).stat()
    credentials.store("reg.local", Credentials("bob", "new"), env)
    after = config_file(env).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_url_form_keys_are_found_by_their_host(env: dict[str, str]) -> None:
    write_config(
        env,
        {
            "auths": {
                "https://a.example": {"auth": b64("ua:pa")},
                "http://b.example:5000/v2/": {"auth": b64("ub:pb")},
                "c.example": {"auth": b64("exact:1")},
                "https://c.example/": {"auth": b64("url:2")},
            }
        },
    )
    assert credentials.lookup("a.example", env) == Credentials("ua", "pa")
    assert credentials.lookup("b.example:5000", env) == Credentials("ub", "pb")
    assert credentials.lookup("b.example", env).empty
    assert credentials.lookup("c.example", env) == Credentials("exact", "1")  # the exact key first
    assert credentials.erase("c.example", env)  # logout forgets every form of the registry's key
    assert set(read_config(env)["auths"]) == {"https://a.example", "http://b.example:5000/v2/"}
    assert not credentials.erase("c.example", env)


def test_hub_names_share_docker_hub_key(env: dict[str, str]) -> None:
    credentials.store("docker.io", Credentials("hubuser", "hubpw"), env)
    assert list(read_config(env)["auths"]) == [HUB]
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert credentials.lookup(name, env) == Credentials("hubuser", "hubpw")
    assert credentials.erase("registry-1.docker.io", env)
    assert credentials.lookup("docker.io", env).empty


def test_identity_tokens_in_the_file(env: dict[str, str]) -> None:
    credentials.store("docker.io", Credentials("bob", identity_token="refresh-123"), env)
    # docker's login: the user beside the token, no password
    assert read_config(env)["auths"] == {HUB: {"auth": b64("bob:"), "identitytoken": "refresh-123"}}
    assert credentials.lookup("docker.io", env) == Credentials("bob", "", "refresh-123")
    credentials.store("tok.local", Credentials(identity_token="idt"), env)
    assert read_config(env)["auths"]["tok.local"] == {"identitytoken": "idt"}
    assert credentials.lookup("tok.local", env) == Credentials(identity_token="idt")


def test_legacy_username_and_password_fields(env: dict[str, str]) -> None:
    write_config(env, {"auths": {"old.example": {"username": "u", "password": "p"}, "nul.example": None}})
    assert credentials.lookup("old.example", env) == Credentials("u", "p")
    assert credentials.lookup("nul.example", env).empty


def test_a_symlinked_config_stays_a_symlink(env: dict[str, str], tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "docker.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"detachKeys": "ctrl-x"}))
    link = config_file(env)
    link.parent.mkdir()
    link.symlink_to(real)
    credentials.store("reg.local", Credentials("u", "p"), env)
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {
        "detachKeys": "ctrl-x",
        "auths": {"reg.local": {"auth": b64("u:p")}},
    }


# -- malformed files


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('{"auths": {', "Expecting"),
        ("[1, 2]", "cannot unmarshal array into Go value of type configfile.ConfigFile"),
        ('{"auths": "x"}', "cannot unmarshal string into Go struct field ConfigFile.auths"),
        ('{"auths": {"reg.local": []}}', "cannot unmarshal array into Go struct field ConfigFile.auths"),
        (
            '{"auths": {"reg.local": {"auth": 5}}}',
            "cannot unmarshal number into Go struct field AuthConfig.auth",
        ),
        ('{"credsStore": true}', "cannot unmarshal bool into Go struct field ConfigFile.credsStore"),
        (
            '{"credHelpers": {"reg.local": 1}}',
            "cannot unmarshal number into Go struct field ConfigFile.credHelpers",
        ),
    ],
)
def test_malformed_config_is_invalid_argument(env: dict[str, str], text: str, detail: str) -> None:
    path = config_file(env)
    path.parent.mkdir()
    path.write_text(text)
    for call in (
        lambda: credentials.lookup("reg.local", env),
        lambda: credentials.store("reg.local", Credentials("u", "p"), env),
        lambda: credentials.erase("reg.local", env),
    ):
        with pytest.raises(InvalidArgument) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"loading config file: {path}: ") and detail in message
        assert "\n" not in message
    assert path.read_text() == text  # never overwritten


def test_empty_file_is_no_settings(env: dict[str, str]) -> None:
    path = config_file(env)
    path.parent.mkdir()
    path.write_text("\n")
    assert credentials.lookup("reg.local", env).empty
    credentials.store("reg.local", Credentials("u", "p"), env)
    assert credentials.lookup("reg.local", env) == Credentials("u", "p")


@pytest.mark.parametrize(
    ("auth", "detail"),
    [
        ("%%%", "illegal base64 data"),
        (b64("nocolon"), "Invalid auth configuration file"),
        (b64(":pw"), "Invalid"),
    ],
)
def test_bad_auth_is_invalid_argument(env: dict[str, str], auth: str, detail: str) -> None:
    path = write_config(env, {"auths": {"reg.local": {"auth": auth}}})
    with pytest.raises(InvalidArgument, match=detail) as caught:
        credentials.lookup("reg.local", env)
    assert str(caught.value).startswith(f"loading config file: {path}: ")


def test_a_password_without_user_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument, match="Non-null Username Required"):
        credentials.store("reg.local", Credentials(password="pw"), env)
    assert not config_file(env).exists()


# -- credential helpers


def test_creds_store_keeps_the_secret_out_of_the_file(env: dict[str, str]) -> None:
    write_config(env, {"credsStore": "pinnacetest", "psFormat": "x"})
    credentials.store("reg.local:5000", Credentials("carol", "pw"), env)
    assert read_config(env) == {"credsStore": "pinnacetest", "psFormat": "x", "auths": {"reg.local:5000": {}}}
    assert "pw" not in config_file(env).read_text()
    assert stat.S_IMODE(config_file(env).stat().st_mode) == 0o600
    assert secrets(env) == {"reg.local:5000": {"Username": "carol", "Secret": "pw"}}
    assert calls(env)[0][0] == "store"
    assert json.loads(calls(env)[0][1]) == {
        "ServerURL": "reg.local:5000",
        "Username": "carol",
        "Secret": "pw",
    }
    assert credentials.lookup("reg.local:5000", env) == Credentials("carol", "pw")
    assert calls(env)[-1] == ["get", "reg.local:5000"]  # the server URL alone on stdin


def test_helper_for_docker_hub_and_identity_tokens(env: dict[str, str]) -> None:
    write_config(env, {"credsStore": "pinnacetest"})
    credentials.store("docker.io", Credentials("dave", identity_token="idt-1"), env)
    assert secrets(env) == {HUB: {"Username": "<token>", "Secret": "idt-1"}}  # docker's token username
    assert read_config(env)["auths"] == {HUB: {}}
    assert credentials.lookup("index.docker.io", env) == Credentials(identity_token="idt-1")


def test_helper_answers_alone(env: dict[str, str]) -> None:
    # as docker: with a helper set, a plaintext entry of the file is not used, and "not found" is no credentials
    write_config(env, {"credsStore": "pinnacetest", "auths": {"reg.local": {"auth": b64("stale:pw")}}})
    assert credentials.lookup("reg.local", env) == Credentials()
    assert credentials.lookup("nothing.local", env).empty


def test_cred_helpers_win_over_creds_store(env: dict[str, str]) -> None:
    Path(env["SECRETS"]).write_text(json.dumps({"reg.local": {"Username": "erin", "Secret": "pw"}}))
    write_config(
        env,
        {
            "credsStore": "missing-helper",
            "credHelpers": {"reg.local": "pinnacetest", "plain.local": ""},
            "auths": {"plain.local": {"auth": b64("file:user")}},
        },
    )
    assert credentials.lookup("reg.local", env) == Credentials("erin", "pw")
    # "" in credHelpers means no helper for that registry: its auths entry, not credsStore
    assert credentials.lookup("plain.local", env) == Credentials("file", "user")
    with pytest.raises(Unavailable) as caught:
        credentials.lookup("other.local", env)  # credsStore for the rest
    assert str(caught.value) == (
        'error getting credentials - err: exec: "docker-credential-missing-helper": '
        "executable file not found in $PATH, out: ``"
    )
    with pytest.raises(Unavailable, match="error storing credentials"):
        credentials.store("other.local", Credentials("u", "p"), env)
    credentials.store("reg.local", Credentials("frank", "pw2"), env)
    assert secrets(env)["reg.local"] == {"Username": "frank", "Secret": "pw2"}


def test_cred_helpers_keys_are_matched_by_host(env: dict[str, str]) -> None:
    write_config(env, {"credHelpers": {"https://reg.local/": "pinnacetest", "docker.io": "pinnacetest"}})
    credentials.store("reg.local", Credentials("u", "p"), env)
    credentials.store("docker.io", Credentials("h", "q"), env)
    assert set(secrets(env)) == {"reg.local", HUB}
    assert credentials.lookup("registry-1.docker.io", env) == Credentials("h", "q")


def test_helper_errors_in_dockers_words(env: dict[str, str]) -> None:
    write_config(env, {"credsStore": "pinnacetest"})
    failing = {**env, "HELPER_FAIL": "1"}
    with pytest.raises(Unavailable) as caught:
        credentials.lookup("reg.local", failing)
    assert str(caught.value) == "error getting credentials - err: exit status 3, out: `keychain is locked`"
    with pytest.raises(Unavailable, match="^error storing credentials - err: exit status 3"):
        credentials.store("reg.local", Credentials("u", "p"), failing)
    with pytest.raises(Unavailable, match="^error erasing credentials - err: exit status 3"):
        credentials.erase("reg.local", failing)
    assert read_config(env) == {"credsStore": "pinnacetest"}  # nothing written after a failed helper


def test_helper_answer_that_is_not_json(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bin" / "docker-credential-garbled"
    bad.write_text("#!/bin/sh\necho 'user hunter2'\n")
    bad.chmod(0o755)
    write_config(env, {"credsStore": "garbled"})
    with pytest.raises(Unavailable, match="not a JSON credentials object") as caught:
        credentials.lookup("reg.local", env)
    assert "hunter2" not in str(caught.value)


def test_erase_asks_the_helper_and_clears_the_entry(env: dict[str, str]) -> None:
    write_config(env, {"credsStore": "pinnacetest", "detachKeys": "ctrl-p"})
    credentials.store("reg.local", Credentials("u", "p"), env)
    assert credentials.erase("reg.local", env)
    assert secrets(env) == {}
    assert read_config(env) == {"credsStore": "pinnacetest", "detachKeys": "ctrl-p", "auths": {}}
    assert calls(env)[-1] == ["erase", "reg.local"]
    assert credentials.lookup("reg.local", env).empty
    assert not credentials.erase("reg.local", env)  # the helper's "not found" is nothing removed
