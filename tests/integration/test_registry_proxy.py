"""``pinnace registry serve --proxy-remote-url``: a pull-through cache in front of CNCF distribution
(with and without credentials) and in front of a misbehaving registry (429s, wrong blobs, outages)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.fake_registry import FakeRegistry, layer_tar
from tests.helpers.pinnace_registry import as_user, serving
from tests.helpers.registry import running_registry
from tests.integration.test_registry_server import call, code

pytestmark = pytest.mark.root

needs_distribution = pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="docker-registry (CNCF distribution) is not installed"
)


@contextlib.contextmanager
def proxy(root: Path, upstream: str, *flags: str):  # type: ignore[no-untyped-def]
    with contextlib.contextmanager(serving)(root, "--proxy-remote-url", upstream, *flags) as host:
        yield host


@needs_distribution
def test_pulls_through_the_cache_and_from_it_when_the_upstream_is_gone(
    engine: Pinnace, tmp_path: Path
) -> None:
    upstream_ctx = contextlib.contextmanager(running_registry)(
        tmp_path / "upstream", auth="htpasswd", users={"u": "pw"}
    )
    with upstream_ctx as upstream:
        ref = f"{upstream.host}/team/busybox:1"
        engine.run("tag", "busybox", ref)
        cli = as_user(engine, tmp_path / "docker-config")
        assert cli("login", "-u", "u", "--password-stdin", upstream.host, stdin="pw\n").returncode == 0
        assert cli("push", ref).returncode == 0
        cache = tmp_path / "cache"
        with proxy(cache, upstream.url, "--proxy-username", "u", "--proxy-password", "pw") as host:
            first = Pinnace(tmp_path / "one-root", tmp_path / "one-run")
            assert first.run("pull", "-q", f"{host}/team/busybox:1").stdout == f"{host}/team/busybox:1\n"
            digest = json.loads(first.run("image", "inspect", f"{host}/team/busybox:1").stdout)[0][
                "RepoDigests"
            ][0]
            status, _, body = call(host, "POST", "/v2/team/busybox/blobs/uploads/")
            assert status == 405 and code(body) == "UNSUPPORTED"  # a cache takes no pushes
            status, _, body = call(host, "GET", "/v2/team/busybox/tags/list")
            assert status == 200 and json.loads(body)["tags"] == ["1"]
        upstream.stop()
    blobs = {p.name for p in (cache / "blobs" / "sha256").glob("*/*")}
    assert len(blobs) == 3  # the manifest, the config, the one layer

    # the upstream is gone: what was cached is still served, by tag and by digest
    with proxy(cache, upstream.url) as host:
        second = Pinnace(tmp_path / "two-root", tmp_path / "two-run")
        assert second.run("pull", "-q", f"{host}/team/busybox:1").stdout == f"{host}/team/busybox:1\n"
        out = second.run("run", "--rm", "--network", "none", f"{host}/team/busybox:1", "echo", "cached")
        assert out.stdout == "cached\n"
        by_digest = f"{host}/team/busybox@{digest.partition('@')[2]}"
        assert second.run("pull", "-q", by_digest).returncode == 0
        status, _, body = call(host, "GET", "/v2/team/other/manifests/1")
        assert status == 503 and code(body) == "UNAVAILABLE"  # never cached: the upstream's trouble shows
    from tests.helpers.zygote import stop_zygote

    stop_zygote(second.runroot)


def test_rate_limits_wrong_blobs_and_one_fetch_for_many_clients(tmp_path: Path) -> None:
    fake = FakeRegistry()
    try:
        manifest = fake.add_image("lib/app", "1", [layer_tar({"a": b"x" * 300_000}), layer_tar({"b": b"y"})])
        layer = manifest["layers"][0]["digest"]
        with proxy(tmp_path / "cache", f"http://{fake.host}") as host:
            # many clients at once: one upstream GET of the blob, every client the whole blob
            results: list[bytes] = []

            def get() -> None:
                results.append(call(host, "GET", f"/v2/lib/app/blobs/{layer}")[2])

            threads = [threading.Thread(target=get) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert [hashlib.sha256(r).hexdigest() for r in results] == [layer.partition(":")[2]] * 4
            assert [r for r in fake.requests if r[0] == "GET" and r[1].endswith(layer)] == [
                ("GET", f"/v2/lib/app/blobs/{layer}", "")
            ]

            # a tag the upstream rate-limits: the cached copy while there is one, 429 when there is none
            assert call(host, "GET", "/v2/lib/app/manifests/1")[0] == 200
            fake.behaviour["/v2/lib/app/manifests/1"] = ("status", 429)
            status, headers, _ = call(host, "GET", "/v2/lib/app/manifests/1")
            assert status == 200 and headers["docker-content-digest"].startswith("sha256:")
            fake.behaviour["/v2/lib/app/manifests/2"] = ("status", 429)
            status, headers, body = call(host, "GET", "/v2/lib/app/manifests/2")
            assert status == 429 and code(body) == "TOOMANYREQUESTS" and "retry-after" in headers

            # an upstream blob whose bytes are not its digest: the client gets no whole blob, the cache keeps nothing
            bad = "sha256:" + "ab" * 32
            fake.blobs[bad] = b"not what the digest says"
            with pytest.raises(http.client.IncompleteRead):  # the last bytes are held back until checked
                call(host, "GET", f"/v2/lib/app/blobs/{bad}")
            assert call(host, "HEAD", f"/v2/lib/app/blobs/{bad}")[0] == 200  # the upstream claims it
            assert not (tmp_path / "cache" / "blobs" / "sha256" / "ab" / bad[7:]).exists()
            assert list((tmp_path / "cache" / "uploads").iterdir()) == []
            status, _, body = call(host, "GET", f"/v2/lib/app/blobs/sha256:{'cd' * 32}")
            assert status == 404 and code(body) == "BLOB_UNKNOWN"
    finally:
        fake.stop()
