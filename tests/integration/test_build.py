"""``pinnace build``: Dockerfiles built into images that run, with the cache, stages, args, ignores,
heredocs, mounts, and failures that leave nothing behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace

pytestmark = pytest.mark.root


def build(store: Pinnace, context: Path, *args: str, stdin: bytes | None = None, check: bool = True,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    import os

    proc = subprocess.run(
        [str(PINNACE), "--root", str(store.root), "--runroot", str(store.runroot), "build", *args, str(context)],
        input=stdin.decode() if stdin is not None else None, capture_output=True, text=True, timeout=180,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"build exited {proc.returncode}: {proc.stderr}")
    return proc


def context(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    return ctx


def config(store: Pinnace, ref: str) -> dict[str, object]:
    return dict(json.loads(store.run("image", "inspect", ref).stdout)[0]["Config"])


def test_a_dockerfile_builds_an_image_that_runs_and_a_rebuild_is_all_cache(
    engine: Pinnace, tmp_path: Path
) -> None:
    ctx = context(
        tmp_path,
        """\
# a comment
FROM busybox
ENV GREETING=hello \\
    TARGET=world
WORKDIR /app
COPY hello.txt .
COPY dir/ /app/dir/
RUN busybox mkdir -p /out && echo "$GREETING $TARGET" > /out/greeting && busybox chmod 644 /out/greeting
LABEL org.example.name="demo app" version=1
EXPOSE 8080 53/udp
USER 1000:1000
VOLUME /data
STOPSIGNAL SIGTERM
CMD ["cat", "/out/greeting"]
""",
        {"hello.txt": "hi from the context\n", "dir/a": "a\n", "dir/sub/b": "b\n"},
    )
    first = build(engine, ctx, "-t", "demo:1")
    assert "#" in first.stderr and "DONE" in first.stderr
    assert engine.run("run", "--rm", "--network", "none", "demo:1").stdout == "hello world\n"
    out = engine.run(
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "0",
        "demo:1",
        "cat",
        "/app/hello.txt",
        "/app/dir/a",
        "/app/dir/sub/b",
    )
    assert out.stdout == "hi from the context\na\nb\n"
    c = config(engine, "demo:1")
    assert [e for e in c["Env"] if not e.startswith("PATH=")] == ["GREETING=hello", "TARGET=world"]  # type: ignore[attr-defined]
    assert (c["WorkingDir"], c["User"], c["StopSignal"], c["Cmd"]) == (
        "/app",
        "1000:1000",
        "SIGTERM",
        ["cat", "/out/greeting"],
    )
    assert c["Labels"] == {"org.example.name": "demo app", "version": "1"}
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and c["Volumes"] == {"/data": {}}
    history = json.loads(
        engine.run("history", "--no-trunc", "--format", "{{json .}}", "demo:1").stdout.splitlines()[0]
    )
    assert history["CreatedBy"] == 'CMD ["cat" "/out/greeting"]' and history["Size"] in ("0B", "0")
    image_id = json.loads(engine.run("image", "inspect", "demo:1").stdout)[0]["Id"]

    again = build(engine, ctx, "-t", "demo:2")
    assert again.stderr.count("CACHED") == 3  # two COPYs and the RUN: no container ran
    assert json.loads(engine.run("image", "inspect", "demo:2").stdout)[0]["Id"] == image_id

    (ctx / "hello.txt").write_text("changed\n")
    third = build(engine, ctx, "-t", "demo:3", env={"PINNACE_BUILD_EXPLAIN": "1"})
    assert third.stderr.count("CACHED") == 0 and "cache miss" in third.stderr
    out = engine.run("run", "--rm", "--network", "none", "demo:3", "cat", "/app/hello.txt")
    assert out.stdout == "changed\n"


def test_stages_targets_args_and_copy_from(engine: Pinnace, tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        """\
ARG BASE=busybox
FROM $BASE AS builder
ARG WHAT=default
RUN busybox mkdir -p /out && echo "built $WHAT" > /out/result

FROM busybox AS never
RUN exit 1

FROM ${BASE}
ARG BASE
COPY --from=builder /out/result /result
RUN echo "base was $BASE" > /base
""",
    )
    result = build(engine, ctx, "-t", "staged", "--build-arg", "WHAT=for real", "--build-arg", "UNUSED=1")
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in result.stderr
    assert "never" not in result.stderr  # a stage no one needs is skipped
    out = engine.run("run", "--rm", "--network", "none", "staged", "cat", "/result", "/base")
    assert out.stdout == "built for real\nbase was busybox\n"
    build(engine, ctx, "-t", "first-only", "--target", "builder")
    assert (
        engine.run("run", "--rm", "--network", "none", "first-only", "cat", "/out/result").stdout
        == "built default\n"
    )
    bad = build(engine, ctx, "--target", "nope", check=False)
    assert bad.returncode == 1 and 'target stage "nope" could not be found' in bad.stderr


def test_dockerignore_heredocs_and_a_dockerfile_from_stdin(engine: Pinnace, tmp_path: Path) -> None:
    ctx = context(
        tmp_path,
        """\
