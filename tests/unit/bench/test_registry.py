"""bench/registry.py's parts: the generated image, and a registry per session that starts, empties, stops."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import urllib.request
from pathlib import Path

import pytest
from bench import registry


def test_the_image_archive_is_deterministic_and_consistent(tmp_path: Path) -> None:
    first = registry.oci_archive(tmp_path / "a", 3)
    second = registry.oci_archive(tmp_path / "b", 3)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (entry,) = json.loads(files["index.json"])["manifests"]
    manifest = json.loads(files["blobs/sha256/" + entry["digest"].split(":")[1]])
    assert len(manifest["layers"]) == registry.LAYERS
    total = sum(layer["size"] for layer in manifest["layers"])
    assert 3 * 2**20 * 0.9 < total < 3 * 2**20 * 1.2  # random bytes: gzip keeps the size


@pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry is not installed")
def test_a_session_registry_serves_empties_and_stops(tmp_path: Path) -> None:
    reg = registry.Registry(tmp_path)
    try:
        with urllib.request.urlopen(f"http://{reg.host}/v2/") as reply:
            assert reply.status == 200
        (reg.storage / "docker").mkdir()
        reg.empty()
        assert list(reg.storage.iterdir()) == []
    finally:
        reg.stop()
    assert reg.proc.poll() is not None


def test_pinnace_registry_serve_as_a_session_server(tmp_path: Path) -> None:
    import sys

    pinnace = Path(sys.prefix) / "bin" / "pinnace"
    reg = registry.Registry(tmp_path, serve=[str(pinnace), "registry", "serve"])
    try:
        with urllib.request.urlopen(f"http://{reg.host}/v2/") as reply:
            assert reply.status == 200 and reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert (reg.storage / "registry.db").exists()
        reg.empty()
        assert sorted(p.name for p in reg.storage.iterdir() if p.is_dir()) == ["uploads"]
    finally:
        reg.stop()
