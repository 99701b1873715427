"""A registry of our own making, for what a real one never does: wrong digests, cut-off blobs, huge
manifests, 429s, hangs.  Serves ``/v2/`` from dicts on 127.0.0.1 (a random port), on a thread.

``FakeRegistry.add_image(repo, tag, layers)`` stores a single-platform image whose layers are the given
tar bytes (gzip-compressed here); ``blobs`` and ``manifests`` may then be tampered with, and
``behaviour`` set per path: ``("cut", n)`` sends n bytes of the body and closes the connection (once; ``"cut-always"``: every time),
``("status", code)`` answers that status, ``("hang", seconds)`` waits before answering, ``("big", n)``
announces and sends an n-byte body, ``("redirect", 0)`` sends a blob's GET to ``localhost:PORT/storage/``
(another host name, as blob storage is).  ``requests`` records (method, path, Range header) of each request.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class FakeRegistry:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}  # (repo, ref) -> (bytes, media type)
        self.behaviour: dict[str, tuple[str, int]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.storage_auth: list[str] = []  # the Authorization header each redirected blob GET came with
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.answer(head=True)

            def do_GET(self) -> None:
                self.answer(head=False)

            def answer(self, head: bool) -> None:
                registry.requests.append((self.command, self.path, self.headers.get("Range", "")))
                rule = registry.behaviour.get(self.path)
                if rule and rule[0] == "hang":
                    time.sleep(rule[1])
                if rule and rule[0] == "status":
                    self.send(rule[1], b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', head)
                    return
                if self.path == "/v2/":
                    self.send(200, b"{}", head)
                    return
                if self.path.startswith("/storage/"):  # where ("redirect", 0) sends a blob's GET
                    registry.storage_auth.append(self.headers.get("Authorization", ""))
                    self.send(
                        200, registry.blobs[self.path.rpartition("/")[2]], head, "application/octet-stream"
                    )
                    return
                if rule and rule[0] == "redirect":
                    self.send_response(307)
                    self.send_header(
                        "Location", f"http://localhost:{registry.port}/storage/{self.path.rpartition('/')[2]}"
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                parts = self.path.split("/")
                # /v2/<repo...>/manifests/<ref> or /v2/<repo...>/blobs/<digest>
                kind, ref, repo = parts[-2], parts[-1], "/".join(parts[2:-2])
                if kind == "manifests" and (repo, ref) in registry.manifests:
                    data, media_type = registry.manifests[(repo, ref)]
                    self.send(200, data, head, media_type, {"Docker-Content-Digest": sha256(data)})
                elif kind == "blobs" and ref in registry.blobs:
                    data = registry.blobs[ref]
                    start = 0
                    rng = self.headers.get("Range", "")
                    if rng.startswith("bytes=") and rng.endswith("-"):
                        start = int(rng[6:-1])
                    if rule and rule[0] in ("cut", "cut-always"):
                        self.send_response(206 if start else 200)
                        self.send_header("Content-Length", str(len(data) - start))
                        self.end_headers()
                        self.wfile.write(data[start : start + rule[1]])
                        self.wfile.flush()
                        if rule[0] == "cut":
                            registry.behaviour.pop(self.path)  # once
                        self.close_connection = True
                        return
                    status = 206 if start else 200
                    extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {}
                    self.send(status, data[start:], head, "application/octet-stream", extra)
                elif rule and rule[0] == "big":
                    self.send(200, b" " * rule[1], head, "application/vnd.oci.image.manifest.v1+json")
                else:
                    code = "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN"
                    body = json.dumps({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]})
                    self.send(404, body.encode(), head)

            def send(
                self,
                status: int,
                body: bytes,
                head: bool,
                ctype: str = "application/json",
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not head:
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_image(
        self,
        repo: str,
        tag: str,
        layers: list[bytes],
        media_type: str = "application/vnd.oci.image.manifest.v1+json",
    ) -> dict[str, Any]:
        """Store an image of these (uncompressed tar) layers; its manifest document."""
        compressed = [gzip.compress(layer, mtime=0) for layer in layers]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in layers]},
            }
        ).encode()
        self.blobs[sha256(config)] = config
        for blob in compressed:
            self.blobs[sha256(blob)] = blob
        docker = media_type == DOCKER_MANIFEST
        config_type = (
            "application/vnd.docker.container.image.v1+json"
            if docker
            else "application/vnd.oci.image.config.v1+json"
        )
        layer_type = (
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
            if docker
            else "application/vnd.oci.image.layer.v1.tar+gzip"
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": sha256(b), "size": len(b)} for b in compressed],
        }
        self.put_manifest(repo, tag, json.dumps(manifest).encode(), media_type)
        return manifest

    def put_manifest(self, repo: str, tag: str, data: bytes, media_type: str) -> None:
        self.manifests[(repo, tag)] = (data, media_type)
        self.manifests[(repo, sha256(data))] = (data, media_type)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
