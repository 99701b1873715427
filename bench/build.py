"""Benchmarks of ``pinnace build`` against buildah, podman build and docker's classic builder.

Every tool builds the same context from the same busybox base (imported untimed, named
``docker.io/pinnace-bench/busybox:1`` everywhere so each resolves it locally), with its default
network for RUN.

``build-cold``
    a 6-step Dockerfile (ENV, WORKDIR, COPY, two RUNs, CMD) with ``--no-cache``.
``rebuild``
    the same, fully cached (built once untimed first): what a rebuild with nothing changed costs.
``build-copy``
    ``COPY`` of 10,000 small files (1,000 with ``--quick``) into a busybox image, ``--no-cache``, after
    an untimed ``sync`` (pinnace's layer commit is a ``syncfs``: it would flush its peers' writes too).

Targets (issue 9): cold at most half podman's time; cached at most half podman's and no slower than
docker's; the COPY at least buildah's throughput.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench import data
from bench.cases import Context, Step, Target, case
from bench.tools import IMAGE_NAMESPACE, Session

BASE = f"docker.io/{IMAGE_NAMESPACE}/busybox:1"
TAG = f"localhost/{IMAGE_NAMESPACE}/built:1"
DOCKERFILE = f"""\
FROM {BASE}
ENV APP=/app
WORKDIR /app
COPY app.txt .
RUN echo built > /app/built
RUN busybox mkdir -p /app/data && echo data > /app/data/x
CMD ["cat", "/app/built"]
"""


def _base(ctx: Context, s: Session) -> None:
    """The busybox base image in the tool's store (buildah's through podman on the same store)."""
    tar = ctx.once("busybox", lambda: data.busybox_rootfs_tar(ctx.cache))
    if s.name == "buildah":
        import subprocess

        subprocess.run(
            ["podman", *s.prefix[1:], "import", str(tar), BASE],
            env=dict(s.env), capture_output=True, check=True,
        )  # fmt: skip
    else:
        s.run("import", str(tar), BASE)


def _build(s: Session, context: Path, *flags: str) -> list[str]:
    # RUN steps on the host's network for every tool: pinnace's default, and podman's or buildah's
    # default (a CNI bridge) would leave the bridge and its firewall chains on the host.
    flags = ("--network", "host", *flags)
    if s.name == "buildah":
        return s.argv("bud", "--runtime", "runc", "-q", *flags, "-t", TAG, str(context))
    if s.name == "docker":
        return ["env", "DOCKER_BUILDKIT=0", *s.argv("build", "-q", *flags, "-t", TAG, str(context))]
    return s.argv("build", "-q", *flags, "-t", TAG, str(context))


def _six_steps(ctx: Context) -> Path:
    def make() -> Path:
        where = ctx.workdir / "six-steps"
        where.mkdir(parents=True, exist_ok=True)
        (where / "Dockerfile").write_text(DOCKERFILE)
        (where / "app.txt").write_text("the app\n")
        return where

    return ctx.once("six-steps", make)


TOOLS = ("pinnace", "buildah", "podman", "docker")


@case(
    "build-cold",
    "build a 6-step Dockerfile on busybox, --no-cache",
    TOOLS,
    Target("at most half podman's time", 0.5, ("podman",)),
)
def build_cold(ctx: Context, s: Session) -> Step:
    _base(ctx, s)
    return Step(_build(s, _six_steps(ctx), "--no-cache"))


@case(
    "rebuild",
    "rebuild the 6-step Dockerfile with every step cached",
    TOOLS,
    Target("at most half podman's time and no slower than docker's", 0.5, ("podman",)),
)
def build_cached(ctx: Context, s: Session) -> Step:
    import subprocess

    _base(ctx, s)
    argv = _build(s, _six_steps(ctx))
    subprocess.run(argv, env=dict(s.env), capture_output=True, check=True)  # the cache, untimed
    return Step(argv)


def _many_files(ctx: Context) -> Path:
    def make() -> Path:
        where = ctx.workdir / "many-files"
        files = where / "files"
        count = 1000 if ctx.quick else 10_000
        rng = random.Random(9)
        for i in range(count):
            sub = files / f"d{i // 100:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.txt").write_bytes(rng.randbytes(rng.randint(64, 2048)))
        (where / "Dockerfile").write_text(f"FROM {BASE}\nCOPY files/ /files/\n")
        return where

    return ctx.once("many-files", make)


@case(
    "build-copy",
    "COPY of 10,000 small files into a busybox image, --no-cache",
    TOOLS,
    Target("at least buildah's throughput", 1.0, ("buildah",)),
)
def build_copy(ctx: Context, s: Session) -> Step:
    import os

    _base(ctx, s)
    # Untimed sync first: each tool starts with no dirty pages of the previous tool's 10,000 files.
    # pinnace syncs the filesystem when it commits a layer (durable before it is recorded), so
    # without this it would pay for its peers' deferred writeback.
    return Step(_build(s, _many_files(ctx), "--no-cache"), prepare=os.sync)
