"""``docker top``: the host's ``ps`` output, cut down to one container's processes.

As moby does, the engine runs the host's ``ps`` with the user's options
(``-ef`` by default) rather than reading /proc itself, so every ps option
works and the columns are ps's own; it then keeps the lines whose ``PID``
column is one of the container's processes (from its cgroup).  Host PIDs,
as docker shows them.
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection

#: What ``docker top CONTAINER`` runs when given no ps options.
DEFAULT_PS_ARGS = "-ef"

#: Go's ASCII whitespace (moby splits with fieldsASCII: a non-ASCII space can be part of a command).
_ASCII_SPACE = " \t\n\v\f\r"


def validate_ps_args(ps_args: str) -> None:
    """Refuse a renamed PID column (``-o pid=PID``... only ``pid=`` may name it PID), as moby does.

    The PID column is what the output is filtered by; a column of another
    kind titled "PID" would make the filter show the wrong processes.
    """
    import re

    for key, value in re.findall(r"\s+([^\s]*)=\s*(PID[^\s]*)", ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def fields_ascii(line: str) -> list[str]:
    """``line`` split on runs of ASCII whitespace only (moby's fieldsASCII)."""
    out: list[str] = []
    current: list[str] = []
    for ch in line:
        if ch in _ASCII_SPACE:
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


def parse_ps_output(output: str, pids: Collection[int]) -> tuple[list[str], list[list[str]]]:
    """(titles, processes) of the lines of ``output`` whose PID is in ``pids`` (moby parsePSOutput).

    A process line has as many fields as there are titles: the overhanging
    fields of the last column (a command's arguments) are joined by spaces.
    Thread lines (``ps -m``: PID ``-``) follow the process they belong to.
    """
    lines = output.split("\n")
    titles = fields_ascii(lines[0])
    if "PID" not in titles:
        raise Unavailable("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    processes: list[list[str]] = []
    previous_kept = False
    for line in lines[1:]:
        if not line:
            continue
        fields = fields_ascii(line)
        if len(fields) <= pid_index:
            continue
        if fields[pid_index] == "-":
            if previous_kept:
                processes.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise Unavailable(
                f"Unexpected pid '{fields[pid_index]}': strconv.Atoi: parsing "
                f'"{fields[pid_index]}": invalid syntax'
            ) from None
        previous_kept = pid in pids
        if previous_kept:
            processes.append(_fit(fields, len(titles)))
    return titles, processes


def _fit(fields: list[str], columns: int) -> list[str]:
    return [*fields[: columns - 1], " ".join(fields[columns - 1 :])]


def run_ps(ps_args: str, pids: Collection[int]) -> str:
    """The host's ``ps`` with ``ps_args`` (split on single spaces, as moby does).

    ``-q <pids>`` is added first so ps reads only the container's
    processes; some options (``f``) refuse it, so a failure is retried
    without it.  A ps that fails again is reported with the first line of
    its stderr.
    """
    import subprocess

    args = ps_args.split(" ")
    quick = ["-q" + ",".join(str(p) for p in sorted(pids))] if pids else []
    try:
        done = subprocess.run(["ps", *args, *quick], capture_output=True, check=False)
        if done.returncode != 0 and quick:
            done = subprocess.run(["ps", *args], capture_output=True, check=False)
    except OSError as e:
        raise Unavailable(f"ps: {e.strerror or e}") from None
    if done.returncode != 0:
        first = done.stderr.decode(errors="replace").split("\n", 1)[0]
        raise Unavailable(f"ps: {first or f'exit status {done.returncode}'}")
    return done.stdout.decode(errors="replace")


def top(pids: Collection[int], ps_args: str = "") -> tuple[list[str], list[list[str]]]:
    """(titles, processes) of ``docker top`` for a container whose processes are ``pids``."""
    ps_args = ps_args or DEFAULT_PS_ARGS
    validate_ps_args(ps_args)
    return parse_ps_output(run_ps(ps_args, pids), set(pids))
