"""Images built and moved as tarballs: ``POST /build`` (and ``/build/prune`` of its cache), images get
(save) and load, push, prune, search, and the pieces the pull and import of ``POST /images/create``
share with them.

Bodies and archives are streamed, never held in memory: a worker thread reads the request body as a
file (each read waits for the event loop's next chunk, :class:`_Body`) and writes a response as one
(:class:`_Sink`), so a build context is extracted, an archive loaded or a save sent as the bytes come.
Progress goes out as docker's JSON lines (:func:`json_stream`); an error before the first line is an
HTTP error (dockerd answers so while nothing has been flushed), after it an ``errorDetail`` line.
"""

from __future__ import annotations

import io
import json

from pinnace.api.server import call, json_response, query_bool, query_filters
from pinnace.build.builder import Progress
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    import codecs
    from collections.abc import Callable
    from typing import Any

    from aiohttp import web

    from pinnace.build.dockerfile import Dockerfile
    from pinnace.distribution.credentials import Credentials
    from pinnace.engine import Engine

    Emit = Callable[[dict[str, Any]], None]

#: What a worker reads from the request body at once.
_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------------
# Streams between the event loop and a worker thread


class _Body(io.RawIOBase):
    """The request body as a blocking file for a worker thread (never the loop's own thread)."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._content = request.content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import asyncio

        view = memoryview(buffer).cast("B")
        data = asyncio.run_coroutine_threadsafe(self._content.read(len(view)), self._loop).result()
        view[: len(data)] = data
        return len(data)


def body_reader(request: web.Request) -> io.BufferedReader:
    """The request body for ``work`` in :func:`~pinnace.api.server.call` (made on the loop's thread)."""
    import asyncio

    return io.BufferedReader(_Body(request, asyncio.get_running_loop()), _CHUNK)


class _Sink(io.RawIOBase):
    """A streamed response as a blocking file for a worker thread: prepared at the first write, so that
    an error before it (an image that does not exist) is still an HTTP error."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        import asyncio

        super().__init__()
        self._request = request
        self._response = response
        self._loop = asyncio.get_running_loop()
        self.started = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        import asyncio

        chunk = bytes(data)
        if chunk:
            asyncio.run_coroutine_threadsafe(self._send(chunk), self._loop).result()
        return len(chunk)

    async def _send(self, chunk: bytes) -> None:
        if not self.started:
            self.started = True
            await self._response.prepare(self._request)
        await self._response.write(chunk)


async def json_stream(
    request: web.Request,
    work: Callable[[Engine, Emit], None],
    *,
    failure: Callable[[PinnaceError], dict[str, Any]] | None = None,
) -> web.StreamResponse:
    """Run ``work(engine, emit)`` in a worker thread; each ``emit(doc)`` goes out as a line of docker's
    JSON stream.  A PinnaceError raised before the first line is answered as an HTTP error; after it,
    as the last line (``failure(error)``, by default ``{"errorDetail": ..., "error": ...}``)."""
    import asyncio
    import sys
    import traceback

    from aiohttp import web

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    end = object()

    def put(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def run(engine: Engine) -> None:
        try:
            work(engine, put)
        except PinnaceError as e:
            put(e)
        except Exception as e:  # noqa: BLE001 - a bug: logged, and the client told, not left hanging
            traceback.print_exc(file=sys.stderr)
            put(PinnaceError(f"internal error: {type(e).__name__}: {e}"))
        finally:
            put(end)

    task = asyncio.ensure_future(call(request, run))
    response: web.StreamResponse | None = None
    alive = True
    pending: PinnaceError | None = None
    while (item := await queue.get()) is not end:
        if isinstance(item, PinnaceError):
            if response is None:
                pending = item
                continue
            item = failure(item) if failure is not None else error_line(item)
        if response is None:
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            await response.prepare(request)
        if alive:
            try:
                await response.write(json.dumps(item).encode() + b"\r\n")
            except (ConnectionError, RuntimeError):
                alive = False  # the client went away: let the work finish (and clean up) all the same
    await task
    if response is None:
        if pending is not None:
            raise pending
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
    if alive:
        try:
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client left after the last line (its error line, say): nothing is lost
    return response


def error_line(error: PinnaceError) -> dict[str, Any]:
    """dockerd's last line of a failed stream."""
    return {"errorDetail": {"message": error.message}, "error": error.message}


# --------------------------------------------------------------------------------------------------
# Registry credentials of the request


def _decode_header(name: str, value: str) -> Any:
    """A base64url JSON header (docker sends it with or without padding; old clients used std base64)."""
    import base64
    import binascii

    text = value.strip().translate(str.maketrans("+/", "-_"))
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"invalid {name} header: not base64-encoded JSON") from None


