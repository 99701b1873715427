"""``pinnace system service``: serve the Docker Engine API (:mod:`pinnace.api.server`).

The listening flags are dockerd's (``-H``, ``--tls``, ``--tlsverify``, ``--tlscacert``, ``--tlscert``,
``--tlskey``, ``-G/--group``), with the same defaults for the certificate paths (``~/.docker/*.pem``);
no environment variable changes them (``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` are the client's).
``--insecure-tcp`` is how a user says that TCP without client certificates beyond loopback is meant,
and ``--docker-socket PATH`` adds a socket where tools that only know docker's path look.
"""

from __future__ import annotations

import sys

from pinnace.cli.flags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.main import Context


def service(ctx: Context, argv: list[str]) -> int:
    import os

    from pinnace.api.listen import DEFAULT_HOST

    cert_dir = os.path.join(os.path.expanduser("~"), ".docker")
    p = Flags("system service", "Serve the Docker Engine API on a socket", "[OPTIONS] [URI]")
    p.add_list(
        "host",
        "H",
        help="Where to listen: unix://PATH, tcp://ADDR:PORT, fd:// (systemd socket activation: all, "
        f"fd://N or fd://NAME) (default {DEFAULT_HOST})",
    )
    p.add_bool("tls", help="Serve TCP over TLS (implied by --tlsverify); clients are not authenticated")
    p.add_bool("tlsverify", help="Serve TCP over TLS and require client certificates signed by --tlscacert")
    p.add_string(
        "tlscacert", help="Trust client certificates signed by this CA only", default=f"{cert_dir}/ca.pem"
    )
    p.add_string("tlscert", help="The server's TLS certificate", default=f"{cert_dir}/cert.pem")
    p.add_string("tlskey", help="The server's TLS key", default=f"{cert_dir}/key.pem")
    p.add_bool(
        "insecure-tcp",
        help="Allow TCP without --tlsverify on non-loopback addresses: anyone who reaches it is root here",
    )
    p.add_string(
        "group", "G", help="Group for the unix sockets: mode 0660 instead of root's 0600", metavar="name"
    )
    p.add_string(
        "docker-socket",
        help="Also listen on this unix socket (e.g. /var/run/docker.sock); a live socket there is never replaced",
        metavar="path",
    )
    p.add_string("timeout", "t", help="Exit after this many seconds without a request (0: never; default 0)")
    ns = p.parse(argv, max_args=1)
    from pinnace.api.listen import ListenOptions, TLSOptions
    from pinnace.api.server import Engines, serve

    hosts = list(ns.values("host")) + list(ns.args) or [DEFAULT_HOST]
    try:
        timeout = float(ns.value("timeout") or 0)
    except ValueError:
        ctx.stderr.write(f"invalid timeout {ns.value('timeout')!r}\n")
        return 125
    tls = None
    if ns.flag("tls") or ns.flag("tlsverify"):
        tls = TLSOptions(
            cert=str(ns.value("tlscert")),
            key=str(ns.value("tlskey")),
            ca=str(ns.value("tlscacert")),
            verify=ns.flag("tlsverify"),
        )
    options = ListenOptions(
        hosts=tuple(hosts),
        tls=tls,
        insecure_tcp=ns.flag("insecure_tcp"),
        group=ns.value("group") or None,
        docker_socket=ns.value("docker_socket") or None,
    )

    def ready(url: str) -> None:
        sys.stderr.write(f"pinnace API listening on {url}\n")
        sys.stderr.flush()

    from pinnace.errors import PinnaceError

    config = ctx.engine.config
    try:  # serve() prints a refusal to listen itself and exits 125; this is for what comes before
        serve(Engines(config.root, config.runroot), options, timeout=timeout, ready=ready)
    except PinnaceError as e:
        ctx.stderr.write(f"Error: {e.message}\n")
        return 125
    return 0
