"""``pinnace registry serve``: run the OCI distribution registry (:mod:`pinnace.distribution.server`)."""

from __future__ import annotations

import sys

from pinnace.cli.flags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.main import Context

DEFAULT_ROOT = "/var/lib/pinnace-registry"
DEFAULT_ADDR = "127.0.0.1:5000"


def serve(ctx: Context, argv: list[str]) -> int:
    p = Flags("registry serve", "Run an OCI distribution registry", "[OPTIONS]")
    p.add_string("addr", help=f"Address to listen on, HOST:PORT (default {DEFAULT_ADDR})")
    p.add_string("root", help=f"Where the registry keeps its blobs and metadata (default {DEFAULT_ROOT})")
    p.add_bool("read-only", help="Serve pulls only: every write is refused (UNSUPPORTED)")
    p.add_string("htpasswd", help="Require basic auth from the users of this htpasswd file (bcrypt hashes)")
    p.add_bool("anonymous-pull", help="With --htpasswd: let anyone pull (GET and HEAD)")
    p.add_string("tls-cert", help="Serve HTTPS with this certificate (PEM, with its chain)")
    p.add_string("tls-key", help="The certificate's private key (PEM)")
    ns = p.parse(argv, max_args=0)
    addr = ns.value("addr") or DEFAULT_ADDR
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        ctx.stderr.write(f"invalid address {addr!r}: HOST:PORT expected\n")
        return 125
    from pinnace.distribution.server.app import serve as run

    def ready(where: str) -> None:
        sys.stderr.write(f"pinnace registry listening on {where}\n")
        sys.stderr.flush()

    htpasswd = ns.value("htpasswd") or ""
    if htpasswd:
        from pinnace.distribution.server.app import Htpasswd

        try:
            Htpasswd(htpasswd)
        except (OSError, ValueError) as e:
            ctx.stderr.write(f"invalid htpasswd file: {e}\n")
            return 125
    cert, key = ns.value("tls_cert") or "", ns.value("tls_key") or ""
    if bool(cert) != bool(key):
        ctx.stderr.write("--tls-cert and --tls-key go together\n")
        return 125
    run(
        ns.value("root") or DEFAULT_ROOT,
        host.strip("[]") or "0.0.0.0",
        int(port),
        read_only=ns.flag("read_only"),
        htpasswd=htpasswd,
        anonymous_pull=ns.flag("anonymous_pull"),
        tls=(cert, key) if cert else None,
        ready=ready,
    )
    return 0


def gc(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "registry gc", "Remove the blobs no manifest references (safe while the registry serves)", "[OPTIONS]"
    )
    p.add_string("root", help=f"The registry's root (default {DEFAULT_ROOT})")
    p.add_bool("dry-run", "d", help="Only list what would be removed")
    p.add_bool(
        "delete-untagged", "m", help="Also remove the manifests no tag (or tagged index, or subject) reaches"
    )
    p.add_string("grace", help="Keep what was written or linked more recently than this (default 1h)")
    ns = p.parse(argv, max_args=0)
    from pinnace._util.golang import parse_duration
    from pinnace.distribution.server.storage import Storage, collect_garbage

    grace = parse_duration(ns.value("grace") or "1h") / 1e9
    storage = Storage(ns.value("root") or DEFAULT_ROOT)
    found = collect_garbage(
        storage, grace=grace, delete_untagged=ns.flag("delete_untagged"), dry_run=ns.flag("dry_run")
    )
    verb = "eligible for deletion" if ns.flag("dry_run") else "deleted"
    for digest in found:
        ctx.stdout.write(f"blob {verb}: {digest}\n")
    ctx.stdout.write(f"{len(found)} blobs {verb}\n")
    return 0