def _credentials(doc: Any) -> Credentials | None:
    """An AuthConfig (``username``/``password`` or ``identitytoken``) as credentials; None if empty."""
    from pinnace.distribution.credentials import Credentials

    if not isinstance(doc, dict):
        return None
    creds = Credentials(
        username=str(doc.get("username") or ""),
        password=str(doc.get("password") or ""),
        identity_token=str(doc.get("identitytoken") or ""),
    )
    return None if creds.empty else creds


def registry_auth(request: web.Request, *, strict: bool = True) -> Callable[[str], Credentials]:
    """The credentials of ``X-Registry-Auth`` (push, pull) for the engine's registry calls: only what
    the client sent, anonymous without it.  As dockerd, the service never lends its own host's docker
    credentials to a client (a remote user who never logged in must not push as the host's root).

    Not ``strict`` (the pull, as dockerd), a malformed header counts as none."""
    from pinnace.distribution.credentials import Credentials

    header = request.headers.get("X-Registry-Auth", "")
    creds = None
    try:
        creds = _credentials(_decode_header("X-Registry-Auth", header)) if header else None
    except InvalidArgument:
        if strict:
            raise
    given = creds or Credentials()

    def lookup(host: str) -> Credentials:
        return given

    return lookup


def _registry_config(request: web.Request) -> Callable[[str], Credentials]:
    """``X-Registry-Config`` of a build: credentials per registry for the base images it pulls."""
    from pinnace.distribution.credentials import Credentials
    from pinnace.distribution.service import registry_host

    header = request.headers.get("X-Registry-Config", "")
    doc = _decode_header("X-Registry-Config", header) if header else {}
    table: dict[str, Credentials] = {}
    for server, entry in doc.items() if isinstance(doc, dict) else ():
        creds = _credentials(entry)
        if creds is not None:
            table[registry_host(str(server))] = creds

    def lookup(host: str) -> Credentials:  # the client's only, as registry_auth
        return table.get(host) or Credentials()

    return lookup


# --------------------------------------------------------------------------------------------------
# POST /build


class _BuildFailed(PinnaceError):
    """A failed RUN in the legacy builder's words, with the command's exit code (the CLI exits with it)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _build_failure(error: PinnaceError) -> dict[str, Any]:
    detail: dict[str, Any] = {"message": error.message}
    if isinstance(error, _BuildFailed) and error.code:
        detail["code"] = error.code
    return {"errorDetail": detail, "error": error.message}


class StreamProgress(Progress):
    """The builder's progress as the legacy builder's stream: ``Step N/M : INSTRUCTION``, the output of
    RUN as it comes, ``---> Using cache`` for a cached step, warnings; nothing when ``quiet``.

    Pinnace keeps no intermediate images, so the `` ---> ID`` lines the legacy builder prints after
    every step come once, for the image built.  Each call also goes out whole as an ``aux`` event
    (:mod:`pinnace.build.progress`), from which pinnace's client prints what a local build prints."""

    def __init__(self, emit: Emit, total: int, *, quiet: bool = False) -> None:
        import threading

        from pinnace.build.progress import TRACE, Events

        def trace(event: dict[str, Any]) -> None:
            if not quiet or "error" in event:  # quiet, the local CLI still says why it failed
                emit({"id": TRACE, "aux": event})

        self.emit = emit
        self.events = Events(trace)
        self.total = total
        self.quiet = quiet
        self.count = 0
        self.hidden: set[int] = set()  # the export step: its lines are said the legacy way at the end
        self.decoders: dict[int, codecs.IncrementalDecoder] = {}
        self._lock = threading.Lock()

    def stream(self, text: str) -> None:
        if not self.quiet and text:
            self.emit({"stream": text})

    def step(self, number: int, text: str) -> None:
        import re

        self.events.step(number, text)
        if text == "exporting to image":
            self.hidden.add(number)
            return
        m = re.match(r"\[[^\]]*\] (.*)", text, re.DOTALL)
        with self._lock:
            self.count += 1
            self.total = max(self.total, self.count)
            line = f"Step {self.count}/{self.total} : {m.group(1) if m else text}\n"
        self.stream(line)

    def cached(self, number: int) -> None:
        self.events.cached(number)
        self.stream(" ---> Using cache\n")

    def missed(self, number: int, why: str) -> None:
        self.events.missed(number, why)

    def output(self, number: int, data: bytes) -> None:
        import codecs

        self.events.output(number, data)
        if number in self.hidden:
            return
        with self._lock:
            decoder = self.decoders.setdefault(number, codecs.getincrementaldecoder("utf-8")("replace"))
            text = decoder.decode(data)
        self.stream(text)

    def done(self, number: int, seconds: float) -> None:
        self.events.done(number, seconds)
        with self._lock:
            decoder = self.decoders.pop(number, None)
        if decoder is not None:
            self.stream(decoder.decode(b"", final=True))

    def note(self, text: str) -> None:
        self.events.note(text)
        self.stream(text + "\n")


