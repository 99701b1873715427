"""``pull``, ``push``, ``login``, ``logout``: registry commands with docker's output and errors.  Against
a remote engine, as with docker's CLI, the credentials stay with the client (its docker config) and go
with each pull and push.

Progress as docker's CLI shows it: on a terminal a line per layer with a
bar (rich), otherwise the status lines alone ("Pulling fs layer",
"Verifying Checksum", "Download complete", "Pull complete"), and with
``-q`` only the reference pulled.
"""

from __future__ import annotations

import threading

from pinnace.cli.flags import Flags
from pinnace.errors import PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from pinnace.cli.main import Context
    from pinnace.distribution.pull import PullEvent

#: The statuses a plain (non-terminal) output shows: docker's, without the byte counts.
_PLAIN = frozenset(
    (
        "Pulling fs layer",
        "Already exists",
        "Verifying Checksum",
        "Download complete",
        "Pull complete",
        "Preparing",
        "Pushed",
        "Layer already exists",
    )
)


def pull(ctx: Context, argv: list[str]) -> int:
    p = Flags("pull", "Download an image from a registry", "[OPTIONS] NAME[:TAG|@DIGEST]")
    p.add_bool("all-tags", "a", help="Download all tagged images in the repository")
    p.add_string("platform", help="Set platform if server is multi-platform capable")
    p.add_bool("quiet", "q", help="Suppress verbose output")
    p.add_bool("disable-content-trust", help="Skip image verification (default true)", default=True)
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace.distribution import platforms
    from pinnace.oci.reference import parse_normalized

    name = ns.args[0]
    try:
        ref = parse_normalized(name)
        platform = platforms.parse(ns.value("platform") or "") if ns.value("platform") else None
    except PinnaceError as e:
        ctx.stderr.write(f"invalid reference format: {e}\n" if "reference" not in e.message else f"{e}\n")
        return 1
    quiet = ns.flag("quiet")
    if ns.flag("all_tags"):
        return _pull_all(ctx, ref, platform, quiet) if _whole_repository(ctx, ref) else 1
    out = ctx.stdout
    if not ref.tag and not ref.digest and not quiet:
        out.write("Using default tag: latest\n")
    label = ref.digest or ref.tag or "latest"
    if not quiet:
        out.write(f"{label}: Pulling from {_remote_name(ref)}\n")
        out.flush()
    display = _Display(out, quiet)
    try:
        result = ctx.engine.registry.pull(name, platform=platform, progress=display.event)
    except PinnaceError as e:
        display.close()
        ctx.stderr.write(f"Error response from daemon: {_pull_error(e, ref)}\n")
        return 1
    display.close()
    if not quiet:
        _pulled(out, result)
    out.write(f"{result.reference}\n")
    return 0


def push(ctx: Context, argv: list[str]) -> int:
    p = Flags("push", "Upload an image to a registry", "[OPTIONS] NAME[:TAG]")
    p.add_bool("all-tags", "a", help="Push all tags of an image to the repository")
    p.add_bool("quiet", "q", help="Suppress verbose output")
    p.add_bool("disable-content-trust", help="Skip image signing (default true)", default=True)
    ns = p.parse(argv, min_args=1, max_args=1)
    from pinnace.oci.reference import parse_normalized

    try:
        ref = parse_normalized(ns.args[0])
    except PinnaceError as e:
        ctx.stderr.write(f"{e}\n")
        return 1
    quiet = ns.flag("quiet")
    if ns.flag("all_tags"):
        if not _whole_repository(ctx, ref):
            return 1
        tags = ctx.engine.registry.local_tags(ns.args[0])
        if not tags:
            ctx.stderr.write(
                f"Error response from daemon: An image does not exist locally with the tag: {ref.familiar_name}\n"
            )
            return 1
        for tag in tags:
            code = push(ctx, [*(["-q"] if quiet else []), ref.with_tag(tag).familiar()])
            if code:
                return code
        return 0
    if ref.digest:  # docker's client refuses it before asking the engine
        ctx.stderr.write("cannot push a digest reference\n")
        return 1
    out = ctx.stdout
    if not quiet:
        if not ref.tag:
            out.write("Using default tag: latest\n")
        out.write(f"The push refers to repository [{ref.name}]\n")
        out.flush()
    display = _Display(out, quiet)
    try:
        result = ctx.engine.registry.push(ns.args[0], progress=display.event)
    except PinnaceError as e:
        display.close()
        ctx.stderr.write(f"Error response from daemon: {_push_error(e, ref)}\n")
        return 1
    display.close()
    if quiet:
        out.write(f"{ref.name}:{result.tag}\n")
    else:
        out.write(f"{result.tag}: digest: {result.digest} size: {result.size}\n")
    return 0


