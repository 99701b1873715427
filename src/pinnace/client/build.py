"""``build`` and ``builder prune`` over the Engine API: ``POST /build`` and ``POST /build/prune``.

The client does what docker's CLI does with a local context: it applies the .dockerignore (the
builder's own :class:`~pinnace.build.context.IgnoreMatcher`, so the two cannot disagree), always
keeping the Dockerfile and the .dockerignore files themselves (the service needs them; its builder
applies the same patterns again to COPY), and streams the rest as a tar as it walks the tree, never
holding it whole.  A Dockerfile from outside the context (or stdin) travels inside the tar in a
hidden directory that a .dockerignore written for the occasion leaves out of COPY, as docker's CLI
does with its ``.dockerfile.<random>``.

The service's progress comes back as docker's legacy-builder stream plus pinnace's progress events
(:mod:`pinnace.build.progress`), which are replayed into the CLI's own progress printer.
"""

from __future__ import annotations

import os
import stat

from pinnace.build.context import IgnoreMatcher
from pinnace.errors import InvalidArgument, PinnaceError, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any

    from pinnace.build.builder import BuildOptions, Progress
    from pinnace.build.cache import PruneReport
    from pinnace.build.dockerfile import Dockerfile
    from pinnace.client.http import Client
    from pinnace.images.records import Image

#: Bytes gathered before a chunk of the request body goes out (small files would make tiny chunks).
_BATCH = 1 << 16
_BLOCK = 512


class _Sending(IgnoreMatcher):
    """The .dockerignore as the sender applies it: ``keep`` goes whatever the patterns say (docker's
    CLI re-includes the Dockerfile and .dockerignore it needs), ``drop`` never goes (a file replaced
    by one written for the occasion)."""

    def __init__(
        self, patterns: Sequence[str], *, keep: Iterable[str] = (), drop: Iterable[str] = ()
    ) -> None:
        super().__init__(patterns)
        self.keep = frozenset(keep)
        self.drop = frozenset(drop)

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        if path in self.drop:
            return True
        if path in self.keep:
            return False
        return super().excluded(path, is_dir)

    def may_descend(self, dir_path: str) -> bool:
        return any(k.startswith(dir_path + "/") for k in self.keep) or super().may_descend(dir_path)


def context_tar(
    context_dir: str, matcher: IgnoreMatcher, extra: Sequence[tuple[str, bytes | None]] = ()
) -> Iterator[bytes]:
    """The context as a tar, produced as it is read: what ``matcher`` leaves in (the builder's own
    walk), then ``extra`` members (name and bytes; None for a directory).  Owners are root's, as
    docker's CLI sends them; hard links stay links; sockets, fifos and devices are left out (the
    service's extraction skips them too)."""
    import tarfile

    from pinnace.build.context import walk

    pending = bytearray()
    links: dict[tuple[int, int], str] = {}
    for rel in walk(context_dir, matcher):
        path = os.path.join(context_dir, rel)
        try:
            st = os.lstat(path)
            info = tarfile.TarInfo(rel)
            info.mode, info.mtime = stat.S_IMODE(st.st_mode), st.st_mtime
            source = None
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
            elif not stat.S_ISREG(st.st_mode):
                continue
            elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                info.type, info.linkname = tarfile.LNKTYPE, links[(st.st_dev, st.st_ino)]
            else:
                if st.st_nlink > 1:
                    links[(st.st_dev, st.st_ino)] = rel
                info.size = st.st_size
                source = open(path, "rb")  # noqa: SIM115 - closed below, after its bytes went out
        except OSError as e:
            raise InvalidArgument(
                f"error from sender: open {path}: {(e.strerror or str(e)).lower()}"
            ) from None
        pending += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if source is not None:
            with source:
                left = info.size
                while left:
                    chunk = source.read(min(left, _BATCH))
                    if not chunk:
                        raise InvalidArgument(f"error from sender: {path}: the file shrank while it was sent")
                    pending += chunk
                    left -= len(chunk)
                    if len(pending) >= _BATCH:
                        yield bytes(pending)
                        pending.clear()
            pending += bytes(-info.size % _BLOCK)
        if len(pending) >= _BATCH:
            yield bytes(pending)
            pending.clear()
    for name, data in extra:
        info = tarfile.TarInfo(name)
        info.mode = 0o644 if data is not None else 0o755
        info.type = tarfile.REGTYPE if data is not None else tarfile.DIRTYPE
        info.size = len(data or b"")
        pending += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        pending += (data or b"") + bytes(-info.size % _BLOCK)
    pending += bytes(2 * _BLOCK)
    yield bytes(pending)


