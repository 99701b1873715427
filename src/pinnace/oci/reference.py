"""Image references (``host:5000/a/b:tag@sha256:...``), parsed and normalised as docker does.

The grammar is distribution/reference's (the package the docker CLI and daemon
both use), so a name docker accepts is accepted here and a name docker refuses
is refused with docker's message::

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [ domain "/" ] path-component [ "/" path-component ]*
    domain      := host [ ":" port ]          host: DNS-ish name, IPv4, or [IPv6]
    path-component := [a-z0-9]+ ( separator [a-z0-9]+ )*   separator: . _ __ -+
    tag         := [\\w][\\w.-]{0,127}
    digest      := algorithm ":" hex           (sha256, sha384 or sha512)

Normalisation (docker's ``ParseNormalizedNamed``) turns the familiar form users
type into the canonical one stored everywhere: ``busybox`` is
``docker.io/library/busybox``, ``index.docker.io/x/y`` is ``docker.io/x/y``.
The first path element is a registry host only when it looks like one
(contains ``.`` or ``:``, is ``localhost``, or has uppercase letters, which a
repository path may not); otherwise the name lives on Docker Hub.
"""

from __future__ import annotations

from pinnace._util.golang import quote
from pinnace._util.record import record, replace
from pinnace.errors import InvalidReference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Match


def _fullmatch(pattern: str, text: str, *, ascii: bool = False) -> Match[str] | None:
    """re.fullmatch, with ``re`` imported on first use: start-up pays for every import."""
    import re

    return re.fullmatch(pattern, text, re.ASCII if ascii else 0)


def familiar_string(canonical: str) -> str:
    """The familiar form of an already canonical name, without parsing it again.

    ``docker.io/library/busybox:latest`` -> ``busybox:latest``; used to list
    stored names, which were normalised when they were stored.
    """
    if not canonical.startswith(DEFAULT_DOMAIN + "/"):
        return canonical
    rest = canonical[len(DEFAULT_DOMAIN) + 1 :]
    if rest.startswith(OFFICIAL_REPO_PREFIX):
        tail = rest[len(OFFICIAL_REPO_PREFIX) :]
        if "/" not in tail.split("@", 1)[0]:
            return tail
    return rest


DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
#: docker's RepositoryNameTotalLengthMax; it bounds the path, not the domain.
NAME_TOTAL_LENGTH_MAX = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"\w[\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# Matched with fullmatch (Python's "$" would accept a trailing newline), in ASCII
# mode so that \w is Go's [0-9A-Za-z_].  Groups: domain, path, tag, digest.
# Compiled on first use (re caches it), not at import: every command pays for imports.
_REFERENCE = rf"(?:({_DOMAIN})/)?({_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?"
_IDENTIFIER = r"[a-f0-9]{64}"
# go-digest's own, stricter, shape of a digest, used to tell "bad format" from "unsupported".
_GO_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
#: Digest algorithms the docker daemon registers, with their hex lengths.
_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}


