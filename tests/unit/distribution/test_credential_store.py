"""docker's config.json credentials: auths, credsStore and credHelpers through a real helper program."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from pinnace.distribution import credentials
from pinnace.distribution.credentials import Credentials
from pinnace.errors import Unavailable

HELPER = """#!/bin/sh
# docker-credential-pinnacetest: secrets in $SECRETS (a JSON file), the helper protocol on stdin/stdout
action=$1
input=$(cat)
exec python3 -c '
import json, os, sys
action, data = sys.argv[1], sys.argv[2]
path = os.environ["SECRETS"]
db = json.load(open(path)) if os.path.exists(path) else {}
if action == "get":
    if data not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps({"ServerURL": data, **db[data]}))
elif action == "store":
    doc = json.loads(data); db[doc["ServerURL"]] = {"Username": doc["Username"], "Secret": doc["Secret"]}
    json.dump(db, open(path, "w"))
elif action == "erase":
    if data not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    del db[data]; json.dump(db, open(path, "w"))
' "$action" "$input"
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
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SECRETS": str(tmp_path / "secrets.json"),
        "HOME": str(tmp_path),
    }


def test_auths_round_trip_keeps_other_keys(env: dict[str, str]) -> None:
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "psFormat": "table {{.ID}}",
                "auths": {"https://other.example/v2/": {"auth": base64.b64encode(b"u:p").decode()}},
            }
        )
    )
    assert credentials.lookup("other.example", env) == Credentials("u", "p")  # a URL-form key, by its host
    credentials.store("reg.local:5000", Credentials("alice", "secret"), env)
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "table {{.ID}}"
    assert base64.b64decode(doc["auths"]["reg.local:5000"]["auth"]) == b"alice:secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert credentials.lookup("reg.local:5000", env) == Credentials("alice", "secret")
    assert credentials.erase("reg.local:5000", env) and not credentials.erase("reg.local:5000", env)
    assert credentials.lookup("reg.local:5000", env).empty


def test_docker_hub_key_and_identity_tokens(env: dict[str, str]) -> None:
    assert credentials.server_key("docker.io") == credentials.hub_key() == "https://index.docker.io/v1/"
    credentials.store("docker.io", Credentials("bob", identity_token="refresh-123"), env)
    doc = json.loads((Path(env["DOCKER_CONFIG"]) / "config.json").read_text())
    assert doc["auths"]["https://index.docker.io/v1/"]["identitytoken"] == "refresh-123"
    assert credentials.lookup("index.docker.io", env) == Credentials("bob", "", "refresh-123")


def test_creds_store_and_cred_helpers(env: dict[str, str], tmp_path: Path) -> None:
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"credsStore": "pinnacetest"}))
    credentials.store("reg.local:5000", Credentials("carol", "pw"), env)
    assert (
        json.loads(path.read_text())["auths"]["reg.local:5000"] == {}
    )  # as docker: the secret is the helper's
    assert "pw" not in path.read_text()
    assert credentials.lookup("reg.local:5000", env) == Credentials("carol", "pw")
    credentials.store("tok.local", Credentials("dave", identity_token="idt"), env)
    assert credentials.lookup("tok.local", env) == Credentials(identity_token="idt")  # "<token>" user
    assert credentials.lookup("nothing.local", env).empty  # the helper's not-found is no credentials
    # credHelpers wins over credsStore for its registry
    path.write_text(
        json.dumps({"credsStore": "missing-helper", "credHelpers": {"reg.local:5000": "pinnacetest"}})
    )
    assert credentials.lookup("reg.local:5000", env) == Credentials("carol", "pw")
    with pytest.raises(Unavailable, match="docker-credential-missing-helper"):
        credentials.lookup("tok.local", env)
    path.write_text(json.dumps({"credsStore": "pinnacetest"}))
    assert credentials.erase("reg.local:5000", env)
    assert credentials.lookup("reg.local:5000", env).empty
