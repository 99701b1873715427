"""The registry server's settings (distribution's config.yml shape, REGISTRY_* overrides) and its ACLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.distribution.server.config import ConfigError, load
from pinnace.distribution.server.tokens import Acl, Scope

DISTRIBUTION_CONFIG = """
version: 0.1
log:
  fields:
    service: registry
  formatter: json
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /srv/registry
  delete:
    enabled: false
  maintenance:
    uploadpurging:
      age: 2h
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/registry/htpasswd
notifications:
  endpoints: []
health:
  storagedriver:
    enabled: true
"""


def test_a_distribution_config_file_is_read_as_distribution_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(DISTRIBUTION_CONFIG)
    s = load(str(path), environ={})
    assert (s.addr, s.root, s.delete_enabled, s.upload_ttl) == (
        "0.0.0.0:5000",
        "/srv/registry",
        False,
        7200.0,
    )
    assert (s.htpasswd, s.access_log, s.token, s.proxy) == ("/etc/registry/htpasswd", "json", None, None)
    assert s.warnings == [f"{path}: notifications is not supported; ignored"]
    s.check()


def test_environment_overrides_and_pinnace_extensions(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(DISTRIBUTION_CONFIG)
    env = {
        "REGISTRY_HTTP_ADDR": "127.0.0.1:6000",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        "REGISTRY_PROXY_REMOTEURL": "http://127.0.0.1:5001/",
        "REGISTRY_AUTH_TOKEN_ACL": "/etc/registry/acl.yml",
        "REGISTRY_AUTH_TOKEN_EXPIRATION": "10m",
        "REGISTRY_LOG_ACCESSLOG_DISABLED": "true",
        "HOME": "/root",
    }
    s = load(str(path), environ=env)
    assert (s.addr, s.delete_enabled, s.access_log) == ("127.0.0.1:6000", True, "none")
    assert s.proxy is not None and s.proxy.remoteurl == "http://127.0.0.1:5001"
    assert s.token is not None and (s.token.acl, s.token.expiration, s.token.realm) == (
        "/etc/registry/acl.yml",
        600.0,
        "",
    )
    assert load("", environ={}).root == "/var/lib/pinnace-registry"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http: [1, 2]\n", "http must be a mapping"),
        ("http:\n  addr: [1]\n", "http.addr must be a string"),
        ("storage:\n  delete:\n    enabled: maybe\n", "storage.delete.enabled must be true or false"),
        ("auth:\n  token:\n    expiration: soon\n", "invalid duration 'soon'"),
        ("- a list\n", "a mapping expected"),
        ("http: {addr: [\n", "configuration file"),
    ],
)
def test_bad_config_files_get_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(str(path), environ={}).check()
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("auth:\n  token:\n    service: x\n", "token auth needs an ACL file"),
        ("auth:\n  token:\n    realm: http://auth/token\n", "needs its rootcertbundle"),
        ("proxy:\n  remoteurl: registry-1.docker.io\n", "invalid proxy remoteurl"),
        ("http:\n  addr: nowhere\n", "invalid address"),
        ("http:\n  tls:\n    certificate: /c.pem\n", "go together"),
    ],
)
def test_settings_that_cannot_work_together(tmp_path: Path, settings: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(settings)
    with pytest.raises(ConfigError, match=message):
        load(str(path), environ={}).check()


def test_acl_first_match_wins_with_account_substitution_and_anonymous(tmp_path: Path) -> None:
    path = tmp_path / "acl.yml"
    path.write_text(
        """
- {account: admin, name: "*", actions: ["*"]}
- {account: "*", name: "${account}/*", actions: [pull, push]}
- {account: "*", name: "secret/*", actions: []}
- {account: "*", name: "*", actions: [pull]}
- {account: "", name: "public/*", actions: [pull]}
"""
    )
    acl = Acl.load(str(path))

    def grant(account: str, scope: str) -> set[str]:
        parsed = Scope.parse(scope)
        assert parsed is not None
        return set(acl.grant(account, parsed))

    assert grant("admin", "repository:any/thing:pull,push,delete") == {"pull", "push", "delete"}
    assert grant("alice", "repository:alice/app:pull,push,delete") == {"pull", "push"}
    assert grant("alice", "repository:bob/app:pull,push") == {"pull"}
    assert grant("alice", "repository:secret/x:pull") == set()
    assert grant("", "repository:public/x:pull,push") == {"pull"}
    assert grant("", "repository:alice/app:pull") == set()  # "*" is signed-in users only
    assert grant("alice", "registry:catalog:*") == set()
    assert Scope.parse("repository:host:5000/name:pull") == Scope(
        "repository", "host:5000/name", frozenset({"pull"})
    )
    assert Scope.parse("nonsense") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{account: a}\n", "a list of entries expected"),
        ("- {account: a, actions: [fly]}\n", "actions must be"),
        ("- {account: a, colour: red}\n", "unknown key 'colour'"),
        ("- [1]\n", "entry 1 is not a mapping"),
    ],
)
def test_bad_acl_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "acl.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Acl.load(str(path))
