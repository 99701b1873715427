"""The flags of ``run`` and ``create``, docker's, parsed into :class:`RunOptions`.

Kept apart from the commands (:mod:`pinnace.cli.containers`) because the
flag set is large and both commands share it.
"""

from __future__ import annotations

from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.cli.flags import Values
    from pinnace.containers.options import RunOptions


def create_flags(command: str, summary: str) -> Flags:
    p = Flags(command, summary, "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    if command == "run":
        p.add_bool("detach", "d", help="Run container in background and print container ID")
    p.add_bool(
        "rm", help="Automatically remove the container and its associated anonymous volumes when it exits"
    )
    p.add_string("name", help="Assign a name to the container")
    p.add_list("env", "e", help="Set environment variables")
    p.add_list("env-file", help="Read in a file of environment variables")
    p.add_list("label", "l", help="Set meta data on a container")
    p.add_string("workdir", "w", help="Working directory inside the container")
    p.add_string("user", "u", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_string("entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_string("hostname", help="Container host name")
    p.add_bool("init", help="Run an init inside the container that forwards signals and reaps processes")
    p.add_bool("read-only", help="Mount the container's root filesystem as read only")
    p.add_bool("privileged", help="Give extended privileges to this container")
    p.add_list("cap-add", help="Add Linux capabilities")
    p.add_list("cap-drop", help="Drop Linux capabilities")
    p.add_list("security-opt", help="Security Options")
    p.add_string("memory", "m", help="Memory limit", metavar="bytes")
    p.add_string("cpus", help="Number of CPUs", metavar="decimal")
    p.add_string("pids-limit", help="Tune container pids limit (set -1 for unlimited)", metavar="int")
    p.add_string("stop-signal", help="Signal to stop the container")
    p.add_string("network", help='Connect a container to a network (only "none" for now)', metavar="network")
    return p


def run_options(ns: Values) -> RunOptions:
    """The parsed flags as RunOptions (docker's parsers, docker's errors)."""
    from pinnace.containers import options as o

    env: list[str] = []
    for path in ns.values("env_file"):
        try:
            with open(path, "rb") as f:
                env.extend(o.parse_env_file(f.read(), name=path))
        except FileNotFoundError:
            raise InvalidArgument(f"open {path}: no such file or directory") from None
    env.extend(o.parse_env(e) for e in ns.values("env"))
    labels = dict(o.parse_label(label) for label in ns.values("label"))
    memory = ns.value("memory")
    cpus = ns.value("cpus")
    pids = ns.value("pids_limit")
    network = ns.value("network")
    if network not in (None, "none"):
        raise InvalidArgument(f'network {network} not found (only "none" until networking lands)')
    return o.RunOptions(
        image=ns.args[0],
        cmd=tuple(ns.args[1:]),
        entrypoint=ns.value("entrypoint"),
        env=tuple(env),
        workdir=ns.value("workdir") or "",
        user=ns.value("user") or "",
        hostname=ns.value("hostname") or "",
        labels=labels,
        stop_signal=ns.value("stop_signal") or "",
        init=ns.flag("init"),
        read_only=ns.flag("read_only"),
        privileged=ns.flag("privileged"),
        cap_add=tuple(ns.values("cap_add")),
        cap_drop=tuple(ns.values("cap_drop")),
        security_opt=tuple(o.parse_security_opt(s) for s in ns.values("security_opt")),
        memory=o.parse_memory(memory) if memory else 0,
        nano_cpus=o.parse_cpus(cpus) if cpus else 0,
        pids_limit=int(pids) if pids else None,
    )
