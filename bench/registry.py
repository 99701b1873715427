"""Benchmarks of the registry client: push and pull of a ~100 MB three-layer image through CNCF
distribution (``docker-registry``) on 127.0.0.1, against podman and skopeo.

The image: three layers of seeded random (incompressible) bytes, about a
third of the total each (20 MB in all with ``--quick``), gzip-compressed as
registries hold them, in an OCI archive generated once into the data cache.
Every session starts its own registry (same binary and config, its storage
in the session's scratch directory, a free port, stopped by pid when the
session closes), so no tool finds another's blobs.

``push``
    The image, loaded untimed (``pinnace load``, ``podman load``; skopeo
    copies the archive to an ``oci:`` directory), pushed to the session's
    registry. Between samples the registry's storage is emptied, so every
    push uploads every blob (no "already exists", no cross-repository
    mount). pinnace pushes the gzip blobs it stored as they are; podman
    stores layers uncompressed and gzips them again on the way; skopeo
    copies the ``oci:`` blobs. Target: no slower than podman.
``pull``
    The image seeded once (untimed, ``skopeo copy``) into the session's
    registry, then pulled into an empty store: ``pinnace pull`` and
    ``podman pull`` download, verify and unpack; ``skopeo copy`` to a fresh
    ``dir:`` downloads and verifies, and unpacks nothing. Between samples
    the image is removed (``rmi``: for pinnace its blobs and snapshots go
    with it) or the directory deleted. Target: no slower than skopeo.
``pull-network``, ``pull-gunzip``, ``pull-sha256``, ``pull-untar``
    Where a pull's time goes, for the same blobs on the same registry, one
    part at a time over the three layers (the ``host`` pseudo-tool, no
    engine): ``network`` fetches them with curl to /dev/null, ``gunzip``
    decompresses them from disk, ``sha256`` hashes them, ``untar`` unpacks
    the decompressed tars into a directory. Their sum is what a pull that
    did each step in turn would cost; pinnace does them in one pass, the
    layers in parallel.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.cases import Context, Step, Target, case
from bench.density import on_close
from bench.tools import IMAGE_NAMESPACE, CommandFailed, Session, ToolError

TOOLS = ("pinnace", "podman", "skopeo")
LAYERS = 3
SEED = 7
GENERATOR_VERSION = 1
REPOSITORY = f"{IMAGE_NAMESPACE}/registry-image"
LOCAL = f"localhost/{IMAGE_NAMESPACE}/registry-image:1"


# -- the image ---------------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(rng: random.Random, index: int, size: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for part in range(4):
            data = rng.randbytes(size // 4)
            info = tarfile.TarInfo(f"data/layer{index}/part{part}.bin")
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def oci_archive(cache: Path, size_mb: int) -> Path:
    """An OCI archive of a LAYERS-layer image of ~size_mb MB (gzip layers), made once per size."""
    path = cache / f"registry-image-v{GENERATOR_VERSION}-{size_mb}mb.oci.tar"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    blobs: dict[str, bytes] = {}
    diff_ids, layers = [], []
    for i in range(LAYERS):
        tar = _layer(rng, i, size_mb * (1 << 20) // LAYERS)
        compressed = gzip.compress(tar, compresslevel=1, mtime=0)
        diff_ids.append(_digest(tar))
        blobs[_digest(compressed)] = compressed
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(compressed),
                "size": len(compressed),
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    blobs[_digest(config)] = config
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    blobs[_digest(manifest)] = manifest
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": LOCAL},
            }
        ],
    }
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as out:
        members = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode()}
        members.update({f"blobs/sha256/{d.partition(':')[2]}": b for d, b in blobs.items()})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            out.addfile(info, io.BytesIO(data))
    tmp.rename(path)
    return path


def _archive(ctx: Context) -> Path:
    return ctx.once("registry-archive", lambda: oci_archive(ctx.cache, 20 if ctx.quick else 100))


# -- a registry per session --------------------------------------------------------------------------


class Registry:
    """A registry on 127.0.0.1 with its storage in ``directory``: CNCF distribution (``docker-registry``),
    or ``serve`` (an argv prefix to which ``--addr HOST --root DIR`` is added: pinnace's); stopped by pid."""

    def __init__(self, directory: Path, serve: Sequence[str] = ()) -> None:
        self.storage = directory / "storage"
        self.storage.mkdir(parents=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.host = f"127.0.0.1:{s.getsockname()[1]}"
        if serve:
            argv = [*serve, "--addr", self.host, "--root", str(self.storage)]
        else:
            config = directory / "config.yml"
            config.write_text(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {self.storage}\n  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n"
            )
            argv = ["docker-registry", "serve", str(config)]
        self.log = directory / "registry.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ToolError(
                        f"{argv[0]} did not start: {self.log.read_text(errors='replace')[-300:]}"
                    ) from None
                time.sleep(0.05)

    def empty(self) -> None:
        """Forget every blob (and, for distribution, every repository: it reads its storage on each
        request, no cache being configured; pinnace's finds its blobs gone and takes them anew)."""
        for entry in self.storage.iterdir():
            if entry.is_dir() and entry.name != "uploads":
                shutil.rmtree(entry)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def registry(s: Session) -> Registry:
    if shutil.which("docker-registry") is None:
        raise ToolError("docker-registry (CNCF distribution) is not installed")
    made = Registry(s.workdir / "registry")
    on_close(s, made.stop)
    return made


def _skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CommandFailed(["skopeo", *args], proc.returncode, proc.stderr)


def _load(s: Session, archive: Path) -> str:
    """The image loaded into the session's tool; for skopeo an ``oci:`` reference to a copy of it."""
    if s.name == "skopeo":
        layout = s.workdir / "layout"
        _skopeo("copy", f"oci-archive:{archive}", f"oci:{layout}:1")
        return f"oci:{layout}:1"
    s.run("load", "-i", str(archive))
    return LOCAL


# -- cases -------------------------------------------------------------------------------------------


@case(
    "push",
    "push a ~100 MB, 3-layer image to CNCF distribution on 127.0.0.1 (every blob uploaded)",
    TOOLS,
    Target("no slower than podman", 1.0, ("podman",)),
)
def push_case(ctx: Context, s: Session) -> Step:
    reg = registry(s)
    source = _load(s, _archive(ctx))
    target = f"{reg.host}/{REPOSITORY}:1"
    if s.name == "skopeo":
        argv = s.argv("copy", "--dest-tls-verify=false", source, f"docker://{target}")
    else:
        s.run("tag", source, target)
        tls = ("--tls-verify=false",) if s.name == "podman" else ()
        argv = s.argv("push", *tls, target)

    def check_and_empty() -> None:
        layers = list((reg.storage / "docker/registry/v2/blobs/sha256").glob("*/*/data"))
        if len(layers) < LAYERS + 2:
            raise ToolError(f"{s.name} push left {len(layers)} blobs in the registry (expected {LAYERS + 2})")
        reg.empty()

    return Step(argv, cleanup=check_and_empty)


@case(
    "pull",
    "pull a ~100 MB, 3-layer image from CNCF distribution on 127.0.0.1 into an empty store",
    TOOLS,
    Target("no slower than skopeo", 1.0, ("skopeo",)),
)
def pull_case(ctx: Context, s: Session) -> Step:
    reg = registry(s)
    ref = f"{reg.host}/{REPOSITORY}:1"
    _skopeo("copy", "--dest-tls-verify=false", f"oci-archive:{_archive(ctx)}", f"docker://{ref}")
    if s.name == "skopeo":
        directory = s.workdir / "pulled"
        argv = s.argv("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{directory}")

        def remove() -> None:
            if not (directory / "manifest.json").exists():
                raise ToolError("skopeo copy wrote no manifest")
            shutil.rmtree(directory)

        return Step(argv, cleanup=remove)
    tls = ("--tls-verify=false",) if s.name == "podman" else ()
    return Step(s.argv("pull", *tls, ref), cleanup=lambda: s.run("rmi", ref))


PARTS = ("network", "gunzip", "sha256", "untar")


def _parts(ctx: Context, s: Session) -> dict[str, str]:
    """The shell command of each part, for the seeded image's layers on the session's registry."""
    reg = registry(s)
    ref = f"{reg.host}/{REPOSITORY}:1"
    _skopeo("copy", "--dest-tls-verify=false", f"oci-archive:{_archive(ctx)}", f"docker://{ref}")
    request = urllib.request.Request(
        f"http://{reg.host}/v2/{REPOSITORY}/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as reply:
        manifest = json.load(reply)
    urls = [f"http://{reg.host}/v2/{REPOSITORY}/blobs/{layer['digest']}" for layer in manifest["layers"]]
    blobs = [s.workdir / f"layer{i}.gz" for i in range(len(urls))]
    tars = [b.with_suffix(".tar") for b in blobs]
    for url, blob, tar in zip(urls, blobs, tars, strict=True):
        with urllib.request.urlopen(url) as reply, open(blob, "wb") as out:
            shutil.copyfileobj(reply, out)
        with gzip.open(blob) as src, open(tar, "wb") as out:
            shutil.copyfileobj(src, out)
    unpacked = s.workdir / "unpacked"
    return {
        "network": " && ".join(f"curl -sf -o /dev/null {u}" for u in urls),
        "gunzip": " && ".join(f"gzip -dc {b} > /dev/null" for b in blobs),
        "sha256": "sha256sum " + " ".join(str(b) for b in blobs) + " > /dev/null",
        "untar": f"rm -rf {unpacked} && mkdir {unpacked} && "
        + " && ".join(f"tar -xf {t} -C {unpacked}" for t in tars),
    }


def _part_case(part: str) -> None:
    @case(
        f"pull-{part}",
        f"where a pull's time goes: {part} of the same three layers, one after the other, no engine",
        ("host",),
    )
    def setup(ctx: Context, s: Session) -> Step:
        return Step(["sh", "-c", _parts(ctx, s)[part]])


for _part in PARTS:
    _part_case(_part)
