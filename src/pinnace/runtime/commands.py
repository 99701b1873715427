"""The verbs of ``pinnace-runtime``: runc's commands, their flags, and what each does.

:mod:`pinnace.runtime.cli` parses the global flags, the verb's flags (from
the table here) and the argument count, and renders help; each handler here
turns the parsed values into one call of :mod:`pinnace.runtime.container`
and prints what runc prints.  Handlers import what they use inside
themselves: ``state`` should not pay for what ``exec`` needs.
"""

from __future__ import annotations

import os
import sys

from pinnace._util.record import record
from pinnace.errors import AlreadyExists, InvalidArgument, NotFound
from pinnace.runtime.cli import MULTI

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Flag kinds: a boolean, a value, or a value that may repeat (cli.MULTI: collected in a list).
BOOL, VALUE = False, True


@record
class Flag:
    """One command-line flag of a verb, as runc's help lists it."""

    name: str
    kind: bool | str
    help: str
    alias: str = ""


@record
class Verb:
    """A runtime command: its flags, how many arguments it takes, and its handler."""

    name: str
    summary: str
    usage: str
    flags: tuple[Flag, ...]
    handler: Callable[[str, dict[str, Any], list[str]], int]
    min_args: int = 1
    max_args: int = 1
    description: str = ""


def _spec(root: str, values: dict[str, Any], args: list[str]) -> int:
    """``spec [--rootless] [-b DIR]``: write DIR/config.json, never over an existing one."""
    from pinnace._util import jsonc
    from pinnace.runtime.spec import default_spec

    spec = default_spec(rootless=bool(values.get("rootless")))
    data = jsonc.dumps(spec, indent="\t").encode()
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


def _features(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace._util import jsonc
    from pinnace.runtime.features import features

    sys.stdout.write(jsonc.dumps(features(), indent="    ") + "\n")
    return 0


def _int(values: dict[str, Any], name: str) -> int:
    text = values.get(name, "0")
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f'invalid value "{text}" for flag -{name}: parse error') from None


