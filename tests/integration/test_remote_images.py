"""Image transfers against a remote engine (``save``, ``load``, ``import``, ``push``, ``login``/``logout``,
``image prune``) print what the local CLI prints for the same store; the registry credentials stay with
the client (its own docker config) and travel as ``X-Registry-Auth``.  Locally and remotely, an image a
container uses is kept (``rmi`` refuses in docker's words, ``image prune`` leaves it), and ``save -o``
writes straight into an output that is no regular file (a fifo) instead of renaming a file over it."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.pinnace_registry import as_user
from tests.integration.test_registry_tokens import token_registry
from tests.integration.test_remote_cli import _env, remote, service

__all__ = ["service", "token_registry"]  # fixtures used here

pytestmark = pytest.mark.root

Run = Callable[..., subprocess.CompletedProcess[str]]


def remote_bytes(
    host: str, tmp_path: Path, *args: str, input: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """``remote`` for archives: bytes in and out."""
    return subprocess.run(
        [str(PINNACE), "-H", host, *args], input=input, capture_output=True, timeout=60, env=_env(tmp_path)
    )


def same_failure(local: subprocess.CompletedProcess[str], far: subprocess.CompletedProcess[str]) -> None:
    assert far.returncode == local.returncode == 1, (local, far)
    assert far.stderr == local.stderr and far.stderr.count("\n") == 1, (local.stderr, far.stderr)


def test_save_and_load_print_what_the_local_cli_prints(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("tag", "busybox", "other:1")
    near, far = tmp_path / "near.tar", tmp_path / "far.tar"
    engine.run("save", "-o", str(near), "busybox", "other:1")
    remote(service, tmp_path, "save", "-o", str(far), "busybox", "other:1")
    assert far.read_bytes() == near.read_bytes()
    streamed = remote_bytes(service, tmp_path, "save", "busybox")
    assert streamed.returncode == 0 and streamed.stdout == engine.run_bytes("save", "busybox").stdout
    engine.run("rmi", "busybox", "other:1")
    loaded = remote(service, tmp_path, "load", "-i", str(far)).stdout
    assert sorted(loaded.splitlines()) == ["Loaded image: busybox:latest", "Loaded image: other:1"]
    engine.run("rmi", "busybox", "other:1")
    assert engine.run("load", "-i", str(near)).stdout == loaded
    # -q hides progress, not what was loaded (docker's too); from stdin
    quiet = remote_bytes(service, tmp_path, "load", "-q", input=near.read_bytes())
    assert quiet.returncode == 0 and quiet.stdout.decode() == loaded
    assert engine.run("load", "-q", input=near.read_bytes()).stdout == loaded
    assert engine.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.splitlines() == [
        "busybox:latest",
        "other:1",
    ]
    for args in (
        ("save", "nothing-here"),
        ("save", "-o", str(tmp_path / "none.tar"), "busybox", "nothing-here"),
        ("save", "--format", "bad", "busybox"),
        ("load", "-i", str(tmp_path / "missing.tar")),
    ):
        same_failure(engine.run(*args, check=False), remote(service, tmp_path, *args, check=False))
    assert not (tmp_path / "none.tar").exists() and not list(tmp_path.glob("none.tar.*"))
    garbage = remote_bytes(service, tmp_path, "load", input=b"garbage" * 1000)
    assert garbage.returncode == 1
    assert garbage.stderr == engine.run_bytes("load", input=b"garbage" * 1000).stderr
    oci = remote(service, tmp_path, "save", "--format", "oci", "busybox", check=False)
    assert (oci.returncode, oci.stdout, oci.stderr) == (
        125,
        "",
        "pinnace image save: not supported against a remote engine yet\n",
    )


def _save_into_fifo(run: Run, fifo: Path) -> bytes:
    """``save -o FIFO busybox`` with a reader on the other end; what the reader got."""
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        run("save", "-o", str(fifo), "busybox")
    finally:
        if not got:  # a save that never opened the fifo: let the reader go (it sees end of file)
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        reader.join(60)
    assert not reader.is_alive()
    return got[0]


def test_save_writes_straight_into_a_fifo(engine: Pinnace, service: str, tmp_path: Path) -> None:
    archive = engine.run_bytes("save", "busybox").stdout
    fifo = tmp_path / "out" / "pipe"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    for run in (engine.run, lambda *args: remote(service, tmp_path, *args)):
        assert _save_into_fifo(run, fifo) == archive
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the fifo: no file renamed over it
        assert [p.name for p in fifo.parent.iterdir()] == ["pipe"]


def test_import(engine: Pinnace, service: str, tmp_path: Path, rootfs_tar: Path) -> None:
    far = remote(
        service, tmp_path, "import", "-c", 'CMD ["echo", "imported"]', "--change", "ENV A=b", "-m", "from afar",
        str(rootfs_tar), "imp:1",
    ).stdout  # fmt: skip
    assert far.startswith("sha256:") and len(far) == 72
    assert engine.run("inspect", "--format", "{{.Id}} {{.Config.Env}} {{.Comment}}", "imp:1").stdout == (
        f"{far.strip()} [A=b] from afar\n"
    )
    assert engine.run("run", "--rm", "--network", "none", "imp:1").stdout == "imported\n"
    piped = remote_bytes(service, tmp_path, "import", "-", "imp:2", input=rootfs_tar.read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert engine.run("inspect", "--format", "{{.Id}}", "imp:2").stdout == piped.stdout.decode()
    nameless = remote(service, tmp_path, "import", str(rootfs_tar)).stdout
    assert nameless in engine.run("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout
    for args in (
        ("import", str(tmp_path / "missing.tar")),
        ("import", "-c", "BOGUS x", str(rootfs_tar)),
        ("import", str(rootfs_tar), "Bad:Ref"),
    ):
        same_failure(engine.run(*args, check=False), remote(service, tmp_path, *args, check=False))


def test_image_prune_keeps_what_containers_use(
    engine: Pinnace, service: str, tmp_path: Path, rootfs_tar: Path
) -> None:
    dangling = engine.run("import", str(rootfs_tar)).stdout.strip()
    used = engine.run("import", str(rootfs_tar)).stdout.strip()
    engine.run("create", "--name", "user", "--network", "none", used, "true")
    busybox = engine.run("inspect", "--format", "{{.Id}}", "busybox").stdout.strip()
    asked = remote(service, tmp_path, "image", "prune", input="")  # no answer: a no
    assert asked.stdout == engine.run("image", "prune", input=b"").stdout
    assert asked.stdout.startswith("WARNING! This will remove all dangling images.\n")
    out = remote(service, tmp_path, "image", "prune", "-f").stdout.splitlines()
    assert out[:3] == ["Deleted Images:", f"deleted: {dangling}", ""] and len(out) == 4
    assert out[3].startswith("Total reclaimed space: ")
    out = remote(service, tmp_path, "image", "prune", "-a", "-f").stdout.splitlines()
    assert out[:4] == ["Deleted Images:", "untagged: busybox:latest", f"deleted: {busybox}", ""]
    assert engine.run("images", "-q", "--no-trunc").stdout == f"{used}\n"  # the container's image stays
    for args in (("image", "prune", "-a", "-f"), ("image", "prune", "-f")):
        assert (
            remote(service, tmp_path, *args).stdout
            == engine.run(*args).stdout
            == "Total reclaimed space: 0B\n"
        )
    args = ("image", "prune", "-f", "--filter", "foo=bar")
    same_failure(engine.run(*args, check=False), remote(service, tmp_path, *args, check=False))


def test_rmi_refuses_an_image_containers_use(
    engine: Pinnace, service: str, tmp_path: Path, rootfs_tar: Path
) -> None:
    cid = engine.run("create", "--name", "stopped", "--network", "none", "busybox", "true").stdout.strip()[
        :12
    ]
    image = engine.run("inspect", "--format", "{{.Id}}", "busybox").stdout.strip()
    short = image[7:19]
    daemon = "Error response from daemon: conflict: unable to"
    for run in (engine.run, lambda *args, **kw: remote(service, tmp_path, *args, **kw)):
        by_name = run("rmi", "busybox", check=False)
        assert (by_name.returncode, by_name.stdout, by_name.stderr) == (
            1,
            "",
            f'{daemon} remove repository reference "busybox" (must force) - container {cid} is using its '
            f"referenced image {short}\n",
        )
        by_id = run("rmi", short, check=False)
        assert (by_id.returncode, by_id.stderr) == (
            1,
            f"{daemon} delete {short} (must be forced) - image is being used by stopped container {cid}\n",
        )
    engine.run("tag", "busybox", "second:1")  # one of two names: only untagged
    assert remote(service, tmp_path, "rmi", "second:1").stdout == "Untagged: second:1\n"
    engine.run("rm", "stopped")
    rid = engine.run(
        "run", "-d", "--name", "running", "--network", "none", "busybox", "busybox", "sleep", "60"
    )
    forced = remote(service, tmp_path, "rmi", "-f", short, check=False)
    assert (forced.returncode, forced.stderr) == (
        1,
        f"{daemon} delete {short} (cannot be forced) - image is being used by running container "
        f"{rid.stdout.strip()[:12]}\n",
    )
    # by its last name, -f untags the image of a running container and keeps it, as docker does
    assert remote(service, tmp_path, "rmi", "-f", "busybox").stdout == "Untagged: busybox:latest\n"
    assert engine.run("images", "-q").stdout == f"{short}\n"
    engine.run("rm", "-f", "running")
    pruned = remote(service, tmp_path, "image", "prune", "-f").stdout.splitlines()
    assert pruned[:3] == ["Deleted Images:", f"deleted: {image}", ""]  # dangling and unused now
    # a stopped container's image goes with -f, by ID as by name
    imported = engine.run("import", str(rootfs_tar), "imp:1").stdout.strip()
    engine.run("create", "--name", "later", "--network", "none", "imp:1", "true")
    forced = remote(service, tmp_path, "rmi", "-f", imported[7:19])
    assert forced.stdout == f"Untagged: imp:1\nDeleted: {imported}\n"


def _shape(out: str) -> tuple[str, list[str]]:
    """A push's output: its first line, and the others sorted (layers go in parallel)."""
    lines = out.splitlines()
    return lines[0], sorted(lines[1:])