def _steps(dockerfile: Dockerfile, target: str) -> int:
    """How many steps the legacy builder counts: every instruction up to the end of the target stage."""
    from pinnace.build.dockerfile import split_from

    total, in_target = 0, False
    for ins in dockerfile.instructions:
        if ins.keyword == "FROM":
            if in_target:
                break
            in_target = bool(target) and split_from(ins)[1] == target.lower()
        total += 1
    return total


def _json_query(request: web.Request, name: str, kind: type) -> Any:
    raw = request.query.get(name, "")
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: not JSON") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidArgument(f"invalid {name}: a JSON {'object' if kind is dict else 'array'} expected")
    return value


def _tags(request: web.Request) -> list[Any]:
    from pinnace.errors import InvalidReference
    from pinnace.oci.reference import parse_normalized, with_default_tag

    tags = []
    for text in request.query.getall("t", []):
        if not text:
            continue
        try:
            ref = parse_normalized(text)
        except InvalidReference as e:
            raise InvalidArgument(f"invalid reference format: {text!r}: {e.message}") from None
        if ref.digest:
            raise InvalidArgument(f"invalid reference format: {text!r}: a tag cannot have a digest")
        tags.append(with_default_tag(ref))
    return tags


def _dockerfile_path(context: str, name: str) -> str:
    """The Dockerfile the ``dockerfile`` parameter names, inside the context (``Dockerfile`` by default,
    or ``dockerfile`` when only that exists)."""
    import os
    import posixpath

    clean = posixpath.normpath("/" + (name or "Dockerfile")).lstrip("/")
    path = os.path.join(context, clean)
    if not name and not os.path.exists(path) and os.path.exists(os.path.join(context, "dockerfile")):
        path = os.path.join(context, "dockerfile")
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(context) + os.sep) or not os.path.isfile(real):
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name or 'Dockerfile'}")
    return path


