"""Image references parse and normalise as docker's distribution/reference does."""

from __future__ import annotations

import pytest

from pinnace.errors import InvalidArgument, InvalidReference
from pinnace.oci.reference import Reference, parse_normalized, parse_tag_target, with_default_tag

H = "e" * 64
D = "sha256:" + H

# input -> (canonical string, familiar string, familiar name)
VALID = [
    ("busybox", "docker.io/library/busybox", "busybox", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "busybox"),
    ("busybox:Tag_x.1-rc", "docker.io/library/busybox:Tag_x.1-rc", "busybox:Tag_x.1-rc", "busybox"),
    ("library/busybox", "docker.io/library/busybox", "busybox", "busybox"),
    ("docker.io/busybox", "docker.io/library/busybox", "busybox", "busybox"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest", "busybox"),
    ("index.docker.io/x", "docker.io/library/x", "x", "x"),
    ("index.docker.io/user/x:t", "docker.io/user/x:t", "user/x:t", "user/x"),
    ("user/app", "docker.io/user/app", "user/app", "user/app"),
    ("a/b/c/d", "docker.io/a/b/c/d", "a/b/c/d", "a/b/c/d"),
    # "library/a/b" keeps its prefix: it must not read as user "a"'s image "b"
    ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b", "library/a/b"),
    ("localhost/x", "localhost/x", "localhost/x", "localhost/x"),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b"),
    ("host:5000/a/b:t", "host:5000/a/b:t", "host:5000/a/b:t", "host:5000/a/b"),
    ("registry.example.com/team/app", "registry.example.com/team/app", "registry.example.com/team/app", None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000/x"),
    ("[::1]:5000/x:1", "[::1]:5000/x:1", "[::1]:5000/x:1", "[::1]:5000/x"),
    # an uppercase first element can only be a host
    ("Foo/bar", "Foo/bar", "Foo/bar", "Foo/bar"),
    # a single element is always a Docker Hub name: this is tag 5000 of library/localhost
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "localhost"),
    ("a__b", "docker.io/library/a__b", "a__b", "a__b"),
    ("a--b.c_d", "docker.io/library/a--b.c_d", "a--b.c_d", "a--b.c_d"),
    ("busybox@" + D, "docker.io/library/busybox@" + D, "busybox@" + D, "busybox"),
    ("busybox:1@" + D, "docker.io/library/busybox:1@" + D, "busybox:1@" + D, "busybox"),
    ("x@sha512:" + "f" * 128, "docker.io/library/x@sha512:" + "f" * 128, "x@sha512:" + "f" * 128, "x"),
    ("x/" + "a" * 253, "docker.io/x/" + "a" * 253, "x/" + "a" * 253, None),
]

# input -> docker's message
INVALID = [
    ("", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/App:1", "invalid reference format: repository name (user/App) must be lowercase"),
    ("example.com/UP/x", "invalid reference format: repository name (UP/x) must be lowercase"),
    (H, f"invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
    ("busybox:", "invalid reference format"),
    ("busybox:-x", "invalid reference format"),
    ("busybox:" + "a" * 129, "invalid reference format"),
    ("busybox:latest ", "invalid reference format"),
    ("busybox\n", "invalid reference format"),
    ("-x", "invalid reference format"),
    ("a___b", "invalid reference format"),
    ("a..b", "invalid reference format"),
    ("x/", "invalid reference format"),
    ("x//y", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "a" * 40, "invalid checksum digest length"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("busybox@sha256:" + "A" * 64, "invalid checksum digest format"),
    ("a" * 256, "repository name must not be more than 255 characters"),
    ("x/" + "a" * 254, "repository name must not be more than 255 characters"),
]


@pytest.mark.parametrize(("text", "canonical", "familiar", "familiar_name"), VALID)
def test_valid_references_normalise_as_docker(
    text: str, canonical: str, familiar: str, familiar_name: str | None
) -> None:
    ref = parse_normalized(text)
    assert str(ref) == canonical
    assert ref.familiar() == familiar
    assert ref.familiar_name == (familiar_name or familiar)
    assert parse_normalized(str(ref)) == ref  # canonical form is a fixed point


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_references_fail_with_dockers_words(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_normalized(text)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidArgument)


def test_parts_and_name() -> None:
    ref = parse_normalized("localhost:5000/a/b:t@" + D)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "t", D)
    assert ref.name == "localhost:5000/a/b"
    assert ref.trimmed() == Reference("localhost:5000", "a/b")


def test_with_default_tag_only_touches_name_only_references() -> None:
    assert str(with_default_tag(parse_normalized("busybox"))) == "docker.io/library/busybox:latest"
    assert with_default_tag(parse_normalized("busybox:1")).tag == "1"
    pinned = with_default_tag(parse_normalized("busybox@" + D))
    assert (pinned.tag, pinned.digest) == ("", D)


def test_with_tag_and_with_digest_validate_and_keep_the_other_part() -> None:
    ref = parse_normalized("busybox@" + D).with_tag("v1")
    assert str(ref) == "docker.io/library/busybox:v1@" + D
    assert ref.with_digest("sha256:" + "0" * 64).tag == "v1"
    with pytest.raises(InvalidReference, match="invalid tag format"):
        ref.with_tag(".bad")
    with pytest.raises(InvalidReference, match="invalid digest format"):
        ref.with_digest("sha256:xyz")


def test_tag_target_refuses_digests_and_wraps_errors_like_docker_tag() -> None:
    assert str(parse_tag_target("user/app:v2")) == "docker.io/user/app:v2"
    assert parse_tag_target("user/app").tag == ""
    with pytest.raises(InvalidReference) as info:
        parse_tag_target("busybox@" + D)
    assert str(info.value) == "refusing to create a tag with a digest reference"
    with pytest.raises(InvalidReference) as info:
        parse_tag_target("Foo")
    assert str(info.value) == (
        'error parsing reference: "Foo" is not a valid repository/tag: '
        "invalid reference format: repository name (library/Foo) must be lowercase"
    )
