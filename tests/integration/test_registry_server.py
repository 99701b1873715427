"""``pinnace registry serve`` through the raw OCI distribution API, and with pinnace's own client."""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pinnace
from tests.helpers.pinnace_registry import serving

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    yield from serving(tmp_path / "registry")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(
    host: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def code(body: bytes) -> str:
    return str(json.loads(body)["errors"][0]["code"])


def test_chunked_upload_with_offsets_status_and_a_wrong_digest(registry: str) -> None:
    status, headers, _ = call(registry, "POST", "/v2/team/app/blobs/uploads/")
    assert status == 202 and headers["docker-distribution-api-version"] == "registry/2.0"
    location = headers["location"]
    assert location.startswith("/v2/team/app/blobs/uploads/") and headers["range"] == "0-0"
    status, headers, _ = call(
        registry,
        "PATCH",
        location,
        b"0123456789",
        {"Content-Range": "0-9", "Content-Type": "application/octet-stream"},
    )
    assert status == 202 and headers["range"] == "0-9"
    status, _, body = call(registry, "PATCH", location, b"xx", {"Content-Range": "5-6"})
    assert status == 416 and code(body) == "BLOB_UPLOAD_INVALID"
    status, headers, _ = call(registry, "GET", location)
    assert status == 204 and headers["range"] == "0-9"
    wrong = digest(b"something else")
    status, _, body = call(registry, "PUT", f"{location}?digest={wrong}", b"abc")
    assert status == 400 and code(body) == "DIGEST_INVALID"
    status, _, body = call(registry, "HEAD", f"/v2/team/app/blobs/{wrong}")
    assert status == 404  # nothing stored
    status, _, body = call(registry, "GET", location)
    assert status == 404 and code(body) == "BLOB_UPLOAD_UNKNOWN"  # the failed session is gone

    status, headers, _ = call(registry, "POST", "/v2/team/app/blobs/uploads/")
    location = headers["location"]
    call(registry, "PATCH", location, b"0123456789", {"Content-Range": "0-9"})
    whole = b"0123456789abc"
    status, headers, _ = call(registry, "PUT", f"{location}?digest={digest(whole)}", b"abc")
    assert status == 201 and headers["docker-content-digest"] == digest(whole)
    assert headers["location"] == f"/v2/team/app/blobs/{digest(whole)}"
    status, headers, _ = call(registry, "HEAD", f"/v2/team/app/blobs/{digest(whole)}")
    assert status == 200 and headers["content-length"] == "13"
    status, headers, body = call(
        registry, "GET", f"/v2/team/app/blobs/{digest(whole)}", headers={"Range": "bytes=10-"}
    )
    assert status == 206 and body == b"abc"


def test_monolithic_upload_mount_manifests_tags_referrers_and_deletes(registry: str) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    status, _, _ = call(
        registry,
        "POST",
        f"/v2/a/blobs/uploads/?digest={digest(config)}",
        config,
        {"Content-Type": "application/octet-stream"},
    )
    assert status == 201
    # mount into b; a mount from where the blob is not falls back to an upload session
    status, headers, _ = call(registry, "POST", f"/v2/b/blobs/uploads/?mount={digest(config)}&from=a")
    assert status == 201 and headers["docker-content-digest"] == digest(config)
    status, _, _ = call(registry, "POST", f"/v2/c/blobs/uploads/?mount={digest(config)}&from=nowhere")
    assert status == 202
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [],
    }).encode()  # fmt: skip
    oci = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    status, _, body = call(registry, "PUT", "/v2/c/manifests/1", manifest, oci)
    assert status == 400 and code(body) == "MANIFEST_BLOB_UNKNOWN"  # c has no such blob
    for tag in ("1", "2", "3"):
        status, headers, _ = call(registry, "PUT", f"/v2/b/manifests/{tag}", manifest, oci)
        assert status == 201 and headers["docker-content-digest"] == digest(manifest)
    status, headers, body = call(
        registry, "GET", "/v2/b/manifests/2", headers={"Accept": oci["Content-Type"]}
    )
    assert status == 200 and body == manifest and headers["content-type"] == oci["Content-Type"]
    status, headers, body = call(registry, "GET", "/v2/b/tags/list?n=2")
    assert json.loads(body) == {"name": "b", "tags": ["1", "2"]}
    assert headers["link"] == '</v2/b/tags/list?n=2&last=2>; rel="next"'
    status, _, body = call(registry, "GET", "/v2/b/tags/list?n=2&last=2")
    assert json.loads(body)["tags"] == ["3"]
    status, _, body = call(registry, "GET", "/v2/_catalog")
    assert json.loads(body) == {"repositories": ["b"]}
    # an artifact whose subject is the image: OCI-Subject on the PUT, listed by the referrers API
    artifact = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [], "subject": {"mediaType": oci["Content-Type"], "digest": digest(manifest), "size": len(manifest)},
        "annotations": {"org.example": "yes"},
    }).encode()  # fmt: skip
    status, headers, _ = call(registry, "PUT", f"/v2/b/manifests/{digest(artifact)}", artifact, oci)
    assert status == 201 and headers["oci-subject"] == digest(manifest)
    status, _, body = call(registry, "GET", f"/v2/b/referrers/{digest(manifest)}")
    (entry,) = json.loads(body)["manifests"]
    assert entry["digest"] == digest(artifact) and entry["artifactType"] == "application/vnd.example.sbom"
    assert entry["annotations"] == {"org.example": "yes"}
    status, headers, body = call(registry, "GET", f"/v2/b/referrers/{digest(manifest)}?artifactType=other")
    assert json.loads(body)["manifests"] == [] and headers["oci-filters-applied"] == "artifactType"
    # deletes
    assert call(registry, "DELETE", "/v2/b/manifests/3")[0] == 202
    assert call(registry, "DELETE", f"/v2/b/manifests/{digest(manifest)}")[0] == 202
    status, _, body = call(registry, "GET", "/v2/b/manifests/1")
    assert status == 404 and code(body) == "MANIFEST_UNKNOWN"
    assert call(registry, "DELETE", f"/v2/b/blobs/{digest(config)}")[0] == 202
    assert call(registry, "HEAD", f"/v2/b/blobs/{digest(config)}")[0] == 404


