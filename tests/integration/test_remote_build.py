"""``pinnace -H URL build`` and ``builder prune`` against ``pinnace system service``: the context goes
as a tar the client makes (its .dockerignore applied as the local build applies it), the progress
comes back and prints as a local build prints it, and the images are the ones a local build makes.
The real docker CLI drives the same endpoints (``DOCKER_BUILDKIT=0``)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.integration.test_remote_cli import _env, remote, service

__all__ = ["service"]  # a fixture of test_remote_cli's, used here

pytestmark = pytest.mark.root


def _context(where: Path, files: dict[str, str]) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
    return where


def _steady(text: str) -> str:
    """Build progress without what moves between two builds: times, and the image ID (its config
    says when it was made)."""
    text = re.sub(r"^(#\d+) \d+\.\d{3} ", r"\1 ", text, flags=re.MULTILINE)
    text = re.sub(r"DONE \d+\.\ds", "DONE", text)
    return re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", text)


def _listing(engine: Pinnace, image: str) -> list[str]:
    out = engine.run("run", "--rm", "--network", "none", image, "busybox", "find", "/ctx").stdout
    return sorted(out.split())


TWO_STAGES = """\
FROM busybox AS base
ARG WHO=nobody
LABEL stage=base
COPY greeting.txt /greeting.txt
RUN echo "hello $WHO" && cat /greeting.txt
FROM base AS final
LABEL stage=final
RUN echo final > /final
CMD ["cat", "/greeting.txt"]
"""


def test_a_remote_build_prints_and_makes_what_a_local_build_does(
    engine: Pinnace, service: str, tmp_path: Path
) -> None:
    ctx = _context(tmp_path / "ctx", {"Dockerfile": TWO_STAGES, "greeting.txt": "greetings\n"})
    args = ("build", "--build-arg", "WHO=you", "--label", "origin=test", "--network", "none")
    fresh_here = engine.run(*args, "--no-cache", "-t", "here:1", str(ctx))
    fresh_there = remote(service, tmp_path, *args, "--no-cache", "-t", "there:1", str(ctx))
    assert re.search(r"^#\d+ \d+\.\d{3} hello you$", fresh_there.stderr, re.MULTILINE)  # RUN output, timed
    assert _steady(fresh_there.stderr.replace("there:", "here:")) == _steady(fresh_here.stderr)
    assert fresh_there.stdout == fresh_here.stdout == ""
    cached_here = engine.run(*args, "-t", "here:1", str(ctx))
    cached_there = remote(service, tmp_path, *args, "-t", "there:1", str(ctx))
    assert cached_there.stderr.count("CACHED") == 3
    assert _steady(cached_there.stderr.replace("there:", "here:")) == _steady(cached_here.stderr)
    assert engine.run("run", "--rm", "--network", "none", "there:1").stdout == "greetings\n"
    labels = "{{json .Config.Labels}}"
    assert engine.run("image", "inspect", "--format", labels, "there:1").stdout == (
        engine.run("image", "inspect", "--format", labels, "here:1").stdout
    )
    # -q: the image ID alone; --iidfile; --target; --platform native
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    iid = tmp_path / "iid"
    quiet = remote(
        service, tmp_path, "build", "-q", "--target", "base", "--platform", f"linux/{arch}",
        "--iidfile", str(iid), "-t", "there:base", str(ctx),
    )  # fmt: skip
    image_id = engine.run("image", "inspect", "--format", "{{.Id}}", "there:base").stdout.strip()
    assert (quiet.stdout, quiet.stderr, iid.read_text()) == (image_id + "\n", "", image_id)
    assert json.loads(engine.run("image", "inspect", "--format", labels, "there:base").stdout) == {
        "stage": "base"
    }


def test_the_context_is_what_the_dockerignore_leaves(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = _context(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
            ".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n*.tmp\nDockerfile\n",
            "a.txt": "a\n",
            "secret.txt": "do not send\n",
            "logs/x.log": "x\n",
            "logs/keep.log": "kept\n",
            "scratch.tmp": "tmp\n",
            "sub/b.txt": "b\n",
            "sub/Dockerfile.dev": "FROM busybox\nCOPY sub /ctx/\n",
        },
    )
    (ctx / "link").symlink_to("a.txt")
    os.link(ctx / "a.txt", ctx / "sub" / "hard.txt")
    engine.run("build", "-t", "here:ignore", str(ctx))
    remote(service, tmp_path, "build", "-t", "there:ignore", str(ctx))
    listing = _listing(engine, "there:ignore")
    assert listing == _listing(engine, "here:ignore")
    assert "/ctx/logs/keep.log" in listing and "/ctx/.dockerignore" in listing
    assert not {"/ctx/secret.txt", "/ctx/logs/x.log", "/ctx/scratch.tmp", "/ctx/Dockerfile"} & set(listing)
    shown = engine.run("run", "--rm", "--network", "none", "there:ignore", "sh", "-c",
                       "busybox readlink /ctx/link; cat /ctx/sub/hard.txt")  # fmt: skip
    assert shown.stdout == "a.txt\na\n"
    # -f inside the context (not the default name), then from outside it: the same image contents,
    # and nothing of how the Dockerfile travelled shows
    engine.run("build", "-f", str(ctx / "sub" / "Dockerfile.dev"), "-t", "here:dev", str(ctx))
    remote(service, tmp_path, "build", "-f", str(ctx / "sub" / "Dockerfile.dev"), "-t", "there:dev", str(ctx))
    assert _listing(engine, "there:dev") == _listing(engine, "here:dev")
    (ctx / ".dockerignore").write_text("secret.txt\nlogs\n*.tmp\n.dockerignore\n")
    outside = _context(tmp_path / "elsewhere", {"Build.Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    engine.run("build", "-f", str(outside / "Build.Dockerfile"), "-t", "here:out", str(ctx))
    remote(service, tmp_path, "build", "-f", str(outside / "Build.Dockerfile"), "-t", "there:out", str(ctx))
    listing = _listing(engine, "there:out")
    assert listing == _listing(engine, "here:out")
    assert "/ctx/Dockerfile" in listing and not [p for p in listing if "/.dockerfile." in p]
    # the Dockerfile on stdin, the context a directory
    piped = remote(
        service, tmp_path, "build", "-q", "-f", "-", str(ctx), input="FROM busybox\nCOPY a.txt /\n"
    )
    assert piped.stdout.startswith("sha256:")


def test_a_big_context_is_streamed(engine: Pinnace, service: str, tmp_path: Path) -> None:
    """A 48 MiB file goes through a client whose memory stays well below it."""
    size = 48 << 20
    ctx = _context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY big /big\nRUN busybox wc -c /big\n"})
    with open(ctx / "big", "wb") as f:
        f.truncate(size)
    argv = [str(PINNACE), "-H", service, "build", "--network", "none", "-t", "big", str(ctx)]
    probe = (
        "import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        " print(json.dumps([p.returncode, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
    )
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120,
                         env=_env(tmp_path), check=True)  # fmt: skip
    code, stderr, max_rss_kib = json.loads(out.stdout)
    assert code == 0, stderr
    assert f"{size} /big" in stderr
    assert max_rss_kib * 1024 < size


def test_failures_say_what_the_local_build_says(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo before\nRUN exit 3\n"})
    here = engine.run("build", "--no-cache", "--network", "none", str(ctx), check=False)
    there = remote(service, tmp_path, "build", "--no-cache", "--network", "none", str(ctx), check=False)
    assert there.returncode == here.returncode == 1
    assert there.stderr.endswith(
        'ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3\n'
    )
    assert _steady(there.stderr) == _steady(here.stderr)
    quiet = remote(service, tmp_path, "build", "-q", "--network", "none", str(ctx), check=False)
    assert (quiet.returncode, quiet.stdout) == (1, "")
    assert quiet.stderr == 'ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3\n'
    bad = _context(tmp_path / "bad", {"Dockerfile": "FROM busybox\nFRM oops\n"})
    for args in (
        (str(bad),),
        (str(tmp_path / "no-such-dir"),),
        ("--platform", "linux/s390x" if platform.machine() != "s390x" else "linux/amd64", str(ctx)),
        ("--network", "bridge0", str(ctx)),
        ("-t", "Bad:Name", str(ctx)),
        ("-f", str(tmp_path / "no-such-file"), str(ctx)),
    ):
        local, far = (
            engine.run("build", *args, check=False),
            remote(service, tmp_path, "build", *args, check=False),
        )
        assert (far.returncode, far.stdout, far.stderr) == (local.returncode, local.stdout, local.stderr), (
            args
        )
        assert far.returncode in (1, 125) and far.stderr.count("\n") == 1, far.stderr
    secret = remote(
        service, tmp_path, "build", "--secret", f"id=s,src={ctx / 'Dockerfile'}", str(ctx), check=False
    )
    assert (secret.returncode, secret.stderr) == (
        125,
        "pinnace build --secret: not supported against a remote engine yet\n",
    )
    assert engine.run("images", "-q", "--filter", "dangling=true").stdout == ""


def test_builder_prune_remotely_and_with_docker(engine: Pinnace, service: str, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG N\nRUN echo $N > /file\n"})
    counts = ("system", "df", "--format", "{{.Type}} {{.TotalCount}}")

    def built(n: str) -> str:
        remote(
            service, tmp_path, "build", "--network", "none", "--build-arg", f"N={n}", "-t", "pruned", str(ctx)
        )
        assert "Build Cache 1" in engine.run(*counts).stdout
        return str(json.loads(engine.run("image", "inspect", "pruned").stdout)[0]["RootFS"]["Layers"][-1])

    layer = built("1")
    held = remote(service, tmp_path, "builder", "prune", "-f")  # an image holds its layer: not dangling
    assert held.stdout == "Total:\t0B\n" and "Build Cache 1" in engine.run(*counts).stdout
    # --all: the row goes, and the image keeps the layer
    held = remote(service, tmp_path, "builder", "prune", "-f", "--all")
    assert held.stdout == "Total:\t0B\n"
    assert "Build Cache 0" in engine.run(*counts).stdout and layer.partition(":")[2] in engine.blobs()
    layer = built("2")
    engine.run("rmi", "pruned")
    freed = remote(service, tmp_path, "builder", "prune", "-f")  # dangling now
    assert freed.stdout.startswith("Total:\t") and freed.stdout != "Total:\t0B\n"
    assert layer.partition(":")[2] not in engine.blobs()
    assert "Build Cache 0" in engine.run(*counts).stdout
    assert (
        remote(service, tmp_path, "builder", "prune", "-f").stdout
        == engine.run("builder", "prune", "-f").stdout
    )
    bad = remote(service, tmp_path, "builder", "prune", "-f", "--filter", "colour=red", check=False)
    assert (bad.returncode, bad.stderr) == (1, 'Error response from daemon: invalid filter "colour"\n')
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    built("3")
    docker_env = {
        **_env(tmp_path),
        "DOCKER_HOST": service,
        "DOCKER_BUILDKIT": "0",
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    run = subprocess.run(["docker", "builder", "prune", "-a", "-f"], capture_output=True, text=True,
                         env=docker_env, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Deleted build cache objects:\n") and "Total reclaimed space: " in run.stdout
    assert "Build Cache 0" in engine.run(*counts).stdout
    refused = subprocess.run(["docker", "builder", "prune", "-f", "--filter", "colour=red"], capture_output=True,
                             text=True, env=docker_env, timeout=60)  # fmt: skip
    assert refused.returncode == 1 and 'invalid filter "colour"' in refused.stderr


def test_the_context_tar_holds_what_the_ignore_file_leaves(tmp_path: Path) -> None:
    """The client's tar, extracted by the service's own extraction: the walk's entries with their
    bytes, modes, links and hard links, then the extra members."""
    import io

    from pinnace.build.context import IgnoreMatcher, extract_context, walk
    from pinnace.client.build import context_tar

    src = _context(tmp_path / "src", {"a.txt": "a\n", "skip": "no\n", "dir/x": "no\n", "dir/keep": "yes\n"})
    (src / "empty").mkdir()
    (src / "run.sh").write_bytes(os.urandom(300_000))
    (src / "run.sh").chmod(0o750)
    (src / "link").symlink_to("a.txt")
    os.link(src / "a.txt", src / "again.txt")
    matcher = IgnoreMatcher(["skip", "dir", "!dir/keep"])
    data = b"".join(context_tar(str(src), matcher, [("extra", None), ("extra/x", b"hi")]))
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(io.BytesIO(data), str(dest))
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert got == sorted([*walk(str(src), matcher), "extra", "extra/x"])
    assert "skip" not in got and "dir/x" not in got and "dir/keep" in got and "empty" in got
    assert (dest / "run.sh").read_bytes() == (src / "run.sh").read_bytes()
    assert (dest / "run.sh").stat().st_mode & 0o7777 == 0o750
    assert os.readlink(dest / "link") == "a.txt" and (dest / "extra" / "x").read_bytes() == b"hi"
    assert (dest / "again.txt").stat().st_ino == (dest / "a.txt").stat().st_ino


def test_progress_events_replay_the_calls_they_record() -> None:
    from pinnace.build.builder import Progress
    from pinnace.build.progress import Events, replay

    calls: list[tuple[object, ...]] = []

    class Recorder(Progress):
        def step(self, number: int, text: str) -> None:
            calls.append(("step", number, text))

        def cached(self, number: int) -> None:
            calls.append(("cached", number))

        def missed(self, number: int, why: str) -> None:
            calls.append(("missed", number, why))

        def output(self, number: int, data: bytes) -> None:
            calls.append(("output", number, data))

        def done(self, number: int, seconds: float) -> None:
            calls.append(("done", number, seconds))

        def note(self, text: str) -> None:
            calls.append(("note", text))

    sent: list[str] = []
    events = Events(lambda event: sent.append(json.dumps(event)))
    script = [
        ("step", 1, "[stage-0 1/2] FROM busybox"), ("cached", 1), ("missed", 2, "changed"),
        ("output", 2, b"half a \xe2\x82"), ("done", 2, 0.25), ("note", "a warning"),
    ]  # fmt: skip
    for name, *args in script:
        getattr(events, name)(*args)
    events.failed("it broke")  # said by the client itself, not replayed
    recorder = Recorder()
    for line in sent:
        replay(json.loads(line), recorder)
    assert calls == script
