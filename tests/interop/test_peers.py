"""pinnace's archives in podman, skopeo's and umoci's OCI layouts and podman's archives in pinnace.

An image is the same image on both sides when its ID (the digest of its
config) and its layers (the config's diff IDs, ``RootFS.Layers``) are equal.
The peers run sandboxed (see conftest.py): nothing here touches
/var/lib/containers or any host state.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Pinnace
from tests.interop.conftest import Peer

pytestmark = [pytest.mark.interop, pytest.mark.root]

NAME = "pinnace-bb:1"
# How podman (and Docker) spell NAME in full.
FULL_NAME = f"docker.io/library/{NAME}"


def import_busybox(p: Pinnace, rootfs: Path, name: str = NAME) -> str:
    """The busybox rootfs as an image running sh by default; returns its ID."""
    image_id = p.run("import", "--change", 'CMD ["sh"]', str(rootfs), name).stdout.strip()
    assert image_id.startswith("sha256:")
    return image_id


def inspect(p: Pinnace, ref: str) -> dict[str, Any]:
    info: list[dict[str, Any]] = json.loads(p.run("inspect", ref).stdout)
    assert len(info) == 1
    return info[0]


def fresh(tmp_path: Path, name: str) -> Pinnace:
    """Another pinnace store, empty, under tmp_path."""
    return Pinnace(tmp_path / name / "root", tmp_path / name / "runroot")


def tar_layout(layout: Path, dest: Path) -> Path:
    """An OCI image layout directory as the tarball ``load`` takes (entries at the top level)."""
    with tarfile.open(dest, "w") as tar:
        for child in sorted(layout.iterdir()):
            tar.add(child, arcname=child.name)
    return dest


def read_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        f = tar.extractfile(name)
        assert f is not None, f"{name} is not a file in {archive}"
        return f.read()


def layout_config(archive: Path) -> tuple[str, dict[str, Any]]:
    """The config digest and config of the one image of an OCI layout tarball
    (index.json -> manifest -> config), as the writer of the layout recorded them."""

    def blob(digest: str) -> bytes:
        return read_member(archive, f"blobs/sha256/{digest.removeprefix('sha256:')}")

    index = json.loads(read_member(archive, "index.json"))
    assert len(index["manifests"]) == 1
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    digest: str = manifest["config"]["digest"]
    config_bytes = blob(digest)
    assert "sha256:" + hashlib.sha256(config_bytes).hexdigest() == digest
    return digest, json.loads(config_bytes)


def podman_inspect(podman: Peer, ref: str) -> dict[str, Any]:
    info: list[dict[str, Any]] = json.loads(podman.run("image", "inspect", ref).stdout)
    assert len(info) == 1
    return info[0]


# 1 and 5: pinnace -> podman (runs there) -> pinnace ------------------------------------------


@pytest.mark.parametrize(("fmt", "podman_format"), [("docker", "docker-archive"), ("oci", "oci-archive")])
def test_podman_runs_pinnace_archive(
    pinnace: Pinnace, podman: Peer, rootfs_tar: Path, tmp_path: Path, fmt: str, podman_format: str
) -> None:
    image_id = import_busybox(pinnace, rootfs_tar)
    layers = inspect(pinnace, NAME)["RootFS"]["Layers"]
    archive = tmp_path / "pinnace.tar"
    pinnace.run("save", "--format", fmt, "-o", str(archive), NAME)

    loaded = podman.run("load", "-i", str(archive))
    assert f"Loaded image: {FULL_NAME}" in loaded.stdout + loaded.stderr
    info = podman_inspect(podman, FULL_NAME)
    assert "sha256:" + info["Id"] == image_id
    assert info["RootFS"]["Layers"] == layers
    assert info["Config"]["Cmd"] == ["sh"]

    run = podman.run("run", "--rm", "--network", "none", "--pull", "never", FULL_NAME, "echo", "hello")
    assert run.stdout == "hello\n"
    # the image's own CMD: sh, reading an empty stdin, exits 0
    podman.run("run", "--rm", "--network", "none", "--pull", "never", FULL_NAME)

    # 5. round trips: pinnace -> pinnace, and pinnace -> podman -> pinnace, keep the ID
    assert fresh(tmp_path, "again").run("load", "-i", str(archive)).stdout == f"Loaded image: {NAME}\n"
    assert inspect(fresh(tmp_path, "again"), NAME)["Id"] == image_id
    back = tmp_path / "podman.tar"
    podman.run("save", "--format", podman_format, "-o", str(back), FULL_NAME)
    back_store = fresh(tmp_path, "back")
    back_store.run("load", "-i", str(back))
    img = inspect(back_store, image_id)
    assert img["RootFS"]["Layers"] == layers
    assert NAME in img["RepoTags"]


# 2. skopeo ------------------------------------------------------------------------------------


def test_skopeo_inspects_pinnace_archive(
    pinnace: Pinnace, skopeo: Peer, rootfs_tar: Path, tmp_path: Path
) -> None:
    image_id = import_busybox(pinnace, rootfs_tar)
    img = inspect(pinnace, NAME)
    archive = tmp_path / "pinnace.tar"
    pinnace.run("save", "-o", str(archive), NAME)
    source = f"docker-archive:{archive}"

    config = skopeo.run("inspect", "--config", "--raw", source).stdout.encode()
    assert "sha256:" + hashlib.sha256(config).hexdigest() == image_id
    assert json.loads(config)["config"]["Cmd"] == ["sh"]
    manifest = json.loads(skopeo.run("inspect", "--raw", source).stdout)
    assert manifest["config"]["digest"] == image_id
    # pinnace's import keeps the layer uncompressed: its digest is its diff ID
    assert [layer["digest"] for layer in manifest["layers"]] == img["RootFS"]["Layers"]
    summary = json.loads(skopeo.run("inspect", source).stdout)
    assert summary["Layers"] == img["RootFS"]["Layers"]
    assert (summary["Os"], summary["Architecture"]) == (img["Os"], img["Architecture"])


@pytest.mark.parametrize("dest", ["oci", "oci-archive"])
@pytest.mark.parametrize("preserve", [True, False], ids=["preserve-digests", "convert"])
def test_skopeo_layout_into_pinnace(
    pinnace: Pinnace, skopeo: Peer, rootfs_tar: Path, tmp_path: Path, dest: str, preserve: bool
) -> None:
    """skopeo copies pinnace's docker-archive to an OCI layout, which pinnace loads.

    With --preserve-digests skopeo stores the Docker manifest and config as they
    are (and labels the uncompressed layer tar.gzip, as docker-archive sources
    do): the ID is pinnace's own. Without, it converts the image to OCI: it
    re-serializes the config (dropping the non-OCI top-level "comment") and
    gzips the layer, so the ID is the new config's digest; the diff IDs stay.
    """
    image_id = import_busybox(pinnace, rootfs_tar)
    layers = inspect(pinnace, NAME)["RootFS"]["Layers"]
    archive = tmp_path / "pinnace.tar"
    pinnace.run("save", "-o", str(archive), NAME)

    flags = ["--preserve-digests"] if preserve else []
    if dest == "oci":
        layout = tmp_path / "layout"
        skopeo.run("copy", *flags, f"docker-archive:{archive}", f"oci:{layout}:t")
        skopeo_tar = tar_layout(layout, tmp_path / "layout.tar")
    else:
        skopeo_tar = tmp_path / "skopeo-oci.tar"
        skopeo.run("copy", *flags, f"docker-archive:{archive}", f"oci-archive:{skopeo_tar}:t")
    config_digest, config = layout_config(skopeo_tar)
    assert config["rootfs"]["diff_ids"] == layers
    if preserve:
        assert config_digest == image_id

    store = fresh(tmp_path, "loaded")
    out = store.run("load", "-i", str(skopeo_tar)).stdout
    assert out == f"Loaded image ID: {config_digest}\n"  # ref name "t" is no image name
    img = inspect(store, config_digest)
    assert img["Id"] == config_digest
    assert img["RootFS"]["Layers"] == layers
    assert img["Config"]["Cmd"] == ["sh"]


# 3. umoci -------------------------------------------------------------------------------------


def test_umoci_layout_into_pinnace(pinnace: Pinnace, umoci: Peer, tmp_path: Path) -> None:
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    image = f"{layout}:t"
    umoci.run("init", "--layout", str(layout))
    umoci.run("new", "--image", image)
    umoci.run("unpack", "--image", image, str(bundle))
    (bundle / "rootfs" / "hello.txt").write_bytes(b"written in umoci's bundle\n")
    umoci.run("repack", "--image", image, str(bundle))
    umoci.run("config", "--image", image, "--config.cmd", "sh")
    history = json.loads(umoci.run("stat", "--image", image, "--json").stdout)["history"]
    diff_ids = [h["diff_id"] for h in history if not h.get("empty_layer")]
    assert len(diff_ids) == 1

    archive = tar_layout(layout, tmp_path / "umoci.tar")  # unreferenced blobs of old revisions included
    config_digest, config = layout_config(archive)
    assert config["rootfs"]["diff_ids"] == diff_ids
    assert pinnace.run("load", "-i", str(archive)).stdout == f"Loaded image ID: {config_digest}\n"
    img = inspect(pinnace, config_digest)
    assert img["RootFS"]["Layers"] == diff_ids
    assert img["Config"]["Cmd"] == ["sh"]

    # the file is in the layer pinnace saves back (umoci's gzip blob, kept as is) ...
    saved = tmp_path / "saved.tar"
    pinnace.run("save", "-o", str(saved), config_digest)
    (entry,) = json.loads(read_member(saved, "manifest.json"))
    (layer_name,) = entry["Layers"]
    layer = tmp_path / "layer"
    layer.write_bytes(read_member(saved, layer_name))
    with tarfile.open(layer, "r:*") as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None and member.read() == b"written in umoci's bundle\n"
    # ... and in the snapshot pinnace unpacked it into
    unpacked = list((pinnace.root / "snapshots").glob("*/fs/hello.txt"))
    assert [p.read_bytes() for p in unpacked] == [b"written in umoci's bundle\n"]


# 4. podman -> pinnace -------------------------------------------------------------------------


@pytest.mark.parametrize("podman_format", ["docker-archive", "oci-archive"])
def test_podman_archive_into_pinnace(
    pinnace: Pinnace, podman: Peer, rootfs_tar: Path, tmp_path: Path, podman_format: str
) -> None:
    name = "localhost/podman-bb:1"
    podman.run("import", "--change", 'CMD ["sh"]', str(rootfs_tar), name)
    podman_id = podman.run("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
    podman_layers = podman_inspect(podman, name)["RootFS"]["Layers"]
    archive = tmp_path / "podman.tar"
    podman.run("save", "--format", podman_format, "-o", str(archive), name)

    assert pinnace.run("load", "-i", str(archive)).stdout == f"Loaded image: {name}\n"
    img = inspect(pinnace, name)
    assert img["Id"] == f"sha256:{podman_id}"
    assert img["RootFS"]["Layers"] == podman_layers
    assert img["Config"]["Cmd"] == ["sh"]
    # the same tarball imported by pinnace gives the same layer
    import_busybox(pinnace, rootfs_tar)
    assert inspect(pinnace, NAME)["RootFS"]["Layers"] == podman_layers
