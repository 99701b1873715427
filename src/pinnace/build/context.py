"""The build context: .dockerignore, COPY source wildcards, content checksums, and a context sent as a tar.

Docker's rules, so that a Dockerfile and its .dockerignore mean here what they mean to ``docker build``:

* Patterns are Go's ``path/filepath.Match`` (:func:`go_match`): ``*`` and ``?`` never cross ``/``.  A
  .dockerignore adds moby's ``patternmatcher`` on top (:class:`IgnoreMatcher`): ``**`` spans any number of
  directories, ``!`` re-includes, the last matching line wins, and a line matching a directory covers
  everything under it.
* ``<Dockerfile>.dockerignore`` next to the Dockerfile wins over ``<context>/.dockerignore`` (buildx).
* What .dockerignore excludes is not in the context at all: a COPY naming it finds nothing.
* The cache key of a COPY is the *content* of what it copies (names, types, modes, link targets,
  bytes), never timestamps or owners, so a fresh clone of the same tree hits the same cache.

Paths here are relative to the context root with ``/`` separators, as in the Dockerfile.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat

from pinnace.errors import InvalidArgument, NotImplementedYet, UnsafeArchive

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator, Sequence
    from typing import Any, BinaryIO

#: Go's filepath.ErrBadPattern text: what docker prints for a malformed pattern.
BAD_PATTERN = "syntax error in pattern"

#: Symlinks followed while resolving one path before giving up (Linux's MAXSYMLINKS).
_MAX_SYMLINKS = 40

_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------------
# Go's path/filepath.Match


def go_match(pattern: str, name: str) -> bool:
    """Go's path/filepath.Match ('*' never crosses '/', '?', character classes [a-z] [^a] with escapes, '\\\\'
    escapes); InvalidArgument("syntax error in pattern") for a malformed pattern, as Go's ErrBadPattern.

    Written after Go 1.16+'s algorithm (not a regex translation) because its corner cases are the spec:
    ``[]a]`` and ``[x-]`` are errors, ``\\\\`` escapes inside classes, and a pattern that fails to match
    is still checked whole for syntax errors, as Go does."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing '*' takes the rest of the name, but not a '/'
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            advanced = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None:
                    if not pattern and rest:
                        continue  # the last chunk must use the name up
                    name = rest
                    advanced = True
                    break
            if advanced:
                continue
        while pattern:  # no match: Go still reports a malformed remainder
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """(a leading run of '*' was there, the literal/class/'?' chunk up to the next '*', the rest)."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """What is left of ``s`` once ``chunk`` matched its start, or None.  After a mismatch the chunk is
    still parsed to the end so its syntax errors surface whatever the name."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            negated, ranges, chunk = _parse_class(chunk[1:])
            hit = any(lo <= r <= hi for lo, hi in ranges) if r else False
            if hit == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise InvalidArgument(BAD_PATTERN)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _parse_class(chunk: str) -> tuple[bool, list[tuple[str, str]], str]:
    """A character class after its '[': (negated, its (lo, hi) ranges, the pattern after its ']')."""
    negated = chunk.startswith("^")
    if negated:
        chunk = chunk[1:]
    ranges: list[tuple[str, str]] = []
    while True:
        if chunk.startswith("]") and ranges:
            return negated, ranges, chunk[1:]
        lo, chunk = _class_char(chunk)
        hi = lo
        if chunk[0] == "-":
            hi, chunk = _class_char(chunk[1:])
        ranges.append((lo, hi))


def _class_char(chunk: str) -> tuple[str, str]:
    """One possibly escaped character of a class, and what follows it (never empty: a class needs its
    closing bracket)."""
    if not chunk or chunk[0] in "-]":
        raise InvalidArgument(BAD_PATTERN)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise InvalidArgument(BAD_PATTERN)
    if len(chunk) == 1:
        raise InvalidArgument(BAD_PATTERN)
    return chunk[0], chunk[1:]


def _has_wildcards(component: str) -> bool:
    """Whether a COPY source component is a pattern: an unescaped '*', '?' or '[' (buildkit's test)."""
    i = 0
    while i < len(component):
        c = component[i]
        if c == "\\":
            i += 1
        elif c in "*?[":
            return True
        i += 1
    return False


