"""What a COPY or ADD takes, and its cache inputs: context files (wildcards, .dockerignore, content
checksums), another stage's or image's files (``--from``, mounted read-only for the step), heredocs
and, for ADD, URLs (downloaded, keyed by their content)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets

from pinnace.build.copy import Source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pinnace.build.builder import Builder, _Run
    from pinnace.build.dockerfile import Instruction

COPY_FLAGS = frozenset(("from", "chown", "chmod", "link", "parents", "exclude"))
ADD_FLAGS = frozenset(("chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"))


class Plan:
    """What a COPY/ADD copies where, its cache inputs and its history text."""

    def __init__(self, dest: str, chown: str) -> None:
        self.sources: list[Source] = []
        self.dest = dest
        self.chown = chown
        self.chmod: int | None = None
        self.inputs: dict[str, Any] = {}
        self.created_by = ""


@contextlib.contextmanager
def gather(b: Builder, run: _Run, ins: Instruction, *, add: bool) -> Iterator[Plan]:
    """The plan of a COPY/ADD; whatever it mounted or downloaded is released when the block ends."""
    flags = dict(ins.flags)
    allowed = ADD_FLAGS if add else COPY_FLAGS
    for name in flags:
        if name not in allowed:
            raise b._error(ins, f"unknown flag: {name}")
        if name in ("exclude", "parents", "keep-git-dir"):
            raise b._error(ins, f"the --{name} flag needs a Dockerfile frontend pinnace does not have yet")
    env = run.env()
    if ins.json:
        words = [b._expand(ins, w, env) for w in ins.args]
    else:
        words = b._words(ins, ins.args[0] if ins.args else "", env)
    if len(words) < 2:
        raise b._error(
            ins,
            f"{ins.keyword} requires at least two arguments, but only one was provided. Destination could not be determined.",
        )
    plan = Plan(dest=words[-1], chown=b._expand(ins, flags.get("chown", ""), env))
    if flags.get("chmod"):
        try:
            plan.chmod = int(flags["chmod"], 8)
        except ValueError:
            raise b._error(ins, f"invalid chmod parameter: {flags['chmod']}") from None
        if not 0 <= plan.chmod <= 0o7777:
            raise b._error(ins, f"invalid chmod parameter: {flags['chmod']}")
    plan.created_by = f"{ins.keyword} {' '.join(words)} # buildkit"
    plan.inputs = {"op": ins.keyword, "dest": plan.dest, "chown": plan.chown, "chmod": flags.get("chmod", "")}
    heredocs = {f"<<{h.name}": h for h in ins.heredocs} | {f"<<-{h.name}": h for h in ins.heredocs}
    with contextlib.ExitStack() as stack:
        froms = flags.get("from", "")
        if froms:
            root, chain = stack.enter_context(mounted_stage(b, run, ins, b._expand(ins, froms, env)))
            plan.inputs["from"] = chain
            plan.inputs["sources"] = words[:-1]
            for word in words[:-1]:
                plan.sources += _in_root(b, ins, root, word)
        else:
            digests = []
            for word in words[:-1]:
                doc = heredocs.get(word)
                if doc is not None:
                    body = b._expand(ins, doc.content, env) if doc.expand else doc.content
                    plan.sources.append(Source(name=doc.name, data=body.encode()))
                    digests.append(["heredoc", doc.name, hashlib.sha256(body.encode()).hexdigest()])
                elif add and word.startswith(("http://", "https://")):
                    source, digest = _download(b, ins, word, stack)
                    wanted = flags.get("checksum", "")
                    if wanted and wanted != digest:
                        raise b._error(ins, f"digest mismatch {digest}: {wanted}")
                    plan.sources.append(source)
                    digests.append(["url", word, digest])
                else:
                    found = _context(b, ins, word)
                    plan.sources += found
                    from pinnace.build.context import checksum

                    digests.append(
                        ["context", word, checksum(b.options.context_dir, [s.path for s in found], b.matcher)]
                    )
            plan.inputs["sources"] = digests
        yield plan


def _context(b: Builder, ins: Instruction, word: str) -> list[Source]:
    from pinnace.build.context import resolve_sources
    from pinnace.errors import InvalidArgument

    try:
        paths = resolve_sources(b.options.context_dir, word, b.matcher)
    except InvalidArgument as e:
        raise b._error(ins, f"failed to compute cache key: {e}") from None
    return [
        Source(root=b.options.context_dir, path=p, excluded=b.matcher.excluded, descend=b.matcher.may_descend)
        for p in paths
    ]


@contextlib.contextmanager
def mounted_stage(b: Builder, run: _Run, ins: Instruction, name: str) -> Iterator[tuple[str, str]]:
    """The root filesystem of stage or image ``name``, mounted read-only; (where, its chain ID)."""
    from pinnace.build.state import ImageState
    from pinnace.containers import layer
    from pinnace.mount import mount_all

    state = b.stage_state(name.lower(), run.stage.index)
    if state is None:
        state = ImageState.of_image(b.stores, b._image(name))
    chain = state.chain
    where = os.path.join(b.runroot, "build", "from-" + secrets.token_hex(8))
    os.makedirs(where, 0o700)
    key = ""
    try:
        if chain:
            key = "build-view-" + secrets.token_hex(16)
            mount_all(b.stores.snapshots.view(key, chain), where)
        yield where, chain or "scratch"
    finally:
        if key:
            layer.unmount_rootfs(where)
            b.stores.snapshots.remove(key)
        try:
            os.rmdir(where)
        except OSError:
            pass


def _in_root(b: Builder, ins: Instruction, root: str, word: str) -> list[Source]:
    """The sources ``word`` names in a mounted root, wildcards matched per component (each then opened
    inside the root by the copy: a stage's symlink never reaches the host)."""
    from pinnace.build.context import go_match
    from pinnace.containers.spec import open_in_root

    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        paths = [""]
        for part in [p for p in word.split("/") if p and p != "."]:
            if not any(c in part for c in "*?["):
                paths = [f"{p}/{part}" for p in paths]
                continue
            matched = []
            for parent in paths:
                try:
                    fd = open_in_root(root_fd, parent or "/")
                except OSError:
                    continue
                try:
                    names = sorted(os.listdir(f"/proc/self/fd/{fd}"))
                except OSError:
                    names = []
                finally:
                    os.close(fd)
                matched += [f"{parent}/{n}" for n in names if go_match(part, n)]
            paths = matched
        found = []
        for path in paths:
            try:
                os.close(open_in_root(root_fd, path or "/"))
            except OSError:
                continue
            found.append(Source(root=root, path=path.lstrip("/")))
    finally:
        os.close(root_fd)
    if not found:
        raise b._error(ins, f'failed to compute cache key: "{word}": not found')
    return found


def _download(b: Builder, ins: Instruction, url: str, stack: contextlib.ExitStack) -> tuple[Source, str]:
    """ADD of a URL: the file (mode 0600, as docker), named after the URL's last path component."""
    import tempfile
    import urllib.parse

    import urllib3

    directory = stack.enter_context(tempfile.TemporaryDirectory(dir=os.path.join(b.runroot, "build")))
    name = os.path.basename(urllib.parse.urlparse(url).path) or "index.html"
    hasher = hashlib.sha256()
    path = os.path.join(directory, name)
    try:
        response = urllib3.request(
            "GET", url, preload_content=False, timeout=urllib3.Timeout(connect=10, read=60)
        )
    except urllib3.exceptions.HTTPError as e:
        raise b._error(ins, f"failed to load cache key: {url}: {e}") from None
    try:
        if response.status != 200:
            raise b._error(ins, f"failed to load cache key: invalid response status {response.status}")
        with open(path, "wb") as f:
            for chunk in response.stream(1 << 20):
                hasher.update(chunk)
                f.write(chunk)
    finally:
        response.release_conn()
    os.chmod(path, 0o600)  # docker's mode for a downloaded file
    return Source(root=directory, path=name), "sha256:" + hasher.hexdigest()
