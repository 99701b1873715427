"""``pinnace``: the entry point, global options and the command table.

Start-up time is part of every command, so this module imports almost
nothing: the command table names modules as strings and only the chosen
command's module is imported.  Global options are parsed by hand for the
same reason, and records here are plain tuples: ``typing`` and
``dataclasses`` stay unimported on the way to a command.
"""

from __future__ import annotations

import os
import sys

import pinnace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TextIO

    from pinnace.engine import Config, Engine


class Command(tuple[str, str, str]):
    """(module, function, summary) of one command; a tuple, for start-up's sake."""

    __slots__ = ()

    def __new__(cls, module: str, func: str, summary: str) -> Command:
        return super().__new__(cls, (module, func, summary))

    @property
    def module(self) -> str:
        return self[0]

    @property
    def func(self) -> str:
        return self[1]

    @property
    def summary(self) -> str:
        return self[2]


#: docker's command tree; aliases point at the same function.
COMMANDS: dict[str, Command] = {
    "image ls": Command("pinnace.cli.images", "ls", "List images"),
    "image inspect": Command(
        "pinnace.cli.images", "inspect", "Display detailed information on one or more images"
    ),
    "image history": Command("pinnace.cli.images", "history", "Show the history of an image"),
    "image import": Command(
        "pinnace.cli.images", "import_", "Import the contents from a tarball to create a filesystem image"
    ),
    "image save": Command(
        "pinnace.cli.images",
        "save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
    ),
    "image load": Command("pinnace.cli.images", "load", "Load an image from a tar archive or STDIN"),
    "image tag": Command(
        "pinnace.cli.images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"
    ),
    "image rm": Command("pinnace.cli.images", "rm", "Remove one or more images"),
    "image pull": Command("pinnace.cli.registry", "pull", "Download an image from a registry"),
    "image push": Command("pinnace.cli.registry", "push", "Upload an image to a registry"),
    "login": Command("pinnace.cli.registry", "login", "Log in to a registry"),
    "system service": Command("pinnace.cli.service", "service", "Serve the Docker Engine API"),
    "image build": Command("pinnace.cli.build", "build", "Build an image from a Dockerfile"),
    "builder prune": Command("pinnace.cli.build", "prune", "Remove build cache"),
    "registry serve": Command("pinnace.cli.registry_server", "serve", "Run an OCI distribution registry"),
    "registry gc": Command("pinnace.cli.registry_server", "gc", "Remove a registry's unreferenced blobs"),
    "logout": Command("pinnace.cli.registry", "logout", "Log out from a registry"),
    "image prune": Command("pinnace.cli.images", "prune", "Remove unused images"),
    "container run": Command("pinnace.cli.containers", "run", "Create and run a new container from an image"),
    "container create": Command("pinnace.cli.containers", "create", "Create a new container"),
    "container start": Command("pinnace.cli.containers", "start", "Start one or more stopped containers"),
    "container ls": Command("pinnace.cli.containers", "ps", "List containers"),
    "container logs": Command("pinnace.cli.containers", "logs", "Fetch the logs of a container"),
    "container wait": Command(
        "pinnace.cli.containers",
        "wait",
        "Block until one or more containers stop, then print their exit codes",
    ),
    "container kill": Command("pinnace.cli.containers", "kill", "Kill one or more running containers"),
    "container rm": Command("pinnace.cli.containers", "rm", "Remove one or more containers"),
    "container stop": Command("pinnace.cli.containers", "stop", "Stop one or more running containers"),
    "container inspect": Command(
        "pinnace.cli.containers", "inspect", "Display detailed information on one or more containers"
    ),
    "container attach": Command(
        "pinnace.cli.containers",
        "attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "container exec": Command("pinnace.cli.exec", "exec_", "Execute a command in a running container"),
    "container restart": Command("pinnace.cli.container_ops", "restart", "Restart one or more containers"),
    "container pause": Command(
        "pinnace.cli.container_ops", "pause", "Pause all processes within one or more containers"
    ),
    "container unpause": Command(
        "pinnace.cli.container_ops", "unpause", "Unpause all processes within one or more containers"
    ),
    "container top": Command(
        "pinnace.cli.container_ops", "top", "Display the running processes of a container"
    ),
    "container stats": Command(
        "pinnace.cli.container_ops",
        "stats",
        "Display a live stream of container(s) resource usage statistics",
    ),
    "container rename": Command("pinnace.cli.container_ops", "rename", "Rename a container"),
    "container port": Command(
        "pinnace.cli.container_ops", "port", "List port mappings or a specific mapping for the container"
    ),
    "container update": Command(
        "pinnace.cli.container_ops", "update", "Update configuration of one or more containers"
    ),
    "container prune": Command("pinnace.cli.container_ops", "prune", "Remove all stopped containers"),
    "container cp": Command(
        "pinnace.cli.container_files", "cp", "Copy files/folders between a container and the local filesystem"
    ),
    "container diff": Command(
        "pinnace.cli.container_files",
        "diff",
        "Inspect changes to files or directories on a container's filesystem",
    ),
    "container export": Command(
        "pinnace.cli.container_files", "export", "Export a container's filesystem as a tar archive"
    ),
    "container commit": Command(
        "pinnace.cli.container_files", "commit", "Create a new image from a container's changes"
    ),
    "healthcheck run": Command("pinnace.cli.health", "run", "Run the health check of a container"),
    "system events": Command("pinnace.cli.events", "events", "Get real time events from the server"),
    "system restore": Command(
        "pinnace.cli.system", "restore", "Bring containers back after a reboot (restart policies)"
    ),
    "inspect": Command("pinnace.cli.images", "inspect_any", "Return low-level information on Docker objects"),
    "system df": Command("pinnace.cli.system", "df", "Show docker disk usage"),
    "system prune": Command("pinnace.cli.system", "prune", "Remove unused data"),
    "version": Command("pinnace.cli.system", "version", "Show the pinnace version information"),
    "network connect": Command("pinnace.cli.networks", "connect", "Connect a container to a network"),
    "network create": Command("pinnace.cli.networks", "create", "Create a network"),
    "network disconnect": Command(
        "pinnace.cli.networks", "disconnect", "Disconnect a container from a network"
    ),
    "network inspect": Command(
        "pinnace.cli.networks", "inspect", "Display detailed information on one or more networks"
    ),
    "network ls": Command("pinnace.cli.networks", "ls", "List networks"),
    "network prune": Command("pinnace.cli.networks", "prune", "Remove all unused networks"),
    "network rm": Command("pinnace.cli.networks", "rm", "Remove one or more networks"),
    "volume create": Command("pinnace.cli.volumes", "create", "Create a volume"),
    "volume inspect": Command(
        "pinnace.cli.volumes", "inspect", "Display detailed information on one or more volumes"
    ),
    "volume ls": Command("pinnace.cli.volumes", "ls", "List volumes"),
    "volume prune": Command("pinnace.cli.volumes", "prune", "Remove unused local volumes"),
    "volume rm": Command("pinnace.cli.volumes", "rm", "Remove one or more volumes"),
    "system info": Command("pinnace.cli.system", "info", "Display system-wide information"),
    "system dial-stdio": Command(
        "pinnace.cli.contexts", "dial_stdio", "Proxy the stdio stream to the service connection"
    ),
    "context create": Command("pinnace.cli.contexts", "create", "Create a context"),
    "context ls": Command("pinnace.cli.contexts", "ls", "List contexts"),
    "context use": Command("pinnace.cli.contexts", "use", "Set the current pinnace context"),
    "context rm": Command("pinnace.cli.contexts", "rm", "Remove one or more contexts"),
    "context inspect": Command(
        "pinnace.cli.contexts", "inspect", "Display detailed information on one or more contexts"
    ),
    "context show": Command("pinnace.cli.contexts", "show", "Print the name of the current context"),
}
ALIASES: dict[str, str] = {
    "images": "image ls",
    "image list": "image ls",
    "history": "image history",
    "import": "image import",
    "save": "image save",
    "load": "image load",
    "tag": "image tag",
    "pull": "image pull",
    "push": "image push",
    "rmi": "image rm",
    "image remove": "image rm",
    "system version": "version",
    "run": "container run",
    "create": "container create",
    "start": "container start",
    "ps": "container ls",
    "container ps": "container ls",
    "container list": "container ls",
    "logs": "container logs",
    "wait": "container wait",
    "kill": "container kill",
    "rm": "container rm",
    "stop": "container stop",
    "container remove": "container rm",
    "attach": "container attach",
    "exec": "container exec",
    "restart": "container restart",
    "pause": "container pause",
    "unpause": "container unpause",
    "top": "container top",
    "stats": "container stats",
    "rename": "container rename",
    "port": "container port",
    "update": "container update",
    "cp": "container cp",
    "diff": "container diff",
    "export": "container export",
    "commit": "container commit",
    "build": "image build",
    "builder build": "image build",
    "events": "system events",
    "network list": "network ls",
    "network remove": "network rm",
    "volume list": "volume ls",
    "volume remove": "volume rm",
    "info": "system info",
    "context list": "context ls",
    "context remove": "context rm",
}
GROUPS = {
    "container": "Manage containers",
    "image": "Manage images",
    "builder": "Manage builds",
    "system": "Manage pinnace",
    "healthcheck": "Manage health checks of containers",
    "network": "Manage networks",
    "volume": "Manage volumes",
    "context": "Manage contexts",
}

USAGE = """\
Usage:  pinnace [OPTIONS] COMMAND

A container engine that does what Docker does

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  import      Import the contents from a tarball to create a filesystem image
  info        Display system-wide information
  version     Show the pinnace version information

Management Commands:
  container   Manage containers
  context     Manage contexts
  healthcheck Manage health checks of containers
  image       Manage images
  network     Manage networks
  system      Manage pinnace
  volume      Manage volumes

Commands:
  attach      Attach local standard input, output, and error streams to a running container
  commit      Create a new image from a container's changes
  cp          Copy files/folders between a container and the local filesystem
  create      Create a new container
  diff        Inspect changes to files or directories on a container's filesystem
  events      Get real time events from the server
  export      Export a container's filesystem as a tar archive
  history     Show the history of an image
  inspect     Return low-level information on Docker objects
  kill        Kill one or more running containers
  load        Load an image from a tar archive or STDIN
  logs        Fetch the logs of a container
  pause       Pause all processes within one or more containers
  port        List port mappings or a specific mapping for the container
  rename      Rename a container
  restart     Restart one or more containers
  rm          Remove one or more containers
  rmi         Remove one or more images
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  top         Display the running processes of a container
  unpause     Unpause all processes within one or more containers
  update      Update configuration of one or more containers
  wait        Block until one or more containers stop, then print their exit codes

Global Options:
  -c, --context string     Name of the context to use to connect to the service (overrides PINNACE_HOST,
                           DOCKER_HOST and the context set with "pinnace context use")
  -H, --host string        Service socket to connect to: unix://PATH, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT]
                           (env PINNACE_HOST, then DOCKER_HOST; without any, the local store, daemonless)
      --root string        Root directory of persistent state (default "/var/lib/pinnace", env PINNACE_ROOT)
      --runroot string     Root directory of runtime state (default "/run/pinnace", env PINNACE_RUNROOT)
  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
      --tls                Use TLS; implied by --tlsverify
      --tlscacert string   Trust certs signed only by this CA (default DOCKER_CERT_PATH/ca.pem)
      --tlscert string     Path to TLS certificate file (default DOCKER_CERT_PATH/cert.pem)
      --tlskey string      Path to TLS key file (default DOCKER_CERT_PATH/key.pem)
      --tlsverify          Use TLS and verify the remote (env DOCKER_TLS_VERIFY)
  -v, --version            Print version information and quit
  -h, --help               Print usage

Run 'pinnace COMMAND --help' for more information on a command.
"""


class Context:
    """What a command gets: the engine (built on first use) and the streams.

    With ``host`` (a URL: ``-H``, ``PINNACE_HOST``, ``DOCKER_HOST`` or a context's endpoint) the engine
    is a :class:`pinnace.client.engine.RemoteEngine` on the service there, and no local store is opened.
    """

    def __init__(
        self,
        root: str | None,
        runroot: str | None,
        log_level: str,
        host: str | None = None,
        tls: dict[str, str] | None = None,
        context_name: str = "",
    ) -> None:
        self._root = root
        self._runroot = runroot
        self.log_level = log_level
        self.host = host
        self.tls = tls or {}
        self.context_name = context_name
        self.stdout: TextIO = sys.stdout
        self.stderr: TextIO = sys.stderr
        self._engine: Engine | None = None

    @property
    def remote(self) -> bool:
        return self.host is not None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.host is not None:
                from pinnace.client.connect import remote_engine

                self._engine = remote_engine(self.host, self.tls)  # type: ignore[assignment]
            else:
                from pinnace.engine import Config, Engine

                config = Config.from_env(self._root, self._runroot)
                self._engine = _take_prepared(config) or Engine(config)
        assert self._engine is not None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


#: An engine opened ahead of the command that will use it (:func:`prepare_engine`), with the
#: identity (device, inode) of the database file it opened.
_prepared: tuple[Engine, tuple[int, int]] | None = None


def prepare_engine(argv: Sequence[str], env: dict[str, str], cwd: str) -> None:
    """Open the local store that the command line ``argv`` (run in ``cwd`` with ``env``) would use.

    Called in a spare process of the worker zygote (:func:`pinnace.cli.client.prepare`) with the
    previous request, so the next one on the same store finds its database open.  Nothing is
    created: a store without a database, a remote engine or an odd command line prepare nothing.
    """
    global _prepared
    from pinnace.engine import Config, Engine

    try:
        opts, _ = _split_globals(argv)
    except _Usage:
        return
    if {"host", "context", "tls", "tlsverify"} & opts.keys() or env.get("PINNACE_HOST") or env.get("DOCKER_HOST"):
        return
    engine = Engine(Config.from_env(opts.get("root"), opts.get("runroot"), environ=env, cwd=cwd))
    try:
        st = os.stat(os.path.join(engine.config.root, "pinnace.db"))
    except OSError:
        return
    engine.db  # noqa: B018  the database, opened now
    _prepared = engine, (st.st_dev, st.st_ino)


def _take_prepared(config: Config) -> Engine | None:
    """The prepared engine if it is for ``config`` and its database file is still the one it opened."""
    global _prepared
    if _prepared is None:
        return None
    engine, identity = _prepared
    _prepared = None
    try:
        st = os.stat(os.path.join(config.root, "pinnace.db"))
        if engine.config == config and (st.st_dev, st.st_ino) == identity:
            return engine
    except OSError:
        pass
    engine.close()
    return None


_GLOBAL_VALUE = {
    "--root": "root",
    "--runroot": "runroot",
    "--log-level": "log_level",
    "-l": "log_level",
    "-H": "host",
    "--host": "host",
    "-c": "context",
    "--context": "context",
    "--tlscacert": "tlscacert",
    "--tlscert": "tlscert",
    "--tlskey": "tlskey",
}
_GLOBAL_BOOL = {"--tls": "tls", "--tlsverify": "tlsverify"}
#: Commands that act on this machine whatever the host settings say (the service, contexts ...).
_LOCAL_ONLY = frozenset(
    (
        "system service",
        "system restore",
        "system dial-stdio",
        "registry serve",
        "registry gc",
        "healthcheck run",
        "context create",
        "context ls",
        "context use",
        "context rm",
        "context inspect",
        "context show",
    )
)
_LEVELS = ("debug", "info", "warn", "error", "fatal")


#: The commands that run against a remote engine (pinnace.client.engine serves what they call); the
#: others say "not supported against a remote engine yet" (exit 125) instead of half-working.
REMOTE_COMMANDS = frozenset(
    (
        "version",
        "system info",
        "inspect",
        "image ls",
        "image inspect",
        "image history",
        "image pull",
        "image tag",
        "image rm",
        "image build",
        "builder prune",
        "image save",
        "image load",
        "image import",
        "image push",
        "image prune",
        "login",
        "logout",
        "container run",
        "container create",
        "container start",
        "container ls",
        "container logs",
        "container wait",
        "container kill",
        "container rm",
        "container stop",
        "container restart",
        "container inspect",
        "container attach",
        "container pause",
        "container unpause",
        "container top",
        "container rename",
        "container port",
        "container cp",
        "container diff",
        "container export",
        "container commit",
        "container stats",
        "container update",
        "container prune",
        "container exec",
        "volume create",
        "volume inspect",
        "volume ls",
        "volume rm",
        "volume prune",
        "network create",
        "network inspect",
        "network ls",
        "network rm",
        "network prune",
        "network connect",
        "network disconnect",
        "system df",
        "system events",
        "system prune",
    )
)


def _split_globals(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        name, sep, value = arg.partition("=")
        if name in _GLOBAL_VALUE:
            if not sep:
                i += 1
                if i >= len(argv):
                    raise _Usage(f"flag needs an argument: {name}")
                value = argv[i]
            opts[_GLOBAL_VALUE[name]] = value
        elif name in _GLOBAL_BOOL:
            if sep and value.lower() not in ("true", "false", "1", "0"):
                raise _Usage(f'invalid argument "{value}" for "{name}" flag: strconv.ParseBool: parsing "{value}": invalid syntax')
            opts[_GLOBAL_BOOL[name]] = "1" if not sep or value.lower() in ("true", "1") else ""
        elif arg in ("-v", "--version"):
            opts["version"] = "1"
        elif arg in ("-h", "--help"):
            opts["help"] = "1"
        elif arg in ("-D", "--debug"):
            opts["log_level"] = "debug"
        else:
            raise _Usage(f"unknown flag: {name}")
        i += 1
    return opts, list(argv[i:])


class _Usage(Exception):
    pass


def _resolve(words: list[str]) -> tuple[str, list[str]] | None:
    """The longest command path (with aliases) that prefixes ``words``."""
    for n in (2, 1):
        key = " ".join(words[:n])
        key = ALIASES.get(key, key)
        if key in COMMANDS and len(words) >= n:
            return key, words[n:]
    return None


def _group_help(group: str) -> str:
    lines = [f"Usage:  pinnace {group} COMMAND", "", GROUPS[group], "", "Commands:"]
    for path, cmd in COMMANDS.items():
        if path.startswith(group + " "):
            lines.append(f"  {path.split(' ', 1)[1]:<10}  {cmd.summary}")
    lines += ["", f"Run 'pinnace {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def run(argv: Sequence[str]) -> int:
    try:
        opts, rest = _split_globals(argv)
    except _Usage as exc:
        sys.stderr.write(f"{exc}\nSee 'pinnace --help'.\n")
        return 125
    if "version" in opts:
        sys.stdout.write(f"pinnace version {pinnace.__version__}\n")
        return 0
    if "help" in opts or not rest:
        (sys.stdout if "help" in opts else sys.stderr).write(USAGE)
        return 0 if "help" in opts else 125 if rest else 0
    level = opts.get("log_level", "info")
    if level not in _LEVELS:
        sys.stderr.write(f"Unable to parse logging level: {level}\n")
        return 125
    found = _resolve(rest)
    if found is None:
        if rest[0] in GROUPS:
            if len(rest) > 1 and rest[1] not in ("-h", "--help"):
                sys.stderr.write(
                    f"pinnace: unknown command: pinnace {rest[0]} {rest[1]}\n\n"
                    f"Run 'pinnace {rest[0]} --help' for more information\n"
                )
                return 125
            sys.stdout.write(_group_help(rest[0]))
            return 0
        sys.stderr.write(
            f"pinnace: unknown command: pinnace {rest[0]}\n\nRun 'pinnace --help' for more information\n"
        )
        return 125
    path, args = found
    cmd = COMMANDS[path]
    from pinnace.shim.zygote import HANDLERS

    # A zygote this process starts (for a container's monitor) can also run our `run`s (cli.client).
    HANDLERS["cli"] = "pinnace.cli.client:serve_request"
    import importlib

    func: Callable[[Context, list[str]], int] = getattr(importlib.import_module(cmd.module), cmd.func)
    from pinnace.errors import PinnaceError

    try:
        host, tls, context_name = _target(opts, path)
    except _Usage as exc:
        sys.stderr.write(f"{exc}\n")
        return 125
    except PinnaceError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 125
    if host is not None and path not in REMOTE_COMMANDS and path not in _LOCAL_ONLY:
        sys.stderr.write(f"pinnace {path}: not supported against a remote engine yet\n")
        return 125
    ctx = Context(opts.get("root"), opts.get("runroot"), level, host, tls, context_name)
    from pinnace.cli.flags import HelpRequested, UsageError
    from pinnace.errors import NotImplementedYet

    try:
        return func(ctx, args)
    except HelpRequested as exc:
        sys.stdout.write(exc.text)
        return 0
    except UsageError as exc:
        see = f"\nSee 'pinnace {exc.command} --help'." if exc.command else ""
        sys.stderr.write(f"{exc.message}{see}\n")
        return 125
    except NotImplementedYet as exc:
        if not getattr(exc, "remote_unsupported", False):
            sys.stderr.write(f"Error: {exc.message}\n")
            return 1
        sys.stderr.write(f"pinnace {path}: not supported against a remote engine yet\n")
        return 125
    except PinnaceError as exc:
        sys.stderr.write(f"Error: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (| head): exit quietly as docker does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        ctx.close()


def _target(opts: dict[str, str], path: str) -> tuple[str | None, dict[str, str], str]:
    """(host URL or None for the local store, TLS settings, context name) of this command.

    docker's order: ``-H``, then ``--context``, then ``PINNACE_HOST``/``DOCKER_HOST``, then
    ``PINNACE_CONTEXT``/``DOCKER_CONTEXT``, then the config's current context.  An explicit ``--root``
    or ``--runroot`` names a local store: the environment's hosts and contexts do not apply (the
    commands a container's monitor runs later say ``--root``).  Only dictionary look-ups and a stat
    on the local path: start-up time stays as it was.
    """
    tls: dict[str, str] = {k: opts[k] for k in ("tls", "tlsverify", "tlscacert", "tlscert", "tlskey") if k in opts}
    host, context = opts.get("host"), opts.get("context")
    if host and context:
        raise _Usage("conflicting options: either specify --host or --context, not both")
    if host and ("root" in opts or "runroot" in opts):
        raise _Usage("conflicting options: --host names a remote service, --root and --runroot a local store")
    if path in _LOCAL_ONLY:  # the global -H is only dial-stdio's service to connect to
        return (host if path == "system dial-stdio" else None), tls, ""
    if host:
        return host, tls, ""
    if not context:
        if "root" in opts or "runroot" in opts:
            return None, tls, ""
        env = os.environ
        for name in ("PINNACE_HOST", "DOCKER_HOST"):
            if env.get(name):
                return env[name], tls, ""
        context = env.get("PINNACE_CONTEXT") or env.get("DOCKER_CONTEXT") or ""
        if not context:
            config = env.get("PINNACE_CONFIG") or os.path.join(os.path.expanduser("~"), ".pinnace")
            if not os.path.exists(os.path.join(config, "config.json")):
                return None, tls, ""
    from pinnace.client.contexts import ContextStore

    store = ContextStore.default()
    context = context or store.current()
    if not context or context == "default":
        return None, tls, ""
    endpoint = store.get(context).endpoint
    return endpoint.host, {**endpoint.tls_settings(), **tls}, context


def main() -> None:
    sys.exit(run(sys.argv[1:]))