def _go_clean(path: str) -> str:
    """Go's path.Clean: what moby applies to every .dockerignore line (unlike posixpath.normpath it
    folds a leading '//' and keeps leading '..' of a relative path)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(comp)
    joined = "/".join(out)
    if rooted:
        return "/" + joined
    return joined or "."


# --------------------------------------------------------------------------------------------------
# .dockerignore


def read_dockerignore(context_dir: str, dockerfile: str) -> list[str]:
    """The patterns that apply: `<dockerfile>.dockerignore` next to the Dockerfile (e.g. Dockerfile.dockerignore or
    build.Dockerfile.dockerignore) wins over `<context>/.dockerignore`; comments (#), blank lines skipped, each pattern
    trimmed and cleaned like moby's ReadAll (filepath.Clean, a leading "/" dropped, "!" kept as exception marker).

    A relative ``dockerfile`` is taken relative to the context (the CLI passes the path it read)."""
    path = dockerfile if os.path.isabs(dockerfile) else os.path.join(context_dir, dockerfile)
    for candidate in (path + ".dockerignore", os.path.join(context_dir, ".dockerignore")):
        try:
            with open(candidate, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except OSError as e:
            raise InvalidArgument(f"failed to read {candidate}: {e.strerror or e}") from None
        return _parse_ignore(data)
    return []


def _parse_ignore(data: bytes) -> list[str]:
    """moby's ignorefile.ReadAll: a '#' in column one is a comment (an indented one is a pattern, as
    there), the UTF-8 BOM is dropped, and absolute patterns become relative to the context."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    patterns: list[str] = []
    for raw in data.decode("utf-8", "surrogateescape").split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


class _Pattern:
    """One compiled .dockerignore line, matched the way moby's patternmatcher does: an exact string, a
    prefix (``dir/**``), a suffix (``**/name``), or a regular expression."""

    __slots__ = ("exclusion", "cleaned", "kind", "regex", "parts")

    def __init__(self, cleaned: str, exclusion: bool) -> None:
        self.exclusion = exclusion
        self.cleaned = cleaned
        self.parts = cleaned.split("/")
        self.regex: re.Pattern[str] | None = None
        self.kind = self._compile()

    def _compile(self) -> str:
        """Classify and translate as moby's Pattern.compile does (the kind decides how ``**`` behaves at
        either end), with literal characters escaped for Python's re and classes read by Go's rules."""
        p = self.cleaned
        out = ["^"]
        kind = "exact"
        j = 0
        first = True
        while j < len(p):
            ch = p[j]
            j += 1
            if ch == "*":
                if j < len(p) and p[j] == "*":
                    j += 1
                    if j < len(p) and p[j] == "/":
                        j += 1  # "**/" is "**"
                    if j >= len(p):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            out.append(".*")
                            kind = "regex"
                    else:
                        out.append("(?:.*/)?")
                        kind = "regex"
                    if first:
                        kind = "suffix"
                else:
                    out.append("[^/]*")
                    kind = "regex"
            elif ch == "?":
                out.append("[^/]")
                kind = "regex"
            elif ch == "\\":
                if j < len(p):
                    out.append(re.escape(p[j]))
                    j += 1
                    kind = "regex"
                else:
                    out.append(re.escape("\\"))
            elif ch == "[":
                negated, ranges, rest = _parse_class(p[j:])
                j = len(p) - len(rest)
                out.append(_class_regex(negated, ranges))
                kind = "regex"
            else:
                out.append(re.escape(ch))
            first = False
        if kind == "regex":
            self.regex = re.compile("".join(out) + r"\Z", re.DOTALL)
        return kind

    def match(self, path: str) -> bool:
        kind = self.kind
        if kind == "exact":
            return path == self.cleaned
        if kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if kind == "suffix":
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None

    def may_match_below(self, dir_parts: list[str]) -> bool:
        """Whether this pattern could match a path strictly under the directory ``dir_parts`` (rather than
        only the directory or one of its parents).  Conservative: a ``**`` anywhere from there on says yes."""
        for k, comp in enumerate(self.parts):
            if "**" in comp or k >= len(dir_parts):
                return True
            try:
                if not go_match(comp, dir_parts[k]):
                    return False
            except InvalidArgument:
                return True
        return False


def _class_regex(negated: bool, ranges: list[tuple[str, str]]) -> str:
    """A Go character class as a Python one (an inverted range like ``z-a`` matches nothing, as in Go)."""
    body = "".join(
        re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in ranges if lo <= hi
    )
    if not body:
        return "." if negated else "(?!)"
    return f"[{'^' if negated else ''}{body}]"


