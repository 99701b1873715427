"""The same raw requests to ``pinnace registry serve`` and to CNCF distribution: the same statuses,
error codes and the headers the spec requires.

Left out on purpose: a PATCH at the wrong offset, which distribution 2.8 appends anyway and the
spec (and pinnace) refuse with 416, and a monolithic ``POST ?digest=``, which distribution 2.8
answers with an upload session and pinnace, as the spec allows, by storing the blob (both in
tests/integration/test_registry_server.py)."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers.pinnace_registry import serving
from tests.helpers.registry import running_registry
from tests.integration.test_registry_server import call, digest

pytestmark = pytest.mark.root

if shutil.which("docker-registry") is None:
    pytest.skip("docker-registry (CNCF distribution) is not installed", allow_module_level=True)

#: Headers whose presence the spec requires on the answers compared.
REQUIRED = ("docker-content-digest", "location", "range", "docker-upload-uuid", "oci-subject")


def script(host: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """Run the same exchange against ``host``: (status, error code, required headers present) of each step."""
    out: list[tuple[int, str, tuple[str, ...]]] = []

    def step(
        method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, str]:
        status, got, reply = call(host, method, path, body, headers)
        error = ""
        if status >= 400 and reply:
            with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                error = json.loads(reply)["errors"][0]["code"]
        out.append((status, error, tuple(h for h in REQUIRED if h in got)))
        return got

    layer = b"layer bytes " * 100
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    step("GET", "/v2/")
    location = step("POST", "/v2/p/app/blobs/uploads/")["location"]
    location = location.partition(host)[2] or location
    location = step(
        "PATCH", location, layer[:600], {"Content-Type": "application/octet-stream", "Content-Range": "0-599"}
    )["location"]
    location = location.partition(host)[2] or location
    step("GET", location)
    sep = "&" if "?" in location else "?"
    step(
        "PUT",
        f"{location}{sep}digest={digest(layer)}",
        layer[600:],
        {"Content-Type": "application/octet-stream"},
    )
    step("HEAD", f"/v2/p/app/blobs/{digest(layer)}")
    step("GET", f"/v2/p/app/blobs/{digest(b'unknown')}")
    session = step("POST", "/v2/p/app/blobs/uploads/")["location"]
    session = session.partition(host)[2] or session
    sep = "&" if "?" in session else "?"
    step(
        "PUT", f"{session}{sep}digest={digest(config)}", config, {"Content-Type": "application/octet-stream"}
    )
    step("POST", f"/v2/p/other/blobs/uploads/?mount={digest(layer)}&from=p/app")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}],
    }).encode()  # fmt: skip
    oci = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    step("PUT", "/v2/p/other/manifests/1", manifest, oci)  # config not in p/other
    step("PUT", "/v2/p/app/manifests/1", manifest, oci)
    step("GET", "/v2/p/app/manifests/1", headers={"Accept": oci["Content-Type"]})
    step("HEAD", f"/v2/p/app/manifests/{digest(manifest)}", headers={"Accept": oci["Content-Type"]})
    step("GET", "/v2/p/app/manifests/2", headers={"Accept": oci["Content-Type"]})
    step("GET", "/v2/p/app/tags/list")
    step("GET", "/v2/p/nothing/tags/list")
    step("DELETE", f"/v2/p/app/manifests/{digest(manifest)}")
    step("GET", f"/v2/p/app/manifests/{digest(manifest)}", headers={"Accept": oci["Content-Type"]})
    return out


def test_pinnace_answers_as_distribution_does(tmp_path: Path) -> None:
    with contextlib.contextmanager(running_registry)(tmp_path / "distribution") as reference:
        theirs = script(reference.host)
    with contextlib.contextmanager(serving)(tmp_path / "pinnace") as host:
        ours = script(host)
    assert ours == theirs
