"""``pinnace-runtime``: the runc command line, so engines can use pinnace as ``--runtime``.

podman, dockerd and containerd drive an OCI runtime through runc's command
line (urfave/cli): global flags before the verb, the verb's flags after it,
Go flag syntax (``-root x``, ``--root x``, ``--root=x``; booleans take no
separate value).  The parser here is a small copy of those rules rather
than :mod:`pinnace.cli.flags`: that module belongs to the front (L9) and the
runtime sits at L4, and this process starts once per container, so it
imports only ``os`` and ``sys`` up front.

Errors go where runc puts them: one line on stderr, and a record in the
``--log`` file (text or JSON, as logrus writes them) when one is given,
which is where podman and containerd look for the reason a runtime failed.
Exit status 1 for every failure, as runc.  Verbs not built yet fail loudly
instead of pretending to work.
"""

from __future__ import annotations

import os
import sys

from pinnace import __version__
from pinnace.errors import AlreadyExists, InvalidArgument, PinnaceError
from pinnace.runtime import SPEC_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "pinnace-runtime"
DEFAULT_ROOT = "/run/pinnace-runtime"

#: runc's verbs that later increments of issue 3 add.
PLANNED = (
    "create",
    "start",
    "state",
    "kill",
    "delete",
    "run",
    "exec",
    "list",
    "pause",
    "resume",
    "ps",
    "events",
    "update",
)

HELP = f"""NAME:
   {PROG} - Open Container Initiative runtime, written in Python (pinnace)

{PROG} speaks runc's command line, so engines such as podman can use it with
--runtime.  A bundle is a directory holding config.json (OCI runtime-spec
{SPEC_VERSION}) and the root filesystem it names.

USAGE:
   {PROG} [global options] command [command options] [arguments...]

VERSION:
   {__version__}
spec: {SPEC_VERSION}

COMMANDS:
   spec      create a new specification file
   features  show the enabled features
   help, h   Shows a list of commands or help for one command

   Not implemented yet (issue 3): {", ".join(PLANNED)}

GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write {PROG} logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json') (default: "text")
   --root value        root directory for storage of container state (this should be located in tmpfs) (default: "{DEFAULT_ROOT}")
   --systemd-cgroup    enable systemd cgroup support (not supported: an error)
   --help, -h          show help
   --version, -v       print the version
"""

SPEC_HELP = f"""NAME:
   {PROG} spec - create a new specification file

USAGE:
   {PROG} spec [command options]

DESCRIPTION:
   The spec command creates the new specification file named "config.json" for
the bundle, as `runc spec` does.  It is a starter file: edit process.args and
the rest to suit the root filesystem.  With --rootless the file is made for a
rootless container (a user namespace mapping your user to root, no network
namespace).

OPTIONS:
   --bundle value, -b value  path to the root of the bundle directory
   --rootless                generate a configuration for a rootless container
"""

FEATURES_HELP = f"""NAME:
   {PROG} features - show the enabled features

USAGE:
   {PROG} features

DESCRIPTION:
   Show the enabled features, as runtime-spec's features.md describes them.
   The result is conservative: it claims only what this runtime implements.
"""

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


class UsageError(Exception):
    """A command line runc would refuse ("flag provided but not defined: -x")."""


class Options:
    """The global flags, for the verbs to read."""

    __slots__ = ("debug", "log", "log_format", "root")

    def __init__(self) -> None:
        self.debug = False
        self.log = ""
        self.log_format = "text"
        self.root = DEFAULT_ROOT


def parse_flags(
    argv: Sequence[str], flags: dict[str, bool], aliases: dict[str, str] | None = None
) -> tuple[dict[str, str | bool], list[str]]:
    """Go flag-package parsing: flags until the first non-flag argument or ``--``.

    ``flags`` maps each name to whether it takes a value; ``aliases`` maps
    short names to long ones.  Returns (values by long name, the rest).
    """
    values: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if len(arg) < 2 or arg[0] != "-":
            break
        i += 1
        if arg == "--":
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, value = name.partition("=")
        name = (aliases or {}).get(name, name)
        if not name or name.startswith("-") or name not in flags:
            raise UsageError(f"flag provided but not defined: -{name}")
        if flags[name]:
            if not eq:
                if i == len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[i]
                i += 1
            values[name] = value
        elif not eq or value in _TRUE:
            values[name] = True
        elif value in _FALSE:
            values[name] = False
        else:
            raise UsageError(f'invalid boolean value "{value}" for -{name}: parse error')
    return values, list(argv[i:])


