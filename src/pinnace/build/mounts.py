"""``RUN --mount``: cache, bind, tmpfs and secret mounts, as BuildKit's Dockerfile frontend has them.

A cache mount is a directory under ``<root>/build-mounts/`` kept from build to build (``id``, else
the target, names it) and no part of the step's cache key; a bind mount shows context files (or a
stage's or image's, ``from=``) read-only, and its content is part of the key; a tmpfs mount is a new
tmpfs; a secret mount shows a ``--secret`` file at ``/run/secrets/<id>`` (or ``target``) and never
reaches the image or the key.
"""

from __future__ import annotations

import hashlib
import os

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import contextlib
    from typing import Any

    from pinnace.build.builder import Builder, _Run
    from pinnace.build.dockerfile import Instruction

MOUNTS_DIR = "build-mounts"
KEYS = {
    "cache": {
        "type",
        "target",
        "dst",
        "destination",
        "id",
        "sharing",
        "from",
        "source",
        "src",
        "mode",
        "uid",
        "gid",
        "ro",
        "readonly",
        "rw",
        "readwrite",
    },
    "bind": {
        "type",
        "target",
        "dst",
        "destination",
        "source",
        "src",
        "from",
        "rw",
        "readwrite",
        "ro",
        "readonly",
    },
    "tmpfs": {"type", "target", "dst", "destination", "size"},
    "secret": {"type", "id", "target", "dst", "destination", "required", "mode", "uid", "gid", "env"},
}


def parse(value: str) -> dict[str, str]:
    """``type=cache,target=/x,ro`` -> {"type": "cache", "target": "/x", "ro": "true"} (type defaults to bind)."""
    out: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        out[key.lower()] = val if sep else "true"
    out.setdefault("type", "bind")
    if out["type"] not in KEYS:
        raise InvalidArgument(f"unsupported mount type {out['type']!r}")
    unknown = set(out) - KEYS[out["type"]]
    if unknown:
        raise InvalidArgument(f"unexpected key '{sorted(unknown)[0]}' in '{value}'")
    for alias in ("dst", "destination"):
        if alias in out:
            out["target"] = out.pop(alias)
    if "src" in out:
        out["source"] = out.pop("src")
    return out


def run_mount(
    b: Builder, run: _Run, ins: Instruction, value: str, stack: contextlib.ExitStack
) -> tuple[dict[str, Any], Any]:
    """(the OCI mount for the step's container, what of it goes into the cache key)."""
    try:
        opts = parse(value)
    except InvalidArgument as e:
        raise b._error(ins, str(e)) from None
    kind = opts["type"]
    target = opts.get("target", "")
    if kind == "secret":
        secret_id = opts.get("id") or os.path.basename(target)
        target = target or f"/run/secrets/{secret_id}"
        source = b.options.secrets.get(secret_id)
        if source is None:
            if opts.get("required") == "true":
                raise b._error(ins, f"secret {secret_id} not found")
            return {}, None
        return _bind(source, target, read_only=True), None
    if not target:
        raise b._error(ins, "mount target must be specified")
    if not target.startswith("/"):
        target = os.path.join(str(run.state.config.get("WorkingDir") or "/"), target)
    if kind == "tmpfs":
        options = ["nosuid", "nodev"]
        if opts.get("size"):
            options.append(f"size={opts['size']}")
        return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}, [
            "tmpfs",
            target,
        ]
    if kind == "cache":
        name = opts.get("id") or target
        where = os.path.join(
            b.stores.root_dir, "build-mounts", hashlib.sha256(name.encode()).hexdigest()[:32]
        )
        if not os.path.isdir(where):
            os.makedirs(where, 0o755, exist_ok=True)
            uid, gid = int(opts.get("uid", "0")), int(opts.get("gid", "0"))
            os.chown(where, uid, gid)
            os.chmod(where, int(opts.get("mode", "755"), 8))
        read_only = opts.get("ro") == "true" or opts.get("readonly") == "true"
        return _bind(where, target, read_only=read_only), ["cache", target, name]
    # bind: context files by default, or another stage's / image's
    source = opts.get("source", "").lstrip("/")
    read_only = not (opts.get("rw") == "true" or opts.get("readwrite") == "true")
    if read_only is False:
        raise b._error(ins, "read-write bind mounts are not supported yet: copy the files in instead")
    if opts.get("from"):
        from pinnace.build.sources import mounted_stage

        root, chain = stack.enter_context(mounted_stage(b, run, ins, opts["from"]))
        host = _resolved(stack, root, source)
        return _bind(host, target, read_only=True), ["bind", target, chain, source]
    from pinnace.build.context import checksum

    host = _resolved(stack, b.options.context_dir, source)
    digest = checksum(b.options.context_dir, [source or "."], b.matcher)
    return _bind(host, target, read_only=True), ["bind", target, digest]


def prune_cache_mounts(root: str) -> int:
    """Remove every ``RUN --mount=type=cache`` directory (``builder prune`` without a size cap); how
    many bytes they held."""
    from pinnace._util.fs import remove_tree

    where = os.path.join(root, MOUNTS_DIR)
    freed = 0
    for dirpath, _dirs, files in os.walk(where):
        for name in files:
            try:
                freed += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    if os.path.isdir(where):
        remove_tree(where)
    return freed


def _resolved(stack: contextlib.ExitStack, root: str, path: str) -> str:
    """``path`` inside ``root`` (symlinks resolved inside it), as a path the runtime can bind."""
    from pinnace.containers.spec import open_in_root

    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root_fd, path or "/")
    except FileNotFoundError:
        raise InvalidArgument(f'failed to compute cache key: "/{path}": not found') from None
    finally:
        os.close(root_fd)
    stack.callback(os.close, fd)
    return f"/proc/{os.getpid()}/fd/{fd}"


def _bind(source: str, target: str, *, read_only: bool) -> dict[str, Any]:
    options = ["rbind", "rprivate"] + (["ro"] if read_only else [])
    return {"destination": target, "type": "bind", "source": source, "options": options}