class RemoteBuilder:
    """:class:`~pinnace.build.builder.Builder`'s ``build`` on the service: the context goes as a tar,
    the progress comes back into ``progress``.  ``dockerfile_path`` is the file the Dockerfile was
    read from ("" when it came from stdin): inside the context it is sent as it is, like docker's CLI.
    ``quiet`` asks the service for no progress at all (``-q``)."""

    def __init__(
        self,
        client: Client,
        matcher: IgnoreMatcher,
        progress: Progress,
        *,
        dockerfile_path: str = "",
        quiet: bool = False,
    ) -> None:
        self.client = client
        self.matcher = matcher
        self.progress = progress
        self.dockerfile_path = dockerfile_path
        self.quiet = quiet

    def build(self, dockerfile: Dockerfile, options: BuildOptions) -> Image:
        import http.client
        import json

        from pinnace.client.remote import unsupported

        del dockerfile  # the service parses the text it is sent
        if options.secrets:
            raise unsupported("build --secret")
        name, body = self._context(options)
        query: list[tuple[str, Any]] = [("t", tag.familiar()) for tag in options.tags]
        query += [
            ("dockerfile", name),
            ("buildargs", json.dumps(dict(options.build_args)) if options.build_args else None),
            ("labels", json.dumps(dict(options.labels)) if options.labels else None),
            ("cachefrom", json.dumps(list(options.cache_from)) if options.cache_from else None),
            ("target", options.target or None),
            ("nocache", options.no_cache or None),
            ("pull", options.pull or None),
            ("networkmode", options.network if options.network != "default" else None),
            ("q", self.quiet or None),
        ]
        response = self.client.send("POST", "/build", query, body)
        try:
            image_id = self._follow(self.client.json_lines(response))
        except (http.client.HTTPException, OSError, ValueError) as e:  # the service went away mid-build
            raise Unavailable(f"the build stream was cut short: {e or type(e).__name__}") from None
        from pinnace.client.http import name as segment
        from pinnace.client.images import image_record

        return image_record(self.client.get(f"/images/{segment(image_id)}/json"))

    def _context(self, options: BuildOptions) -> tuple[str, Iterator[bytes]]:
        """The ``dockerfile`` parameter and the tar: the Dockerfile where it is in the context, else
        in a hidden directory of its own, which the .dockerignore sent along excludes."""
        context = options.context_dir
        patterns = self.matcher.patterns
        inside = ""
        if self.dockerfile_path:
            rel = os.path.relpath(os.path.realpath(self.dockerfile_path), os.path.realpath(context))
            if rel != ".." and not rel.startswith("../"):
                inside = rel.replace(os.sep, "/")
        if inside:
            keep = (".dockerignore", inside, inside + ".dockerignore")
            return inside, context_tar(context, _Sending(patterns, keep=keep))
        import secrets

        hidden = ".dockerfile." + secrets.token_hex(10)
        # a pattern that starts with '#' would read back as a comment: rooted it means the same
        lines = ["/" + p if p.startswith("#") else p for p in [*patterns, hidden, ".dockerignore"]]
        extra: list[tuple[str, bytes | None]] = [
            (hidden, None),
            (f"{hidden}/{options.dockerfile_name}", options.dockerfile.encode()),
            (".dockerignore", "".join(line + "\n" for line in lines).encode()),
        ]
        sent = _Sending(patterns, drop=(".dockerignore",))
        return f"{hidden}/{options.dockerfile_name}", context_tar(context, sent, extra)

    def _follow(self, lines: Iterator[dict[str, Any]]) -> str:
        """Replay the progress of the build stream; the ID of the image built, or the build's error."""
        from pinnace.build.progress import TRACE, replay

        image_id, traced, failure, text = "", False, "", ""
        for doc in lines:
            aux = doc.get("aux")
            if doc.get("id") == TRACE and isinstance(aux, dict):
                traced = True
                failure = str(aux.get("error") or failure)
                replay(aux, self.progress)
            elif doc.get("error") or doc.get("errorDetail"):
                raise PinnaceError(
                    failure or str((doc.get("errorDetail") or {}).get("message") or doc["error"])
                )
            elif isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            elif not traced and doc.get("stream"):  # a service without pinnace's events: its own words
                text += str(doc["stream"])
                *done, text = text.split("\n")
                for line in done:
                    self.progress.note(line)
        if text and not traced:
            self.progress.note(text)
        if not image_id:
            raise PinnaceError("the service's build stream ended without an image ID")
        return image_id


def prune_build_cache(
    client: Client, *, everything: bool = False, keep_bytes: int = 0, older_than: float = 0.0
) -> PruneReport:
    """:meth:`pinnace.engine.Engine.prune_build_cache` on the service (``POST /build/prune``)."""
    import json

    from pinnace.build.cache import PruneReport

    query = {
        "all": everything or None,
        "keep-storage": keep_bytes or None,
        "filters": json.dumps({"until": [f"{round(older_than * 1e9)}ns"]}) if older_than else None,
    }
    doc = client.json("POST", "/build/prune", query) or {}
    return PruneReport(tuple(doc.get("CachesDeleted") or ()), int(doc.get("SpaceReclaimed") or 0))