def _session_flags(command: str, usage: str) -> Flags:
    """``login``/``logout``: docker's summary, a SERVER argument that defaults to Docker Hub."""
    what = "Log in to" if command == "login" else "Log out from"
    return Flags(
        command,
        f"{what} a registry.\nIf no server is specified, the default is defined by the daemon.",
        usage,
    )


def login(ctx: Context, argv: list[str]) -> int:
    p = _session_flags("login", "[OPTIONS] [SERVER]")
    p.add_string("username", "u", help="Username")
    p.add_string("password", "p", help="Password")
    p.add_bool("password-stdin", help="Take the password from stdin")
    ns = p.parse(argv, max_args=1)
    import sys

    server = ns.args[0] if ns.args else ""
    username = ns.value("username") or ""
    password = ns.value("password") or ""
    if ns.flag("password_stdin"):
        if password:
            ctx.stderr.write("--password and --password-stdin are mutually exclusive\n")
            return 1
        if not username:
            ctx.stderr.write("Must provide --username with --password-stdin\n")
            return 1
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        ctx.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username or not password:
        import getpass

        if not sys.stdin.isatty():
            ctx.stderr.write("Error: Cannot perform an interactive login from a non TTY device\n")
            return 1
        username = username or input("Username: ").strip()
        password = password or getpass.getpass("Password: ")
    if not username or not password:
        ctx.stderr.write("Error: Username and password are required\n")  # docker: non-null value required
        return 1
    try:
        ctx.engine.registry.login(server, username, password)
    except PinnaceError as e:
        ctx.stderr.write(f"Error response from daemon: {e.message}\n")
        return 1
    ctx.stdout.write("Login Succeeded\n")
    return 0


def logout(ctx: Context, argv: list[str]) -> int:
    ns = _session_flags("logout", "[SERVER]").parse(argv, max_args=1)
    from pinnace.distribution.credentials import server_key
    from pinnace.distribution.service import registry_host

    server = ns.args[0] if ns.args else ""
    key = server_key(registry_host(server))
    try:
        removed = ctx.engine.registry.logout(server)
    except PinnaceError as e:
        ctx.stderr.write(f"Error: {e.message}\n")
        return 1
    if not removed:
        ctx.stdout.write(f"Not logged in to {key}\n")
        return 0
    ctx.stdout.write(f"Removing login credentials for {key}\n")
    return 0


def _push_error(error: PinnaceError, ref: Any) -> str:
    from pinnace.errors import NotFound, PermissionDenied, Unauthenticated

    if isinstance(error, NotFound) and error.message.startswith("No such image"):
        return f"An image does not exist locally with the tag: {ref.familiar_name}"
    if isinstance(error, (PermissionDenied, Unauthenticated)):
        return f"{error.message}"
    return error.message


def _whole_repository(ctx: Context, ref: Any) -> bool:
    """``--all-tags`` names a repository, not a tag or digest of it (docker's refusal otherwise)."""
    if ref.tag or ref.digest:
        ctx.stderr.write("tag can't be used with --all-tags/-a\n")
        return False
    return True


