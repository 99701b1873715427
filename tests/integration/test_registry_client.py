"""pull, push, login and logout against CNCF distribution started on 127.0.0.1: with no auth, with
htpasswd basic auth, and with token auth (the tests' token issuer); credentials in a private
DOCKER_CONFIG, written as docker writes them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.registry import Registry, running_registry

pytestmark = pytest.mark.root

if shutil.which("docker-registry") is None:
    pytest.skip("docker-registry (CNCF distribution) is not installed", allow_module_level=True)


def cli(
    store: Pinnace, *args: str, config: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """pinnace with DOCKER_CONFIG at ``config`` (a private ~/.docker)."""
    return subprocess.run(
        [str(PINNACE), "--root", str(store.root), "--runroot", str(store.runroot), *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOCKER_CONFIG": str(config)},
    )  # fmt: skip


registry_with = contextlib.contextmanager(running_registry)


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Registry]:
    yield from running_registry(tmp_path / "registry")


def test_push_then_pull_into_another_store_and_run(engine: Pinnace, plain: Registry, tmp_path: Path) -> None:
    ref = f"{plain.host}/team/app:1"
    engine.run("tag", "busybox", ref)
    pushed = engine.run("push", ref).stdout.splitlines()
    assert pushed[0] == f"The push refers to repository [{ref.rsplit(':', 1)[0]}]"
    assert pushed[-1].startswith("1: digest: sha256:") and " size: " in pushed[-1]
    assert sum(line.endswith(": Pushed") for line in pushed) == 2  # the layer and the config
    digest = pushed[-1].split()[2]
    again = engine.run("push", ref).stdout
    assert again.count(": Layer already exists") == 2

    other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
    out = other.run("pull", ref).stdout.splitlines()
    assert out[0] == "1: Pulling from team/app"
    assert out[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}", ref]
    assert any(line.endswith(": Pull complete") for line in out)
    info = json.loads(other.run("image", "inspect", ref).stdout)[0]
    assert info["RepoDigests"] == [f"{plain.host}/team/app@{digest}"]
    assert info["Id"] == json.loads(engine.run("image", "inspect", "busybox").stdout)[0]["Id"]
    assert other.run("run", "--rm", "--network", "none", ref, "echo", "pulled").stdout == "pulled\n"
    out = other.run("pull", ref).stdout
    assert f"Status: Image is up to date for {ref}\n" in out and ": Already exists" in out
    by_digest = other.run("pull", "-q", f"{plain.host}/team/app@{digest}").stdout
    assert by_digest == f"{plain.host}/team/app@{digest}\n"
    # a push to another repository of the registry mounts the blobs across
    engine.run("tag", "busybox", f"{plain.host}/elsewhere/app:2")
    mounted = engine.run("push", f"{plain.host}/elsewhere/app:2").stdout
    assert mounted.count(": Mounted from team/app") == 2
    stop_zygotes(other)


def test_run_pulls_a_missing_image_with_progress_on_stderr(
    engine: Pinnace, plain: Registry, tmp_path: Path
) -> None:
    ref = f"{plain.host}/run/me:latest"
    engine.run("tag", "busybox", ref)
    engine.run("push", ref)
    fresh = Pinnace(tmp_path / "fresh-root", tmp_path / "fresh-run")
    proc = fresh.run("run", "--rm", "--network", "none", f"{plain.host}/run/me", "echo", "ran")
    assert proc.stdout == "ran\n"
    assert proc.stderr.startswith(f"Unable to find image '{ref}' locally\nlatest: Pulling from run/me\n")
    assert f"Status: Downloaded newer image for {ref}\n" in proc.stderr
    stop_zygotes(fresh)


def test_basic_auth_login_push_pull_logout(engine: Pinnace, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    with registry_with(tmp_path / "registry", auth="htpasswd", users={"alice": "wonderland"}) as registry:
        ref = f"{registry.host}/alice/app:1"
        engine.run("tag", "busybox", ref)
        denied = cli(engine, "push", ref, config=config)
        assert denied.returncode == 1 and "unauthorized" in denied.stderr
        wrong = cli(
            engine, "login", "-u", "alice", "--password-stdin", registry.host, config=config, stdin="nope\n"
        )
        assert wrong.returncode == 1 and wrong.stderr.startswith("Error response from daemon: ")
        assert not (config / "config.json").exists()
        ok = cli(
            engine,
            "login",
            "-u",
            "alice",
            "--password-stdin",
            registry.host,
            config=config,
            stdin="wonderland\n",
        )
        assert ok.returncode == 0 and ok.stdout == "Login Succeeded\n"
        saved = json.loads((config / "config.json").read_text())
        assert base64.b64decode(saved["auths"][registry.host]["auth"]) == b"alice:wonderland"
        assert (config / "config.json").stat().st_mode & 0o777 == 0o600
        assert cli(engine, "push", ref, config=config).returncode == 0
        other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
        assert cli(other, "pull", ref, config=config).returncode == 0
        out = cli(engine, "logout", registry.host, config=config)
        assert out.stdout == f"Removing login credentials for {registry.host}\n"
        assert registry.host not in json.loads((config / "config.json").read_text()).get("auths", {})
        assert (
            cli(engine, "logout", registry.host, config=config).stdout
            == f"Not logged in to {registry.host}\n"
        )
        refused = cli(other, "pull", ref, config=config)
        assert refused.returncode == 1 and "unauthorized" in refused.stderr.lower()


def test_token_auth_with_a_refresh_token(engine: Pinnace, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    with registry_with(tmp_path / "registry", auth="token", users={"bob": "builder"}) as registry:
        ref = f"{registry.host}/bob/app:1"
        engine.run("tag", "busybox", ref)
        anonymous = cli(engine, "pull", ref, config=config)
        assert anonymous.returncode == 1
        assert "pull access denied for " + f"{registry.host}/bob/app" in anonymous.stderr
        ok = cli(
            engine, "login", "-u", "bob", "--password-stdin", registry.host, config=config, stdin="builder"
        )
        assert ok.returncode == 0, ok.stderr
        saved = json.loads((config / "config.json").read_text())["auths"][registry.host]
        assert saved.get("identitytoken")  # the issuer's refresh token, not the password
        assert "builder" not in (config / "config.json").read_text()
        pushed = cli(engine, "push", ref, config=config)
        assert pushed.returncode == 0, pushed.stderr
        other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
        pulled = cli(other, "pull", ref, config=config)
        assert pulled.returncode == 0, pulled.stderr
        grants = [i["grant"] for i in registry.issued]
        assert "refresh_token" in grants  # push and pull traded the identity token for access tokens
        scopes = {s for i in registry.issued for s in i["scope"]}
        assert "repository:bob/app:pull,push" in scopes and "repository:bob/app:pull" in scopes


def stop_zygotes(store: Pinnace) -> None:
    from tests.helpers.zygote import stop_zygote

    stop_zygote(store.runroot)


def test_docker_hub_images_come_from_a_mirror(engine: Pinnace, plain: Registry, tmp_path: Path) -> None:
    # The mirror holds library/busybox; a store configured with it pulls "busybox" from there alone
    # (it never falls back to Docker Hub when the mirror answers: nothing leaves the machine).
    engine.run("tag", "busybox", f"{plain.host}/library/busybox:latest")
    engine.run("push", f"{plain.host}/library/busybox:latest")
    fresh = Pinnace(tmp_path / "mirrored-root", tmp_path / "mirrored-run")
    (fresh.root / "daemon.json").write_text(json.dumps({"bridge": "none", "registry-mirrors": [plain.url]}))
    out = fresh.run("pull", "busybox").stdout
    assert out.startswith("Using default tag: latest\nlatest: Pulling from library/busybox\n")
    assert out.endswith(
        "Status: Downloaded newer image for busybox:latest\ndocker.io/library/busybox:latest\n"
    )
    assert json.loads(fresh.run("image", "inspect", "busybox").stdout)[0]["RepoTags"] == ["busybox:latest"]