FROM busybox
COPY . /ctx/
COPY <<EOF /etc/motd
welcome to $HOSTNAME_UNSET-less builds
EOF
RUN <<EOT
echo one > /one
echo two > /two
EOT
""",
        {
            "keep.txt": "kept\n",
            "secret.key": "no\n",
            "logs/a.log": "no\n",
            "logs/keep.log": "yes\n",
            ".dockerignore": "*.key\nlogs\n!logs/keep.log\n",
        },
    )
    build(engine, ctx, "-t", "ignored")
    listing = engine.run("run", "--rm", "--network", "none", "ignored", "ls", "-R", "/ctx").stdout
    assert "keep.txt" in listing and "secret.key" not in listing and "a.log" not in listing
    assert "keep.log" in listing
    out = engine.run("run", "--rm", "--network", "none", "ignored", "cat", "/etc/motd", "/one", "/two")
    assert out.stdout == "welcome to -less builds\none\ntwo\n"
    piped = build(
        engine, tmp_path / "ctx", "-t", "piped", "-f", "-", stdin=b"FROM busybox\nRUN echo piped > /p\n"
    )
    assert piped.returncode == 0
    assert engine.run("run", "--rm", "--network", "none", "piped", "cat", "/p").stdout == "piped\n"


def test_a_failing_run_and_a_bad_dockerfile_leave_nothing_behind(engine: Pinnace, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo about to fail && exit 3\n")
    failed = build(engine, ctx, "-t", "broken", check=False)
    assert failed.returncode == 1
    assert "about to fail" in failed.stderr
    assert (
        'process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3'
        in failed.stderr
    )
    import sqlite3

    with sqlite3.connect(engine.root / "pinnace.db") as db:
        left = db.execute("SELECT key FROM snapshots WHERE kind != 'committed'").fetchall()
        committed = [k for (k,) in db.execute("SELECT key FROM snapshots WHERE kind = 'committed'")]
    assert (
        left == []
    )  # the step's writable layer is gone; only the image's layer and docker's shared init layer stay
    assert len(committed) == 2 and any(k.startswith("init-") or "init" in k for k in committed)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(engine.runroot) not in mounts and str(engine.root) not in mounts
    scratch = engine.runroot / "build"
    assert not scratch.exists() or list(scratch.iterdir()) == []
    assert engine.run("images", "-q", "broken", check=False).stdout == ""
    bad = context(tmp_path, "FROM busybox\nFRM oops\n")
    out = build(engine, bad, check=False)
    assert out.returncode == 1 and "unknown instruction: FRM" in out.stderr and "Dockerfile:2" in out.stderr


def test_builder_prune_frees_the_cache(engine: Pinnace, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo cached > /file\n")
    counts = ("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
    build(engine, ctx, "-t", "pruned")
    engine.run("builder", "prune", "-f")  # as docker: a row whose layer an image holds is not dangling
    assert "Build Cache 1" in engine.run(*counts).stdout
    assert "CACHED" in build(engine, ctx, "-t", "pruned").stderr
    layer = json.loads(engine.run("image", "inspect", "pruned").stdout)[0]["RootFS"]["Layers"][-1]
    engine.run("rmi", "pruned")
    assert layer.partition(":")[2] in engine.blobs()  # the cache still holds the RUN's layer
    df = engine.run("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout
    assert "Build Cache 1" in df
    engine.run("builder", "prune", "-f")
    assert layer.partition(":")[2] not in engine.blobs()
    assert "Build Cache 0" in engine.run("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout


def test_independent_stages_build_side_by_side(engine: Pinnace, tmp_path: Path) -> None:
    """Two stages that each wait for the other's marker in a shared cache mount: only a build that
    runs them at the same time finishes (one after the other, the first gives up with exit 9)."""
    import secrets

    sync = f"sync-{secrets.token_hex(4)}"
    wait = (
        "busybox touch /sync/{me} && i=0 && while [ ! -e /sync/{other} ]; do busybox sleep 0.05;"
        " i=$((i+1)); [ $i -lt 400 ] || exit 9; done && echo {me} > /{me}"
    )
    ctx = context(
        tmp_path,
        f"""\
