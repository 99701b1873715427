"""The service never lends its own host's registry credentials: a client's push or pull carries only
what the client sent (``X-Registry-Auth``), as dockerd, whose daemon keeps no credentials at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.api_service import serving
from tests.helpers.pinnace_registry import as_user
from tests.integration.test_registry_tokens import token_registry
from tests.integration.test_remote_cli import remote

__all__ = ["token_registry"]  # a fixture used here

pytestmark = pytest.mark.root


def test_a_client_that_never_logged_in_cannot_use_the_hosts_login(
    engine: Pinnace, token_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = token_registry
    hosts_config = tmp_path / "service-host-config"
    login = as_user(engine, hosts_config)("login", "-u", "alice", "--password-stdin", host, stdin="alice-pw\n")
    assert login.returncode == 0, login.stderr
    app = f"{host}/alice/app:1"
    engine.run("tag", "busybox", app)
    monkeypatch.setenv("DOCKER_CONFIG", str(hosts_config))  # the service's own: alice is logged in there
    for url in serving(engine, tmp_path / "api"):
        client_config = str(tmp_path / "client-config")  # the client's: nobody logged in
        refused = remote(url, tmp_path, "push", app, check=False, DOCKER_CONFIG=client_config)
        assert refused.returncode == 1
        assert refused.stderr == "Error response from daemon: unauthorized: authentication required\n"
        logged = remote(url, tmp_path, "login", "-u", "alice", "--password-stdin", host, input="alice-pw\n", DOCKER_CONFIG=client_config)  # fmt: skip
        assert logged.stdout == "Login Succeeded\n"
        pushed = remote(url, tmp_path, "push", app, check=False, DOCKER_CONFIG=client_config)
        assert pushed.returncode == 0, pushed.stderr
