"""``pinnace build``: what COPY and ADD take (tars, URLs, images, owners and modes), a tar context on
stdin, reproducible images with SOURCE_DATE_EPOCH, and the same Dockerfile built by buildah."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.integration.test_build import build, context

pytestmark = pytest.mark.root


def test_add_unpacks_tars_and_fetches_urls_copy_sets_owners_and_modes(
    engine: Pinnace, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from the web\n")

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(served), **k)  # type: ignore[arg-type]

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx = context(
            tmp_path,
            f"""\
FROM busybox
ADD bundle.tar.gz /opt/
ADD http://127.0.0.1:{server.server_address[1]}/remote.txt /downloads/
COPY --chown=7:8 --chmod=600 owned.txt /owned.txt
COPY --from=busybox /bin/busybox /copied/busybox
""",
            {"owned.txt": "mine\n"},
        )
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            info = tarfile.TarInfo("inside/packed.txt")
            info.size = 7
            tar.addfile(info, io.BytesIO(b"packed\n"))
        (ctx / "bundle.tar.gz").write_bytes(data.getvalue())
        build(engine, ctx, "-t", "sources")
    finally:
        server.shutdown()
        server.server_close()
    run = ["run", "--rm", "--network", "none", "sources"]
    assert (
        engine.run(*run, "cat", "/opt/inside/packed.txt", "/downloads/remote.txt").stdout
        == "packed\nfrom the web\n"
    )
    listing = engine.run(*run, "ls", "-ln", "/owned.txt", "/downloads/remote.txt", "/copied/busybox").stdout
    lines = {line.split()[-1]: line.split() for line in listing.splitlines()}
    assert lines["/owned.txt"][0] == "-rw-------" and lines["/owned.txt"][2:4] == ["7", "8"]
    assert lines["/downloads/remote.txt"][0] == "-rw-------"  # ADD keeps URLs 0600, as docker
    assert lines["/copied/busybox"][0].startswith("-rwx")


def test_a_tar_context_on_stdin_and_the_same_image_twice_with_source_date_epoch(
    engine: Pinnace, tmp_path: Path
) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, text in (
            ("Dockerfile", "FROM busybox\nCOPY app.txt /app.txt\nRUN echo ran > /ran\n"),
            ("app.txt", "app\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}
    ids = []
    for _ in range(2):
        out = build(engine, Path("-"), "-q", "--no-cache", stdin=data.getvalue(), env=epoch)
        ids.append(out.stdout.strip())
    assert ids[0] == ids[1] and ids[0].startswith("sha256:")  # no cache, same bytes: reproducible
    inspect = json.loads(engine.run("image", "inspect", ids[0]).stdout)[0]
    assert inspect["Created"].startswith("2023-11-14T22:13:20")
    assert (
        engine.run("run", "--rm", "--network", "none", ids[0], "cat", "/app.txt", "/ran").stdout
        == "app\nran\n"
    )


def test_copy_follows_image_symlinks_inside_the_root_and_keeps_context_links(
    engine: Pinnace, tmp_path: Path
) -> None:
    import os

    ctx = context(
        tmp_path,
        "FROM busybox\nRUN busybox mkdir /srv && busybox ln -s /srv /app && busybox ln -s /etc /app/etc-link\n"
        "COPY tree/ /app/\nCOPY tree/ /app/etc-link/\n",
        {"tree/sub/file.txt": "in the tree\n"},
    )
    os.symlink("/etc/shadow", ctx / "tree" / "host-secret")  # a link in the context stays a link
    build(engine, ctx, "-t", "links")
    run = ["run", "--rm", "--network", "none", "links"]
    assert engine.run(*run, "cat", "/srv/sub/file.txt", "/etc/sub/file.txt").stdout == "in the tree\n" * 2
    assert engine.run(*run, "busybox", "readlink", "/srv/host-secret").stdout == "/etc/shadow\n"
    assert not Path("/etc/sub").exists()  # the image's /etc, never the host's