FROM busybox AS left
RUN --mount=type=cache,target=/sync,id={sync} {wait.format(me="left", other="right")}
FROM busybox AS right
RUN --mount=type=cache,target=/sync,id={sync} {wait.format(me="right", other="left")}
FROM busybox
COPY --from=left /left /both/
COPY --from=right /right /both/
""",
    )
    build(engine, ctx, "-t", "parallel")
    out = engine.run("run", "--rm", "--network", "none", "parallel", "cat", "/both/left", "/both/right")
    assert out.stdout == "left\nright\n"


def test_cache_from_an_image_built_elsewhere(engine: Pinnace, tmp_path: Path) -> None:
    """An image's config carries its steps' cache keys: another store that loads it hits them all."""
    ctx = context(
        tmp_path,
        'FROM busybox\nCOPY a.txt /a.txt\nRUN echo ran > /ran\nCMD ["cat", "/ran"]\n',
        {"a.txt": "a\n"},
    )
    first = build(engine, ctx, "-q", "-t", "cache-source:1").stdout.strip()
    archive = tmp_path / "image.tar"
    engine.run("save", "-o", str(archive), "cache-source:1", "busybox:latest")
    other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
    other.run("load", "-i", str(archive))
    cold = build(other, ctx, "-t", "rebuilt:1")
    assert cold.stderr.count("CACHED") == 0  # no --cache-from: this store never built it
    other.run("rmi", "rebuilt:1")
    other.run("builder", "prune", "-f", "--all")  # its rows too, though cache-source:1 holds their layers
    warm = build(other, ctx, "-t", "rebuilt:2", "--cache-from", "cache-source:1")
    assert warm.stderr.count("CACHED") == 2
    assert json.loads(other.run("image", "inspect", "rebuilt:2").stdout)[0]["Id"] == first


def test_onbuild_shell_args_network_secrets_and_platforms(engine: Pinnace, tmp_path: Path) -> None:
    parent = context(tmp_path, "FROM busybox\nONBUILD RUN echo triggered > /trigger\nHEALTHCHECK NONE\n")
    build(engine, parent, "-t", "with-trigger")
    assert config(engine, "with-trigger")["OnBuild"] == ["RUN echo triggered > /trigger"]
    secret = tmp_path / "token.txt"
    secret.write_text("s3cret\n")
    child = tmp_path / "child"
    child.mkdir()
    (child / "Dockerfile").write_text(
        """\
ARG GLOBAL=g
FROM with-trigger AS main
ARG GLOBAL
ARG TARGETARCH
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "$GLOBAL $TARGETARCH" > /args
RUN --network=none busybox cat /proc/net/dev | busybox grep -c : > /interfaces
RUN --mount=type=secret,id=token busybox cp /run/secrets/token /seen && busybox ls /run/secrets > /listed
FROM --platform=linux/mips64 busybox AS elsewhere
"""
    )
    build(engine, child, "-t", "child", "--secret", f"id=token,src={secret}", "--target", "main")
    run = ["run", "--rm", "--network", "none", "child", "cat"]
    arch = engine.run(*run, "/args").stdout.split()
    assert arch[0] == "g" and arch[1] in ("amd64", "arm64")
    assert engine.run(*run, "/trigger").stdout == "triggered\n"  # the parent's ONBUILD ran here
    assert engine.run(*run, "/interfaces").stdout == "1\n"  # only lo with --network=none
    assert engine.run(*run, "/seen").stdout == "s3cret\n"  # the secret was there for the RUN...
    assert engine.run(*run, "/listed").stdout == "token\n"
    secret_in_image = engine.run(
        "run", "--rm", "--network", "none", "child", "ls", "/run/secrets", check=False
    )
    assert "token" not in secret_in_image.stdout  # ...and is not in the image
    c = config(engine, "child")
    assert c["Shell"] == ["/bin/sh", "-e", "-c"] and c["Healthcheck"] == {"Test": ["NONE"]}
    assert not c.get("OnBuild")
    other = build(engine, child, "--target", "elsewhere", check=False)
    assert other.returncode == 1 and 'platform "linux/mips64" is not supported' in other.stderr
    flag = build(engine, child, "--platform", "linux/s390x", check=False)
    assert flag.returncode == 1 and "native platform only" in flag.stderr


def test_pull_iidfile_and_quiet(engine: Pinnace, tmp_path: Path) -> None:
    """--pull fetches the base from its registry (pinnace's own, here) though a copy is local;
    -q prints only the image ID, which --iidfile writes too."""
    import contextlib

    from tests.helpers.pinnace_registry import serving

    with contextlib.contextmanager(serving)(tmp_path / "registry") as host:
        engine.run("tag", "busybox", f"{host}/base/busybox:1")
        engine.run("push", f"{host}/base/busybox:1")
        ctx = context(tmp_path, f"FROM {host}/base/busybox:1\nRUN echo pulled > /p\n")
        iid = tmp_path / "iid"
        out = build(engine, ctx, "-q", "--pull", "--iidfile", str(iid))
        assert out.stdout.strip() == iid.read_text() and iid.read_text().startswith("sha256:")
        assert out.stderr == ""
        assert (
            engine.run("run", "--rm", "--network", "none", iid.read_text(), "cat", "/p").stdout == "pulled\n"
        )