async def build(request: web.Request) -> web.StreamResponse:
    """``POST /build``: the body is the context (a tar, possibly compressed, or a Dockerfile alone)."""
    from pinnace.build.builder import BuildOptions, native
    from pinnace.errors import NotImplementedYet

    query = request.query
    if query.get("version", "1") == "2":
        raise NotImplementedYet("BuildKit is not supported by pinnace: build with DOCKER_BUILDKIT=0")
    if query.get("remote", ""):
        raise NotImplementedYet(f"remote build contexts are not supported: {query['remote']}")
    platform = query.get("platform", "")
    if platform and not native(platform):
        raise InvalidArgument(
            f'platform "{platform}" is not supported: pinnace builds for the native platform only'
        )
    network = query.get("networkmode", "") or "default"
    if network == "bridge":
        network = "default"
    if network not in ("default", "none", "host"):
        raise InvalidArgument(f"network mode {network!r} not supported by the builder (default, none, host)")
    tags = _tags(request)
    build_args = {str(k): str(v) for k, v in _json_query(request, "buildargs", dict).items() if v is not None}
    labels = {str(k): str(v) for k, v in _json_query(request, "labels", dict).items()}
    cache_from = [str(x) for x in _json_query(request, "cachefrom", list)]
    extra_hosts = query.get("extrahosts", "")
    quiet = query_bool(request, "q")
    target = query.get("target", "")
    body = body_reader(request)

    def work(engine: Engine, emit: Emit) -> None:
        import os
        import shutil
        import tempfile

        from pinnace.archive.compression import Replay
        from pinnace.build.context import IgnoreMatcher, extract_context, is_tar, read_dockerignore
        from pinnace.build.dockerfile import parse
        from pinnace.build.run import StepFailed
        from pinnace.oci.digest import short_id

        credentials = _registry_config(request)
        scratch = tempfile.mkdtemp(prefix="pinnace-build-")
        try:
            head = b""
            while len(head) < 1024 and (more := body.read(1024 - len(head))):
                head += more
            stream = io.BufferedReader(Replay(head, body), _CHUNK)
            if is_tar(head) or not head:
                extract_context(stream, scratch)
                path = _dockerfile_path(scratch, query.get("dockerfile", ""))
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                name = os.path.relpath(path, scratch)
            else:  # a Dockerfile alone, no context
                text, name = stream.read().decode("utf-8", "replace"), "Dockerfile"
            dockerfile = parse(text, os.path.basename(name))
            progress = StreamProgress(emit, _steps(dockerfile, target), quiet=quiet)
            for warning in dockerfile.warnings:
                progress.note(warning)
            if extra_hosts:
                progress.note("[Warning] extrahosts is not supported by the builder: ignored")
            options = BuildOptions(
                context_dir=scratch, dockerfile=text, dockerfile_name=os.path.basename(name), tags=tags,
                build_args=build_args, labels=labels, target=target, no_cache=query_bool(request, "nocache"),
                pull=query_bool(request, "pull"), network=network, cache_from=cache_from,
            )  # fmt: skip
            matcher = IgnoreMatcher(read_dockerignore(scratch, name))
            try:
                image = engine.builder(matcher, progress, credentials).build(dockerfile, options)
            except StepFailed as e:
                progress.events.failed(e.message)
                raise _BuildFailed(
                    f"The command '{e.command}' returned a non-zero code: {e.code}", e.code
                ) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        emit({"aux": {"ID": image.id}})
        if quiet:
            emit({"stream": image.id + "\n"})
            return
        progress.stream(f" ---> {short_id(image.id)}\n")
        progress.stream(f"Successfully built {short_id(image.id)}\n")
        for tag in tags:
            progress.stream(f"Successfully tagged {tag.familiar()}\n")

    return await json_stream(request, work, failure=_build_failure)


async def prune_build_cache(request: web.Request) -> web.Response:
    """``POST /build/prune?all=&keep-storage=&filters={"until": ["24h"]}``: the engine's
    :meth:`~pinnace.engine.Engine.prune_build_cache`, answered as dockerd does (the IDs are the ones
    ``GET /system/df`` lists)."""
    from pinnace._util.golang import parse_duration
    from pinnace.build.cache import cache_id

    older = 0.0
    for key, values in query_filters(request).items():
        if key not in ("until", "unused-for"):  # BuildKit's name for it, and docker's
            raise InvalidArgument(f'invalid filter "{key}"')
        for value in values:
            older = parse_duration(value) / 1e9
    keep = request.query.get("keep-storage", "") or "0"
    if not keep.isdigit():
        raise InvalidArgument(f"invalid keep-storage: {keep!r} is not a number of bytes")
    everything = query_bool(request, "all")

    def work(engine: Engine) -> dict[str, Any]:
        report = engine.prune_build_cache(everything=everything, keep_bytes=int(keep), older_than=older)
        return {"CachesDeleted": [cache_id(k) for k in report.deleted], "SpaceReclaimed": report.reclaimed}

    return json_response(await call(request, work))


# --------------------------------------------------------------------------------------------------
# Save, load, import


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    """A docker-archive of ``names``, streamed as it is written."""
    from aiohttp import web

    if not names:
        raise InvalidArgument("no images to save: give names")
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
    sink = _Sink(request, response)

    def work(engine: Engine) -> None:
        with io.BufferedWriter(sink, _CHUNK) as out:
            engine.images.save(names, out)

    try:
        await call(request, work)
    except Exception:
        if not sink.started:
            raise  # nothing sent yet: an HTTP error (no such image)
        if request.transport is not None:
            request.transport.close()  # cut short, so the client cannot take half an archive for a whole one
        return response
    if not sink.started:
        await response.prepare(request)
    await response.write_eof()
    return response


async def get_image(request: web.Request) -> web.StreamResponse:
    """``GET /images/{name}/get``."""
    return await _save(request, [request.match_info["name"]])


async def get_images(request: web.Request) -> web.StreamResponse:
    """``GET /images/get?names=a&names=b``."""
    return await _save(request, [n for n in request.query.getall("names", []) if n])