@record
class Reference:
    """A parsed, normalised reference; ``domain`` is empty only for un-normalised names.

    A :func:`record`, not a dataclass: start-up pays for every class defined."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The canonical repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The name as docker shows it: ``busybox``, ``user/app``, ``host:5000/a/b``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        # Only a single-level official name is shortened, as docker does:
        # "library/a/b" keeps its prefix so it cannot read as user "a".
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                return rest
        return self.path

    def __str__(self) -> str:
        return self._with_suffix(self.name)

    def familiar(self) -> str:
        """The familiar string: ``busybox:latest``, ``user/app@sha256:...``."""
        return self._with_suffix(self.familiar_name)

    def _with_suffix(self, name: str) -> str:
        out = name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    @property
    def is_name_only(self) -> bool:
        return not self.tag and not self.digest

    def with_tag(self, tag: str) -> Reference:
        """This reference with ``tag`` (a digest, if any, is kept, as docker's WithTag)."""
        if not _fullmatch(_TAG, tag, ascii=True):
            raise InvalidReference("invalid tag format")
        return replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """This reference with ``digest`` (a tag, if any, is kept, as docker's WithDigest)."""
        if not _fullmatch(_DIGEST, digest, ascii=True):
            raise InvalidReference("invalid digest format")
        return replace(self, digest=digest)

    def trimmed(self) -> Reference:
        """The bare repository, without tag or digest."""
        return Reference(self.domain, self.path)


_PLAIN_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TAG_REST = _WORD | frozenset(".-")


def _plain(s: str) -> Reference | None:
    """``busybox`` or ``busybox:1.36`` (what ``run`` mostly gets) without ``re`` (~1 ms to import).

    Only shapes the grammar accepts as they are: one path component of
    ``[a-z0-9]`` (an official image), an optional ``\\w[\\w.-]{0,127}`` tag.
    Anything else, or a 64-hex name (an image ID), is left to the full parser.
    """
    name, colon, tag = s.partition(":")
    if not name or not _PLAIN_NAME.issuperset(name) or len(s) == 64:
        return None
    if len(OFFICIAL_REPO_PREFIX) + len(name) > NAME_TOTAL_LENGTH_MAX:
        return None
    if colon and not (0 < len(tag) <= 128 and tag[0] in _WORD and _TAG_REST.issuperset(tag)):
        return None
    return Reference(DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name, tag)


def parse_normalized(s: str) -> Reference:
    """Parse what a user typed into a canonical reference (docker's ParseNormalizedNamed).

    No default tag is added: ``busybox`` stays name-only; see :func:`with_default_tag`.
    """
    plain = _plain(s)
    if plain is not None:
        return plain
    if len(s) == 64 and _fullmatch(_IDENTIFIER, s):
        # A bare image ID must never be taken for a repository called that.
        raise InvalidReference(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    return _parse(f"{domain}/{remainder}")


def with_default_tag(ref: Reference) -> Reference:
    """Add ``:latest`` to a name-only reference (docker's TagNameOnly)."""
    return replace(ref, tag=DEFAULT_TAG) if ref.is_name_only else ref


def parse_tag_target(s: str) -> Reference:
    """Parse the TARGET of ``docker tag SOURCE TARGET`` (or a commit/import name).

    A tag names a repository and optionally a tag, never a digest; the result
    has no default tag added.  Errors read as docker's client words them.
    """
    try:
        ref = parse_normalized(s)
    except InvalidReference as exc:
        raise InvalidReference(
            f"error parsing reference: {quote(s)} is not a valid repository/tag: {exc.message}"
        ) from None
    if ref.digest:
        raise InvalidReference("refusing to create a tag with a digest reference")
    return ref


def _split_docker_domain(name: str) -> tuple[str, str]:
    """Split ``name`` into (domain, remote name), defaulting to Docker Hub (splitDockerDomain)."""
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        # A single element ("ubuntu", "ubuntu:22.04") is an official image, even
        # "localhost:5000", which therefore means tag 5000 of library/localhost.
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain or maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _parse(s: str) -> Reference:
    """Parse a full reference string without normalising it (distribution's Parse)."""
    m = _fullmatch(_REFERENCE, s, ascii=True)
    if m is None:
        lowered = s.lower()
        if lowered != s and _fullmatch(_REFERENCE, lowered, ascii=True):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    domain, path, tag, digest = (g or "" for g in m.groups())
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest:
        _validate_digest(digest)
    return Reference(domain, path, tag, digest)


def _validate_digest(digest: str) -> None:
    """Refuse a digest go-digest would refuse, with its messages."""
    algorithm, _, encoded = digest.partition(":")
    want = _DIGEST_HEX_LEN.get(algorithm)
    if want is None:
        if not _fullmatch(_GO_DIGEST, digest):
            raise InvalidReference("invalid checksum digest format")
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != want:
        raise InvalidReference("invalid checksum digest length")
    if encoded.strip("0123456789abcdef"):
        raise InvalidReference("invalid checksum digest format")
