"""The registry client's pure parts: challenges, platform choice, daemon.json's registry keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.distribution import platforms
from pinnace.distribution.auth import Challenge, parse_challenges
from pinnace.distribution.config import RegistryConfig, load
from pinnace.errors import InvalidArgument, NotFound
from pinnace.oci.descriptor import Descriptor, Platform
from pinnace.oci.digest import Digest


def test_bearer_challenge_with_quoted_and_escaped_values() -> None:
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'
    (c,) = parse_challenges(header)
    assert c.scheme == "bearer"
    assert c.get("realm") == "https://auth.docker.io/token" and c.get("service") == "registry.docker.io"
    assert c.get("scope") == "repository:library/busybox:pull"
    (c,) = parse_challenges(
        'Bearer realm="https://a/t?x=1,2", error="insufficient_scope", note="say \\"hi\\""'
    )
    assert (
        c.get("realm") == "https://a/t?x=1,2"
        and c.get("note") == 'say "hi"'
        and c.get("error") == "insufficient_scope"
    )


def test_several_challenges_and_basic() -> None:
    found = parse_challenges('Basic realm="Registry Realm", Bearer realm="https://t", service=reg')
    assert found == [
        Challenge("basic", (("realm", "Registry Realm"),)),
        Challenge("bearer", (("realm", "https://t"), ("service", "reg"))),
    ]
    assert parse_challenges("") == []


def _desc(arch: str, variant: str = "", os_: str = "linux") -> Descriptor:
    return Descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        Digest("sha256:" + (arch + variant).encode().hex().ljust(64, "0")[:64]),
        1,
        platform=Platform(os_, arch, variant),
    )


def test_platform_choice_as_containerd_normalises() -> None:
    entries = [_desc("amd64"), _desc("arm64", "v8"), _desc("arm", "v7"), _desc("arm", "v6")]
    assert platforms.choose(entries, Platform("linux", "amd64")) is entries[0]
    assert platforms.choose(entries, platforms.parse("linux/arm64")) is entries[1]
    assert platforms.choose(entries, platforms.parse("linux/arm/v6")) is entries[3]
    assert platforms.choose(entries, platforms.parse("linux/arm")) is entries[2]  # arm means v7
    assert platforms.choose([_desc("arm64")], platforms.parse("linux/arm64/v8")).platform == Platform(
        "linux", "arm64"
    )
    with pytest.raises(NotFound, match="^no matching manifest for linux/s390x in the manifest list entries$"):
        platforms.choose(entries, platforms.parse("linux/s390x"))
    with pytest.raises(NotFound):
        platforms.choose([_desc("amd64", os_="windows")], Platform("linux", "amd64"))
    assert platforms.parse("x86_64") == Platform("linux", "amd64")
    with pytest.raises(InvalidArgument):
        platforms.parse("linux//")


def test_registry_settings_from_daemon_json(tmp_path: Path) -> None:
    assert load(str(tmp_path)) == RegistryConfig()
    (tmp_path / "daemon.json").write_text(
        '{"registry-mirrors": ["https://mirror.example/"], "insecure-registries": ["reg.local:5000", "10.9.0.0/16"]}'
    )
    config = load(str(tmp_path))
    hub = config.endpoints("docker.io")
    assert [e.url for e in hub] == ["https://mirror.example", "https://registry-1.docker.io"]
    assert hub[0].mirror and not hub[1].mirror
    assert [e.url for e in config.endpoints("docker.io", push=True)] == ["https://registry-1.docker.io"]
    assert config.endpoints("reg.local:5000")[0].insecure
    assert config.is_insecure("10.9.3.4:443") and not config.is_insecure("10.10.0.1")
    assert (
        config.is_insecure("localhost:5000")
        and config.is_insecure("127.0.0.1:5000")
        and config.is_insecure("[::1]:5000")
    )
    assert not config.is_insecure("quay.io")
    (tmp_path / "daemon.json").write_text('{"registry-mirrors": ["ftp://x"]}')
    with pytest.raises(InvalidArgument, match="unable to configure pinnace with file"):
        load(str(tmp_path))