class IgnoreMatcher:
    """The .dockerignore of a build, answering "is this path left out of the context?"."""

    def __init__(self, patterns: Sequence[str]) -> None:
        """Compile as moby's ``patternmatcher.New``: each line trimmed and cleaned, ``!`` marks an
        exception, and a malformed pattern fails now (with Go's message) rather than on some path later."""
        self._patterns: list[_Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = _go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                p = p[1:]
            go_match(p, ".")  # syntax check, as moby does
            self._patterns.append(_Pattern(p, exclusion))
        self._exceptions = [p for p in self._patterns if p.exclusion]
        # directory -> per pattern: does it match this directory or one of its parents
        self._dir_hits: dict[str, tuple[bool, ...]] = {"": (False,) * len(self._patterns)}

    @property
    def patterns(self) -> list[str]:
        """The cleaned patterns, exceptions with their '!'."""
        return [("!" if p.exclusion else "") + p.cleaned for p in self._patterns]

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        """moby patternmatcher semantics: last matching pattern wins, '!' exceptions re-include, '**' matches any number
        of directories, a pattern matching a parent directory excludes what is under it; `path` is relative to the context
        root with '/' separators.

        ``is_dir`` changes nothing (moby cleans a trailing '/' off patterns, so ``dir/`` also matches a
        file named ``dir``); it is accepted so callers can say what they have.  The context root itself is
        never excluded ("don't let them exclude everything")."""
        if not self._patterns:
            return False
        path = _go_clean(path).lstrip("/")
        if path in ("", "."):
            return False
        parent, _, _ = path.rpartition("/")
        hits = self._hits(parent)
        for i in range(len(self._patterns) - 1, -1, -1):
            pattern = self._patterns[i]
            if hits[i] or pattern.match(path):
                return not pattern.exclusion
        return False

    def _hits(self, directory: str) -> tuple[bool, ...]:
        """Per pattern, whether it matches ``directory`` or any directory above it (memoized: a walk asks
        for the same parents over and over)."""
        cached = self._dir_hits.get(directory)
        if cached is not None:
            return cached
        parent, _, _ = directory.rpartition("/")
        above = self._hits(parent)
        hits = tuple(a or p.match(directory) for a, p in zip(above, self._patterns, strict=True))
        if len(self._dir_hits) > 200_000:
            self._dir_hits = {"": self._dir_hits[""]}
        self._dir_hits[directory] = hits
        return hits

    def may_descend(self, dir_path: str) -> bool:
        """Whether a walk must still enter an excluded directory because an exception pattern could re-include
        something inside it (so walks skip wholly-excluded trees fast).

        Only an exception that can match below the directory can make a child differ from the directory
        itself: every pattern matching the directory also matches its children (as their parent)."""
        if not self._exceptions:
            return False
        path = _go_clean(dir_path).lstrip("/")
        parts = [] if path in ("", ".") else path.split("/")
        return any(p.may_match_below(parts) for p in self._exceptions)


# --------------------------------------------------------------------------------------------------
# Walking and resolving paths in the context


def walk(context_dir: str, matcher: IgnoreMatcher) -> Iterator[str]:
    """Relative paths (dirs and files, '/' separated, sorted, parents before children) of the context not excluded.

    Sorted as Go's filepath.Walk is: names sorted within each directory, depth first.  Symlinks are
    reported, never followed.  An excluded directory is reported only when something under it is
    re-included (it is then in the context as the parent of what is), just before its first child."""
    return _walk_dir(context_dir, "", "", matcher)


def _walk_dir(host_root: str, base: str, rel: str, matcher: IgnoreMatcher) -> Iterator[str]:
    """Entries under ``host_root/rel`` as paths relative to ``host_root``; exclusion is asked of
    ``base/path`` (the path as the Dockerfile names it, which differs when ``base`` came through a link)."""
    directory = os.path.join(host_root, rel) if rel else host_root
    try:
        with os.scandir(directory) as it:
            entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in it), key=lambda e: e[0])
    except OSError as e:
        raise InvalidArgument(f"error from sender: open {directory}: {_why(e)}") from None
    for name, is_dir in entries:
        path = f"{rel}/{name}" if rel else name
        logical = f"{base}/{path}" if base else path
        if matcher.excluded(logical, is_dir):
            if is_dir and matcher.may_descend(logical):
                announced = False
                for sub in _walk_dir(host_root, base, path, matcher):
                    if not announced:
                        yield path
                        announced = True
                    yield sub
            continue
        yield path
        if is_dir:
            yield from _walk_dir(host_root, base, path, matcher)


