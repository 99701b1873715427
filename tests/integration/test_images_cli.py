"""The image commands end to end, through the real ``pinnace`` entry point."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Pinnace, make_rootfs_tar

pytestmark = pytest.mark.root


def import_image(p: Pinnace, tar: Path, name: str, *changes: str) -> str:
    args = [a for c in changes for a in ("--change", c)]
    out = p.run("import", *args, str(tar), name).stdout.strip()
    assert out.startswith("sha256:") and len(out) == 71
    return out


def test_import_file_and_stdin(pinnace: Pinnace, rootfs_tar: Path) -> None:
    image_id = import_image(
        pinnace,
        rootfs_tar,
        "busybox",
        'CMD ["sh"]',
        "ENV A=1 B=2",
        "WORKDIR /tmp",
        "EXPOSE 80",
        "LABEL k=v",
        "USER root",
        "STOPSIGNAL SIGTERM",
        "VOLUME /data",
    )
    info = json.loads(pinnace.run("image", "inspect", "busybox").stdout)
    assert len(info) == 1
    img = info[0]
    assert img["Id"] == image_id
    assert img["RepoTags"] == ["busybox:latest"]
    assert img["Config"]["Cmd"] == ["sh"]
    assert img["Config"]["Env"] == ["A=1", "B=2"]
    assert img["Config"]["WorkingDir"] == "/tmp"
    assert img["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert img["Config"]["Labels"] == {"k": "v"}
    assert img["Config"]["Volumes"] == {"/data": {}}
    assert img["Config"]["StopSignal"] == "SIGTERM"
    assert img["Comment"] == f"Imported from {rootfs_tar}"
    assert img["Os"] == "linux" and img["Architecture"]
    assert img["RootFS"]["Type"] == "layers" and len(img["RootFS"]["Layers"]) == 1
    assert img["Size"] >= Path("/bin/busybox").stat().st_size
    for key in ("RepoDigests", "Created", "Author", "Metadata"):
        assert key in img
    # the same tarball through stdin, with a message
    second = pinnace.run(
        "import", "-m", "hello", "-", "other:1", input=rootfs_tar.read_bytes()
    ).stdout.strip()
    assert second != image_id
    assert pinnace.run("inspect", "--format", "{{.Comment}}", "other:1").stdout == "hello\n"
    # the layer was unpacked once: both images share the snapshot keyed by its chain ID
    assert len(pinnace.snapshot_dirs()) == 1


def test_import_compressed(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    gz = tmp_path / "rootfs.tar.gz"
    gz.write_bytes(gzip.compress(rootfs_tar.read_bytes()))
    import_image(pinnace, gz, "gz:1")
    plain_layers = json.loads(pinnace.run("inspect", "gz:1").stdout)[0]["RootFS"]["Layers"]
    import_image(pinnace, rootfs_tar, "plain:1")
    assert json.loads(pinnace.run("inspect", "plain:1").stdout)[0]["RootFS"]["Layers"] == plain_layers


def test_bad_change_and_missing_file(pinnace: Pinnace, rootfs_tar: Path) -> None:
    proc = pinnace.run("import", "--change", "FROB x", str(rootfs_tar), "x", check=False)
    assert proc.returncode == 1
    assert "FROB is not a valid change command" in proc.stderr
    proc = pinnace.run("import", "/nonexistent.tar", check=False)
    assert proc.returncode == 1 and "no such file or directory" in proc.stderr
    assert pinnace.blobs() == set()


def test_images_listing_and_formats(pinnace: Pinnace, tmp_path: Path) -> None:
    a = import_image(pinnace, make_rootfs_tar(tmp_path / "a.tar", {"a": b"a"}), "alpha:1", "LABEL tier=web")
    b = import_image(pinnace, make_rootfs_tar(tmp_path / "b.tar", {"b": b"b"}), "beta:2")
    pinnace.run("tag", "alpha:1", "localhost:5000/team/alpha:prod")
    out = pinnace.run("images").stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repos = sorted(line.split()[0] + ":" + line.split()[1] for line in out[1:])
    assert repos == ["alpha:1", "beta:2", "localhost:5000/team/alpha:prod"]
    ids = pinnace.run("images", "-q").stdout.split()
    assert sorted(set(ids)) == sorted({a[7:19], b[7:19]}) and len(ids) == 3
    assert set(pinnace.run("images", "-q", "--no-trunc").stdout.split()) == {a, b}
    fmt = pinnace.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(fmt) == repos
    rows = [json.loads(line) for line in pinnace.run("images", "--format", "json").stdout.splitlines()]
    assert {r["Repository"] for r in rows} == {"alpha", "beta", "localhost:5000/team/alpha"}
    assert {"ID", "Tag", "Size", "CreatedSince", "CreatedAt", "Digest"} <= set(rows[0])
    # filters
    assert pinnace.run("images", "-q", "--filter", "label=tier=web").stdout.split() == [a[7:19]] * 2
    assert pinnace.run("images", "--format", "{{.Repository}}", "-f", "reference=bet*").stdout.split() == [
        "beta"
    ]
    assert pinnace.run("images", "--format", "{{.Repository}}", "beta").stdout.split() == ["beta"]
    assert pinnace.run("images", "-q", "--filter", "before=beta:2").stdout.split() == [a[7:19]] * 2
    assert pinnace.run("images", "-q", "--filter", "since=alpha:1").stdout.split() == [b[7:19]]
    assert pinnace.run("images", "-q", "--filter", "dangling=true").stdout == ""
    proc = pinnace.run("images", "--filter", "bogus=1", check=False)
    assert proc.returncode == 1 and "invalid filter 'bogus'" in proc.stderr
    table = pinnace.run("images", "--format", "table {{.Repository}}\t{{.Tag}}").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"]


def test_tag_untag_and_delete(pinnace: Pinnace, rootfs_tar: Path) -> None:
    image_id = import_image(pinnace, rootfs_tar, "one:1")
    pinnace.run("tag", "one:1", "two:2")
    pinnace.run("tag", image_id[7:19], "three")
    # by ID while named in several repositories: refused unless forced
    proc = pinnace.run("rmi", image_id[7:19], check=False)
    assert proc.returncode == 1
    assert "image is referenced in multiple repositories" in proc.stderr
    # by name: untag only
    assert pinnace.run("rmi", "two:2").stdout == "Untagged: two:2\n"
    assert pinnace.run("rmi", "three").stdout == "Untagged: three:latest\n"
    blobs_before = pinnace.blobs()
    assert len(blobs_before) == 3  # manifest, config, layer
    out = pinnace.run("rmi", "one:1").stdout.splitlines()
    assert out == ["Untagged: one:1", f"Deleted: {image_id}"]
    assert pinnace.run("images", "-q").stdout == ""
    assert pinnace.blobs() == set() and pinnace.snapshot_dirs() == set()
    proc = pinnace.run("rmi", "one:1", check=False)
    assert proc.returncode == 1 and "No such image: one:1" in proc.stderr


def test_rmi_force_and_shared_layers(pinnace: Pinnace, rootfs_tar: Path) -> None:
    first = import_image(pinnace, rootfs_tar, "a:1")
    second = import_image(pinnace, rootfs_tar, "b:1")
    pinnace.run("tag", "a:1", "c:1")
    out = pinnace.run("rmi", "-f", first).stdout.splitlines()
    assert out == ["Untagged: a:1", "Untagged: c:1", f"Deleted: {first}"]
    # the layer is shared with b:1 and stays
    assert len(pinnace.snapshot_dirs()) == 1
    assert pinnace.run("history", "-q", "b:1").stdout.split() == [second[7:19]]


def test_tag_errors(pinnace: Pinnace, rootfs_tar: Path) -> None:
    import_image(pinnace, rootfs_tar, "a:1")
    proc = pinnace.run("tag", "nope:1", "b", check=False)
    assert proc.returncode == 1 and "No such image: nope:1" in proc.stderr
    proc = pinnace.run("tag", "a:1", "Bad/Name", check=False)
    assert proc.returncode == 1 and "invalid reference format" in proc.stderr
    proc = pinnace.run("tag", "a:1", check=False)
    assert proc.returncode == 125 and "See 'pinnace tag --help'." in proc.stderr


def test_history(pinnace: Pinnace, rootfs_tar: Path) -> None:
    image_id = import_image(pinnace, rootfs_tar, "h:1")
    lines = pinnace.run("history", "h:1").stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(image_id[7:19])
    assert "Imported from" in lines[1]
    raw = pinnace.run("history", "-H=false", "--format", "{{.Size}}", "h:1").stdout.strip()
    assert int(raw) >= Path("/bin/busybox").stat().st_size
    assert pinnace.run("history", "--no-trunc", "-q", "h:1").stdout.strip() == image_id


def test_save_load_roundtrip(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    image_id = import_image(pinnace, rootfs_tar, "rt:1", 'CMD ["sh"]')
    archive = tmp_path / "rt.tar"
    pinnace.run("save", "-o", str(archive), "rt:1")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert {"manifest.json", "index.json", "oci-layout"} <= names
    assert manifest[0]["RepoTags"] == ["rt:1"]
    assert manifest[0]["Config"] == "blobs/sha256/" + image_id[7:]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/rt:1"
    pinnace.run("rmi", "rt:1")
    assert pinnace.run("load", "-i", str(archive)).stdout == "Loaded image: rt:1\n"
    assert json.loads(pinnace.run("inspect", "rt:1").stdout)[0]["Id"] == image_id
    # through stdin, gzip-compressed, into a second store
    other = Pinnace(tmp_path / "root2", tmp_path / "run2")
    proc = other.run_bytes("load", input=gzip.compress(archive.read_bytes()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Loaded image: rt:1\n"
    assert other.run("images", "-q", "--no-trunc").stdout.strip() == image_id
    # save to stdout equals save -o
    out = pinnace.run_bytes("save", "rt:1")
    assert out.returncode == 0 and out.stdout == archive.read_bytes()


def test_save_oci_format_and_multiple(pinnace: Pinnace, tmp_path: Path) -> None:
    a = import_image(pinnace, make_rootfs_tar(tmp_path / "a.tar", {"a": b"1"}), "a:1")
    b = import_image(pinnace, make_rootfs_tar(tmp_path / "b.tar", {"b": b"2"}), "b:1")
    archive = tmp_path / "oci.tar"
    pinnace.run("save", "--format", "oci", "-o", str(archive), "a:1", "b:1")
    with tarfile.open(archive) as tar:
        assert "manifest.json" not in tar.getnames()
    other = Pinnace(tmp_path / "root2", tmp_path / "run2")
    out = other.run("load", "-i", str(archive)).stdout.splitlines()
    assert sorted(out) == ["Loaded image: a:1", "Loaded image: b:1"]
    assert set(other.run("images", "-q", "--no-trunc").stdout.split()) == {a, b}


def test_load_rejects_bad_archives(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    import_image(pinnace, rootfs_tar, "x:1")
    good = tmp_path / "x.tar"
    pinnace.run("save", "-o", str(good), "x:1")
    fresh = Pinnace(tmp_path / "r2", tmp_path / "rr2")
    # a blob whose bytes do not match its name
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
            if data is not None and m.name.startswith("blobs/") and m.size > 10000:
                middle = len(data) // 2  # inside file data: the tar still parses, the digest cannot match
                data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
            dst.addfile(m, None if data is None else __import__("io").BytesIO(data))
    proc = fresh.run("load", "-i", str(bad), check=False)
    assert proc.returncode == 1 and "digest" in proc.stderr
    # not a tar at all / truncated
    proc = fresh.run("load", input=b"garbage" * 100, check=False)
    assert proc.returncode == 1 and "invalid archive" in proc.stderr
    truncated = good.read_bytes()[: good.stat().st_size // 2]
    proc = fresh.run_bytes("load", input=truncated)
    assert proc.returncode == 1
    # nothing of the failed loads stays behind
    assert fresh.run("images", "-q").stdout == ""
    assert fresh.blobs() == set() and fresh.snapshot_dirs() == set() and fresh.ingests() == set()


def test_prune_and_df(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    old = import_image(pinnace, rootfs_tar, "p:1")
    import_image(
        pinnace, make_rootfs_tar(tmp_path / "n.tar", {"n": b"n"}), "p:1"
    )  # moves the tag: old dangles
    assert pinnace.run("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split() == [old]
    df = pinnace.run("system", "df").stdout.splitlines()
    assert df[0].split()[:2] == ["TYPE", "TOTAL"] and df[1].split()[:2] == ["Images", "2"]
    out = pinnace.run("image", "prune", "-f").stdout
    assert f"deleted: {old}" in out and "Total reclaimed space:" in out
    assert len(pinnace.run("images", "-q").stdout.split()) == 1
    # without -f and no answer on stdin nothing happens
    proc = pinnace.run("system", "prune", "-a", input=b"")
    assert "Are you sure you want to continue? [y/N]" in proc.stdout
    assert len(pinnace.run("images", "-q").stdout.split()) == 1
    pinnace.run("system", "prune", "-a", "-f")
    assert pinnace.run("images", "-q").stdout == ""
    assert pinnace.blobs() == set() and pinnace.snapshot_dirs() == set()


def test_cli_errors_and_help(pinnace: Pinnace) -> None:
    proc = pinnace.run("images", "--bogus", check=False)
    assert proc.returncode == 125
    assert proc.stderr == "unknown flag: --bogus\nSee 'pinnace images --help'.\n"
    proc = pinnace.run("frobnicate", check=False)
    assert proc.returncode == 125 and "unknown command" in proc.stderr
    assert pinnace.run("--version").stdout.startswith("pinnace version ")
    assert "Usage:" in pinnace.run("images", "--help").stdout
    assert "Commands:" in pinnace.run("image", "--help").stdout
    proc = pinnace.run("image", "inspect", "missing", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "Error: No such image: missing"
    proc = pinnace.run("inspect", "UPPER", check=False)
    assert proc.returncode == 1


def test_save_missing_image_leaves_no_file(pinnace: Pinnace, rootfs_tar: Path, tmp_path: Path) -> None:
    import_image(pinnace, rootfs_tar, "keep:1")
    out = tmp_path / "out.tar"
    proc = pinnace.run("save", "-o", str(out), "keep:1", "missing:1", check=False)
    assert proc.returncode == 1 and "No such image: missing:1" in proc.stderr
    assert not out.exists() and list(tmp_path.glob("out.tar*")) == []
    proc = pinnace.run("save", "--format", "bogus", "-o", str(out), "keep:1", check=False)
    assert proc.returncode == 1 and 'unsupported format "bogus"' in proc.stderr


def test_docker_style_flags(pinnace: Pinnace, rootfs_tar: Path) -> None:
    image_id = import_image(pinnace, rootfs_tar, "f:1")
    # combined short flags, flags after arguments, --flag=value, -H=false
    assert pinnace.run("images", "-aq").stdout.split() == [image_id[7:19]]
    assert pinnace.run("images", "f", "--quiet", "--no-trunc=true").stdout.split() == [image_id]
    assert pinnace.run("images", "--format={{.Tag}}").stdout == "1\n"
    assert pinnace.run("history", "f:1", "-H=false", "--format", "{{.Size}}").stdout.strip().isdigit()
    proc = pinnace.run("images", "-z", check=False)
    assert proc.returncode == 125 and proc.stderr.startswith("unknown shorthand flag: 'z' in -z")
    proc = pinnace.run("images", "--format", check=False)
    assert proc.returncode == 125 and "flag needs an argument: --format" in proc.stderr
    proc = pinnace.run("history", check=False)
    assert proc.returncode == 125 and '"pinnace history" requires exactly 1 argument.' in proc.stderr
    proc = pinnace.run("images", "--no-trunc=maybe", check=False)
    assert proc.returncode == 125 and 'invalid argument "maybe"' in proc.stderr


def test_env_root(pinnace: Pinnace, rootfs_tar: Path) -> None:
    import os
    import subprocess

    from tests.conftest import PINNACE

    env = {**os.environ, "PINNACE_ROOT": str(pinnace.root), "PINNACE_RUNROOT": str(pinnace.runroot)}
    subprocess.run(
        [str(PINNACE), "import", str(rootfs_tar), "envroot:1"], env=env, check=True, capture_output=True
    )
    assert pinnace.run("images", "--format", "{{.Repository}}").stdout == "envroot\n"


def test_digests_and_rmi_by_digest(pinnace: Pinnace, tmp_path: Path) -> None:
    from tests.helpers.archives import random_layer, write_archive

    archive = tmp_path / "d.tar"
    image_id = write_archive(archive, [random_layer(1, 4096, files=4)], tag="docker.io/library/dig:1")
    pinnace.run("load", "-i", str(archive))
    info = json.loads(pinnace.run("inspect", "dig:1").stdout)[0]
    assert info["Id"] == image_id
    assert len(info["RepoDigests"]) == 1 and info["RepoDigests"][0].startswith("dig@sha256:")
    digest = info["RepoDigests"][0].split("@", 1)[1]
    row = pinnace.run("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").stdout
    assert row == f"dig 1 {digest}\n"
    # by digest, the image resolves too
    assert json.loads(pinnace.run("inspect", f"dig@{digest}").stdout)[0]["Id"] == image_id
    pinnace.run("rmi", "dig:1")
    assert pinnace.run("images", "-q").stdout == ""


def _tar_of(path: Path, files: dict[str, bytes]) -> Path:
    import io

    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_load_refuses_malicious_archives(pinnace: Pinnace, tmp_path: Path) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "os": "linux"}).encode()
    cases = {
        # a layer path that climbs out of the archive
        "escape": {
            "c.json": config,
            "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["../../etc/passwd"]}]).encode(),
        },
        # a manifest bigger than any real one
        "huge": {"manifest.json": b"[" + b" " * (5 * 1024 * 1024) + b"]"},
        # an index naming a manifest that is not there
        "dangling": {
            "index.json": json.dumps(
                {
                    "schemaVersion": 2,
                    "manifests": [
                        {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": "sha256:" + "a" * 64,
                            "size": 10,
                        }
                    ],
                }
            ).encode()
        },
        # a blob whose name is not a digest
        "badname": {
            "blobs/sha256/not-a-digest": b"x",
            "index.json": b'{"schemaVersion": 2, "manifests": []}',
        },
        # a config that is not JSON
        "badconfig": {
            "c.json": b"\x00garbage",
            "manifest.json": json.dumps([{"Config": "c.json", "Layers": []}]).encode(),
        },
    }
    expected = {
        "escape": "referenced but not in the archive",
        "huge": "too large",
        "dangling": "not in the archive",
        "badname": "invalid digest",
        "badconfig": "invalid image config",
    }
    for name, files in cases.items():
        proc = pinnace.run("load", "-i", str(_tar_of(tmp_path / f"{name}.tar", files)), check=False)
        assert proc.returncode == 1, name
        assert expected[name] in proc.stderr and len(proc.stderr.splitlines()) == 1, (name, proc.stderr)
    assert pinnace.run("images", "-q").stdout == ""
    assert pinnace.blobs() == set() and pinnace.snapshot_dirs() == set() and pinnace.ingests() == set()


def test_import_refuses_escaping_tarball(pinnace: Pinnace, tmp_path: Path) -> None:
    import io

    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        link = tarfile.TarInfo("etc")
        link.type = tarfile.SYMTYPE
        link.linkname = str(outside)
        tar.addfile(link)
        info = tarfile.TarInfo("etc/pwned")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    proc = pinnace.run("import", str(evil), "evil:1", check=False)
    assert proc.returncode == 1
    assert "etc/pwned" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert list(outside.iterdir()) == []
    assert pinnace.run("images", "-q").stdout == ""
    assert pinnace.blobs() == set() and pinnace.snapshot_dirs() == set() and pinnace.ingests() == set()
