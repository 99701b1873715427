"""``pinnace registry serve``: run the OCI distribution registry (:mod:`pinnace.distribution.server`)."""

from __future__ import annotations

import os
import sys

from pinnace.cli.flags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.distribution.server.config import Settings


def serve(ctx: Context, argv: list[str]) -> int:
    from pinnace.distribution.server.config import DEFAULT_ADDR, DEFAULT_ROOT

    p = Flags("registry serve", "Run an OCI distribution registry", "[OPTIONS]")
    p.add_string("config", help="A configuration file in distribution's YAML shape (flags win over it)")
    p.add_string("addr", help=f"Address to listen on, HOST:PORT (default {DEFAULT_ADDR})")
    p.add_string("root", help=f"Where the registry keeps its blobs and metadata (default {DEFAULT_ROOT})")
    p.add_bool("read-only", help="Serve pulls only: every write is refused (UNSUPPORTED)")
    p.add_string(
        "htpasswd", help="Users (an htpasswd file of bcrypt hashes): basic auth, or the token service's"
    )
    p.add_bool("anonymous-pull", help="With --htpasswd basic auth: let anyone pull (GET and HEAD)")
    p.add_string("tls-cert", help="Serve HTTPS with this certificate (PEM, with its chain)")
    p.add_string("tls-key", help="The certificate's private key (PEM)")
    p.add_string(
        "acl",
        help="Token auth with the registry's own token service at /token, granting what this ACL file allows",
    )
    p.add_string(
        "token-realm", help="Token auth from this outside token service (with --token-rootcertbundle)"
    )
    p.add_string("token-rootcertbundle", help="Certificates (PEM) whose tokens to trust")
    p.add_string("token-service", help="The service name tokens are issued for (default pinnace-registry)")
    p.add_string("token-issuer", help="The issuer name of the tokens (default pinnace-registry)")
    p.add_string("token-key", help="The token service's signing key (PEM; default: made under the root)")
    p.add_string("token-cert", help="The signing key's certificate (PEM)")
    p.add_string("proxy-remote-url", help="Be a pull-through cache of this registry (http(s)://HOST[:PORT])")
    p.add_string("proxy-username", help="The upstream registry's user")
    p.add_string("proxy-password", help="The upstream registry's password")
    p.add_string(
        "access-log", help="Access log on stderr: text (combined format), json, or none (default text)"
    )
    ns = p.parse(argv, max_args=0)
    from pinnace.distribution.server.config import ConfigError, warn
    from pinnace.errors import PinnaceError

    try:
        settings = _settings(ns)
        settings.check()
        warn(settings)
        from pinnace.distribution.server.app import serve as run

        def ready(where: str) -> None:
            sys.stderr.write(f"pinnace registry listening on {where}\n")
            sys.stderr.flush()

        run(settings, ready)
    except (ConfigError, PinnaceError) as e:
        ctx.stderr.write(f"{e}\n")
        return 125
    except OSError as e:
        ctx.stderr.write(f"cannot serve: {e.strerror or e}\n")
        return 125
    return 0


def _settings(ns: Any) -> Settings:
    """The config file's (and environment's) settings with the flags given applied over them."""
    from pinnace.distribution.server.config import ProxySettings, TokenSettings, load

    settings = load(ns.value("config") or os.environ.get("REGISTRY_CONFIGURATION_PATH", ""))
    for flag, attr in (
        ("addr", "addr"), ("root", "root"), ("htpasswd", "htpasswd"), ("tls_cert", "tls_cert"),
        ("tls_key", "tls_key"), ("access_log", "access_log"),
    ):  # fmt: skip
        if ns.value(flag):
            setattr(settings, attr, ns.value(flag))
    settings.read_only = settings.read_only or ns.flag("read_only")
    settings.anonymous_pull = settings.anonymous_pull or ns.flag("anonymous_pull")
    token_flags = {
        "acl": "acl", "token_realm": "realm", "token_rootcertbundle": "rootcertbundle", "token_service": "service",
        "token_issuer": "issuer", "token_key": "signingkey", "token_cert": "signingcert",
    }  # fmt: skip
    if any(ns.value(flag) for flag in token_flags):
        settings.token = settings.token or TokenSettings()
        for flag, attr in token_flags.items():
            if ns.value(flag):
                setattr(settings.token, attr, ns.value(flag))
    if ns.value("proxy_remote_url"):
        settings.proxy = ProxySettings(
            ns.value("proxy_remote_url").rstrip("/"),
            ns.value("proxy_username") or "",
            ns.value("proxy_password") or "",
        )
    return settings


def gc(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "registry gc", "Remove the blobs no manifest references (safe while the registry serves)", "[OPTIONS]"
    )
    p.add_string(
        "root", help="The registry's root (default: the config file's, else /var/lib/pinnace-registry)"
    )
    p.add_string("config", help="The registry's configuration file (for its root)")
    p.add_bool("dry-run", "d", help="Only list what would be removed")
    p.add_bool(
        "delete-untagged", "m", help="Also remove the manifests no tag (or tagged index, or subject) reaches"
    )
    p.add_string("grace", help="Keep what was written or linked more recently than this (default 1h)")
    ns = p.parse(argv, max_args=0)
    from pinnace._util.golang import parse_duration
    from pinnace.distribution.server.config import load
    from pinnace.distribution.server.storage import Storage, collect_garbage

    grace = parse_duration(ns.value("grace") or "1h") / 1e9
    root = (
        ns.value("root") or load(ns.value("config") or os.environ.get("REGISTRY_CONFIGURATION_PATH", "")).root
    )
    storage = Storage(root)
    found = collect_garbage(
        storage, grace=grace, delete_untagged=ns.flag("delete_untagged"), dry_run=ns.flag("dry_run")
    )
    verb = "eligible for deletion" if ns.flag("dry_run") else "deleted"
    for digest in found:
        ctx.stdout.write(f"blob {verb}: {digest}\n")
    ctx.stdout.write(f"{len(found)} blobs {verb}\n")
    return 0
