"""The remote CLI's container filesystem and resource commands: ``cp``, ``diff``, ``export``, ``commit``,
``stats``, ``update``, ``container prune`` through ``pinnace -H URL``, each compared with what the local
(daemonless) CLI prints and does for the same store; and ``POST /commit`` as dockerd answers it."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.integration.test_remote_cli import _env, remote, service

__all__ = ["service"]  # the fixture, used here

pytestmark = pytest.mark.root


def remote_bytes(
    host: str, tmp_path: Path, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``remote`` for binary output (tars on stdout) or input (tars on stdin)."""
    return subprocess.run(
        [str(PINNACE), "-H", host, *args], input=input, capture_output=True, timeout=60, env=_env(tmp_path),
        stdin=None if input is not None else subprocess.DEVNULL,
    )  # fmt: skip


def tree(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """Every path under ``root``: (kind, mode bits, uid, gid, content or link target)."""
    out = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            kind, body = "link", os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            kind, body = "dir", ""
        else:
            kind, body = "file", path.read_bytes().decode(errors="replace")
        out[str(path.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, body)
    return out


def members(data: bytes) -> list[tuple[str, int, int, int, bytes]]:
    """A tar's entries: (name, mode, uid, gid, content)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [
            (m.name, m.mode, m.uid, m.gid, tar.extractfile(m).read() if m.isreg() else m.linkname.encode())  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


def same(engine: Pinnace, service: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` locally and remotely: the same exit code, stdout and stderr; the remote run."""
    local = engine.run(*args, check=False)
    far = remote(service, tmp_path, *args, check=False)
    assert (far.returncode, far.stdout, far.stderr) == (local.returncode, local.stdout, local.stderr), args
    return far


MAKE_FILES = (
    "mkdir -p /d/sub && echo hi > /d/f && echo deep > /d/sub/g && ln -s /d/f /d/link && ln -s /d /dirlink"
)


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_out_of_a_container(engine: Pinnace, service: str, tmp_path: Path, running: bool) -> None:
    if running:
        engine.run(
            "run",
            "-d",
            "--name",
            "c1",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            MAKE_FILES + " && exec busybox sleep 60",
        )
        deadline = time.monotonic() + 20
        while engine.run("exec", "c1", "ls", "/dirlink", check=False).returncode != 0:
            assert time.monotonic() < deadline
    else:
        engine.run("run", "--name", "c1", "--network", "none", "busybox", "sh", "-c", MAKE_FILES)
    try:
        for i, (src, dst) in enumerate([
            ("c1:/d", ""), ("c1:/d/.", ""), ("c1:/d/", "new"), ("c1:/d/f", ""), ("c1:/d/f", "named"),
            ("c1:/d/link", ""), ("c1:/dirlink", ""), ("c1:/dirlink/", "x"), ("c1:/d/sub/g", "/"),
        ]):  # fmt: skip
            for follow in ((), ("-L",)):
                local_dir, far_dir = tmp_path / f"l{i}{follow}", tmp_path / f"r{i}{follow}"
                local_dir.mkdir()
                far_dir.mkdir()
                local = engine.run("cp", *follow, src, f"{local_dir}/{dst.lstrip('/')}", check=False)
                far = remote(
                    service, tmp_path, "cp", *follow, src, f"{far_dir}/{dst.lstrip('/')}", check=False
                )
                assert (far.returncode, far.stdout, far.stderr) == (
                    local.returncode,
                    local.stdout,
                    local.stderr,
                ), src
                assert tree(far_dir) == tree(local_dir), (src, dst, follow)
        assert (tmp_path / "r1()" / "sub" / "g").read_text() == "deep\n"
        assert (tmp_path / "r5()" / "link").is_symlink() and (
            tmp_path / "r5('-L',)" / "link"
        ).read_text() == "hi\n"
        # a tar on stdout: the very bytes the local CLI writes
        for path in ("/d", "/d/f", "/d/."):
            far_tar = remote_bytes(service, tmp_path, "cp", f"c1:{path}", "-")
            assert (
                far_tar.returncode == 0 and far_tar.stdout == engine.run_bytes("cp", f"c1:{path}", "-").stdout
            )
        assert sorted(m[0] for m in members(far_tar.stdout)) == [".", "./f", "./link", "./sub", "./sub/g"]
        # docker's errors, and exit codes
        for args in (
            ("cp", "c1:/nothing-here", "-"),
            ("cp", "c1:/nothing-here", str(tmp_path)),
            ("cp", "no-such-container:/d", str(tmp_path)),
            ("cp", "c1:/d", str(tmp_path / "no" / "parent")),
            ("cp", "c1:/d", str(tmp_path / "r3()" / "f")),
            ("cp", "c1:/d/f", str(tmp_path / "r0()") + "/nothing/"),
        ):
            failed = same(engine, service, tmp_path, *args)
            assert failed.returncode == 1, args
        assert same(engine, service, tmp_path, "cp", "c1:/nothing-here", "-").stderr == (
            "Error response from daemon: Could not find the file /nothing-here in container c1\n"
        )
    finally:
        engine.run("rm", "-f", "c1")


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_into_a_container(engine: Pinnace, service: str, tmp_path: Path, running: bool) -> None:
    command = ("busybox", "sleep", "60") if running else ("true",)
    for name in ("here", "there"):
        engine.run("create", "--name", name, "--network", "none", "busybox", *command)
        if running:
            engine.run("start", name)
    src = tmp_path / "src"
    (src / "inner").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "inner" / "b.txt").write_text("beta\n")
    (src / "ln").symlink_to("a.txt")
    for path in (src, src / "a.txt", src / "inner", src / "inner" / "b.txt"):
        os.lchown(path, 1234, 2345)
    os.chmod(src / "a.txt", 0o640)
    try:
        for source, dst in [
            (str(src), "/tmp"), (f"{src}/.", "/tmp/src"), (f"{src}/a.txt", "/tmp/"),
            (f"{src}/a.txt", "/tmp/renamed"), (f"{src}/ln", "/tmp/"), (f"{src}/inner/", "/tmp/in2"),
        ]:  # fmt: skip
            for archive in ((), ("-a",)):
                local = engine.run("cp", *archive, source, f"here:{dst}", check=False)
                far = remote(service, tmp_path, "cp", *archive, source, f"there:{dst}", check=False)
                assert (far.returncode, far.stdout, far.stderr) == (
                    local.returncode,
                    local.stdout,
                    local.stderr,
                ), (source, dst)
        # what landed is the same: owners root's, or the source's with -a (the second copy wins)
        here = members(engine.run_bytes("cp", "here:/tmp", "-").stdout)
        there = members(engine.run_bytes("cp", "there:/tmp", "-").stdout)
        assert there == here
        owners = {name: (uid, gid) for name, _, uid, gid, _ in there}
        assert owners["tmp/renamed"] == (1234, 2345) and owners["tmp/src/inner/b.txt"] == (1234, 2345)
        # a tar on stdin, into a directory
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("from-stdin.txt")
            info.size, info.uid, info.mode = 6, 4321, 0o600
            tar.addfile(info, io.BytesIO(b"piped\n"))
        for archive in ((), ("-a",)):
            sent = remote_bytes(service, tmp_path, "cp", *archive, "-", "there:/tmp", input=data.getvalue())
            assert (sent.returncode, sent.stdout, sent.stderr) == (0, b"", b"")
            got = members(engine.run_bytes("cp", "there:/tmp/from-stdin.txt", "-").stdout)
            assert got == [("from-stdin.txt", 0o600, 4321 if archive else 0, 0, b"piped\n")]
        # errors: a missing container or directory, a file where a directory must be (and the daemon's
        # error, not a broken pipe, when it refuses a tar larger than a pipe holds)
        big = tmp_path / "big"
        big.mkdir()
        (big / "large.bin").write_bytes(bytes(4 << 20))
        for args in (
            ("cp", str(big), "CONTAINER:/no/such/dir/x"),
            ("cp", f"{src}/a.txt", "no-such-container:/tmp"),
            ("cp", f"{src}/a.txt", "CONTAINER:/no/such/dir/"),
            ("cp", f"{src}/a.txt", "CONTAINER:/no/such/dir/x"),
            ("cp", str(src), "CONTAINER:/tmp/renamed"),
            ("cp", f"{src}/nothing", "CONTAINER:/tmp"),
            ("cp", "-", "CONTAINER:/tmp/renamed"),
        ):
            local = engine.run(*(a.replace("CONTAINER", "here") for a in args), check=False)
            far = remote(service, tmp_path, *(a.replace("CONTAINER", "there") for a in args), check=False)
            assert far.returncode == local.returncode == 1, args
            assert far.stderr == local.stderr.replace("here", "there"), args
    finally:
        engine.run("rm", "-f", "here", "there")


def test_diff_and_export(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run(
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo x > /new && echo y >> /etc/passwd && mkdir /made",
    )
    engine.run("create", "--name", "untouched", "--network", "none", "busybox", "true")
    try:
        assert "A /new\n" in same(engine, service, tmp_path, "diff", "c1").stdout
        same(engine, service, tmp_path, "diff", "untouched")
        missing = same(engine, service, tmp_path, "diff", "nothing-here")
        assert (missing.returncode, missing.stderr) == (
            1,
            "Error response from daemon: No such container: nothing-here\n",
        )
        local_tar, far_tar = tmp_path / "local.tar", tmp_path / "far.tar"
        same(engine, service, tmp_path, "export", "-o", str(local_tar), "c1")
        far = remote(service, tmp_path, "export", "-o", str(far_tar), "c1")
        assert far.stdout == "" and far_tar.read_bytes() == local_tar.read_bytes()
        assert any(m[0] == "new" and m[4] == b"x\n" for m in members(far_tar.read_bytes()))
        to_stdout = remote_bytes(service, tmp_path, "export", "c1")
        assert to_stdout.returncode == 0 and to_stdout.stdout == local_tar.read_bytes()
        for args in (
            ("export", "nothing-here"),
            ("export", "-o", str(tmp_path / "no" / "dir" / "x.tar"), "c1"),
        ):
            assert same(engine, service, tmp_path, *args).returncode == 1
        # a terminal on stdout: refused, as docker does
        leader, follower = os.openpty()
        try:
            proc = subprocess.run(
                [str(PINNACE), "-H", service, "export", "c1"], stdout=follower, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, env=_env(tmp_path), timeout=60, text=True,
            )  # fmt: skip
        finally:
            os.close(follower)
            os.close(leader)
        assert (proc.returncode, proc.stderr) == (
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect\n",
        )
    finally:
        engine.run("rm", "-f", "c1", "untouched")


def test_commit(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run(
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "--label",
        "from=container",
        "busybox",
        "sh",
        "-c",
        "echo committed > /marker",
    )
    try:
        image_id = remote(
            service, tmp_path, "commit", "-m", "the message", "-a", "Some One <one@example.com>",
            "-c", "ENV COMMITTED=yes", "-c", 'CMD ["cat", "/marker"]', "--pause=false", "c1", "made:v1",
        ).stdout.strip()  # fmt: skip
        assert image_id.startswith("sha256:") and len(image_id) == 71
        fields = "{{.Id}}|{{.Comment}}|{{.Author}}|{{.Config.Env}}|{{.Config.Cmd}}|{{.Config.Labels}}|{{.RepoTags}}"
        shown = engine.run("image", "inspect", "--format", fields, "made:v1").stdout.rstrip("\n").split("|")
        assert shown[:3] == [image_id, "the message", "Some One <one@example.com>"]
        assert shown[3].endswith("COMMITTED=yes]") and shown[4:] == [
            "[cat /marker]",
            "map[from:container]",
            "[made:v1]",
        ]
        assert engine.run("run", "--rm", "--network", "none", "made:v1").stdout == "committed\n"
        # the same as the local commit: the history and config, but for the times and IDs
        same(engine, service, tmp_path, "history", "--format", "{{.CreatedBy}}|{{.Comment}}", "made:v1")
        untagged = remote(service, tmp_path, "commit", "c1").stdout.strip()
        assert (
            engine.run("image", "inspect", "--format", "{{.Id}} {{.RepoTags}}", untagged).stdout
            == f"{untagged} []\n"
        )
        latest = remote(service, tmp_path, "commit", "c1", "made").stdout.strip()
        assert engine.run("image", "inspect", "--format", "{{.Id}}", "made:latest").stdout == f"{latest}\n"
        for args in (
            ("commit", "nothing-here"),
            ("commit", "c1", "Not:Valid:Ref"),
            ("commit", "c1", "made@sha256:" + "a" * 64),
            ("commit", "-c", "BOGUS instruction", "c1"),
        ):
            failed = same(engine, service, tmp_path, *args)
            assert failed.returncode == 1 and failed.stderr.count("\n") == 1, args
        assert same(engine, service, tmp_path, "commit", "nothing-here").stderr == (
            "Error response from daemon: No such container: nothing-here\n"
        )
    finally:
        engine.run("rm", "-f", "c1")
        engine.run("image", "rm", "-f", "made:v1", "made:latest", check=False)


def test_the_commit_endpoint(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """dockerd's ``POST /commit``: 201 and the Id; a body Config the container's fills in; 404, 400."""
    from pinnace.client.connect import endpoint
    from pinnace.client.http import Client
    from pinnace.errors import InvalidArgument, NotFound

    engine.run("create", "--name", "c1", "--network", "none", "-e", "KEPT=1", "-w", "/tmp", "busybox", "true")
    client = Client(endpoint(service))
    try:
        body = {"Env": ["FROM_BODY=1"], "Cmd": ["echo", "body"], "Labels": {"k": "v"}}
        status, payload = client.request(
            "POST", "/commit", [("container", "c1"), ("repo", "via-api"), ("tag", "t"), ("comment", "c"),
                                ("pause", "0"), ("changes", "ENV CHANGED=1"), ("changes", "USER 5")], body,
        )  # fmt: skip
        assert status == 201
        image_id = json.loads(payload)["Id"]
        config = engine.run("image", "inspect", "--format", "{{json .Config}}", "via-api:t").stdout
        doc = json.loads(config)
        assert image_id == engine.run("image", "inspect", "--format", "{{.Id}}", "via-api:t").stdout.strip()
        assert doc["Cmd"] == ["echo", "body"] and doc["User"] == "5" and doc["WorkingDir"] == "/tmp"
        assert doc["Labels"] == {"k": "v"}
        assert "FROM_BODY=1" in doc["Env"] and "CHANGED=1" in doc["Env"] and "KEPT=1" in doc["Env"]
        with pytest.raises(NotFound, match="No such container: nope"):
            client.request("POST", "/commit", {"container": "nope"})
        with pytest.raises(InvalidArgument):
            client.request("POST", "/commit", {"container": "c1", "repo": "Bad:Name:x"})
    finally:
        client.close()
        engine.run("rm", "-f", "c1")
        engine.run("image", "rm", "via-api:t", check=False)


def test_stats(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "busy", "--network", "none", "busybox", "busybox", "sleep", "60")
    engine.run("create", "--name", "idle", "--network", "none", "busybox", "true")
    try:
        for args in (
            ("stats", "--no-stream", "--format", "{{.Name}} {{.ID}} {{.PIDs}} {{.Container}}", "busy"),
            ("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Name}}", "busy"),
            ("stats", "--no-stream", "--format", "{{.Name}}"),
            ("stats", "--no-stream", "-a", "--format", "{{.Name}} {{.MemPerc}} {{.PIDs}}", "idle"),
            ("stats", "--no-stream", "nothing-here"),
        ):
            same(engine, service, tmp_path, *args)
        assert (
            remote(
                service, tmp_path, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy"
            ).stdout
            == "busy 1\n"
        )
        table = remote(service, tmp_path, "stats", "--no-stream", "busy").stdout.splitlines()
        assert table[0].split() == engine.run("stats", "--no-stream", "busy").stdout.splitlines()[0].split()
        assert table[1].split()[:2] == [
            engine.run("inspect", "--format", "{{.Id}}", "busy").stdout[:12],
            "busy",
        ]
        missing = remote(service, tmp_path, "stats", "--no-stream", "nothing-here", check=False)
        assert (missing.returncode, missing.stderr) == (
            1,
            "Error response from daemon: No such container: nothing-here\n",
        )
        # the streaming view: the screen cleared and the table redrawn, until stopped
        proc = subprocess.Popen(
            [str(PINNACE), "-H", service, "stats", "--format", "{{.Name}} {{.PIDs}}", "busy"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_env(tmp_path),
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            seen = b""
            deadline = time.monotonic() + 30
            while seen.count(b"\033[2J\033[Hbusy 1\n") < 2:
                assert time.monotonic() < deadline and proc.poll() is None, seen
                seen += os.read(proc.stdout.fileno(), 4096)
        finally:
            proc.kill()
            proc.wait()
    finally:
        engine.run("rm", "-f", "busy", "idle")


def test_update(engine: Pinnace, service: str, tmp_path: Path) -> None:
    engine.run("run", "-d", "--name", "c1", "--network", "none", "busybox", "busybox", "sleep", "60")
    engine.run("create", "--name", "c2", "--network", "none", "busybox", "true")
    try:
        out = remote(
            service, tmp_path, "update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5",
            "--cpu-shares", "512", "--pids-limit", "50", "--restart", "on-failure:3", "c1", "c2",
        )  # fmt: skip
        assert (out.stdout, out.stderr) == ("c1\nc2\n", "")
        fields = (
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} "
            "{{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        )
        for name in ("c1", "c2"):
            assert (
                engine.run("inspect", "--format", fields, name).stdout
                == "67108864 134217728 500000000 512 50 on-failure 3\n"
            )
        cgroup_limit = engine.run("exec", "c1", "cat", "/sys/fs/cgroup/pids.max", check=False).stdout
        assert cgroup_limit in ("50\n", "")  # cgroup v2 shows it inside; v1 mounts elsewhere
        # docker's errors: one container missing (the others still updated), a bad value, no flag
        partly = remote(service, tmp_path, "update", "--cpu-shares", "256", "c1", "nothing-here", check=False)
        assert (partly.returncode, partly.stdout, partly.stderr) == (
            1,
            "c1\n",
            "Error response from daemon: No such container: nothing-here\n",
        )
        assert engine.run("inspect", "--format", "{{.HostConfig.CpuShares}}", "c1").stdout == "256\n"
        for args in (
            ("update", "--memory", "lots", "c1"),
            ("update", "c1"),
            ("update", "--restart", "sometimes", "c1"),
            ("update", "--cpu-shares", "256", "nothing-here"),
        ):
            failed = same(engine, service, tmp_path, *args)
            assert failed.returncode != 0, args
    finally:
        engine.run("rm", "-f", "c1", "c2")


def test_container_prune(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ids = {}
    for name, label in (("keep-me", "keep=yes"), ("prune-a", "group=x"), ("prune-b", "group=x")):
        ids[name] = engine.run(
            "create", "--name", name, "--network", "none", "--label", label, "busybox", "true"
        ).stdout.strip()
    engine.run(
        "run",
        "-d",
        "--name",
        "running",
        "--network",
        "none",
        "--label",
        "group=x",
        "busybox",
        "busybox",
        "sleep",
        "60",
    )
    try:
        out = remote(service, tmp_path, "container", "prune", "-f", "--filter", "label=group=x").stdout
        head, _, total = out.partition("\n\n")
        lines = head.splitlines()
        assert lines[0] == "Deleted Containers:" and sorted(lines[1:]) == sorted(
            [ids["prune-a"], ids["prune-b"]]
        )
        assert total.startswith("Total reclaimed space: ") and total.endswith("\n") and total.count("\n") == 1
        assert sorted(engine.run("ps", "-a", "--format", "{{.Names}}").stdout.split()) == [
            "keep-me",
            "running",
        ]
        # nothing (more) to remove: the same line as locally
        assert (
            same(engine, service, tmp_path, "container", "prune", "-f", "--filter", "label=group=x").stdout
            == "Total reclaimed space: 0B\n"
        )
        same(engine, service, tmp_path, "container", "prune", "-f", "--filter", "until=2000-01-01T00:00:00Z")
        bad = same(engine, service, tmp_path, "container", "prune", "-f", "--filter", "bogus=1")
        assert (bad.returncode, bad.stderr) == (1, "Error response from daemon: invalid filter 'bogus'\n")
        everything = remote(service, tmp_path, "container", "prune", "-f").stdout
        assert everything.startswith(f"Deleted Containers:\n{ids['keep-me']}\n\nTotal reclaimed space: ")
        assert engine.run("ps", "-a", "--format", "{{.Names}}").stdout == "running\n"
    finally:
        engine.run("rm", "-f", "running", "keep-me", check=False)


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_cp_reaches_volumes_and_binds(engine: Pinnace, service: str, tmp_path: Path, running: bool) -> None:
    """A path in a named volume or a bind is the volume's or bind's, not the layer's beneath it (docker)."""
    bound = tmp_path / "bound"
    bound.mkdir()
    (bound / "on-host.txt").write_text("host side\n")
    (tmp_path / "single.txt").write_text("one file\n")
    (tmp_path / "up.txt").write_text("copied in\n")
    engine.run("volume", "create", "vol1")
    engine.run("volume", "create", "vol2")
    script = "echo in-volume > /data/inside && echo in-bind > /bound/from-container"
    engine.run(
        "run", "-d" if running else "--name=c1", *(("--name", "c1") if running else ()), "--network", "none",
        "-v", "vol1:/data", "-v", f"{bound}:/bound", "-v", "vol2:/ro:ro", "-v", f"{tmp_path}/single.txt:/etc/single.txt", "busybox", "sh", "-c",
        script + (" && exec busybox sleep 60" if running else ""),
    )  # fmt: skip
    volume = Path(engine.run("volume", "inspect", "--format", "{{.Mountpoint}}", "vol1").stdout.strip())
    try:
        deadline = time.monotonic() + 20
        while not (bound / "from-container").exists():
            assert time.monotonic() < deadline
        for host in (None, service):

            def cp(*args: str, host: str | None = host) -> subprocess.CompletedProcess[str]:
                if host is None:
                    return engine.run("cp", *args, check=False)
                return remote(host, tmp_path, "cp", *args, check=False)

            out = tmp_path / f"out-{host is None}"
            out.mkdir()
            assert cp("c1:/data/inside", str(out)).returncode == 0
            assert (out / "inside").read_text() == "in-volume\n"
            assert cp("c1:/bound/on-host.txt", str(out)).returncode == 0
            assert (out / "on-host.txt").read_text() == "host side\n"
            assert cp("c1:/etc/single.txt", str(out)).returncode == 0
            assert (out / "single.txt").read_text() == "one file\n"
            assert cp(str(tmp_path / "up.txt"), f"c1:/data/up-{host is None}.txt").returncode == 0
            assert (volume / f"up-{host is None}.txt").read_text() == "copied in\n"
            assert cp(str(tmp_path / "up.txt"), f"c1:/bound/up-{host is None}.txt").returncode == 0
            assert (bound / f"up-{host is None}.txt").read_text() == "copied in\n"
            refused = cp(str(tmp_path / "up.txt"), "c1:/ro/")
            assert (refused.returncode, refused.stderr) == (
                1,
                "Error response from daemon: mounted volume is marked read-only\n",
            )
        # nothing landed in the layer beneath the mounts, and nothing is left mounted
        assert not [line for line in engine.run("diff", "c1").stdout.splitlines() if "up-" in line]
        assert f" {engine.root}/tmp/" not in Path("/proc/self/mountinfo").read_text()
    finally:
        engine.run("rm", "-f", "c1")
        engine.run("volume", "rm", "vol1", "vol2")


def test_cp_archive_mode_gives_files_to_the_containers_user(
    engine: Pinnace, service: str, tmp_path: Path
) -> None:
    """``-a`` (the API's ``copyUIDGID``) into a container with a User: the User owns the files (moby)."""
    src = tmp_path / "owned.txt"
    src.write_text("mine\n")
    os.chown(src, 1234, 2345)
    engine.run("create", "--name", "c1", "--network", "none", "--user", "4242:4343", "busybox", "true")
    try:
        for host, name in ((None, "local"), (service, "remote")):
            for archive in ((), ("-a",)):
                args = ("cp", *archive, str(src), f"c1:/tmp/{name}{len(archive)}")
                done = engine.run(*args) if host is None else remote(host, tmp_path, *args)
                assert (done.stdout, done.stderr) == ("", "")
        owners = {m[0]: (m[2], m[3]) for m in members(engine.run_bytes("cp", "c1:/tmp", "-").stdout)}
        assert owners["tmp/local0"] == owners["tmp/remote0"] == (0, 0)
        assert owners["tmp/local1"] == owners["tmp/remote1"] == (4242, 4343)
    finally:
        engine.run("rm", "-f", "c1")


def test_what_crosses_the_wire_reads_back_the_same() -> None:
    """The path stat header, a stats document and an update body: what one side writes, the other reads."""
    import stat as st
    from types import MappingProxyType

    from pinnace._util.record import replace
    from pinnace.api.archive import stats_document, update_config
    from pinnace.client.containers import container_record, stats_sample, update_body
    from pinnace.containers.copy import PathStat, path_stat_header, path_stat_of_header
    from pinnace.containers.stats import Sample
    from pinnace.containers.update import UpdateConfig

    for mode in (
        st.S_IFDIR | 0o755,
        st.S_IFLNK | 0o777,
        st.S_IFREG | 0o4755,
        st.S_IFCHR | 0o600,
        st.S_IFIFO | 0o1644,
    ):
        found = PathStat("name", 12, mode, 1700000000.5, "/target" if st.S_ISLNK(mode) else "")
        assert path_stat_of_header(path_stat_header(found)) == found
    sample = Sample(
        cpu_ns=5_000, system_ns=9_000_000, online_cpus=2, memory=4096, memory_limit=1 << 30, block_read=7,
        block_write=9, pids=3, raw=MappingProxyType({"memory": {"usage": 6144}, "memory_stat": {"inactive_file": 2048}}),
        networks=MappingProxyType({"eth0": {"rx_bytes": 1, "tx_bytes": 2}}), read_ns=1_700_000_000_123_456_789,
    )  # fmt: skip
    record = container_record({"Id": "a" * 64, "Name": "/c1"})
    assert stats_sample(stats_document(record, None, sample)) == replace(sample, raw=MappingProxyType({}))
    change = UpdateConfig(
        memory=1 << 26,
        nano_cpus=5 * 10**8,
        pids_limit=-1,
        restart_policy={"Name": "always", "MaximumRetryCount": 0},
    )
    assert update_config(update_body(change)) == (change, [])