def test_malformed_requests_get_the_specs_errors(registry: str) -> None:
    cases = [
        ("GET", "/v2/Bad_Name/tags/list", None, {}, 400, "NAME_INVALID"),
        ("GET", "/v2/nothing/here/tags/list", None, {}, 404, "NAME_UNKNOWN"),
        ("GET", "/v2/nothing/manifests/latest", None, {}, 404, "NAME_UNKNOWN"),
        ("GET", "/v2/x/blobs/sha256:1234", None, {}, 400, "DIGEST_INVALID"),
        ("GET", f"/v2/x/blobs/{digest(b'none')}", None, {}, 404, "BLOB_UNKNOWN"),
        (
            "PATCH",
            "/v2/x/blobs/uploads/00000000-0000-0000-0000-000000000000",
            b"x",
            {},
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "PUT",
            "/v2/x/manifests/1",
            b"{not json",
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            400,
            "MANIFEST_INVALID",
        ),
        (
            "PUT",
            "/v2/x/manifests/1",
            b'{"schemaVersion": 2}',
            {"Content-Type": "application/x-unknown"},
            400,
            "MANIFEST_INVALID",
        ),
        (
            "PUT",
            "/v2/x/manifests/1",
            b" " * (4 * 1024 * 1024 + 1),
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            413,
            "SIZE_INVALID",
        ),
    ]
    for method, path, body, headers, status, expected in cases:
        got, _, reply = call(registry, method, path, body, headers)
        assert (got, code(reply)) == (status, expected), (method, path)


