"""pinnace's registry client against CNCF distribution, with skopeo and podman on the other side.

An image pinnace pushes pulls and runs in podman; an image skopeo pushes
(a multi-platform OCI index among them) pulls in pinnace with the platform
chosen as asked and the registry's digests kept.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.registry import Registry, running_registry
from tests.interop.conftest import Peer

pytestmark = [pytest.mark.root, pytest.mark.interop]

if shutil.which("docker-registry") is None:
    pytest.skip("docker-registry (CNCF distribution) is not installed", allow_module_level=True)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    yield from running_registry(tmp_path / "registry")


@pytest.fixture
def store(pinnace: Pinnace, rootfs_tar: Path) -> Iterator[Pinnace]:
    """A pinnace store with busybox:latest; its zygotes stopped at the end."""
    from tests.helpers.zygote import stop_zygote

    pinnace.run("import", "--change", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest")
    yield pinnace
    ids = pinnace.run("ps", "-a", "-q").stdout.split()
    if ids:
        pinnace.run("rm", "-f", *ids)
    stop_zygote(pinnace.runroot)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layout(directory: Path, platforms: list[tuple[str, str, str]]) -> tuple[str, dict[str, str]]:
    """An OCI layout whose index has one busybox image per (arch, variant, marker); (index digest,
    {arch/variant: manifest digest})."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = _digest(data)
        (blobs / digest.partition(":")[2]).write_bytes(data)
        return digest

    entries, by_platform = [], {}
    for arch, variant, marker in platforms:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            tar.add("/bin/busybox", "bin/busybox")
            info = tarfile.TarInfo("etc/platform")
            info.size = len(marker)
            tar.addfile(info, io.BytesIO(marker.encode()))
        layer = gzip.compress(raw.getvalue(), mtime=0)
        platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        config = json.dumps(
            {**platform, "config": {"Cmd": ["/bin/busybox", "cat", "/etc/platform"]},
             "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]}}
        ).encode()  # fmt: skip
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": put(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": put(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        digest = put(manifest)
        by_platform["/".join(x for x in (arch, variant) if x)] = digest
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest),
                "platform": platform,
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    ).encode()
    index_digest = put(index)
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index_digest,
                "size": len(index),
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(top))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return index_digest, by_platform


def test_a_multi_platform_index_pushed_by_skopeo(
    store: Pinnace, registry: Registry, skopeo: Peer, tmp_path: Path
) -> None:
    index_digest, manifests = _layout(
        tmp_path / "layout", [("amd64", "", "amd64\n"), ("arm64", "v8", "arm64\n"), ("arm", "v7", "arm\n")]
    )
    skopeo.run(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{tmp_path / 'layout'}",
        f"docker://{registry.host}/multi/app:1",
    )
    ref = f"{registry.host}/multi/app:1"
    out = store.run("pull", ref).stdout
    assert f"Digest: {index_digest}\n" in out  # the tag's digest: the index's, as docker shows it
    info = json.loads(store.run("image", "inspect", ref).stdout)[0]
    assert info["RepoDigests"] == [f"{registry.host}/multi/app@{index_digest}"]
    assert info["Architecture"] == "amd64"
    assert store.run("run", "--rm", "--network", "none", ref).stdout == "amd64\n"
    # --platform: the arm64 entry (v8 when none is said), by digest the same as the registry's
    store.run("pull", "--platform", "linux/arm64", f"{registry.host}/multi/app:1")
    info = json.loads(store.run("image", "inspect", ref).stdout)[0]
    assert info["Architecture"] == "arm64" and info["Variant"] == "v8"
    raw = skopeo.run(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{registry.host}/multi/app@{manifests['arm64/v8']}",
    ).stdout
    assert _digest(raw.encode()) == manifests["arm64/v8"]
    proc = store.run("pull", "--platform", "linux/s390x", ref, check=False)
    assert proc.returncode == 1
    assert "no matching manifest for linux/s390x in the manifest list entries" in proc.stderr


def test_an_image_pushed_by_pinnace_runs_in_podman(
    store: Pinnace, registry: Registry, podman: Peer, skopeo: Peer
) -> None:
    ref = f"{registry.host}/from/pinnace:1"
    store.run("tag", "busybox", ref)
    pushed = store.run("push", ref).stdout
    digest = pushed.strip().splitlines()[-1].split()[2]
    raw = skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout
    assert _digest(raw.encode()) == digest  # the registry holds exactly our manifest
    podman.run("pull", "--tls-verify=false", ref, timeout=120)
    run = podman.run("run", "--rm", "--network", "none", ref, "echo", "hello from podman", timeout=120)
    assert run.stdout == "hello from podman\n"
    # and back: what skopeo copies to another repository pulls in pinnace with the same digest
    skopeo.run(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{ref}",
        f"docker://{registry.host}/via/skopeo:2",
    )
    store.run("pull", f"{registry.host}/via/skopeo:2")
    info = json.loads(store.run("image", "inspect", f"{registry.host}/via/skopeo:2").stdout)[0]
    assert f"{registry.host}/via/skopeo@{digest}" in info["RepoDigests"]


