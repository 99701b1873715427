"""A pull from a registry that misbehaves: wrong digests, cut-off and resumed blobs, oversized manifests,
unknown media types, 429s and hangs.  Each gives a clear one-line error, and nothing is half-stored: no
image, no snapshot, no blob that failed its digest.  (Verified blobs a failed pull completed, its
manifest and config among them, stay as containerd keeps them, for the next pull; GC removes them.)"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import PINNACE, Pinnace
from tests.helpers.fake_registry import FakeRegistry, layer_tar, sha256

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def no_zygote_left(pinnace: Pinnace) -> Iterator[None]:
    """A test that runs what it pulled starts the store's zygotes: stop them (by pid file) at the end."""
    from tests.helpers.zygote import stop_zygote

    yield
    stop_zygote(pinnace.runroot)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    yield registry
    registry.stop()


def pull(store: Pinnace, ref: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PINNACE), "--root", str(store.root), "--runroot", str(store.runroot), "pull", ref],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def stored(store: Pinnace) -> tuple[list[str], set[str], list[str]]:
    """(the images listed, the blobs, the snapshot directories)."""
    images = store.run("images", "-q").stdout.split()
    return images, store.blobs(), sorted(store.snapshot_dirs())


def busybox_layer() -> bytes:
    return layer_tar({"bin/busybox": open("/bin/busybox", "rb").read()})


def test_a_blob_with_the_wrong_digest_stores_nothing(pinnace: Pinnace, fake: FakeRegistry) -> None:
    small = layer_tar({"etc/x": b"x\n"})
    manifest = fake.add_image("app", "1", [busybox_layer(), small])
    bad = manifest["layers"][1]["digest"]
    fake.blobs[bad] = gzip.compress(small, mtime=1)  # the same files, but not the bytes the digest names
    proc = pull(pinnace, f"{fake.host}/app:1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error response from daemon: ") and proc.stderr.count("\n") == 1
    assert "digest" in proc.stderr.lower()
    images, blobs, snapshots = stored(pinnace)
    assert images == [] and bad.partition(":")[2] not in blobs and snapshots == []
    assert pinnace.ingests() == set()  # wrong bytes are not kept for a resume


def test_a_corrupt_layer_stores_nothing(pinnace: Pinnace, fake: FakeRegistry) -> None:
    manifest = fake.add_image("app", "1", [busybox_layer()])
    bad = manifest["layers"][0]["digest"]
    fake.blobs[bad] = fake.blobs[bad][:-1] + bytes([fake.blobs[bad][-1] ^ 0xFF])  # a broken gzip trailer
    proc = pull(pinnace, f"{fake.host}/app:1")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    images, blobs, snapshots = stored(pinnace)
    assert images == [] and bad.partition(":")[2] not in blobs and snapshots == []
    assert pinnace.ingests() == set()


def test_a_cut_off_download_goes_on_with_range(pinnace: Pinnace, fake: FakeRegistry) -> None:
    manifest = fake.add_image("app", "1", [busybox_layer()])
    layer = manifest["layers"][0]
    path = f"/v2/app/blobs/{layer['digest']}"
    cut = layer["size"] // 2
    fake.behaviour[path] = ("cut", cut)
    proc = pull(pinnace, f"{fake.host}/app:1")
    assert proc.returncode == 0, proc.stderr
    assert "Retrying in 0.5 seconds" not in proc.stdout  # a progress event, not a plain line
    ranges = [r for (m, p, r) in fake.requests if p == path and m == "GET"]
    assert ranges == ["", f"bytes={cut}-"]  # only the rest was asked for
    assert pinnace.ingests() == set()
    out = pinnace.run(
        "run", "--rm", "--network", "none", f"{fake.host}/app:1", "/bin/busybox", "echo", "resumed"
    )
    assert out.stdout == "resumed\n"


def test_a_download_that_keeps_breaking_off_resumes_on_the_next_pull(
    pinnace: Pinnace, fake: FakeRegistry
) -> None:
    manifest = fake.add_image("app", "1", [busybox_layer()])
    layer = manifest["layers"][0]
    path = f"/v2/app/blobs/{layer['digest']}"
    fake.behaviour[path] = ("cut-always", 1000)  # a thousand bytes a connection
    first = pull(pinnace, f"{fake.host}/app:1")
    assert first.returncode == 1 and "cut off" in first.stderr
    assert pinnace.run("images", "-q").stdout == ""
    assert len(pinnace.ingests()) == 1  # what arrived is kept
    del fake.behaviour[path]
    fake.requests.clear()
    second = pull(pinnace, f"{fake.host}/app:1")
    assert second.returncode == 0, second.stderr
    assert [r for (m, p, r) in fake.requests if p == path and m == "GET"] == [
        "bytes=5000-"
    ]  # 5 tries of 1000
    assert pinnace.ingests() == set()


def test_an_oversized_manifest_is_refused(pinnace: Pinnace, fake: FakeRegistry) -> None:
    fake.behaviour["/v2/app/manifests/huge"] = ("big", 5 * 1024 * 1024)
    proc = pull(pinnace, f"{fake.host}/app:huge")
    assert proc.returncode == 1 and "too big" in proc.stderr
    assert stored(pinnace) == ([], set(), [])