def _why(e: OSError) -> str:
    """An OSError's reason in Go's words ("no such file or directory", "permission denied")."""
    return (e.strerror or str(e)).lower()


def _present(context_dir: str, rel: str, matcher: IgnoreMatcher, is_dir: bool) -> bool:
    """Whether ``rel`` (which exists on disk) is part of the context: not excluded, or an excluded
    directory kept as the parent of something re-included."""
    if not matcher.excluded(rel, is_dir):
        return True
    if not is_dir or not matcher.may_descend(rel):
        return False
    return next(iter(_walk_dir(os.path.join(context_dir, rel), rel, "", matcher)), None) is not None


def _resolve(context_dir: str, rel: str, matcher: IgnoreMatcher) -> str | None:
    """Where ``rel`` really is in the context (context-relative, "." for the root), its symlinks followed
    inside the context as a chroot would (absolute targets from the context root, '..' never above it), or
    None when it is missing, excluded, or a link loop.  Every step must be in the context: a link to an
    ignored file is as dangling as it would be in the context docker sends."""
    pending = [c for c in reversed(rel.split("/"))]
    done: list[str] = []
    links = 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        cur = "/".join([*done, name])
        try:
            st = os.lstat(os.path.join(context_dir, cur))
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            if matcher.excluded(cur):
                return None
            links += 1
            if links > _MAX_SYMLINKS:
                return None
            try:
                target = os.readlink(os.path.join(context_dir, cur))
            except OSError:
                return None
            if target.startswith("/"):
                done = []
            pending.extend(reversed(target.split("/")))
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and pending and any(c not in ("", ".") for c in pending):
            return None  # a file used as a directory
        if not _present(context_dir, cur, matcher, is_dir):
            return None
        done.append(name)
    return "/".join(done) or "."


def resolve_sources(context_dir: str, source: str, matcher: IgnoreMatcher) -> list[str]:
    """COPY/ADD source (relative to the context; a leading '/' means the context root) expanded as docker does:
    wildcards with go_match per path component; no match -> InvalidArgument docker's message
    ('failed to compute cache key: failed to calculate checksum of ref ...: "/x": not found' is what buildkit says:
    use a short form: f'"{source}": not found'); paths excluded by .dockerignore count as absent; a source outside the
    context ("../x") is an error ("forbidden path outside the build context: ../x"). Returns context-relative paths.

    The paths returned are as the Dockerfile names them (a symlinked directory stays under its link's
    name); each exists in the context once its symlinks are followed inside it.  The root is "."."""
    cleaned = _go_clean(source or ".")
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArgument(f"forbidden path outside the build context: {source}")
    parts = [c for c in cleaned.split("/") if c not in ("", ".")]
    if not parts:
        return ["."]
    candidates = [""]
    for comp in parts:
        if not _has_wildcards(comp):
            candidates = [f"{c}/{comp}" if c else comp for c in candidates]
            continue
        matched: list[str] = []
        for parent in candidates:
            real = _resolve(context_dir, parent or ".", matcher)
            if real is None:
                continue
            host = os.path.join(context_dir, real)
            if not os.path.isdir(host) or os.path.islink(host):
                continue
            try:
                names = sorted(os.listdir(host))
            except OSError:
                continue
            for name in names:
                if go_match(comp, name):
                    matched.append(f"{parent}/{name}" if parent else name)
        candidates = matched
    found = [c for c in candidates if _resolve(context_dir, c, matcher) is not None]
    if not found:
        raise InvalidArgument(f'"{source}": not found')
    return found


# --------------------------------------------------------------------------------------------------
# Content checksum