def _log_record(options: Options, level: str, msg: str) -> None:
    """Append one logrus-style record to the --log file (best effort, as runc)."""
    import json
    import time

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if options.log_format == "json":
        line = json.dumps({"level": level, "msg": msg, "time": now}, separators=(",", ":"))
    else:
        line = f'time="{now}" level={level} msg={json.dumps(msg)}'
    try:
        fd = os.open(options.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def fail(options: Options, msg: str) -> int:
    """Report ``msg`` on stderr (and in the --log file) and return runc's failure status."""
    if options.log:
        _log_record(options, "error", msg)
    print(f"{PROG}: {msg}", file=sys.stderr)
    return 1


def _verb_args(
    argv: Sequence[str], verb: str, flags: dict[str, bool], aliases: dict[str, str], help_text: str
) -> dict[str, str | bool] | None:
    """Parse a verb's flags; None when it printed its help.  It takes no arguments."""
    values, rest = parse_flags(argv, {**flags, "help": False}, {**aliases, "h": "help"})
    if values.get("help"):
        sys.stdout.write(help_text)
        return None
    if rest:
        raise UsageError(f'"{verb}" requires exactly 0 argument(s)')
    return values


def cmd_spec(argv: Sequence[str]) -> int:
    """``spec [--rootless] [-b DIR]``: write DIR/config.json, never over an existing one."""
    values = _verb_args(argv, "spec", {"bundle": True, "rootless": False}, {"b": "bundle"}, SPEC_HELP)
    if values is None:
        return 0
    import json

    from pinnace.runtime.spec import default_spec

    spec = default_spec(rootless=bool(values.get("rootless")))
    data = json.dumps(spec, indent="\t", ensure_ascii=False).encode()
    path = os.path.join(str(values.get("bundle") or "."), "config.json")
    # O_EXCL, not exists-then-write: two concurrent `spec` runs cannot both win.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        raise AlreadyExists("File config.json exists. Remove it first") from None
    except OSError as e:
        raise InvalidArgument(f"open {path}: {e.strerror or e}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as e:
        os.close(fd)
        os.unlink(path)
        raise InvalidArgument(f"write {path}: {e.strerror or e}") from None
    os.close(fd)
    return 0


def cmd_features(argv: Sequence[str]) -> int:
    """``features``: the runtime-spec features document, indented as runc prints it."""
    if _verb_args(argv, "features", {}, {}, FEATURES_HELP) is None:
        return 0
    import json

    from pinnace.runtime.features import features

    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0


VERBS = {"spec": (cmd_spec, SPEC_HELP), "features": (cmd_features, FEATURES_HELP)}

_GLOBAL_FLAGS = {
    "debug": False,
    "log": True,
    "log-format": True,
    "root": True,
    "systemd-cgroup": False,
    "help": False,
    "version": False,
}


def run(argv: Sequence[str]) -> int:
    """Run one ``pinnace-runtime`` command line; return its exit status."""
    options = Options()
    try:
        values, rest = parse_flags(argv, _GLOBAL_FLAGS, {"h": "help", "v": "version"})
    except UsageError as e:
        return fail(options, str(e))
    options.debug = bool(values.get("debug"))
    options.log = str(values.get("log", ""))
    options.root = str(values.get("root", DEFAULT_ROOT))
    log_format = str(values.get("log-format", "text"))
    if log_format not in ("text", "json"):
        return fail(options, f"invalid log-format: {log_format}")
    options.log_format = log_format
    if values.get("version"):
        sys.stdout.write(f"{PROG} version {__version__}\nspec: {SPEC_VERSION}\n")
        return 0
    if values.get("help") or not rest:
        sys.stdout.write(HELP)
        return 0
    if values.get("systemd-cgroup"):
        return fail(options, "systemd cgroup driver is not supported")
    verb, args = rest[0], rest[1:]
    if verb in ("help", "h"):
        topic = args[0] if args else ""
        if topic and topic not in VERBS:
            return fail(options, f'No help topic for "{topic}"')
        sys.stdout.write(VERBS[topic][1] if topic else HELP)
        return 0
    if verb not in VERBS:
        return fail(options, f'"{verb}" is not implemented yet (see issue 3)')
    try:
        return VERBS[verb][0](args)
    except (UsageError, PinnaceError) as e:
        return fail(options, str(e))


def main() -> None:
    """Console-script entry point."""
    raise SystemExit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
