"""Build image archives by hand (docker-archive with an OCI layout), for tests that
need images bigger or stranger than ``pinnace import`` makes."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(n).parent) for n in files if str(Path(n).parent) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def random_layer(seed: int, total: int, files: int = 50) -> bytes:
    rnd = random.Random(seed)
    per = max(1, total // files)
    return layer_tar({f"layer{seed}/f{i}": rnd.randbytes(per) for i in range(files)})


def write_archive(dest: Path, layers: list[bytes], tag: str = "docker.io/library/big:1") -> str:
    """A docker-archive (Docker 25 shape) of one image with these uncompressed layers; returns its ID."""

    def digest(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    diff_ids = [digest(x) for x in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "history": [
                {"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))
            ],
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(x)}
                for d, x in zip(diff_ids, layers, strict=True)
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": tag,
                        "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    ).encode()
    legacy = json.dumps(
        [
            {
                "Config": f"blobs/sha256/{digest(config)[7:]}",
                "RepoTags": [tag.split("/")[-1]],
                "Layers": [f"blobs/sha256/{d[7:]}" for d in diff_ids],
            }
        ]
    ).encode()
    with tarfile.open(dest, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for blob in [*layers, config, manifest]:
            add(f"blobs/sha256/{digest(blob)[7:]}", blob)
        add("index.json", index)
        add("manifest.json", legacy)
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    return digest(config)
