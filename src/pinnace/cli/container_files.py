"""Container filesystem commands: diff, export, commit, cp, with docker's flags, output and errors.

What docker's daemon would refuse prints as ``Error response from daemon:
...``; what docker's client refuses (the paths on this host, argument forms)
prints bare, as docker prints it.  Both exit 1.  The work is the
container service's (``changes``, ``export``, ``commit``, ``open_files``: local,
or the Engine API's through a remote engine) and :mod:`pinnace.containers.copy`'s
host side, imported when a command runs.
"""

from __future__ import annotations

from pinnace.cli.flags import Flags
from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from pinnace.cli.main import Context
    from pinnace.containers.copy import Copied


def _daemon_error(ctx: Context, exc: PinnaceError) -> int:
    ctx.stderr.write(f"Error response from daemon: {exc.message}\n")
    return 1


def _client_error(ctx: Context, message: str) -> int:
    ctx.stderr.write(message + "\n")
    return 1


def _binary(stream: Any) -> BinaryIO:
    """The byte stream under a text stream (sys.stdout.buffer), or the stream itself."""
    binary: BinaryIO = getattr(stream, "buffer", stream)
    return binary


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def diff(ctx: Context, argv: list[str]) -> int:
    p = Flags("diff", "Inspect changes to files or directories on a container's filesystem", "CONTAINER")
    ns = p.parse(argv, min_args=1, max_args=1)
    try:
        found = ctx.engine.containers.changes(ns.args[0])
    except PinnaceError as exc:
        return _daemon_error(ctx, exc)
    ctx.stdout.write("".join(f"{kind} {path}\n" for kind, path in found))
    return 0


def export(ctx: Context, argv: list[str]) -> int:
    p = Flags("export", "Export a container's filesystem as a tar archive", "[OPTIONS] CONTAINER")
    p.add_string("output", "o", help="Write to a file, instead of STDOUT")
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace.containers.copy import LocalError, validate_output_path

    output = ns.value("output") or ""
    if not output and _is_terminal(ctx.stdout):
        return _client_error(ctx, "cowardly refusing to save to a terminal. Use the -o flag or redirect")
    try:
        if output:
            validate_output_path(output)
    except LocalError as exc:
        return _client_error(ctx, f"failed to export container: {exc.message}")
    service = ctx.engine.containers
    try:
        if not output:
            ctx.stdout.flush()
            service.export(ns.args[0], _binary(ctx.stdout))
            return 0
        return _to_file(ctx, output, lambda out: service.export(ns.args[0], out))
    except PinnaceError as exc:
        return _daemon_error(ctx, exc)


def _to_file(ctx: Context, path: str, write: Callable[[BinaryIO], object]) -> int:
    """docker's CopyToFile: a temporary file (mode 0600, as Go's) next to ``path``, renamed onto it when whole."""
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".pinnace_temp_", dir=os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        return _client_error(ctx, f"open {path}: {exc.strerror}")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, path)
    except OSError as exc:
        return _client_error(ctx, f"write {path}: {exc.strerror}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


def commit(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "commit", "Create a new image from a container's changes", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]"
    )
    p.add_string("author", "a", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_list("change", "c", help="Apply Dockerfile instruction to the created image")
    p.add_string("message", "m", help="Commit message")
    p.add_bool("pause", "p", help="Pause container during commit", default=True)
    ns = p.parse(argv, min_args=1, max_args=2)
    from pinnace.containers.commit import parse_reference

    tag = None
    if len(ns.args) > 1:
        try:
            tag = parse_reference(ns.args[1])
        except PinnaceError as exc:
            return _client_error(ctx, exc.message)
    try:
        image = ctx.engine.containers.commit(
            ns.args[0],
            tag=tag,
            author=ns.value("author") or "",
            message=ns.value("message") or "",
            change=ns.values("change"),
            pause=ns.flag("pause"),
        )
    except PinnaceError as exc:
        return _daemon_error(ctx, exc)
    ctx.stdout.write(image.id + "\n")
    return 0


def split_cp_arg(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: ``CONTAINER:PATH``, or a local path (absolute, ``./x:y``, or without ``:``)."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def cp(ctx: Context, argv: list[str]) -> int:
    p = Flags(
        "cp",
        "Copy files/folders between a container and the local filesystem",
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tpinnace cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    )
    p.add_bool("archive", "a", help="Archive mode (copy all uid/gid information)")
    p.add_bool("follow-link", "L", help="Always follow symbol link in SRC_PATH")
    p.add_bool(
        "quiet",
        "q",
        help="Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached",
    )
    ns = p.parse(argv, min_args=2, max_args=2)
    source, destination = ns.args
    if not source:
        return _client_error(ctx, "source can not be empty")
    if not destination:
        return _client_error(ctx, "destination can not be empty")
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        return _client_error(ctx, "copying between containers is not supported")
    if not src_container and not dst_container:
        return _client_error(ctx, "must specify at least one container source")
    import sys

    from pinnace.containers import copy

    options = {"follow_link": ns.flag("follow_link"), "keep_owners": ns.flag("archive")}
    service = ctx.engine.containers
    try:
        if src_container:
            ctx.stdout.flush()
            copied = copy.copy_from_container(
                service, src_container, src_path, dst_path, stdout=_binary(ctx.stdout), **options
            )
        else:
            copied = copy.copy_to_container(
                service, dst_container, src_path, dst_path, stdin=_binary(sys.stdin), **options
            )
    except copy.LocalError as exc:
        return _client_error(ctx, exc.message)
    except PinnaceError as exc:
        return _daemon_error(ctx, exc)
    if not ns.flag("quiet") and _is_terminal(ctx.stdout) and copied.destination != "-":
        ctx.stderr.write(_summary(copied))
    return 0


def _summary(copied: Copied) -> str:
    """docker's "Successfully copied 1.2kB to c1:/tmp" (with the bytes moved, when they differ)."""
    from pinnace._util.units import human_size

    moved = human_size(copied.content)
    if copied.content != copied.transferred:
        moved += f" (transferred {human_size(copied.transferred)})"
    return f"Successfully copied {moved} to {copied.destination}\n"
