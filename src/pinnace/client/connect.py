"""The remote engine for a host URL and the CLI's TLS flags (``--tls``, ``--tlsverify``, ``--tlscacert``,
``--tlscert``, ``--tlskey``; ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` as docker's CLI reads them)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pinnace.client.engine import RemoteEngine
    from pinnace.client.transport import Endpoint


def endpoint(host: str, tls: Mapping[str, str] | None = None) -> Endpoint:
    from pinnace.client.transport import Endpoint, TLSOptions

    tls = tls or {}
    verify = bool(tls["tlsverify"]) if "tlsverify" in tls else None
    options = TLSOptions.from_env(
        os.environ,
        tls=bool(tls.get("tls")),
        verify=verify,
        ca=tls.get("tlscacert", ""),
        cert=tls.get("tlscert", ""),
        key=tls.get("tlskey", ""),
    )
    return Endpoint(host, options)


def remote_engine(host: str, tls: Mapping[str, str] | None = None) -> RemoteEngine:
    from pinnace.client.engine import RemoteEngine
    from pinnace.client.http import Client

    return RemoteEngine(Client(endpoint(host, tls)))