def _create(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    container.create(
        root,
        args[0],
        values.get("bundle") or ".",
        pid_file=values.get("pid-file", ""),
        console_socket=values.get("console-socket", ""),
        no_pivot=bool(values.get("no-pivot")),
        no_new_keyring=bool(values.get("no-new-keyring")),
        preserve_fds=_int(values, "preserve-fds"),
    )
    return 0


def warn(line: str) -> None:
    """Report a non-fatal failure (a poststart/poststop hook) as runc's logrus warning would."""
    sys.stderr.write(f"pinnace-runtime: warning: {line}\n")


def _run(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    return container.run(
        root,
        args[0],
        values.get("bundle") or ".",
        pid_file=values.get("pid-file", ""),
        console_socket=values.get("console-socket", ""),
        no_pivot=bool(values.get("no-pivot")),
        no_new_keyring=bool(values.get("no-new-keyring")),
        preserve_fds=_int(values, "preserve-fds"),
        detach=bool(values.get("detach")),
        keep=bool(values.get("keep")),
        warn=warn,
    )


def _start(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    for line in container.start(root, args[0]):
        warn(line)
    return 0


def _state(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace._util import jsonc
    from pinnace.runtime import container

    sys.stdout.write(jsonc.dumps(container.state(root, args[0]), indent="  ") + "\n")
    return 0


def _kill(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container, signals

    signum = signals.parse(args[1]) if len(args) > 1 else 15
    container.kill(root, args[0], signum, all_processes=bool(values.get("all")))
    return 0


def _delete(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    for container_id in args:
        for line in container.delete(root, container_id, force=bool(values.get("force"))):
            warn(line)
    return 0


def _pause(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    container.pause(root, args[0])
    return 0


def _resume(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    container.resume(root, args[0])
    return 0


def _list(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    states = container.list_containers(root)
    fmt = values.get("format", "table")
    if values.get("quiet"):
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
        return 0
    if fmt == "json":
        from pinnace._util import jsonc

        sys.stdout.write(jsonc.dumps(states, compact=True) + "\n")
        return 0
    if fmt != "table":
        raise InvalidArgument(f"invalid format option: {fmt}")
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        sys.stdout.write("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
    return 0


def _ps(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    pids = container.pids(root, args[0])
    if values.get("format", "table") == "json":
        from pinnace._util import jsonc

        sys.stdout.write(jsonc.dumps(pids, compact=True) + "\n")
        return 0
    import subprocess

    ps_args = args[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("couldn't find PID field in ps output")
    column = header.index("PID")
    wanted = {str(p) for p in pids}
    sys.stdout.write(lines[0] + "\n")
    sys.stdout.write(
        "".join(line + "\n" for line in lines[1:] if line.split()[column : column + 1][0] in wanted)
    )
    return 0


def _events(root: str, values: dict[str, Any], args: list[str]) -> int:
    import time

    from pinnace._util import jsonc
    from pinnace.runtime import container

    interval = _duration(values.get("interval", "5s"))
    if not values.get("stats"):
        import gc

        gc.enable()  # off for the short commands (cli.main); this one can run for days
    ooms = -1
    while True:
        raw = container.stats(root, args[0])
        kills = raw.get("memory", {}).get("oom_kill", 0)
        if 0 <= ooms < kills:  # runc reports an OOM kill as its own event
            sys.stdout.write(jsonc.dumps({"type": "oom", "id": args[0]}, compact=True) + "\n")
        ooms = kills
        data = _runc_stats(raw)
        sys.stdout.write(jsonc.dumps({"type": "stats", "id": args[0], "data": data}, compact=True) + "\n")
        sys.stdout.flush()
        if values.get("stats"):
            return 0
        time.sleep(interval)
        if container.current(root, args[0])[1] == "stopped":
            return 0


def _runc_stats(raw: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Our cgroup stats in the shape ``runc events --stats`` prints."""
    data: dict[str, Any] = {}
    if "cpu" in raw:
        data["cpu"] = {"usage": {"total": raw["cpu"].get("usage_ns", 0)}}
    if "memory" in raw:
        mem = raw["memory"]
        data["memory"] = {
            "usage": {
                "usage": mem.get("usage", 0),
                "max": mem.get("max_usage", 0),
                "limit": mem.get("limit", 0),
                "failcnt": mem.get("failcnt", 0),
            },
            "oom_kill": mem.get("oom_kill", 0),
        }
    if "pids" in raw:
        data["pids"] = {"current": raw["pids"].get("current", 0), "limit": raw["pids"].get("limit", 0)}
    return data


def _duration(text: str) -> float:
    """A Go duration with one unit (``5s``, ``100ms``, ``1m``) in seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * scale
    raise InvalidArgument(f'invalid value "{text}" for flag -interval: parse error')


def _bytes(text: str, flag: str) -> int:
    """``512m``, ``1g``, ``1048576`` or ``-1`` (unlimited) in bytes, as runc's units.RAMInBytes."""
    if text.strip() == "-1":
        return -1
    from pinnace._util.units import ram_in_bytes

    try:
        return ram_in_bytes(text)
    except InvalidArgument as e:
        raise InvalidArgument(f"invalid value for --{flag}: {e}") from None


def _update(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container

    resources: dict[str, Any] = {}
    if values.get("resources"):
        from pinnace._util import jsonc

        path = values["resources"]
        raw = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
        try:
            resources = jsonc.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"--resources {path}: invalid JSON: {e}") from None
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"), ("memory-reservation", "reservation")):
        if flag in values:
            resources.setdefault("memory", {})[key] = _bytes(values[flag], flag)
    for flag, key in (("cpu-shares", "shares"), ("cpu-quota", "quota"), ("cpu-period", "period")):
        if flag in values:
            resources.setdefault("cpu", {})[key] = _int(values, flag)
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flag in values:
            resources.setdefault("cpu", {})[key] = values[flag]
    if "pids-limit" in values:
        resources["pids"] = {"limit": _int(values, "pids-limit")}
    container.update(root, args[0], resources)
    return 0


def _exec(root: str, values: dict[str, Any], args: list[str]) -> int:
    from pinnace.runtime import container, state

    if values.get("process"):
        from pinnace._util import jsonc

        try:
            with open(values["process"], "rb") as f:
                process = jsonc.loads(f.read())
        except FileNotFoundError:
            raise InvalidArgument(f"open {values['process']}: no such file or directory") from None
        except ValueError as e:
            raise InvalidArgument(f"{values['process']}: invalid JSON: {e}") from None
    else:
        if len(args) < 2:
            raise InvalidArgument("exec: process args cannot be empty")
        try:
            config = state.load_config(root, args[0])
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {args[0]}") from None
        process = _exec_process(config.get("process") or {}, values, args[1:])
    pid, code = container.exec_process(
        root,
        args[0],
        process,
        pid_file=values.get("pid-file", ""),
        console_socket=values.get("console-socket", ""),
        preserve_fds=_int(values, "preserve-fds"),
        detach=bool(values.get("detach")),
    )
    return code


def _exec_process(base: dict[str, Any], values: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """The exec's process: the container's own, with runc exec's flags applied over it."""
    process = {**base, "args": args, "terminal": bool(values.get("tty"))}
    process["env"] = [*base.get("env", []), *values.get("env", [])]
    if values.get("cwd"):
        process["cwd"] = values["cwd"]
    if values.get("user"):
        uid, _, gid = values["user"].partition(":")
        try:
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise InvalidArgument(f"parsing {values['user']} as uid[:gid] failed") from None
    if values.get("additional-gids"):
        try:
            gids = [int(g) for g in values["additional-gids"]]
        except ValueError:
            raise InvalidArgument("--additional-gids: not a number") from None
        process["user"] = {**process.get("user", {"uid": 0, "gid": 0}), "additionalGids": gids}
    if values.get("no-new-privs"):
        process["noNewPrivileges"] = True
    if values.get("cap"):
        caps = dict(process.get("capabilities") or {})
        for key in ("bounding", "effective", "permitted"):
            caps[key] = [*caps.get(key, []), *values["cap"]]
        process["capabilities"] = caps
    return process


_BUNDLE = Flag(
    "bundle", VALUE, "path to the root of the bundle directory, defaults to the current directory", "b"
)
_CONSOLE = Flag(
    "console-socket",
    VALUE,
    "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal",
)
_PID_FILE = Flag("pid-file", VALUE, "specify the file to write the process id to")
_NO_PIVOT = Flag("no-pivot", BOOL, "do not use pivot root to jail process inside rootfs")
_NO_KEYRING = Flag("no-new-keyring", BOOL, "do not create a new session keyring for the container")
_PRESERVE = Flag(
    "preserve-fds",
    VALUE,
    "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)",
)
_ID = "<container-id>"

VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("create", "create a container", _ID,
             (_BUNDLE, _CONSOLE, Flag("pidfd-socket", VALUE, "not supported; ignored"), _PID_FILE, _NO_PIVOT,
              _NO_KEYRING, _PRESERVE), _create,
             description="The create command creates an instance of a container for a bundle. The bundle\n"
             "is a directory with a specification file named \"config.json\" and a root\nfilesystem."),
        Verb("start", "executes the user defined process in a created container", _ID, (), _start),
        Verb("state", "output the state of a container", _ID, (), _state),
        Verb("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process",
             f"{_ID} [signal]", (Flag("all", BOOL, "send the specified signal to all processes inside the container", "a"),),
             _kill, max_args=2),
        Verb("delete", "delete any resources held by the container often used with detached container", _ID,
             (Flag("force", BOOL, "Forcibly deletes the container if it is still running (uses SIGKILL)", "f"),),
             _delete),
        Verb("run", "create and run a container", _ID,
             (_BUNDLE, _CONSOLE, Flag("detach", BOOL, "detach from the container's process", "d"),
              Flag("keep", BOOL, "do not delete the container after it exits"), _PID_FILE,
              Flag("no-subreaper", BOOL, "disable the use of the subreaper used to reap reparented processes"),
              _NO_PIVOT, _NO_KEYRING, _PRESERVE), _run),
        Verb("exec", "execute new process inside the container", f"{_ID} <command> [command options]",
             (_CONSOLE, Flag("cwd", VALUE, "current working directory in the container"),
              Flag("env", MULTI, "set environment variables", "e"),
              Flag("tty", BOOL, "allocate a pseudo-TTY", "t"),
              Flag("user", VALUE, "UID (format: <uid>[:<gid>])", "u"),
              Flag("additional-gids", MULTI, "additional gids", "g"),
              Flag("process", VALUE, "path to the process.json", "p"),
              Flag("detach", BOOL, "detach from the container's process", "d"), _PID_FILE,
              Flag("process-label", VALUE, "set the asm process label for the process commonly used with selinux"),
              Flag("apparmor", VALUE, "set the apparmor profile for the process"),
              Flag("no-new-privs", BOOL, "set the no new privileges value for the process"),
              Flag("cap", MULTI, "add a capability to the bounding set for the process", "c"),
              _PRESERVE, Flag("cgroup", MULTI, "run the process in an (existing) sub-cgroup(s)"),
              Flag("ignore-paused", BOOL, "allow exec in a paused container")),
             _exec, max_args=1 << 30),
        Verb("list", "lists containers started by runc with the given root", "", (
            Flag("format", VALUE, "select one of: table or json (default: \"table\")", "f"),
            Flag("quiet", BOOL, "display only container IDs", "q")), _list, min_args=0, max_args=0),
        Verb("pause", "pause suspends all processes inside the container", _ID, (), _pause),
        Verb("resume", "resumes all processes that have been previously paused", _ID, (), _resume),
        Verb("ps", "ps displays the processes running inside a container", f"{_ID} [ps options]",
             (Flag("format", VALUE, "select one of: table or json (default: \"table\")", "f"),), _ps,
             max_args=1 << 30),
        Verb("events", "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
             _ID, (Flag("interval", VALUE, "set the stats collection interval (default: 5s)"),
                   Flag("stats", BOOL, "display the container's stats then exit")), _events),
        Verb("update", "update container resource constraints", _ID, (
            Flag("resources", VALUE, "path to the file containing the resources to update or '-' to read from the standard input", "r"),
            Flag("memory", VALUE, "Memory limit (in bytes)"),
            Flag("memory-swap", VALUE, "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
            Flag("memory-reservation", VALUE, "Memory reservation or soft_limit (in bytes)"),
            Flag("cpu-shares", VALUE, "CPU shares (relative weight vs. other containers)"),
            Flag("cpu-period", VALUE, "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
            Flag("cpu-quota", VALUE, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
            Flag("cpuset-cpus", VALUE, "CPU(s) to use"),
            Flag("cpuset-mems", VALUE, "Memory node(s) to use"),
            Flag("pids-limit", VALUE, "Maximum number of pids allowed in the container")), _update),
        Verb("spec", "create a new specification file", "", (
            _BUNDLE, Flag("rootless", BOOL, "generate a configuration for a rootless container")), _spec,
             min_args=0, max_args=0,
             description="The spec command creates the new specification file named \"config.json\" for\n"
             "the bundle, as `runc spec` does.  It is a starter file: edit process.args and\n"
             "the rest to suit the root filesystem.  With --rootless the file is made for a\n"
             "rootless container (a user namespace mapping your user to root, no network\nnamespace)."),
        Verb("features", "show the enabled features", "", (), _features, min_args=0, max_args=0,
             description="Show the enabled features, as runtime-spec's features.md describes them.\n"
             "The result is conservative: it claims only what this runtime implements."),
    )
}  # fmt: skip