def test_pinnace_pushes_and_pulls_through_its_own_registry(
    engine: Pinnace, registry: str, tmp_path: Path
) -> None:
    ref = f"{registry}/own/busybox:1"
    engine.run("tag", "busybox", ref)
    pushed = engine.run("push", ref).stdout
    assert pushed.count(": Pushed") == 2
    other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
    assert other.run("pull", "-q", ref).stdout == f"{ref}\n"
    assert (
        other.run("run", "--rm", "--network", "none", ref, "echo", "via pinnace registry").stdout
        == "via pinnace registry\n"
    )
    engine.run("tag", "busybox", f"{registry}/own/copy:1")
    assert engine.run("push", f"{registry}/own/copy:1").stdout.count(": Mounted from own/busybox") == 2
    from tests.helpers.zygote import stop_zygote

    stop_zygote(other.runroot)


def test_htpasswd_auth_anonymous_pull_and_read_only(engine: Pinnace, tmp_path: Path) -> None:
    import base64
    import contextlib
    import os
    import subprocess

    import bcrypt

    from tests.conftest import PINNACE

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"carol:{bcrypt.hashpw(b'secret', bcrypt.gensalt(rounds=5)).decode()}\n")
    config = tmp_path / "docker-config"

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PINNACE), "--root", str(engine.root), "--runroot", str(engine.runroot), *args],
            input=stdin, capture_output=True, text=True, timeout=60, env={**os.environ, "DOCKER_CONFIG": str(config)},
        )  # fmt: skip

    root = tmp_path / "registry"
    with contextlib.contextmanager(serving)(root, "--htpasswd", str(htpasswd), "--anonymous-pull") as host:
        status, headers, body = call(host, "GET", "/v2/")
        assert (
            status == 401
            and code(body) == "UNAUTHORIZED"
            and headers["www-authenticate"].startswith("Basic ")
        )
        good = "Basic " + base64.b64encode(b"carol:secret").decode()
        assert call(host, "GET", "/v2/", headers={"Authorization": good})[0] == 200
        wrong = "Basic " + base64.b64encode(b"carol:nope").decode()
        assert call(host, "GET", "/v2/", headers={"Authorization": wrong})[0] == 401
        ref = f"{host}/carol/app:1"
        engine.run("tag", "busybox", ref)
        assert cli("push", ref).returncode == 1  # a push needs credentials
        assert (
            cli("login", "-u", "carol", "--password-stdin", host, stdin="secret\n").stdout
            == "Login Succeeded\n"
        )
        assert cli("push", ref).returncode == 0
        assert cli("logout", host).returncode == 0
        other = Pinnace(tmp_path / "anon-root", tmp_path / "anon-run")
        assert other.run("pull", "-q", ref).stdout == f"{ref}\n"  # anonymous pull
    with contextlib.contextmanager(serving)(root, "--read-only") as host:
        status, _, body = call(host, "POST", "/v2/carol/app/blobs/uploads/")
        assert status == 405 and code(body) == "UNSUPPORTED"
        assert call(host, "GET", "/v2/carol/app/manifests/1")[0] == 200  # what was pushed is still served


