"""``pinnace system service``: serve the Docker Engine API (:mod:`pinnace.api.server`)."""

from __future__ import annotations

import sys

from pinnace.cli.flags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.main import Context

DEFAULT_HOST = "unix:///run/pinnace/pinnace.sock"


def service(ctx: Context, argv: list[str]) -> int:
    p = Flags("system service", "Serve the Docker Engine API on a socket", "[OPTIONS] [URI]")
    p.add_list(
        "host", "H", help=f"Where to listen: unix://PATH or tcp://127.0.0.1:PORT (default {DEFAULT_HOST})"
    )
    p.add_string("timeout", "t", help="Exit after this many seconds without a request (0: never; default 0)")
    ns = p.parse(argv, max_args=1)
    from pinnace.api.server import Engines, serve
    from pinnace.errors import PinnaceError

    hosts = list(ns.values("host")) + list(ns.args) or [DEFAULT_HOST]
    try:
        timeout = float(ns.value("timeout") or 0)
    except ValueError:
        ctx.stderr.write(f"invalid timeout {ns.value('timeout')!r}\n")
        return 125

    def ready(host: str) -> None:
        sys.stderr.write(f"pinnace API listening on {host}\n")
        sys.stderr.flush()

    config = ctx.engine.config
    try:
        serve(Engines(config.root, config.runroot), hosts, timeout=timeout, ready=ready)
    except PinnaceError as e:
        ctx.stderr.write(f"Error: {e.message}\n")
        return 125
    except OSError as e:
        ctx.stderr.write(f"Error: cannot listen: {e.strerror or e}\n")
        return 125
    return 0
