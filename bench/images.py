"""Benchmarks of the image foundation: import, save, load, and listing images.

Each compares `pinnace X` with `podman X` and `docker X` (against a private
dockerd, bench/dockerd.py, where none runs) on the same input. The ~100 MB
cases measure throughput; `images`, over a store of 50 images, mostly measures
how fast the CLI starts.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from bench import data
from bench.cases import Context, Step, Target, case
from bench.tools import IMAGE_NAMESPACE, CommandFailed, Session, ToolError

# Fully qualified, so every tool (docker's normalisation included) names it alike.
BIG = f"localhost/{IMAGE_NAMESPACE}/busybox-big:1"
PEERS = ("pinnace", "podman", "docker")
SMALL_IMAGES = 50


def _as_fast_as_peers(docker_median: float) -> Target:
    return Target(
        "at least as fast as the faster of docker and podman",
        1.0,
        ("docker", "podman"),
        {"docker": docker_median},
    )


def _rootfs(ctx: Context) -> Path:
    """The big rootfs tarball; 20 MB rather than 100 MB for a --quick run."""
    return ctx.once("rootfs", lambda: data.rootfs_tar(ctx.cache, 20 if ctx.quick else 100))


def _save_args(session: Session, out: Path, image: str) -> tuple[str, ...]:
    # docker-archive is podman's default too; say so, since podman can also write oci-archive.
    fmt = ("--format", "docker-archive") if session.name == "podman" else ()
    return ("save", *fmt, "-o", str(out), image)


@case("import", "import a ~100 MB rootfs tarball as an image", PEERS, _as_fast_as_peers(1.02))
def import_case(ctx: Context, s: Session) -> Step:
    return Step(s.argv("import", str(_rootfs(ctx)), BIG), cleanup=lambda: s.run("rmi", BIG))


@case("save", "save a ~100 MB image to a docker-archive", PEERS, _as_fast_as_peers(1.02))
def save_case(ctx: Context, s: Session) -> Step:
    s.run("import", str(_rootfs(ctx)), BIG)
    out = s.workdir / "saved.tar"

    def check_and_remove() -> None:
        # A tool that "saves" nothing must not look fast.
        if not out.exists() or out.stat().st_size < 1 << 20:
            raise ToolError(f"{s.name} save wrote no archive (or an almost empty one)")
        out.unlink()

    return Step(s.argv(*_save_args(s, out, BIG)), cleanup=check_and_remove)


def _docker_archive(ctx: Context) -> Path:
    """One archive for every tool to load, written by podman where it runs (else the next tool)."""
    out = ctx.workdir / "archive.tar"
    errors = []
    for name in ("podman", "docker", "pinnace"):
        maker = ctx.sessions.get(name)
        if maker is None:
            continue
        try:
            maker.run("import", str(_rootfs(ctx)), BIG)
            maker.run(*_save_args(maker, out, BIG))
            maker.run("rmi", BIG)
        except CommandFailed as e:
            errors.append(f"{name}: {e}")
            with contextlib.suppress(CommandFailed):  # leave its store as empty as it was
                maker.run("rmi", BIG)
            continue
        ctx.notes.append(f"every tool loads the same archive, written by `{name} save`")
        return out
    raise ToolError("no tool could write the archive to load (" + "; ".join(errors) + ")")


@case("load", "load a ~100 MB docker-archive", PEERS, _as_fast_as_peers(1.15))
def load_case(ctx: Context, s: Session) -> Step:
    archive = ctx.once("archive", lambda: _docker_archive(ctx))
    # Removing the image between runs makes every load write the layers anew (and
    # checks that the load made it).
    return Step(s.argv("load", "-i", str(archive)), cleanup=lambda: s.run("rmi", BIG))


@case(
    "images",
    f"list {SMALL_IMAGES} images (mostly CLI start-up)",
    PEERS,
    Target("at most half podman's time", 0.5, ("podman",)),
)
def images_case(ctx: Context, s: Session) -> Step:
    for i in range(SMALL_IMAGES):
        tar = data.small_rootfs_tar(ctx.cache, i)
        s.run("import", str(tar), f"localhost/{IMAGE_NAMESPACE}/small-{i:02d}:1")
    listed = sum(f"{IMAGE_NAMESPACE}/small-" in line for line in s.run("images").splitlines())
    if listed != SMALL_IMAGES:
        raise ToolError(f"{s.name} images lists {listed} of the {SMALL_IMAGES} images imported")
    return Step(s.argv("images"))