def checksum(context_dir: str, paths: Sequence[str], matcher: IgnoreMatcher) -> str:
    """A content checksum ("sha256:...") of these context paths for the build cache: for each path (recursively for
    directories, in sorted order, excluded paths skipped): its relative name, type, permission bits (incl. setuid etc.),
    symlink target, and file CONTENT — never mtime, atime, inode, or the uid/gid of the checkout — so the same tree in a
    fresh clone gives the same checksum, and any content/mode/name change changes it. Stream file content (no whole-file
    reads). Fast for 10,000 small files.

    A path that is itself a symlink (or under one) is hashed as what it leads to, since COPY copies
    that; links inside a directory are hashed as links, as COPY keeps them.  A directory source's own
    mode is left out: COPY copies its contents, not it (and a scratch or fresh checkout directory's mode
    is the umask's, not the project's)."""
    total = hashlib.sha256()
    for path in paths:
        rel = _go_clean(path or ".").lstrip("/") or "."
        real = _resolve(context_dir, rel, matcher)
        if real is None:
            raise InvalidArgument(f'"{path}": not found')
        host = os.path.join(context_dir, real) if real != "." else context_dir
        _field(total, "source", rel)
        try:
            st = os.lstat(host)
            if stat.S_ISDIR(st.st_mode):
                _field(total, "d")
                base = "" if rel == "." else rel
                for sub in _walk_dir(host, base, "", matcher):
                    _entry(total, host, sub)
            else:
                _entry(total, os.path.dirname(host), os.path.basename(host), name=".")
        except OSError as e:
            raise InvalidArgument(f"failed to calculate checksum of {path}: {_why(e)}") from None
    return "sha256:" + total.hexdigest()


def _field(h: hashlib._Hash, *values: str) -> None:
    """Feed NUL-terminated fields: names and link targets cannot hold a NUL, so records never run together."""
    for value in values:
        h.update(value.encode("utf-8", "surrogateescape"))
        h.update(b"\0")


def _entry(h: hashlib._Hash, root: str, rel: str, name: str | None = None) -> None:
    """One record: name, type, permission bits, link target, content digest (devices, fifos and sockets
    are skipped: COPY does not carry them)."""
    full = os.path.join(root, rel)
    st = os.lstat(full)
    mode = st.st_mode
    perm = f"{stat.S_IMODE(mode):o}"
    shown = rel if name is None else name
    if stat.S_ISDIR(mode):
        _field(h, shown, "d", perm, "", "")
    elif stat.S_ISLNK(mode):
        _field(h, shown, "l", perm, os.readlink(full), "")
    elif stat.S_ISREG(mode):
        with open(full, "rb", buffering=0) as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        _field(h, shown, "f", perm, "", f"{st.st_size}:{digest}")


# --------------------------------------------------------------------------------------------------
# A context sent as a tar


_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_ZSTD = b"\x28\xb5\x2f\xfd"


def _compression(head: bytes) -> str:
    """The compression the magic bytes announce ("" for none), as docker's DetectCompression."""
    if head.startswith(_GZIP):
        return "gz"
    if head.startswith(_BZIP2):
        return "bz2"
    if head.startswith(_XZ):
        return "xz"
    if head.startswith(_ZSTD):
        return "zstd"
    return ""


def is_tar(head: bytes) -> bool:
    """Whether the first bytes (>= 512 bytes if available) of stdin look like a (possibly compressed) tar rather than a
    Dockerfile text (for `pinnace build - < Dockerfile` vs `pinnace build - < context.tar`).

    Compressed data is taken for a tar (a Dockerfile is text); an uncompressed tar is recognized by the
    "ustar" magic or, for old v7 archives, by a header whose checksum adds up."""
    if _compression(head):
        return True
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    if len(head) < 512:
        return False
    block = head[:512]
    field = block[148:156].replace(b"\0", b" ").strip()
    if not field or any(c not in b"01234567" for c in field) or not block[0:100].strip(b"\0"):
        return False
    expected = int(field, 8)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
    return expected in (unsigned, signed)


class _Prefixed(io.RawIOBase):
    """``stream`` with the bytes already read from it (its magic) put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


class _ZeroTail(io.RawIOBase):
    """``stream``, then zeros: the padding and end-of-archive blocks the docker CLI leaves out when it
    adds a Dockerfile from outside the context to the tar it sends (Go's tar reader does without them,
    Python's stream mode does not)."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._tail = 512 + 1024  # at most 511 bytes of padding, then two zero blocks
        self.real = 0  # the bytes the stream gave: a member's data must end within them

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view)) if self._tail == 512 + 1024 else b""
        if not data:
            n = min(len(view), self._tail)
            self._tail -= n
            view[:n] = bytes(n)
            return n
        self.real += len(data)
        view[: len(data)] = data
        return len(data)


