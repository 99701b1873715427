"""``pinnace build`` and ``pinnace builder prune``: docker's flags, BuildKit's plain progress output."""

from __future__ import annotations

import os
import sys
import time

from pinnace.build.builder import Progress
from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from pinnace.cli.main import Context


def build(ctx: Context, argv: list[str]) -> int:
    p = Flags("build", "Build an image from a Dockerfile", "[OPTIONS] PATH | URL | -")
    p.add_list("tag", "t", help='Name and optionally a tag in the "name:tag" format')
    p.add_string("file", "f", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    p.add_list("build-arg", help="Set build-time variables")
    p.add_list("label", help="Set metadata for an image")
    p.add_string("target", help="Set the target build stage to build.")
    p.add_bool("quiet", "q", help="Suppress the build output and print image ID on success")
    p.add_string("iidfile", help="Write the image ID to the file")
    p.add_string("progress", help="Set type of progress output (auto, plain, tty, quiet)")
    p.add_bool("no-cache", help="Do not use cache when building the image")
    p.add_bool("pull", help="Always attempt to pull a newer version of the image")
    p.add_list("secret", help="Secret to expose to the build (format: id=mysecret[,src=/local/secret])")
    p.add_string(
        "network", help="Set the networking mode for the RUN instructions during build (default, none, host)"
    )
    p.add_string("platform", help="Set platform if server is multi-platform capable")
    p.add_list("cache-from", help="Images to consider as cache sources")
    p.add_bool("rm", help="Remove intermediate containers after a successful build", default=True)
    p.add_bool("force-rm", help="Always remove intermediate containers")
    ns = p.parse(argv, min_args=1, max_args=1)
    if ns.values("secret") and ctx.remote:  # the secret's file would have to go to the service: not yet
        ctx.stderr.write("pinnace build --secret: not supported against a remote engine yet\n")
        return 125
    try:
        return _build(ctx, ns)
    except PinnaceError as e:
        ctx.stdout.flush()
        ctx.stderr.write(f"ERROR: {e.message}\n")
        return 1


def _build(ctx: Context, ns: Any) -> int:
    from pinnace.build.builder import BuildOptions, native
    from pinnace.build.context import IgnoreMatcher, extract_context, is_tar, read_dockerignore
    from pinnace.build.dockerfile import parse

    platform = ns.value("platform") or ""
    if platform and not native(platform):
        raise InvalidArgument(
            f'platform "{platform}" is not supported: pinnace builds for the native platform only'
        )
    network = ns.value("network") or "default"
    if network not in ("default", "none", "host"):
        raise InvalidArgument(f"network mode {network!r} not supported by the builder (default, none, host)")
    tags = [_tag(t) for t in ns.values("tag")]
    build_args = {}
    for item in ns.values("build_arg"):
        name, sep, value = item.partition("=")
        if not sep:
            value = os.environ.get(name)  # docker: NAME alone takes the client's environment
            if value is None:
                continue
        build_args[name] = value
    labels = dict(_pair(item) for item in ns.values("label"))
    secrets = {}
    for item in ns.values("secret"):
        fields = dict(_pair(part) for part in item.split(","))
        if "id" not in fields:
            raise InvalidArgument(f"secret {item!r}: id= is required")
        src = fields.get("src") or fields.get("source") or ""
        if not src and fields.get("env"):
            raise InvalidArgument("secrets from the environment are not supported yet: use src=FILE")
        secrets[fields["id"]] = os.path.abspath(src or fields["id"])
    path = ns.args[0]
    file_flag = ns.value("file") or ""
    scratch = None
    source = ""  # the file the Dockerfile was read from ("" for stdin)
    stdin: Any = getattr(sys.stdin, "buffer", sys.stdin)
    try:
        if path == "-":
            if file_flag == "-":
                raise InvalidArgument(
                    "invalid argument: can't use stdin for both build context and dockerfile"
                )
            import tempfile

            scratch = tempfile.mkdtemp(prefix="pinnace-build-")
            head = stdin.peek(1024)[:1024] if hasattr(stdin, "peek") else b""
            if is_tar(head):
                extract_context(stdin, scratch)
                dockerfile_text, name = _dockerfile(scratch, file_flag or "Dockerfile", relative_to=scratch)
                source = name
            else:
                dockerfile_text, name = stdin.read().decode("utf-8", "replace"), "Dockerfile"
            context = scratch
        elif path.startswith(("http://", "https://", "git@", "git://", "github.com/")):
            raise InvalidArgument(f"unable to prepare context: remote contexts are not supported yet: {path}")
        else:
            context = os.path.abspath(path)
            if not os.path.isdir(context):
                raise InvalidArgument(f'unable to prepare context: path "{path}" not found')
            if file_flag == "-":
                dockerfile_text, name = stdin.read().decode("utf-8", "replace"), "Dockerfile"
            else:
                dockerfile_text, name = _dockerfile(context, file_flag, relative_to=os.getcwd())
                source = name
        dockerfile = parse(dockerfile_text, os.path.basename(name))
        matcher = IgnoreMatcher(read_dockerignore(context, name))
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
        options = BuildOptions(
            context_dir=context, dockerfile=dockerfile_text, dockerfile_name=os.path.basename(name), tags=tags,
            build_args=build_args, labels=labels, target=ns.value("target") or "", no_cache=ns.flag("no_cache"),
            pull=ns.flag("pull"), network=network, secrets=secrets,
            source_date_epoch=int(epoch) if epoch.isdigit() else None, cache_from=ns.values("cache_from"),
        )  # fmt: skip
        quiet = ns.flag("quiet") or ns.value("progress") == "quiet"
        progress = PlainProgress(ctx.stderr, quiet=quiet)
        builder: Any
        if ctx.remote:  # the service says the warnings, with the rest of its progress
            from pinnace.client.build import RemoteBuilder

            client = ctx.engine.client  # type: ignore[attr-defined]
            builder = RemoteBuilder(client, matcher, progress, dockerfile_path=source, quiet=quiet)
        else:
            for warning in dockerfile.warnings:
                progress.note(warning)
            builder = ctx.engine.builder(matcher, progress)
        image = builder.build(dockerfile, options)
    finally:
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    if ns.value("iidfile"):
        with open(ns.value("iidfile"), "w", encoding="utf-8") as f:
            f.write(image.id)
    if quiet:
        ctx.stdout.write(image.id + "\n")
    return 0


def _dockerfile(context: str, flag: str, *, relative_to: str) -> tuple[str, str]:
    """The Dockerfile's text and path: ``-f`` (relative to the current directory, as docker), else
    ``Dockerfile`` (or ``dockerfile``) in the context."""
    if flag:
        path = flag if os.path.isabs(flag) else os.path.join(relative_to, flag)
    else:
        path = os.path.join(context, "Dockerfile")
        if not os.path.exists(path) and os.path.exists(os.path.join(context, "dockerfile")):
            path = os.path.join(context, "dockerfile")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(), path
    except FileNotFoundError:
        raise InvalidArgument(
            f"failed to solve: failed to read dockerfile: open {os.path.basename(path)}: no such file or directory"
        ) from None


def _pair(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key, value


def _tag(text: str) -> Any:
    from pinnace.errors import InvalidReference
    from pinnace.oci.reference import parse_normalized, with_default_tag

    try:
        ref = parse_normalized(text)
    except InvalidReference as e:
        raise InvalidArgument(f'invalid argument "{text}" for "-t, --tag" flag: {e.message}') from None
    if ref.digest:
        raise InvalidArgument(f'invalid argument "{text}" for "-t, --tag" flag: a tag cannot have a digest')
    return with_default_tag(ref)


class PlainProgress(Progress):
    """BuildKit's ``--progress plain``: ``#N`` lines per step, the RUN output with its time."""

    def __init__(self, out: TextIO, *, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.started: dict[int, float] = {}

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.out.write(text)
            self.out.flush()

    def step(self, number: int, text: str) -> None:
        self.started[number] = time.monotonic()
        self._write(f"#{number} {text}\n")

    def cached(self, number: int) -> None:
        self._write(f"#{number} CACHED\n")

    def missed(self, number: int, why: str) -> None:
        if os.environ.get("PINNACE_BUILD_EXPLAIN"):
            self._write(f"#{number} cache miss: {why}\n")

    def output(self, number: int, data: bytes) -> None:
        elapsed = time.monotonic() - self.started.get(number, time.monotonic())
        for line in data.decode("utf-8", "replace").splitlines():
            self._write(f"#{number} {elapsed:.3f} {line}\n")

    def done(self, number: int, seconds: float) -> None:
        self._write(f"#{number} DONE {seconds:.1f}s\n")

    def note(self, text: str) -> None:
        self._write(text + "\n")


def prune(ctx: Context, argv: list[str]) -> int:
    p = Flags("builder prune", "Remove build cache", "[OPTIONS]")
    p.add_bool("all", "a", help="Remove all unused build cache, not just dangling ones")
    p.add_bool("force", "f", help="Do not prompt for confirmation")
    p.add_string("keep-storage", help="Amount of disk space to keep for cache")
    p.add_list("filter", help="Provide filter values (e.g. 'until=24h')")
    ns = p.parse(argv, max_args=0)
    from pinnace._util.units import from_human_size, human_size

    keep = from_human_size(ns.value("keep_storage") or "0")
    older = 0.0
    for item in ns.values("filter"):
        key, _, value = item.partition("=")
        if key != "until":
            ctx.stderr.write(f'Error response from daemon: invalid filter "{key}"\n')
            return 1
        from pinnace._util.golang import parse_duration

        older = parse_duration(value) / 1e9
    if not ns.flag("force") and sys.stdin.isatty():
        what = "all" if ns.flag("all") else "all dangling"
        ctx.stdout.write(
            f"WARNING! This will remove {what} build cache. Are you sure you want to continue? [y/N] "
        )
        ctx.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    report = ctx.engine.prune_build_cache(everything=ns.flag("all"), keep_bytes=keep, older_than=older)
    ctx.stdout.write(f"Total:\t{human_size(report.reclaimed)}\n")
    return 0
