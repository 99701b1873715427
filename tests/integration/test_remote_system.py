"""The remote CLI's system, events, volume and network commands (``pinnace -H URL system df|prune``,
``events``, ``volume prune``/``ls --filter``, ``network connect|disconnect|prune|ls --filter``) against
``pinnace system service``: each prints what the local CLI prints for the same store (pruning is
compared on two identical setups, the names that differ between them replaced)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace, make_rootfs_tar
from tests.integration.test_remote_cli import _env, remote, service

__all__ = ["service"]  # the fixture, used by every test here

pytestmark = pytest.mark.root


def same(engine: Pinnace, host: str, tmp_path: Path, *args: str, input: str | None = None) -> str:
    """Run ``args`` locally and remotely; assert the same exit code, stdout and stderr; the stdout."""
    here = engine.run(*args, check=False, input=input.encode() if input is not None else None)
    there = remote(host, tmp_path, *args, check=False, input=input)
    assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr), args
    return there.stdout


def docker(host: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """The real docker CLI against the service (with a config directory of the test's own), None
    when it is not installed."""
    if shutil.which("docker") is None:
        return None
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def twice(
    engine: Pinnace,
    host: str,
    tmp_path: Path,
    setup: Callable[[], Mapping[str, str]],
    *args: str,
    with_docker: bool = False,
) -> str:
    """A destructive command compared: ``setup`` (which returns the names it made that differ between
    runs, with a placeholder each) then ``args`` remotely, the same again locally (and with ``with_docker``
    a third time by the real docker CLI against the service, when it is installed); the outputs with the
    placeholders put in must be equal (exit codes and stderr too). The remote one's."""
    runners: list[Callable[[], subprocess.CompletedProcess[str] | None]] = [
        lambda: remote(host, tmp_path, *args, check=False),
        lambda: engine.run(*args, check=False),
    ]
    if with_docker and shutil.which("docker") is not None:
        runners.append(lambda: docker(host, tmp_path, *args))
    outputs = []
    for run in runners:
        names = setup()
        proc = run()
        assert proc is not None
        text = proc.stdout
        for name, placeholder in names.items():
            text = text.replace(name, placeholder)
        outputs.append((proc.returncode, text, proc.stderr))
    assert outputs[1:] == outputs[:1] * (len(outputs) - 1), args
    return outputs[0][1]


def fill(engine: Pinnace, volume: str, size: int) -> None:
    mountpoint = engine.run("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip()
    Path(mountpoint, "data").write_bytes(b"x" * size)


# --------------------------------------------------------------------------- system df


def test_system_df_prints_what_the_local_cli_prints(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("volume", "create", "idle")
    engine.run("volume", "create", "used")
    anon = engine.run("volume", "create").stdout.strip()
    fill(engine, "idle", 1000)
    fill(engine, "used", 3000)
    fill(engine, anon, 500)
    engine.run("create", "--name", "user", "--network", "none", "-v", "used:/data", "busybox", "true")
    engine.run("run", "--name", "writer", "--network", "none", "busybox", "sh", "-c", "echo x > /made")
    fmt = "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}"
    assert same(engine, service, tmp_path, "system", "df", "--format", fmt).splitlines()[2:] == [
        "Local Volumes|3|1|4.5kB|1.5kB (33%)",
        "Build Cache|0|0|0B|0B",
    ]
    counts = same(
        engine, service, tmp_path, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"
    )
    assert counts == "Images 1 1\nContainers 2 0\nLocal Volumes 3 1\nBuild Cache 0 0\n"
    table = same(engine, service, tmp_path, "system", "df")
    assert table.startswith("TYPE            TOTAL     ACTIVE")
    real = docker(service, tmp_path, "system", "df")  # the real docker CLI sums the document the same way
    assert real is None or (real.returncode, real.stdout) == (0, table)
    same(engine, service, tmp_path, "system", "df", "--format", "json")
    verbose = same(engine, service, tmp_path, "system", "df", "-v")
    assert verbose.startswith("Local Volumes space usage:\n\nVOLUME NAME") and "\nused " in verbose
    fmt = "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}} {{.Mountpoint}};{{end}}"
    assert "used 1 3kB /" in same(engine, service, tmp_path, "system", "df", "-v", "--format", fmt)
    # bad input: docker's usage error (125) and a template that does not parse
    proc = remote(service, tmp_path, "system", "df", "extra", check=False)
    assert proc.returncode == 125 and proc.stderr.startswith(
        '"pinnace system df" requires exactly 0 arguments.\n'
    )
    same(engine, service, tmp_path, "system", "df", "--format", "{{.Nope")


# --------------------------------------------------------------------------- events


def _read_until(proc: subprocess.Popen[bytes], wanted: bytes, seconds: float) -> bytes:
    """What ``proc`` wrote to stdout until ``wanted`` appeared in it (or the deadline passed)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    out = b""
    deadline = time.monotonic() + seconds
    while wanted not in out and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    return out


def test_events_replay_and_follow(engine: Pinnace, service: str, tmp_path: Path) -> None:
    since = str(time.time_ns() // 1_000_000_000 - 1)
    engine.run("volume", "create", "ev1")
    engine.run("create", "--name", "evc", "--network", "none", "busybox", "true")
    engine.run("rm", "evc")
    until = str(time.time_ns() // 1_000_000_000 + 1)  # the stream ends once this has passed
    bounds = ("--since", since, "--until", until)
    lines = same(engine, service, tmp_path, "events", *bounds)
    assert " volume create ev1 (driver=local)\n" in lines
    real = docker(service, tmp_path, "events", *bounds)
    assert real is None or (real.returncode, real.stdout) == (0, lines)
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    only = same(engine, service, tmp_path, "events", *bounds, "--filter", "type=container", "--format", fmt)
    assert only.splitlines() == ["container create evc", "container destroy evc"]
    same(engine, service, tmp_path, "events", *bounds, "--format", "json")
    same(engine, service, tmp_path, "events", *bounds, "--filter", "event=create", "--format", "{{json .}}")
    # followed until interrupted: the replay, then what happens while it runs
    argv = [str(PINNACE), "-H", service, "events", "--since", since, "--filter", "type=volume"]
    follower = subprocess.Popen(
        [*argv, "--format", "{{.Action}} {{.Actor.ID}}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path),
    )  # fmt: skip
    try:
        assert _read_until(follower, b"create ev1\n", 30) == b"create ev1\n"
        engine.run("volume", "create", "ev2")
        assert _read_until(follower, b"create ev2\n", 30) == b"create ev2\n"
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=30)
    assert follower.returncode == 130, err
    # bad input: reversed bounds (docker's daemon error), a template that does not parse
    assert same(engine, service, tmp_path, "events", "--since", "5", "--until", "1") == ""
    same(engine, service, tmp_path, "events", "--format", "{{.Nope")
    proc = remote(service, tmp_path, "events", *bounds, "--filter", "bogus=1", check=False)
    assert (proc.returncode, proc.stderr) == (1, "Error response from daemon: invalid filter 'bogus'\n")
    same(engine, service, tmp_path, "events", *bounds, "--filter", "bogus=1")


# --------------------------------------------------------------------------- system prune


def test_system_prune_does_what_the_local_one_does(engine: Pinnace, service: str, tmp_path: Path) -> None:
    rounds = iter(range(10))

    def unused() -> dict[str, str]:
        """A stopped container, an unused network, an anonymous volume, a named one, a dangling image."""
        n = next(rounds)
        made = engine.run("create", "--network", "none", "--label", "k=v", "busybox", "true").stdout.strip()
        engine.run("network", "create", "--internal", "--subnet", "10.213.9.0/24", "unused-net")
        anon = engine.run("volume", "create").stdout.strip()
        fill(engine, anon, 2000)
        engine.run("volume", "create", "named")
        old = make_rootfs_tar(tmp_path / f"old{n}.tar", {"f": b"old"}, busybox=False)
        new = make_rootfs_tar(tmp_path / f"new{n}.tar", {"f": b"new"}, busybox=False)
        dangling = engine.run("import", str(old), f"dang{n}:1").stdout.strip()
        engine.run("import", str(new), f"dang{n}:1")  # the tag moves: the first image dangles
        return {made: "<container>", anon: "<volume>", dangling: "<image>"}

    out = twice(engine, service, tmp_path, unused, "system", "prune", "-f", "--volumes", with_docker=True)
    assert (
        out.startswith(
            "Deleted Containers:\n<container>\n\nDeleted Networks:\nunused-net\n\n"
            "Deleted Volumes:\n<volume>\n\nDeleted Images:\ndeleted: <image>\n"
        )
        and "\nTotal reclaimed space: " in out
    )
    assert engine.run("volume", "ls", "-q").stdout == "named\n"  # only anonymous volumes go
    # the prompt, with the filters it goes by; no answer is a no
    args = ("system", "prune", "-a", "--filter", "until=24h", "--filter", "label=a=b")
    assert same(engine, service, tmp_path, *args, input="n\n") == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all images without at least one container associated to them\n"
        "  - all build cache\n"
        "\n"
        "  Items to be pruned will be filtered with:\n"
        "  - label=a=b\n"
        "  - until=24h\n"
        "\n"
        "Are you sure you want to continue? [y/N] "
    )
    # -a takes the unused images, the label filter keeps what lacks the label
    engine.run("create", "--name", "unlabelled", "--network", "none", "busybox", "true")
    made = engine.run("create", "--network", "none", "--label", "k=v", "busybox", "true").stdout.strip()
    out = remote(service, tmp_path, "system", "prune", "-f", "-a", "--filter", "label=k=v").stdout
    assert out == f"Deleted Containers:\n{made}\n\nTotal reclaimed space: 0B\n"
    assert engine.run("ps", "-a", "--format", "{{.Names}}").stdout == "unlabelled\n"
    # bad input: docker's refusals, with their exit codes
    same(engine, service, tmp_path, "system", "prune", "-f", "--volumes", "--filter", "until=1h")
    same(engine, service, tmp_path, "system", "prune", "-f", "--filter", "bogus=1")
    same(engine, service, tmp_path, "system", "prune", "-f", "--filter", "novalue")


# --------------------------------------------------------------------------- volumes


def test_volume_prune_and_ls_filters(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("volume", "create", "--label", "env=prod", "keep-a")
    engine.run("volume", "create", "keep-b")
    engine.run("volume", "create", "used")
    engine.run("create", "--name", "user", "--network", "none", "-v", "used:/data", "busybox", "true")
    anon = engine.run("volume", "create", "--label", "env=dev").stdout.strip()
    for filters in (
        ("dangling=true",), ("dangling=false",), ("name=keep",), ("label=env",), ("label=env=prod",),
        ("driver=local",), ("name=keep", "label=env"),
    ):  # fmt: skip
        args = [arg for f in filters for arg in ("--filter", f)]
        same(engine, service, tmp_path, "volume", "ls", *args)
        same(engine, service, tmp_path, "volume", "ls", "-q", *args)
    assert same(engine, service, tmp_path, "volume", "ls", "-q", "--filter", "dangling=false") == "used\n"
    same(engine, service, tmp_path, "volume", "ls", "--filter", "nope=1")
    same(engine, service, tmp_path, "volume", "ls", "--filter", "dangling=maybe")

    def anonymous() -> dict[str, str]:
        name = engine.run("volume", "create", "--label", "env=dev").stdout.strip()
        fill(engine, name, 1000)
        return {name: "<volume>"}

    engine.run("volume", "rm", anon)
    out = twice(
        engine,
        service,
        tmp_path,
        anonymous,
        "volume",
        "prune",
        "-f",
        "--filter",
        "label=env=dev",
        with_docker=True,
    )
    assert out == "Deleted Volumes:\n<volume>\n\nTotal reclaimed space: 1kB\n"
    assert remote(service, tmp_path, "volume", "prune", "-f").stdout == "Total reclaimed space: 0B\n"
    out = remote(service, tmp_path, "volume", "prune", "-f", "-a", "--filter", "label=env=prod").stdout
    assert out == "Deleted Volumes:\nkeep-a\n\nTotal reclaimed space: 0B\n"
    assert remote(service, tmp_path, "volume", "prune", "-a", "-f").stdout.startswith(
        "Deleted Volumes:\nkeep-b\n\n"
    )
    assert engine.run("volume", "ls", "-q").stdout == "used\n"
    same(engine, service, tmp_path, "volume", "prune", input="n\n")
    same(engine, service, tmp_path, "volume", "prune", "-f", "--filter", "until=1h")
    same(engine, service, tmp_path, "volume", "prune", "-a", "--filter", "all=1")


# --------------------------------------------------------------------------- networks


def test_network_connect_disconnect_prune_and_ls_filters(
    engine: Pinnace, service: str, tmp_path: Path
) -> None:
    engine.run("network", "create", "--internal", "--subnet", "10.213.11.0/24", "--label", "team=a", "net-a")
    engine.run("network", "create", "--internal", "--subnet", "10.213.12.0/24", "net-b")
    engine.run("create", "--name", "joined", "--network", "net-a", "busybox", "true")
    cid = engine.run("inspect", "--format", "{{.Id}}", "joined").stdout.strip()
    members = "{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}};{{end}}"
    ran = remote(
        service, tmp_path, "network", "connect", "--ip", "10.213.12.9", "--alias", "web,www", "--alias", "w3",
        "net-b", "joined",
    )  # fmt: skip
    assert (ran.stdout, ran.stderr) == ("", "")
    with closing(sqlite3.connect(engine.root / "pinnace.db")) as conn:  # the endpoint kept for its next start
        (aliases,) = conn.execute(
            "SELECT aliases FROM endpoints WHERE container = ? AND ip = ?", (cid, "10.213.12.9")
        )
    assert json.loads(aliases[0]) == ["web", "www", "w3"]
    assert (
        same(engine, service, tmp_path, "network", "inspect", "--format", members, "net-b")
        == "joined 10.213.12.9/24;\n"
    )
    same(engine, service, tmp_path, "network", "connect", "net-b", "joined")  # already there
    same(engine, service, tmp_path, "network", "connect", "net-b", "no-such-container")
    same(engine, service, tmp_path, "network", "connect", "--ip6", "fd00::9", "net-b", "joined")
    assert remote(service, tmp_path, "network", "disconnect", "net-b", "joined").stdout == ""
    assert engine.run("network", "inspect", "--format", members, "net-b").stdout == "\n"
    same(engine, service, tmp_path, "network", "disconnect", "net-b", "joined")  # not connected
    same(engine, service, tmp_path, "network", "disconnect", "-f", "net-b", "f" * 64)  # no such container

    for filters in (
        ("name=net",), ("label=team",), ("label=team=a",), ("driver=bridge",), ("type=custom",),
        ("type=builtin",), (f"id={engine.run('network', 'inspect', '-f', '{{.Id}}', 'net-b').stdout[:6]}",),
        ("name=net", "label=team"),
    ):  # fmt: skip
        args = [arg for f in filters for arg in ("--filter", f)]
        same(engine, service, tmp_path, "network", "ls", *args)
        same(engine, service, tmp_path, "network", "ls", "-q", *args)
    same(engine, service, tmp_path, "network", "ls", "--filter", "nope=1")

    same(engine, service, tmp_path, "network", "prune", input="n\n")
    assert (
        remote(service, tmp_path, "network", "prune", "-f", "--filter", "label=team").stdout == ""
    )  # in use
    assert remote(service, tmp_path, "network", "prune", "-f").stdout == "Deleted Networks:\nnet-b\n\n"
    engine.run("rm", cid)

    def unused() -> dict[str, str]:
        engine.run("network", "create", "--internal", "--subnet", "10.213.13.0/24", "--label", "x=1", "gone")
        return {}

    out = twice(
        engine, service, tmp_path, unused, "network", "prune", "-f", "--filter", "label=x=1", with_docker=True
    )
    assert out == "Deleted Networks:\ngone\n\n"
    assert engine.run("network", "ls", "-q", "--filter", "type=custom").stdout.split() != []  # net-a stays
    same(engine, service, tmp_path, "network", "prune", "-f", "--filter", "bogus=1")
    engine.run("network", "rm", "net-a")


def test_system_prune_takes_the_build_cache(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """The cache rows of a removed image go (docker's "dangling" cache), in docker's words."""
    from tests.integration.test_build import build, context

    rounds = iter(range(10))

    def keys() -> set[str]:
        with closing(sqlite3.connect(engine.root / "pinnace.db")) as conn:
            return {key for (key,) in conn.execute("SELECT key FROM build_cache")}

    def cached() -> dict[str, str]:
        n = next(rounds)
        (tmp_path / f"round{n}").mkdir()
        before = keys()
        build(engine, context(tmp_path / f"round{n}", f"FROM busybox\nRUN echo {n} > /file\n"), "-t", f"c{n}")
        engine.run("rmi", f"c{n}")
        (made,) = keys() - before
        return {made.removeprefix("sha256:")[:25]: "<cache>"}

    out = twice(engine, service, tmp_path, cached, "system", "prune", "-f", with_docker=True)
    assert out.startswith("Deleted build cache objects:\n<cache>\n\nTotal reclaimed space: ")
    (tmp_path / "kept").mkdir()
    build(engine, context(tmp_path / "kept", "FROM busybox\nRUN echo kept > /file\n"), "-t", "kept")
    table = same(engine, service, tmp_path, "system", "df")  # the cache shares its layer with the image
    assert "\nBuild Cache     1         0         0B        0B\n" in table
    real = docker(service, tmp_path, "system", "df")  # the real docker CLI sums the document the same way
    assert real is None or (real.returncode, real.stdout) == (0, table)
