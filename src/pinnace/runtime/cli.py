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
Exit status 1 for every failure, as runc; ``run`` and ``exec`` exit with the
container process's status.  The verbs themselves live in
:mod:`pinnace.runtime.commands`.
"""

from __future__ import annotations

import os
import sys

from pinnace import __version__
from pinnace.errors import PinnaceError
from pinnace.runtime import SPEC_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pinnace.runtime.commands import Verb

PROG = "pinnace-runtime"
#: Where the native launcher names what it started: stage 1 ahead (pinnace.runtime.linux.standby.ENV)
#: and the cgroup lock's warmer (pinnace.runtime.cgroups.LaunchedWarmUp.ENV).
STANDBY_ENV = "PINNACE_RUNTIME_STANDBY"
WARMER_ENV = "PINNACE_RUNTIME_WARMER"
DEFAULT_ROOT = "/run/pinnace-runtime"

HELP_HEAD = f"""NAME:
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
"""

GLOBAL_HELP = f"""
GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write {PROG} logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json') (default: "text")
   --root value        root directory for storage of container state (this should be located in tmpfs) (default: "{DEFAULT_ROOT}")
   --systemd-cgroup    enable systemd cgroup support (not supported: an error)
   --help, -h          show help
   --version, -v       print the version
"""


def main_help() -> str:
    """The top-level help, listing every verb."""
    from pinnace.runtime.commands import VERBS

    lines = [f"   {name:<9} {verb.summary}\n" for name, verb in VERBS.items()]
    lines.append(f"   {'help, h':<9} Shows a list of commands or help for one command\n")
    return HELP_HEAD + "".join(lines) + GLOBAL_HELP


def verb_help(verb: Verb) -> str:
    """A verb's help, laid out as urfave/cli lays out runc's."""
    out = [f"NAME:\n   {PROG} {verb.name} - {verb.summary}\n\nUSAGE:\n   {PROG} {verb.name}"]
    out.append(f" [command options] {verb.usage}".rstrip() + "\n")
    if verb.description:
        out.append("\nDESCRIPTION:\n   " + verb.description.replace("\n", "\n   ") + "\n")
    if verb.flags:
        out.append("\nOPTIONS:\n")
        for flag in verb.flags:
            names = f"--{flag.name}" + (" value" if flag.kind else "")
            if flag.alias:
                names += f", -{flag.alias}" + (" value" if flag.kind else "")
            out.append(f"   {names:<28} {flag.help}\n")
    return "".join(out)


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


#: A flag that may be given several times (urfave's StringSlice): its values are a list.
MULTI = "multi"


def parse_flags(
    argv: Sequence[str], flags: Mapping[str, bool | str], aliases: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Go flag-package parsing: flags until the first non-flag argument or ``--``.

    ``flags`` maps each name to whether it takes a value (True), is a
    boolean (False) or collects every value it is given (:data:`MULTI`);
    ``aliases`` maps short names to long ones.  Returns (values by long
    name, the rest).
    """
    values: dict[str, Any] = {}
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
            if flags[name] == MULTI:
                values.setdefault(name, []).append(value)
            else:
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
    import time

    from pinnace._util import jsonc

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if options.log_format == "json":
        line = jsonc.dumps({"level": level, "msg": msg, "time": now}, compact=True)
    else:
        line = f'time="{now}" level={level} msg={jsonc.dumps(msg)}'
    if not options.log:  # --debug without --log: to stderr, as runc
        sys.stderr.write(line + "\n")
        return
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


def parse_verb(verb: Verb, argv: Sequence[str]) -> tuple[dict[str, Any], list[str]] | None:
    """A verb's flags and arguments, count checked as runc checks it; None when it printed help."""
    flags: dict[str, bool | str] = {f.name: f.kind for f in verb.flags}
    aliases = {f.alias: f.name for f in verb.flags if f.alias}
    values, rest = parse_flags(argv, {**flags, "help": False}, {**aliases, "h": "help"})
    if values.get("help"):
        sys.stdout.write(verb_help(verb))
        return None
    if verb.min_args == verb.max_args and len(rest) != verb.min_args:
        raise UsageError(f'"{verb.name}" requires exactly {verb.min_args} argument(s)')
    if len(rest) < verb.min_args:
        raise UsageError(f'"{verb.name}" requires a minimum of {verb.min_args} argument(s)')
    if len(rest) > verb.max_args:
        raise UsageError(f'"{verb.name}" requires a maximum of {verb.max_args} argument(s)')
    return values, rest


_GLOBAL_FLAGS = {
    "debug": False,
    "log": True,
    "log-format": True,
    "root": True,
    "systemd-cgroup": False,
    "help": False,
    "version": False,
}


#: The verbs that move processes into cgroups.
_CGROUP_VERBS = frozenset(("create", "run", "exec"))


def run(argv: Sequence[str]) -> int:
    """Run one ``pinnace-runtime`` command line; return its exit status."""
    if any(word in _CGROUP_VERBS for word in argv):
        # The first cgroup migration waits for an RCU grace period: start it
        # now, on a thread, so it overlaps the imports and parsing below.  (A
        # container named like a verb only warms the lock for nothing.)
        from pinnace.runtime.cgroups import warm_up

        warm_up()
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
        sys.stdout.write(main_help())
        return 0
    if values.get("systemd-cgroup"):
        return fail(options, "systemd cgroup driver is not supported")
    verb_name, args = rest[0], rest[1:]
    from pinnace.runtime.commands import VERBS

    if verb_name in ("help", "h"):
        topic = args[0] if args else ""
        if topic and topic not in VERBS:
            return fail(options, f'No help topic for "{topic}"')
        sys.stdout.write(verb_help(VERBS[topic]) if topic else main_help())
        return 0
    verb = VERBS.get(verb_name)
    if verb is None:
        return fail(options, f"No help topic for '{verb_name}'")
    try:
        parsed = parse_verb(verb, args)
        if parsed is None:
            return 0
        if not options.debug:
            return verb.handler(options.root, *parsed)
        import time

        started = time.monotonic()
        _log_record(options, "debug", f"{verb_name} {' '.join(args)}")
        status = verb.handler(options.root, *parsed)
        _log_record(
            options,
            "debug",
            f"{verb_name} exited {status} after {(time.monotonic() - started) * 1000:.1f} ms",
        )
        return status
    except (UsageError, PinnaceError) as e:
        return fail(options, str(e))


def main() -> None:
    """Console-script entry point."""
    import gc

    # A command lives for milliseconds and makes next to no reference cycles:
    # the collector's passes over the freshly imported modules cost ~1.3 ms of
    # a `run`.  (`events`, which can run for days, turns it back on.)
    gc.disable()
    if STANDBY_ENV in os.environ:
        from pinnace.runtime.linux import standby

        standby.adopt()
    try:
        status = run(sys.argv[1:])
    finally:
        # What the native launcher started is our child: leave no process or zombie to the caller.
        ahead = sys.modules.get("pinnace.runtime.linux.standby")
        if ahead is not None:
            ahead.dismiss()
        if "pinnace.runtime.cgroups" in sys.modules or WARMER_ENV in os.environ:
            from pinnace.runtime import cgroups

            cgroups.reap_warmer()
    # Skip the interpreter's finalisation (~4 ms of a 30 ms `run`): nothing
    # is left to clean up but the standard streams, which are flushed here.
    # (Log records are written and closed as they are made.)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or 1
    os._exit(status)


if __name__ == "__main__":
    main()