def _pull_all(ctx: Context, ref: Any, platform: Any, quiet: bool) -> int:
    """``pull --all-tags``: every tag the registry lists, one after the other (the engine's loop, so
    that a remote engine pulls them all in one request, as dockerd does for an empty tag)."""
    out = ctx.stdout
    shown: list[_Display] = []  # the display of the tag being pulled

    def starting(tagged: Any) -> None:
        if not quiet:
            out.write(f"{tagged.tag}: Pulling from {_remote_name(tagged)}\n")
            out.flush()
        shown.append(_Display(out, quiet))

    def done(result: Any) -> None:
        shown[-1].close()
        if not quiet:
            _pulled(out, result)

    try:
        ctx.engine.registry.pull_all_tags(
            str(ref),
            platform=platform,
            progress=lambda e: shown[-1].event(e) if shown else None,
            starting=starting,
            done=done,
        )
    except PinnaceError as e:
        if shown:
            shown[-1].close()
        # before any tag: the repository itself (docker's words); after: that tag's pull
        ctx.stderr.write(f"Error response from daemon: {e.message if shown else _pull_error(e, ref)}\n")
        return 1
    out.write(f"{ref.name}\n")
    return 0


def _pulled(out: TextIO, result: Any) -> None:
    """docker's two lines after a pull: the digest, and whether anything came."""
    status = "Image is up to date" if result.up_to_date else "Downloaded newer image"
    out.write(f"Digest: {result.digest}\nStatus: {status} for {result.reference.familiar()}\n")


def pull_image(
    ctx: Context, image: str, *, out: TextIO, quiet: bool, platform: str | None = None, wanted: Any = None
) -> None:
    """Pull for ``run``/``create`` (``--pull``): progress on ``out``; a failure raised in docker's words."""
    from pinnace.distribution import platforms
    from pinnace.oci.reference import parse_normalized

    ref = parse_normalized(image)
    wanted = platforms.parse(platform) if platform else wanted
    if not quiet:
        label = ref.digest or ref.tag or "latest"
        out.write(f"{label}: Pulling from {_remote_name(ref)}\n")
    display = _Display(out, quiet)
    try:
        result = ctx.engine.registry.pull(image, platform=wanted, progress=display.event)
    except PinnaceError as e:
        raise type(e)(_pull_error(e, ref)) from None
    finally:
        display.close()
    if not quiet:
        _pulled(out, result)


def _remote_name(ref: Any) -> str:
    """The repository as docker's pull names it: its path (``library/busybox``), no registry."""
    return str(ref.path)


def _pull_error(error: PinnaceError, ref: Any) -> str:
    """docker's words for a failed pull."""
    from pinnace.errors import NotFound, PermissionDenied, Unauthenticated

    text = error.message
    if isinstance(error, NotFound) and text.startswith("manifest unknown"):
        shown = ref.familiar() if (ref.tag or ref.digest) else ref.familiar() + ":latest"
        return f"manifest for {shown} not found: {text}"
    if isinstance(error, NotFound) and text.startswith("name unknown"):
        return f"repository {ref.familiar_name} not found: {text}"
    if isinstance(error, (PermissionDenied, Unauthenticated)) or (
        isinstance(error, NotFound) and "denied" in text
    ):
        return (
            f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
            f"'docker login': {text}"
        )
    return text


class _Display:
    """Renders pull events: rich bars on a terminal, docker's status lines otherwise, nothing when quiet."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self._lock = threading.Lock()
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        if not quiet and out.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._bars = Progress(
                TextColumn("{task.fields[layer]}: {task.description:<18}"),
                BarColumn(),
                DownloadColumn(),
                console=Console(file=out),
                transient=False,
            )
            self._bars.start()

    def event(self, e: PullEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._bars is not None:
                task = self._tasks.get(e.id)
                if task is None:
                    task = self._tasks[e.id] = self._bars.add_task(
                        e.status, layer=e.id, total=e.total or None
                    )
                self._bars.update(
                    task, description=e.status, completed=e.current or None, total=e.total or None
                )
                if e.status in ("Pull complete", "Already exists"):
                    total = self._bars.tasks[task].total
                    self._bars.update(task, completed=total)
            elif e.status in _PLAIN or e.status.startswith("Mounted from "):
                self.out.write(f"{e.id}: {e.status}\n")
                self.out.flush()

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
