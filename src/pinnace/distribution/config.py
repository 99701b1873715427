"""Where images of a registry host are fetched from: mirrors and insecure registries, as dockerd has them.

Read from ``<root>/daemon.json`` under dockerd's own keys, so a file written
for docker works unchanged:

- ``registry-mirrors``: URLs tried, in order, before Docker Hub for pulls
  of ``docker.io`` images (docker's rule: mirrors serve Docker Hub only).
- ``insecure-registries``: hosts (``host[:port]``) or CIDRs whose registry
  may be reached over plain HTTP or HTTPS with an unverified certificate.
  ``localhost`` and 127.0.0.0/8 (and ``::1``) are insecure by default, as
  docker treats them.

An endpoint of an insecure registry is tried over HTTPS first and over
HTTP when that fails, as docker does.
"""

from __future__ import annotations

from pinnace._util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

#: The registry docker.io images come from (docker's default index's API host).
HUB_HOST = "registry-1.docker.io"
HUB_DOMAINS = frozenset(("docker.io", "index.docker.io", "registry-1.docker.io"))


@record
class Endpoint:
    """One place to reach a registry's API: ``url`` is its scheme and host (``https://host:port``)."""

    host: str  # the registry as references name it ("docker.io", "127.0.0.1:5000")
    url: str
    insecure: bool = False  # an HTTP fallback and no certificate check
    mirror: bool = False


@record
class RegistryConfig:
    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` (``name[:port]``) may be reached without TLS verification."""
        import ipaddress

        name = _hostname(host)
        if name == "localhost" or host in self.insecure or name in self.insecure:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        if address.is_loopback:
            return True
        for entry in self.insecure:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def endpoints(self, host: str, *, push: bool = False) -> list[Endpoint]:
        """Where to reach the registry of ``host``, in the order to try them (mirrors first, for pulls)."""
        if host in HUB_DOMAINS:
            hub = Endpoint("docker.io", f"https://{HUB_HOST}")
            if push:
                return [hub]
            mirrors = [
                Endpoint("docker.io", m.rstrip("/"), insecure=self.is_insecure(_url_host(m)), mirror=True)
                for m in self.mirrors
            ]
            return [*mirrors, hub]
        return [Endpoint(host, f"https://{host}", insecure=self.is_insecure(host))]


def load(root: str) -> RegistryConfig:
    """The registry settings of ``<root>/daemon.json`` (none: docker's defaults)."""
    from pinnace._util import daemon_json

    doc, path = daemon_json.load(root)
    return parse(doc, path)


def parse(doc: Mapping[str, Any], path: str) -> RegistryConfig:
    from pinnace._util.daemon_json import invalid

    mirrors = _strings(doc, "registry-mirrors", path)
    for mirror in mirrors:
        if not mirror.startswith(("http://", "https://")):
            raise invalid(path, f"invalid mirror: unsupported scheme in {mirror!r}")
    return RegistryConfig(mirrors=tuple(mirrors), insecure=tuple(_strings(doc, "insecure-registries", path)))


def _strings(doc: Mapping[str, Any], key: str, path: str) -> Sequence[str]:
    from pinnace._util.daemon_json import invalid

    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(path, f'"{key}" must be a list of strings')
    return value


def _hostname(host: str) -> str:
    """``host[:port]`` without the port (an IPv6 literal without its brackets)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _url_host(url: str) -> str:
    return url.partition("://")[2].partition("/")[0]
