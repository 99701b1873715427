"""``pinnace healthcheck run CONTAINER``: podman's command, one probe of a container's healthcheck.

The container's monitor runs it every interval (see
:mod:`pinnace.containers.health`); a user may run it by hand.  As podman's:
exit 0 when the probe passed; ``unhealthy`` on stdout and exit 1 when it
failed (whatever the container's status after it: a failure within the
start period, or before ``Retries`` failures, leaves it ``starting`` or
``healthy``); ``Error: ...`` and exit 125 when no probe could run (no such
container, not running, no healthcheck).
"""

from __future__ import annotations

from pinnace.cli.flags import Flags
from pinnace.errors import NotFound, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.main import Context


def run(ctx: Context, argv: list[str]) -> int:
    p = Flags("healthcheck run", "Run the health check of a container", "CONTAINER")
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace.containers.health import run_check

    ref = ns.args[0]
    try:
        result = run_check(ctx.engine.containers, ref)
    except NotFound:
        ctx.stderr.write(
            f"Error: unable to look up {ref} to perform a health check: "
            f'no container with name or ID "{ref}" found: no such container\n'
        )
        return 125
    except PinnaceError as e:
        ctx.stderr.write(f"Error: {e}\n")
        return 125
    if not result.passed:
        ctx.stdout.write("unhealthy\n")
        return 1
    return 0