def test_push_login_pull_logout(engine: Pinnace, service: str, token_registry: str, tmp_path: Path) -> None:
    host = token_registry
    config = tmp_path / "far-config"

    def far(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return remote(service, tmp_path, *args, input=input, check=False, DOCKER_CONFIG=str(config))

    near = as_user(engine, tmp_path / "near-config")
    app = f"{host}/alice/app:1"
    engine.run("tag", "busybox", app)
    # no credentials: the registry refuses, in the local CLI's words
    refused, local = far("push", app), near("push", app)
    assert refused.returncode == local.returncode == 1
    assert (
        refused.stderr
        == local.stderr
        == "Error response from daemon: unauthorized: authentication required\n"
    )
    assert _shape(refused.stdout) == _shape(local.stdout)
    bad, local = (
        far("login", "-u", "alice", "--password-stdin", host, input="nope\n"),
        near("login", "-u", "alice", "--password-stdin", host, stdin="nope\n"),
    )
    same_failure(local, bad)
    assert not (config / "config.json").exists()
    logged = far("login", "-u", "alice", "--password-stdin", host, input="alice-pw\n")
    assert (logged.returncode, logged.stdout) == (0, "Login Succeeded\n"), logged.stderr
    assert host in (config / "config.json").read_text()  # kept by the client, not the service
    pushed = far("push", app)
    assert pushed.returncode == 0, pushed.stderr
    near("login", "-u", "alice", "--password-stdin", host, stdin="alice-pw\n")
    again = near("push", app)  # the same image again: the same repository line and result
    *layers, last = pushed.stdout.splitlines()[1:]
    assert last == again.stdout.splitlines()[-1] and last.startswith("1: digest: sha256:")
    assert _shape(pushed.stdout) == _shape(again.stdout.replace("Layer already exists", "Pushed"))
    assert pushed.stdout.startswith(f"The push refers to repository [{host}/alice/app]\n")
    assert {line.split(": ")[1] for line in layers} == {"Preparing", "Pushed"}
    digest = f"{host}/alice/app@sha256:{'0' * 64}"
    same_failure(near("push", digest), far("push", digest))
    assert far("push", digest).stderr == "cannot push a digest reference\n"
    for ref in (f"{host}/alice/nothing:1", f"{host}/bob/app:1"):  # no such image; another user's repository
        if ref.endswith("bob/app:1"):
            engine.run("tag", "busybox", ref)
        failed, local = far("push", ref), near("push", ref)
        same_failure(local, failed)
        assert _shape(failed.stdout) == _shape(local.stdout)
    # a pull sends the client's credentials: alice's repositories are no one else's to pull
    engine.run("rmi", app)
    pulled = far("pull", "-q", app)
    assert (pulled.returncode, pulled.stdout) == (0, f"{app}\n"), pulled.stderr
    assert far("logout", host).stdout == f"Removing login credentials for {host}\n"
    assert far("logout", host).stdout == f"Not logged in to {host}\n"
    engine.run("rmi", app)
    anonymous, local = far("pull", "-q", app), as_user(engine, tmp_path / "nobody")("pull", "-q", app)
    same_failure(local, anonymous)
    assert anonymous.stderr.startswith(f"Error response from daemon: pull access denied for {host}/alice/app")