def test_skopeo_and_podman_against_pinnace_registries(
    store: Pinnace, skopeo: Peer, podman: Peer, tmp_path: Path
) -> None:
    from tests.helpers.pinnace_registry import serving

    with (
        contextlib.contextmanager(serving)(tmp_path / "one") as one,
        contextlib.contextmanager(serving)(tmp_path / "two") as two,
    ):
        store.run("tag", "busybox", f"{one}/src/busybox:1")
        digest = store.run("push", f"{one}/src/busybox:1").stdout.strip().splitlines()[-1].split()[2]
        skopeo.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--preserve-digests",
            f"docker://{one}/src/busybox:1",
            f"docker://{two}/dst/busybox:2",
        )
        raw = skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{two}/dst/busybox:2").stdout
        assert _digest(raw.encode()) == digest  # copied between two pinnace registries unchanged
        podman.run("pull", "--tls-verify=false", f"{two}/dst/busybox:2", timeout=120)
        out = podman.run(
            "run",
            "--rm",
            "--network",
            "none",
            f"{two}/dst/busybox:2",
            "echo",
            "from pinnace's registry",
            timeout=120,
        )
        assert out.stdout == "from pinnace's registry\n"
        podman.run("tag", f"{two}/dst/busybox:2", f"{two}/by/podman:3")
        podman.run("push", "--tls-verify=false", f"{two}/by/podman:3", timeout=120)
        store.run("pull", f"{two}/by/podman:3")
        assert (
            store.run("run", "--rm", "--network", "none", f"{two}/by/podman:3", "echo", "back").stdout
            == "back\n"
        )
        skopeo.run("delete", "--tls-verify=false", f"docker://{two}/dst/busybox:2")
        gone = skopeo.run("inspect", "--tls-verify=false", f"docker://{two}/dst/busybox:2", check=False)
        assert gone.returncode != 0 and "manifest unknown" in gone.stderr


def test_skopeo_and_podman_with_token_auth_and_through_a_pull_through_cache(
    store: Pinnace, skopeo: Peer, podman: Peer, tmp_path: Path
) -> None:
    """skopeo and podman do the token dance with pinnace's token service, ACL refusals included, and
    podman pulls through a pinnace cache that holds the upstream's credentials."""
    import bcrypt

    from tests.helpers.pinnace_registry import as_user, serving

    users = {"alice": "alice-pw", "bob": "bob-pw"}
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n" for u, p in users.items()
        )
    )
    acl = tmp_path / "acl.yml"
    acl.write_text(
        '- {account: alice, name: "*", actions: ["*"]}\n- {account: "*", name: "*", actions: [pull]}\n'
    )
    with contextlib.contextmanager(serving)(
        tmp_path / "tokens", "--htpasswd", str(htpasswd), "--acl", str(acl)
    ) as up:
        store.run("tag", "busybox", f"{up}/src/busybox:1")
        no = "--dest-tls-verify=false"
        cli = as_user(store, tmp_path / "docker-config")
        assert cli("push", f"{up}/src/busybox:1").returncode == 1  # anonymous: no push
        # the image comes in through pinnace's own client as alice
        assert cli("login", "-u", "alice", "--password-stdin", up, stdin="alice-pw\n").returncode == 0
        assert cli("push", f"{up}/src/busybox:1").returncode == 0
        skopeo.run(
            "copy", "--src-tls-verify=false", no, "--src-creds", "bob:bob-pw", "--dest-creds", "alice:alice-pw",
            f"docker://{up}/src/busybox:1", f"docker://{up}/dst/busybox:2",
        )  # fmt: skip
        as_bob = skopeo.run(
            "copy", "--src-tls-verify=false", no, "--src-creds", "bob:bob-pw", "--dest-creds", "bob:bob-pw",
            f"docker://{up}/src/busybox:1", f"docker://{up}/dst/busybox:3", check=False,
        )  # fmt: skip
        assert as_bob.returncode != 0  # bob pulls, never pushes
        denied = skopeo.run(
            "delete",
            "--tls-verify=false",
            "--creds",
            "bob:bob-pw",
            f"docker://{up}/dst/busybox:2",
            check=False,
        )
        assert denied.returncode != 0
        with contextlib.contextmanager(serving)(
            tmp_path / "cache",
            "--proxy-remote-url",
            f"http://{up}",
            "--proxy-username",
            "bob",
            "--proxy-password",
            "bob-pw",
        ) as cache:
            podman.run("pull", "--tls-verify=false", f"{cache}/dst/busybox:2", timeout=120)
            out = podman.run(
                "run", "--rm", "--network", "none", f"{cache}/dst/busybox:2", "echo", "cached", timeout=120
            )
            assert out.stdout == "cached\n"
        skopeo.run(
            "delete", "--tls-verify=false", "--creds", "alice:alice-pw", f"docker://{up}/dst/busybox:2"
        )