def test_an_unknown_media_type_is_refused(pinnace: Pinnace, fake: FakeRegistry) -> None:
    manifest = fake.add_image("app", "1", [busybox_layer()])
    manifest["mediaType"] = "application/vnd.example.unknown+json"
    fake.put_manifest("app", "odd", json.dumps(manifest).encode(), "application/vnd.example.unknown+json")
    proc = pull(pinnace, f"{fake.host}/app:odd")
    assert proc.returncode == 1 and "unsupported" in proc.stderr and "media type" in proc.stderr
    assert stored(pinnace)[0] == []


def test_too_many_requests_is_retried_then_reported(pinnace: Pinnace, fake: FakeRegistry) -> None:
    fake.add_image("app", "1", [busybox_layer()])
    fake.behaviour["/v2/app/manifests/1"] = ("status", 429)
    proc = pull(pinnace, f"{fake.host}/app:1")
    assert proc.returncode == 1 and "toomanyrequests" in proc.stderr
    assert len([r for r in fake.requests if r[1] == "/v2/app/manifests/1"]) == 5  # retried with back-off


def test_a_hung_registry_times_out(pinnace: Pinnace, fake: FakeRegistry) -> None:
    fake.add_image("app", "1", [busybox_layer()])
    fake.behaviour["/v2/app/manifests/1"] = ("hang", 30)
    proc = pull(pinnace, f"{fake.host}/app:1", PINNACE_REGISTRY_TIMEOUT="1")
    assert proc.returncode == 1 and "Timeout" in proc.stderr
    assert stored(pinnace) == ([], set(), [])


def test_a_manifest_whose_digest_lies_is_refused(pinnace: Pinnace, fake: FakeRegistry) -> None:
    fake.add_image("app", "1", [busybox_layer()])
    data, media_type = fake.manifests[("app", "1")]
    wrong = sha256(data + b" ")
    fake.manifests[("app", wrong)] = (data, media_type)  # asked by digest, it serves other bytes
    proc = pull(pinnace, f"{fake.host}/app@{wrong}")
    assert proc.returncode == 1 and "verification failed" in proc.stderr
    assert stored(pinnace) == ([], set(), [])


def test_blobs_redirected_to_storage_are_followed(pinnace: Pinnace, fake: FakeRegistry) -> None:
    manifest = fake.add_image("app", "1", [busybox_layer()])
    layer = manifest["layers"][0]["digest"]
    fake.behaviour[f"/v2/app/blobs/{layer}"] = ("redirect", 0)
    proc = pull(pinnace, f"{fake.host}/app:1")
    assert proc.returncode == 0, proc.stderr
    assert fake.storage_auth == [""]  # fetched from storage, with no credentials of the registry's


def test_unknown_tag_and_denied_access_in_dockers_words(pinnace: Pinnace, fake: FakeRegistry) -> None:
    fake.add_image("app", "1", [busybox_layer()])
    missing = pull(pinnace, f"{fake.host}/app:2")
    assert missing.returncode == 1
    assert missing.stderr == (
        f"Error response from daemon: manifest for {fake.host}/app:2 not found: manifest unknown: manifest unknown\n"
    )
    fake.behaviour["/v2/app/manifests/1"] = ("status", 403)
    denied = pull(pinnace, f"{fake.host}/app:1")
    assert denied.returncode == 1
    assert denied.stderr.startswith(f"Error response from daemon: pull access denied for {fake.host}/app, ")


def test_a_bad_reference_is_refused_before_any_request(pinnace: Pinnace, fake: FakeRegistry) -> None:
    proc = pull(pinnace, f"{fake.host}/App:1")
    assert proc.returncode == 1 and proc.stderr.startswith("invalid reference format: repository name")
    assert "must be lowercase" in proc.stderr
    assert fake.requests == []


def test_a_docker_manifest_list_resolves_to_this_machines_manifest(
    pinnace: Pinnace, fake: FakeRegistry
) -> None:
    from tests.helpers.fake_registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST

    fake.add_image("app", "amd", [busybox_layer()], media_type=DOCKER_MANIFEST)
    amd, _ = fake.manifests[("app", "amd")]
    decoy = sha256(b"decoy")
    entries = [
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": decoy,
            "size": 5,
            "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        },
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": sha256(amd),
            "size": len(amd),
            "platform": {"architecture": "amd64", "os": "linux"},
        },
    ]
    listing = json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": entries}
    ).encode()
    fake.put_manifest("app", "multi", listing, DOCKER_MANIFEST_LIST)
    out = pull(pinnace, f"{fake.host}/app:multi")
    assert out.returncode == 0, out.stderr
    assert f"Digest: {sha256(listing)}\n" in out.stdout
    info = json.loads(pinnace.run("image", "inspect", f"{fake.host}/app:multi").stdout)[0]
    assert info["RepoDigests"] == [f"{fake.host}/app@{sha256(listing)}"]
    assert [p for (_m, p, _r) in fake.requests if p.endswith(decoy)] == []