def extract_context(stream: BinaryIO, dest_dir: str) -> None:
    """A build context sent as a tar on stdin (`pinnace build -` with a tar, possibly gzip/bzip2/xz-compressed: detect by
    magic bytes) extracted safely into dest_dir: entries with absolute paths, '..' components, or leading through a
    symlink out of dest_dir, and hardlinks to outside are refused with UnsafeArchive; device nodes skipped; regular files,
    dirs, symlinks (kept as they are, not followed), hardlinks inside kept; modes kept.

    Read as a stream (stdin cannot seek).  Directory modes are applied last so a read-only directory
    still receives its entries.  Owners are not kept: a context's files are the user's."""
    head = b""
    while len(head) < 6:
        more = stream.read(6 - len(head))
        if not more:
            break
        head += more
    kind = _compression(head)
    if kind == "zstd":
        raise NotImplementedYet("zstd-compressed build contexts are not supported: use gzip, bzip2 or xz")
    root = os.path.realpath(dest_dir)
    dirs: list[tuple[str, int]] = []
    import tarfile

    reader: BinaryIO = io.BufferedReader(_Prefixed(head, stream), _CHUNK)
    failures: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError, ValueError)
    if kind:  # decompressed here, not by tarfile: the zeros go after the tar, not after the compressed data
        import bz2
        import gzip
        import lzma

        opener: Any = {"gz": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
        reader = opener(fileobj=reader) if kind == "gz" else opener(reader)
        failures += (lzma.LZMAError,)
    try:
        tail = _ZeroTail(reader)
        with tarfile.open(fileobj=tail, mode="r|") as tar:
            for member in tar:
                _extract_member(tar, member, root, dirs)
                if member.isreg() and member.offset_data + member.size > tail.real:
                    raise tarfile.ReadError("unexpected end of data")  # a file cut short, not zeros
    except UnsafeArchive:
        raise
    except failures as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InvalidArgument(f"Error processing tar file: {detail or type(e).__name__}") from None
    for path, mode in reversed(dirs):
        # only if it is still that directory: a later member may have put a symlink on the way
        if os.path.realpath(path) == path and stat.S_ISDIR(os.lstat(path).st_mode):
            os.chmod(path, mode)


def _parts(name: str, what: str, shown: str, dest: str) -> list[str]:
    """The components of a member name or link target, refusing what would leave ``dest``."""
    if name.startswith("/"):
        raise UnsafeArchive(f'{what} "{shown}" is outside of "{dest}"')
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f'{what} "{shown}" is outside of "{dest}"')
    return parts


def _inside(root: str, parts: list[str], shown: str, *, create: bool) -> str:
    """The real directory ``root/parts...``, each step's symlinks followed and required to stay inside
    ``root`` (creating missing directories, as docker does for a member whose parents were not listed)."""
    cur = root
    for comp in parts:
        step = os.path.join(cur, comp)
        if create and not os.path.lexists(step):
            os.mkdir(step, 0o755)
        real = os.path.realpath(step)
        if real != root and not real.startswith(root + "/"):
            raise UnsafeArchive(f'"{shown}" is outside of "{root}": it leads through a symlink')
        cur = real
    return cur


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, root: str, dirs: list[tuple[str, int]]
) -> None:
    parts = _parts(member.name, "entry", member.name, root)
    if not parts:
        return  # the root itself: dest_dir stays as it is
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return  # devices, fifos: a context does not carry them
    parent = _inside(root, parts[:-1], member.name, create=True)
    target = os.path.join(parent, parts[-1])
    mode = member.mode & 0o7777
    source = ""
    if member.islnk():
        link = _parts(member.linkname, "hardlink to", member.linkname, root)
        if not link:
            raise UnsafeArchive(f'invalid hardlink "{member.name}" -> "{member.linkname}"')
        source = os.path.join(_inside(root, link[:-1], member.linkname, create=False), link[-1])
        if not os.path.lexists(source) or stat.S_ISDIR(os.lstat(source).st_mode):
            raise UnsafeArchive(f'invalid hardlink "{member.name}" -> "{member.linkname}"')
    try:
        existing: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
        if stat.S_ISDIR(existing.st_mode):
            import shutil

            shutil.rmtree(target)
        else:
            os.unlink(target)
    if member.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(target, 0o700)
        dirs.append((target, mode))
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        os.link(source, target, follow_symlinks=False)
    else:
        data = tar.extractfile(member)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            if data is not None:
                while chunk := data.read(_CHUNK):
                    out.write(chunk)
            os.fchmod(out.fileno(), mode)
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