async def load_images(request: web.Request) -> web.StreamResponse:
    """``POST /images/load``: a docker-archive or OCI layout tar; ``Loaded image: NAME`` per name."""
    body = body_reader(request)

    def work(engine: Engine, emit: Emit) -> None:
        said: set[str] = set()  # an image saved under two names comes back once per name: say each once
        for item in engine.images.load(body):
            lines = [f"Loaded image: {n.familiar()}" for n in item.names] or [
                f"Loaded image ID: {item.image_id}"
            ]
            for line in lines:
                if line not in said:
                    said.add(line)
                    emit({"stream": line + "\n"})

    return await json_stream(request, work)


async def import_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromSrc=-&repo=&tag=``: a rootfs tar (the body) as a one-layer image."""
    source = request.query.get("fromSrc", "")
    if source != "-":
        raise InvalidArgument(
            "importing from a URL is not supported: send the tarball as the body (fromSrc=-)"
        )
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    reference = repo
    if repo and tag:
        from pinnace.oci.reference import parse_normalized

        if parse_normalized(repo).is_name_only:
            reference = f"{repo}@{tag}" if tag.startswith("sha256:") else f"{repo}:{tag}"
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    body = body_reader(request)

    def work(engine: Engine, emit: Emit) -> None:
        image = engine.images.import_rootfs(
            body,
            source=source,
            tag=reference or None,
            changes=changes,
            message=message,
        )
        emit({"status": image.id})

    return await json_stream(request, work)


# --------------------------------------------------------------------------------------------------
# Push, prune, search


def _event_line(e: Any) -> dict[str, Any]:
    """A pull or push event as dockerd's progress line."""
    doc: dict[str, Any] = {"status": e.status, "progressDetail": {}}
    if e.total:
        doc["progressDetail"] = {"current": e.current, "total": e.total}
    if e.id:
        doc["id"] = e.id
    return doc


async def push_image(request: web.Request) -> web.StreamResponse:
    """``POST /images/{name}/push?tag=``: no tag (and none in the name) pushes every tag of the repository."""
    from pinnace.errors import InvalidReference, NotFound
    from pinnace.oci.reference import parse_normalized

    name, tag = request.match_info["name"], request.query.get("tag", "")
    try:
        ref = parse_normalized(name)
        if tag:
            if not ref.is_name_only:
                raise InvalidArgument(f"invalid reference format: {name}:{tag}")
            ref = parse_normalized(f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}")
    except InvalidReference as e:
        raise InvalidArgument(e.message) from None
    credentials = registry_auth(request)

    def work(engine: Engine, emit: Emit) -> None:
        emit({"status": f"The push refers to repository [{ref.name}]"})
        refs = (
            [ref] if not ref.is_name_only else [ref.with_tag(t) for t in engine.registry.local_tags(str(ref))]
        )
        missing = NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        if not refs:
            raise missing
        for one in refs:
            try:
                engine.images.get(str(one))
            except NotFound:
                raise missing from None
            result = engine.registry.push(
                str(one), progress=lambda e: emit(_event_line(e)), credentials=credentials
            )
            emit(
                {"status": f"{result.tag}: digest: {result.digest} size: {result.size}", "progressDetail": {}}
            )
            emit(
                {
                    "progressDetail": {},
                    "aux": {"Tag": result.tag, "Digest": result.digest, "Size": result.size},
                }
            )

    return await json_stream(request, work)


async def prune_images(request: web.Request) -> web.StreamResponse:
    """``POST /images/prune``: dangling images (``dangling=false``: every unused one)."""
    filters = query_filters(request)
    dangling = [v.lower() for v in filters.pop("dangling", [])]
    for value in dangling:
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
    everything = bool(dangling) and all(v in ("false", "0") for v in dangling)

    def work(engine: Engine) -> dict[str, Any]:
        report = engine.images.prune(all_images=everything, filters=filters)
        deleted = [{r.action: r.name} for r in report.removals]
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": report.reclaimed}

    return json_response(await call(request, work))


async def search_images(request: web.Request) -> web.StreamResponse:
    """``GET /images/search``: registries are not searched (the distribution API has no search)."""
    from pinnace.errors import NotImplementedYet

    raise NotImplementedYet(
        "searching registries is not supported by pinnace: the registry API has no search; "
        "browse the registry's web site instead"
    )


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune_build_cache),
    ("GET", "/images/get", get_images),
    ("GET", "/images/search", search_images),
    ("POST", "/images/load", load_images),
    ("POST", "/images/prune", prune_images),
    ("GET", "/images/{name:.+}/get", get_image),
    ("POST", "/images/{name:.+}/push", push_image),
]