def test_tls(engine: Pinnace, tmp_path: Path) -> None:
    import contextlib
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    flags = ("--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))
    with contextlib.contextmanager(serving)(tmp_path / "registry", *flags) as host:
        verified = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        conn = http.client.HTTPSConnection(host, timeout=10, context=verified)
        conn.request("GET", "/v2/")
        assert conn.getresponse().status == 200  # a client that checks the certificate accepts it
        conn.close()
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            call(host, "GET", "/v2/")  # plain HTTP is not served
        ref = f"{host}/tls/busybox:1"
        engine.run("tag", "busybox", ref)
        assert engine.run("push", ref).returncode == 0  # 127.0.0.1 is insecure: HTTPS without verification
        other = Pinnace(tmp_path / "other-root", tmp_path / "other-run")
        assert other.run("pull", "-q", ref).stdout == f"{ref}\n"


def test_gc_removes_only_unreferenced_blobs_past_the_grace_period(tmp_path: Path) -> None:
    import contextlib
    import subprocess

    from tests.conftest import PINNACE

    root = tmp_path / "registry"

    def gc(*flags: str) -> list[str]:
        out = subprocess.run(
            [str(PINNACE), "registry", "gc", "--root", str(root), *flags],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("blob ")]

    def put_blob(host: str, repo: str, data: bytes) -> str:
        status, _, _ = call(host, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data)
        assert status == 201
        return digest(data)

    def put_image(host: str, repo: str, tag: str, layer: bytes) -> str:
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        descs = [(put_blob(host, repo, b), len(b)) for b in (config, layer)]
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": descs[0][0], "size": descs[0][1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": descs[1][0], "size": descs[1][1]}],
        }).encode()  # fmt: skip
        status, _, _ = call(
            host,
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            manifest,
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert status == 201
        return digest(manifest)

    with contextlib.contextmanager(serving)(root) as host:
        kept = put_image(host, "app", "keep", b"kept layer")
        gone = put_image(host, "app", "gone", b"gone layer")
        untagged = put_image(host, "app", "old", b"untagged layer")
        assert call(host, "DELETE", "/v2/app/manifests/old")[0] == 202  # the tag goes, the manifest stays
        assert call(host, "DELETE", f"/v2/app/manifests/{gone}")[0] == 202
        orphan = put_blob(host, "app", b"uploaded, no manifest yet")
        # within the grace period nothing goes (a push may be on its way)
        assert gc("--dry-run") == []
        assert gc("--grace", "0s", "--dry-run") == sorted([gone, digest(b"gone layer"), orphan])
        assert gc("--grace", "0s") == sorted([gone, digest(b"gone layer"), orphan])
        # --delete-untagged: a manifest no tag reaches goes too, with its own blobs
        assert gc("--grace", "0s", "--delete-untagged") == sorted([untagged, digest(b"untagged layer")])
        status, _, body = call(host, "GET", "/v2/app/manifests/keep")
        assert status == 200 and digest(body) == kept
        assert call(host, "GET", f"/v2/app/blobs/{digest(b'kept layer')}")[0] == 200
        assert call(host, "GET", f"/v2/app/blobs/{digest(b'gone layer')}")[0] == 404


def test_a_distribution_config_file_and_the_json_access_log(tmp_path: Path) -> None:
    import base64
    import contextlib
    import subprocess

    import bcrypt

    from tests.conftest import PINNACE

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"dave:{bcrypt.hashpw(b'pw', bcrypt.gensalt(rounds=5)).decode()}\n")
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  formatter: json\nstorage:\n  delete:\n    enabled: false\n"
        f"auth:\n  htpasswd:\n    realm: r\n    path: {htpasswd}\n"
        "notifications:\n  endpoints: []\n"
    )
    root = tmp_path / "registry"
    auth = {"Authorization": "Basic " + base64.b64encode(b"dave:pw").decode()}
    with contextlib.contextmanager(serving)(root, "--config", str(config)) as host:
        assert call(host, "GET", "/v2/")[0] == 401  # the file's htpasswd holds
        blob = b"config file"
        status, _, _ = call(host, "POST", f"/v2/dave/x/blobs/uploads/?digest={digest(blob)}", blob, auth)
        assert status == 201
        status, _, body = call(host, "DELETE", f"/v2/dave/x/blobs/{digest(blob)}", headers=auth)
        assert status == 405 and code(body) == "UNSUPPORTED"  # storage.delete.enabled: false
    lines = [
        json.loads(line)
        for line in (tmp_path / "registry.log").read_text().splitlines()
        if line.startswith("{")
    ]
    upload = [e for e in lines if e["method"] == "POST"]
    assert upload and upload[0]["account"] == "dave" and upload[0]["status"] == 201
    assert {"time", "remote", "uri", "bytes", "duration_ms", "user_agent"} <= set(upload[0])
    assert any(e["status"] == 405 and e["error"] == "UNSUPPORTED" for e in lines)
    assert "notifications is not supported; ignored" in (tmp_path / "registry.log").read_text()

    config.write_text("storage:\n  delete:\n    enabled: maybe\n")
    bad = subprocess.run(
        [str(PINNACE), "registry", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 125
    assert bad.stderr == f"{config}: storage.delete.enabled must be true or false\n"
