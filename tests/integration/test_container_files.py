"""``pinnace diff/export/commit/cp`` end to end with real containers, as docker behaves.

Every test goes through the real entry point (the ``engine`` fixture: a
private store with busybox, checked at the end for leftover mounts and
cgroups).  The symlink-swap race also drives the copy functions in-process,
hundreds of times, so that a window between resolving a path and using it
would be hit.
"""

from __future__ import annotations

import io
import os
import pty
import stat
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root

BB = "busybox"


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def member_data(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def tar_bytes(*entries: tuple[str, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 4321
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sh(engine: Pinnace, container: str, script: str) -> str:
    return engine.run("exec", container, "sh", "-c", script).stdout


def events(engine: Pinnace, action: str) -> list[str]:
    until = str(int(time.time()) + 1)
    lines = engine.run("events", "--since", "0", "--until", until).stdout.splitlines()
    return [line for line in lines if f" container {action} " in line]


def running(engine: Pinnace, name: str, script: str = "sleep 600") -> str:
    return engine.run("run", "-d", "--name", name, BB, "sh", "-c", script).stdout.strip()


def wait_for(engine: Pinnace, container: str, path: str) -> None:
    deadline = time.monotonic() + 10
    while engine.run("exec", container, "cat", path, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{path} never appeared in {container}"
        time.sleep(0.05)


# -- diff ----------------------------------------------------------------------------------------


def test_diff_running_and_stopped(engine: Pinnace) -> None:
    running(
        engine, "d1", "echo new > /tmp/new; echo x >> /etc/passwd; rm /etc/group; touch /ready; sleep 600"
    )
    wait_for(engine, "d1", "/ready")
    expected = "C /etc\nD /etc/group\nC /etc/passwd\nA /ready\nC /tmp\nA /tmp/new\n"
    assert engine.run("diff", "d1").stdout == expected
    engine.run("kill", "d1")
    engine.run("wait", "d1")
    assert engine.run("container", "diff", "d1").stdout == expected
    engine.run("create", "--name", "fresh", BB, "true")
    assert engine.run("diff", "fresh").stdout == ""
    missing = engine.run("diff", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nope\n",
    )


# -- export --------------------------------------------------------------------------------------


def test_export_stdout_file_and_terminal(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "--name", "e1", BB, "sh", "-c", "echo exported > /tmp/mine")
    proc = engine.run_bytes("export", "e1")
    assert proc.returncode == 0
    found = members(proc.stdout)
    assert {"bin/busybox", "etc/passwd", "tmp/mine", ".dockerenv"} <= set(found)
    assert member_data(proc.stdout, "tmp/mine") == b"exported\n"
    out = tmp_path / "e1.tar"
    engine.run("export", "-o", str(out), "e1")
    assert member_data(out.read_bytes(), "tmp/mine") == b"exported\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # Go's CreateTemp, renamed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pinnace_temp_")] == []
    bad = engine.run("export", "-o", str(tmp_path / "missing" / "x.tar"), "e1", check=False)
    assert bad.returncode == 1
    assert bad.stderr == (
        f'failed to export container: invalid output path: directory "{tmp_path}/missing" does not exist\n'
    )
    assert len(events(engine, "export")) == 2
    primary, secondary = pty.openpty()
    try:
        tty = subprocess.run(
            [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), "export", "e1"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert tty.returncode == 1
    assert tty.stderr == b"cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    missing = engine.run_bytes("export", "nope")
    assert (missing.returncode, missing.stderr) == (
        1,
        b"Error response from daemon: No such container: nope\n",
    )


# -- commit --------------------------------------------------------------------------------------


def test_commit_running_container_then_run_the_image(engine: Pinnace) -> None:
    running(engine, "c1", "echo committed > /tmp/state; touch /ready; sleep 600")
    wait_for(engine, "c1", "/ready")
    proc = engine.run(
        "commit", "-m", "snapshot of c1", "-a", "Jane <jane@example.com>",
        "-c", 'CMD ["cat", "/tmp/state"]', "-c", "ENV STAGE=two", "-c", "LABEL made.by=commit",
        "-c", "EXPOSE 8080", "-c", "WORKDIR /tmp", "c1", "snap:v1",
    )  # fmt: skip
    image_id = proc.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert engine.run("run", "--rm", "snap:v1").stdout == "committed\n"
    assert engine.run("run", "--rm", "snap:v1", "sh", "-c", 'echo "$STAGE $(pwd)"').stdout == "two /tmp\n"
    assert engine.run("inspect", "--format", "{{.Id}}", "snap:v1").stdout.strip() == image_id
    fmt = (
        "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}"
    )
    assert engine.run("inspect", "--format", fmt, "snap:v1").stdout == (
        'Jane <jane@example.com>|snapshot of c1|["cat","/tmp/state"]|{"made.by":"commit"}|{"8080/tcp":{}}\n'
    )
    history = engine.run("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "snap:v1")
    assert history.stdout.splitlines()[0] == (
        "sh -c echo committed > /tmp/state; touch /ready; sleep 600|snapshot of c1"
    )
    # the container was frozen for the commit, then thawed: it still runs
    assert [e.split()[2] for e in events(engine, "pause") + events(engine, "unpause")] == ["pause", "unpause"]
    assert engine.run("ps", "--format", "{{.Names}} {{.State}}").stdout == "c1 running\n"
    assert member_data(engine.run_bytes("export", "c1").stdout, "tmp/state") == b"committed\n"  # live
    (commit_event,) = events(engine, "commit")
    assert f"imageID={image_id}" in commit_event and "imageRef=snap:v1" in commit_event
    assert "comment=snapshot of c1" in commit_event
    # --pause=false leaves it alone; no repository: an untagged image
    untagged = engine.run("commit", "--pause=false", "c1").stdout.strip()
    assert len(events(engine, "pause")) == 1
    assert engine.run("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.strip() == untagged


def test_commit_config_fields_and_empty_layer(engine: Pinnace) -> None:
    engine.run("create", "--name", "same", "-e", "A=1", BB, "sh", "-c", "echo $A")
    base_layers = engine.run("inspect", "--format", "{{len .RootFS.Layers}}", BB).stdout
    image_id = engine.run("commit", "same", "same:img").stdout.strip()
    assert engine.run("inspect", "--format", "{{len .RootFS.Layers}}", "same:img").stdout == base_layers
    engine.run("create", "--name", "src", BB, "true")
    assert engine.run("run", "--rm", "same:img").stdout == "1\n"
    from pinnace.engine import Config, Engine

    eng = Engine(Config(str(engine.root), str(engine.runroot)))
    try:
        from pinnace.images.views import config_of

        raw = config_of(eng.images.stores, eng.images.get(image_id)).raw
        container_id = engine.run("inspect", "--format", "{{.Id}}", "same").stdout.strip()
    finally:
        eng.close()
    assert raw["container"] == container_id
    assert raw["container_config"]["Cmd"] == ["sh", "-c", "echo $A"]
    assert raw["config"]["Env"][0] == "A=1"
    assert raw["history"][-1]["empty_layer"] is True
    assert raw["history"][-1]["created_by"] == "sh -c echo $A"
    assert list(raw) == sorted(raw)


def test_commit_errors(engine: Pinnace) -> None:
    engine.run("create", "--name", "c2", BB, "true")
    bad_change = engine.run("commit", "-c", "RUN make", "c2", check=False)
    assert (bad_change.returncode, bad_change.stderr) == (
        1,
        "Error response from daemon: RUN is not a valid change command\n",
    )
    digest = engine.run("commit", "c2", "x@sha256:" + "a" * 64, check=False)
    assert (digest.returncode, digest.stderr) == (1, "refusing to create a tag with a digest reference\n")
    missing = engine.run("commit", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nope\n",
    )
    usage = engine.run("commit", check=False)
    assert usage.returncode == 125 and '"pinnace commit" requires at least 1 argument.' in usage.stderr
    assert engine.run("images", "-q").stdout.count("\n") == 1  # nothing half-made


# -- cp out --------------------------------------------------------------------------------------


def test_cp_from_container(engine: Pinnace, tmp_path: Path) -> None:
    running(
        engine,
        "src",
        "mkdir -p /data/sub; echo one > /data/one; echo two > /data/sub/two;"
        " busybox chown -R 1234:5678 /data; busybox ln -s /data/one /link; touch /ready; sleep 600",
    )
    wait_for(engine, "src", "/ready")
    out = tmp_path / "out"
    out.mkdir()
    engine.run("cp", "src:/data/one", str(out / "file"))  # file to a new file
    assert (out / "file").read_text() == "one\n"
    engine.run("cp", "src:data/one", str(out))  # into a directory; the leading "/" is optional
    assert (out / "one").read_text() == "one\n"
    assert (out / "one").stat().st_uid == os.getuid()  # the invoking user's, without -a
    engine.run("cp", "src:/data", str(out))  # a directory into a directory
    assert (out / "data" / "sub" / "two").read_text() == "two\n"
    engine.run("cp", "src:/data", str(out / "renamed"))  # a directory to a new name
    assert sorted(os.listdir(out / "renamed")) == ["one", "sub"]
    (out / "contents").mkdir()
    engine.run("cp", "src:/data/.", str(out / "contents"))  # "/." copies what is inside
    assert sorted(os.listdir(out / "contents")) == ["one", "sub"]
    engine.run("cp", "-a", "src:/data/sub", str(out / "owned"))
    assert ((out / "owned").stat().st_uid, (out / "owned" / "two").stat().st_gid) == (1234, 5678)
    engine.run("cp", "src:/link", str(out / "link"))  # a symlink stays one
    assert os.readlink(out / "link") == "/data/one"
    engine.run("cp", "-L", "src:/link", str(out / "followed"))  # -L: its target, under the link's name
    assert (out / "followed").read_text() == "one\n"
    stream = engine.run_bytes("cp", "src:/data", "-")
    assert sorted(members(stream.stdout)) == ["data", "data/one", "data/sub", "data/sub/two"]
    assert members(stream.stdout)["data/one"].uid == 1234
    assert len(events(engine, "archive-path")) == 9

    missing = engine.run("cp", "src:/nonexist", str(out), check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: Could not find the file /nonexist in container src\n",
    )
    no_parent = engine.run("cp", "src:/data/one", str(tmp_path / "nope" / "x"), check=False)
    assert (no_parent.returncode, no_parent.stderr) == (
        1,
        f'invalid output path: directory "{tmp_path}/nope" does not exist\n',
    )
    (out / "plain").write_text("x")
    onto_file = engine.run("cp", "src:/data", str(out / "plain"), check=False)
    assert (onto_file.returncode, onto_file.stderr) == (1, "cannot copy directory\n")
    no_container = engine.run("cp", "ghost:/x", str(out), check=False)
    assert (no_container.returncode, no_container.stderr) == (
        1,
        "Error response from daemon: No such container: ghost\n",
    )


def test_cp_stopped_container_both_ways(engine: Pinnace, tmp_path: Path) -> None:
    engine.run("run", "--name", "done", BB, "sh", "-c", "echo kept > /tmp/result")
    engine.run("cp", "done:/tmp/result", str(tmp_path / "result"))
    assert (tmp_path / "result").read_text() == "kept\n"
    (tmp_path / "input").write_text("fed in\n")
    engine.run("cp", str(tmp_path / "input"), "done:/tmp/")
    engine.run("create", "--name", "fresh", BB, "cat", "/input")
    engine.run("cp", str(tmp_path / "input"), "fresh:/")
    assert engine.run("diff", "fresh").stdout == "A /input\n"
    engine.run("start", "fresh")
    assert engine.run("wait", "fresh").stdout == "0\n"
    assert engine.run("logs", "fresh").stdout == "fed in\n"
    assert engine.run("cp", "done:/tmp/input", "-").returncode == 0
    assert not list((engine.root / "tmp").iterdir())  # the temporary mount points are gone


# -- cp in ---------------------------------------------------------------------------------------


def test_cp_into_container(engine: Pinnace, tmp_path: Path) -> None:
    running(engine, "dst", "mkdir /dir; busybox ln -s /dir /dirlink; touch /ready; sleep 600")
    wait_for(engine, "dst", "/ready")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("deep\n")
    (src / "top").write_text("top\n")
    os.chown(src / "top", 1000, 1001)
    engine.run("cp", str(src / "top"), "dst:/tmp")  # into a directory
    engine.run("cp", str(src / "top"), "dst:/tmp/renamed")  # to a new name
    engine.run("cp", "-a", str(src / "top"), "dst:/tmp/owned")
    engine.run("cp", str(src), "dst:/tmp")  # a directory into a directory
    engine.run("cp", str(src), "dst:/tmp/copy")  # a directory to a new name
    engine.run("cp", f"{src}/.", "dst:/dirlink")  # contents, through a symlink to a directory
    listing = sh(engine, "dst", "busybox stat -c '%n %u:%g' /tmp/top /tmp/renamed /tmp/owned /dir/top")
    assert listing == "/tmp/top 0:0\n/tmp/renamed 0:0\n/tmp/owned 1000:1001\n/dir/top 0:0\n"
    assert sh(engine, "dst", "cat /tmp/src/sub/f /tmp/copy/sub/f /dir/sub/f") == "deep\n" * 3
    assert sh(engine, "dst", "busybox stat -c %a /tmp") == "1777\n"  # the "./" entry left it alone
    engine.run("cp", "-", "dst:/tmp", input=tar_bytes(("streamed", None), ("streamed/x", b"via stdin\n")))
    assert sh(engine, "dst", "cat /tmp/streamed/x; busybox stat -c %u /tmp/streamed/x") == "via stdin\n0\n"
    assert len(events(engine, "extract-to-dir")) == 7

    def refused(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
        proc = engine.run("cp", *args, input=stdin, check=False)
        return proc.returncode, proc.stderr

    assert refused(str(src / "top"), "dst:/nonexist/file") == (
        1,
        "Error response from daemon: Could not find the file /nonexist in container dst\n",
    )
    assert refused(str(src), "dst:/tmp/top") == (1, "cannot copy directory\n")
    assert refused(str(src / "top"), "dst:/tmp/newdir/") == (1, "no such directory\n")
    assert refused("-", "dst:/tmp/top", stdin=tar_bytes(("x", b""))) == (
        1,
        'destination "dst:/tmp/top" must be a directory\n',
    )
    assert refused("-", "dst:/tmp", stdin=tar_bytes(("src", b"a file now"))) == (
        1,
        'Error response from daemon: cannot overwrite directory "/tmp/src" with non-directory "/tmp"\n',
    )
    assert refused(str(tmp_path / "absent"), "dst:/tmp") == (
        1,
        f"lstat {tmp_path}/absent: no such file or directory\n",
    )
    assert refused(str(src), str(tmp_path)) == (1, "must specify at least one container source\n")
    assert refused("dst:/a", "dst:/b") == (1, "copying between containers is not supported\n")
    assert refused("", "dst:/b") == (1, "source can not be empty\n")


def test_cp_into_read_only_container(engine: Pinnace, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    created = engine.run("create", "--read-only", "--name", "ro", BB, "true", check=False)
    if created.returncode != 0:
        pytest.skip("--read-only is not available yet")
    proc = engine.run("cp", str(tmp_path / "f"), "ro:/tmp", check=False)
    assert (proc.returncode, proc.stderr) == (
        1,
        "Error response from daemon: container rootfs is marked read-only\n",
    )


# -- confinement ---------------------------------------------------------------------------------


def test_symlinks_in_the_container_never_lead_to_the_host(engine: Pinnace, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret").write_bytes(b"HOST SECRET\n")
    rel = str(canary).lstrip("/")
    running(
        engine,
        "evil",
        f"busybox ln -s / /root-link; busybox ln -s {canary} /abs-link;"
        f" busybox ln -s ../../../../../../../../{rel} /rel-link; touch /ready; sleep 600",
    )
    wait_for(engine, "evil", "/ready")
    for path in (f"/root-link/{rel}/secret", "/abs-link/secret", "/rel-link/secret"):
        out = engine.run_bytes("cp", f"evil:{path}", "-")
        assert out.returncode == 1 and b"HOST SECRET" not in out.stdout
        assert b"Could not find the file" in out.stderr
    payload = tmp_path / f"pwned-{uuid.uuid4().hex}"
    payload.write_text("x")
    for dest in ("/abs-link/", f"/root-link/{rel}/", "/rel-link/"):
        engine.run("cp", str(payload), f"evil:{dest}", check=False)
    engine.run("cp", str(payload), "evil:/root-link/")
    assert sorted(os.listdir(canary)) == ["secret"]
    assert not Path("/", payload.name).exists()
    assert payload.name in sh(engine, "evil", "ls /")  # it landed in the container's own root


def test_symlink_swap_race_never_reaches_the_host(engine: Pinnace, tmp_path: Path) -> None:
    """CVE-2018-15664: the container swaps /x between a directory and links to "/" and to the host canary."""
    canary = tmp_path / "canary"
    canary.mkdir()
    secret = canary / "secret"
    secret.write_bytes(b"HOST SECRET\n")
    secret.chmod(0o640)
    before = secret.stat()
    rel = str(canary).lstrip("/")
    swap = (
        "while :; do"
        f" busybox rm -rf /x; busybox mkdir -p /x/{rel}; echo decoy > /x/{rel}/secret;"
        f" busybox ln -s {secret} /x/h; busybox ln -s {secret} /x/p;"
        " busybox rm -rf /x; busybox ln -s / /x;"
        f" busybox rm -rf /x; busybox ln -s {canary} /x;"
        " done"
    )
    running(engine, "racer", swap)
    name = f"pwned-{uuid.uuid4().hex}"
    payload = tmp_path / name
    payload.write_text("payload\n")
    hostile_tar = tar_bytes((name, b"p"))

    # through the CLI
    deadline = time.monotonic() + 8
    rounds = 0
    while time.monotonic() < deadline or rounds < 10:
        for path in (f"/x/{rel}/secret", "/x/secret", "/x/"):
            out = engine.run_bytes("cp", f"racer:{path}", "-")
            assert b"HOST SECRET" not in out.stdout
        engine.run("cp", str(payload), "racer:/x/", check=False)
        engine.run("cp", str(payload), f"racer:/x/{rel}/", check=False)
        engine.run("cp", "-", "racer:/x", input=hostile_tar, check=False)
        rounds += 1

    # in-process, many more times: the same code without the interpreter's start-up between tries
    from pinnace.containers import copy
    from pinnace.engine import Config, Engine
    from pinnace.errors import PinnaceError

    eng = Engine(Config(str(engine.root), str(engine.runroot)))
    try:
        service = eng.containers
        deadline = time.monotonic() + 10
        tries = 0
        outcomes = {"decoy read": 0, "read refused": 0, "written": 0, "write refused": 0}
        while time.monotonic() < deadline:
            for path in (f"/x/{rel}/secret", "/x/secret"):
                out = io.BytesIO()
                try:
                    copy.copy_from_container(service, "racer", path, "-", stdout=out)
                    outcomes["decoy read"] += b"decoy" in out.getvalue()
                except PinnaceError:
                    outcomes["read refused"] += 1
                assert b"HOST SECRET" not in out.getvalue()
            for dest in ("/x/", f"/x/{rel}/"):
                try:
                    copy.copy_to_container(service, "racer", str(payload), dest)
                    outcomes["written"] += 1
                except PinnaceError:
                    outcomes["write refused"] += 1
            hardlinks = io.BytesIO()
            with tarfile.open(fileobj=hardlinks, mode="w") as tar:
                for entry, kind in (("f", tarfile.REGTYPE), ("h", tarfile.LNKTYPE), ("p", tarfile.FIFOTYPE)):
                    info = tarfile.TarInfo(entry)
                    info.type, info.mode, info.linkname = kind, 0o777, "f" if kind == tarfile.LNKTYPE else ""
                    tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
            hardlinks.seek(0)
            try:
                copy.copy_to_container(service, "racer", "-", "/x", stdin=hardlinks)
            except PinnaceError:
                pass
            tries += 1
    finally:
        eng.close()
    assert rounds >= 10 and tries >= 50
    assert all(outcomes.values()), outcomes  # the swap really raced the copies, both ways
    assert sorted(os.listdir(canary)) == ["secret"]
    assert secret.read_bytes() == b"HOST SECRET\n"
    after = secret.stat()
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert not Path("/", name).exists() and not Path("/", "f").exists()
    assert not (canary / name).exists()
