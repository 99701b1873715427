"""Benchmarks of ``pinnace registry serve`` against CNCF distribution on 127.0.0.1, in one run.

Each session runs its own server (pinnace's: ``pinnace registry serve``;
distribution's: ``docker-registry`` with filesystem storage and no cache),
seeded untimed by skopeo with the image of bench/registry.py and, for the
large-blob case, one 100 MiB blob of random bytes (20 MiB with ``--quick``).

``srv-manifest``
    ``wrk -t2 -c16 -d10s`` of the image's manifest (by tag, with an OCI
    Accept header); a sample is µs per request (10^6 / Requests/sec).
``srv-blob``
    the same for its config blob (a few hundred bytes).
``srv-big-blob``
    ``curl -o /dev/null`` of the 100 MiB blob: seconds per download.
``srv-push``
    ``skopeo copy`` of the ~100 MB image into the server, every blob
    uploaded (the server's blobs emptied between samples).

Targets: at least distribution's figure on each (at most its time per request or per download).
"""

from __future__ import annotations

import hashlib
import os
import random
import urllib.request

from bench.cases import Context, Step, Target, case
from bench.density import on_close
from bench.network import run_wrk
from bench.registry import REPOSITORY, Registry, _archive, _skopeo
from bench.tools import Session, ToolError

TOOLS = ("pinnace", "distribution")
AS_FAST = Target("at least distribution's figure", 1.0, ("distribution",))
SECONDS = 10
QUICK_SECONDS = 3
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def server(s: Session) -> Registry:
    """The session's server, stopped when the session closes."""
    if s.name == "pinnace":
        made = Registry(s.workdir / "server", serve=s.argv("registry", "serve"))
    elif s.name == "distribution":
        made = Registry(s.workdir / "server")
    else:
        raise ToolError(f"{s.name}: not a registry server")
    on_close(s, made.stop)
    return made


def seeded(ctx: Context, s: Session) -> tuple[Registry, str]:
    """A server holding the image (by skopeo); (it, the image's config digest)."""
    import json

    reg = server(s)
    _skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci-archive:{_archive(ctx)}",
        f"docker://{reg.host}/{REPOSITORY}:1",
    )
    request = urllib.request.Request(
        f"http://{reg.host}/v2/{REPOSITORY}/manifests/1", headers={"Accept": MANIFEST_ACCEPT}
    )
    with urllib.request.urlopen(request) as reply:
        manifest = json.load(reply)
    return reg, str(manifest["config"]["digest"])


def _wrk_step(s: Session, url: str, ctx: Context, *headers: str) -> Step:
    duration = QUICK_SECONDS if ctx.quick else SECONDS
    argv = ["wrk", "-t", "2", "-c", "16", "-d", f"{duration}s", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    env = dict(s.env)
    return Step(argv, measure=lambda: 1e6 / run_wrk(argv, env, duration))


@case(
    "srv-manifest",
    "manifest GET by tag, wrk -t2 -c16; us per request (req/s = 10^6 / it)",
    TOOLS,
    AS_FAST,
    unit="us/req",
)
def manifest_case(ctx: Context, s: Session) -> Step:
    reg, _ = seeded(ctx, s)
    return _wrk_step(s, f"http://{reg.host}/v2/{REPOSITORY}/manifests/1", ctx, f"Accept: {MANIFEST_ACCEPT}")


@case("srv-blob", "small blob GET (the config), wrk -t2 -c16; us per request", TOOLS, AS_FAST, unit="us/req")
def blob_case(ctx: Context, s: Session) -> Step:
    reg, config = seeded(ctx, s)
    return _wrk_step(s, f"http://{reg.host}/v2/{REPOSITORY}/blobs/{config}", ctx)


def _big_blob(reg: Registry, size: int) -> str:
    """Upload one blob of ``size`` random bytes (monolithic PUT); its digest."""
    data = random.Random(11).randbytes(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"http://{reg.host}/v2/{REPOSITORY}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as reply:
        location = reply.headers["Location"]
    if not location.startswith("http"):
        location = f"http://{reg.host}{location}"
    sep = "&" if "?" in location else "?"
    put = urllib.request.Request(
        f"{location}{sep}digest={digest}",
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(put) as reply:
        if reply.status != 201:
            raise ToolError(f"upload of the big blob answered {reply.status}")
    return digest


@case("srv-big-blob", "GET of a 100 MiB blob (curl to /dev/null); seconds", TOOLS, AS_FAST)
def big_blob_case(ctx: Context, s: Session) -> Step:
    reg = server(s)
    digest = _big_blob(reg, (20 if ctx.quick else 100) << 20)
    return Step(["curl", "-sf", "-o", os.devnull, f"http://{reg.host}/v2/{REPOSITORY}/blobs/{digest}"])


@case("srv-push", "skopeo copy of the ~100 MB image into the server (every blob uploaded)", TOOLS, AS_FAST)
def push_case(ctx: Context, s: Session) -> Step:
    reg = server(s)
    argv = [
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        f"oci-archive:{_archive(ctx)}",
        f"docker://{reg.host}/{REPOSITORY}:1",
    ]
    return Step(argv, cleanup=reg.empty)
