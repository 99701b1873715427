"""``context create|ls|use|rm|inspect|show`` and ``system dial-stdio``: where a remote CLI connects,
and the far end of ``ssh://``.  The store is :mod:`pinnace.client.contexts` (docker's layout)."""

from __future__ import annotations

import os

from pinnace.cli.flags import Flags
from pinnace.errors import InvalidArgument, PinnaceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pinnace.cli.main import Context
    from pinnace.client.contexts import ContextStore

LS_TABLE = "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
LS_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR"}
_DOCKER_KEYS = ("host", "ca", "cert", "key", "skip-tls-verify")


def _store() -> ContextStore:
    from pinnace.client.contexts import ContextStore

    return ContextStore.default()


def _env_host() -> str:
    return os.environ.get("PINNACE_HOST") or os.environ.get("DOCKER_HOST") or ""


def _docker_option(text: str) -> dict[str, str]:
    """``--docker host=URL,ca=FILE,cert=FILE,key=FILE,skip-tls-verify=BOOL``."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in _DOCKER_KEYS:
            raise InvalidArgument(f"unable to parse docker endpoint option {item!r}: {', '.join(_DOCKER_KEYS)} expected")
        out[key] = value
    return out


def create(ctx: Context, argv: list[str]) -> int:
    p = Flags("context create", "Create a context", "[OPTIONS] CONTEXT")
    p.add_string("description", help="Description of the context")
    p.add_string("docker", help="set the docker endpoint", metavar="stringToString")
    p.add_string("from", help="create context from a named context")
    ns = p.parse(argv, min_args=1, max_args=1)
    name = ns.args[0]
    store = _store()
    option = _docker_option(ns.value("docker") or "")
    if ns.value("from"):
        if option:
            raise InvalidArgument("conflicting options: --from and --docker")
        source = store.get(ns.value("from") or "")
        option = {"host": source.endpoint.host, **source.endpoint.tls_files()}
        if source.endpoint.skip_tls_verify:
            option["skip-tls-verify"] = "true"
    host = option.get("host") or _env_host()
    if not host:
        raise InvalidArgument("a context needs a host: --docker host=unix://PATH|tcp://HOST:PORT|ssh://USER@HOST")
    from pinnace.client.transport import Endpoint

    Endpoint(host)  # refuse a malformed URL now, not at first use
    tls = {k: option[k] for k in ("ca", "cert", "key") if option.get(k)}
    store.create(
        name,
        host,
        description=ns.value("description") or "",
        skip_tls_verify=option.get("skip-tls-verify", "").lower() in ("1", "true"),
        tls=tls,
    )
    ctx.stdout.write(name + "\n")
    ctx.stderr.write(f'Successfully created context "{name}"\n')
    return 0


def _current(store: ContextStore) -> str:
    return os.environ.get("PINNACE_CONTEXT") or os.environ.get("DOCKER_CONTEXT") or store.current()


def ls(ctx: Context, argv: list[str]) -> int:
    p = Flags("context ls", "List contexts", "[OPTIONS]")
    p.add_string("format", help="Format output using a custom template")
    p.add_bool("quiet", "q", help="Only show context names")
    ns = p.parse(argv, max_args=0)
    store = _store()
    current = _current(store)
    rows: list[dict[str, Any]] = [
        {
            "Name": "default",
            "Description": "Current PINNACE_HOST based configuration" if _env_host() else "Local store (daemonless)",
            "DockerEndpoint": _env_host(),
            "Current": current == "default",
            "Error": "",
        }
    ]
    for name in store.names():
        try:
            stored = store.get(name)
            rows.append(
                {"Name": name, "Description": stored.description, "DockerEndpoint": stored.endpoint.host,
                 "Current": current == name, "Error": ""}
            )  # fmt: skip
        except PinnaceError as e:
            rows.append({"Name": name, "Description": "", "DockerEndpoint": "", "Current": False, "Error": str(e)})
    if ns.flag("quiet"):
        ctx.stdout.write("".join(row["Name"] + "\n" for row in rows))
        return 0
    from pinnace.cli.format import render

    ctx.stdout.write(render(rows, ns.value("format"), default_table=LS_TABLE, headers=LS_HEADERS))
    return 0


def use(ctx: Context, argv: list[str]) -> int:
    p = Flags("context use", "Set the current pinnace context", "CONTEXT")
    ns = p.parse(argv, min_args=1, max_args=1)
    name = ns.args[0]
    store = _store()
    if name != "default":
        store.get(name)  # NotFound for an unknown one
    store.set_current(name)
    ctx.stdout.write(name + "\n")
    ctx.stderr.write(f'Current context is now "{name}"\n')
    if _env_host():
        ctx.stderr.write(
            "Warning: PINNACE_HOST or DOCKER_HOST environment variable overrides the active context. "
            "To use a context, either set the global --context flag, or unset the variable.\n"
        )
    return 0


def rm(ctx: Context, argv: list[str]) -> int:
    p = Flags("context rm", "Remove one or more contexts", "CONTEXT [CONTEXT...]")
    p.add_bool("force", "f", help="Force the removal of a context in use")
    ns = p.parse(argv, min_args=1)
    store = _store()
    failed = []
    for name in ns.args:
        try:
            if name == "default":
                raise InvalidArgument("default: context cannot be removed")
            if name == store.current() and not ns.flag("force"):
                raise InvalidArgument(f'context "{name}" is in use, set -f flag to force remove')
            store.remove(name)
        except PinnaceError as e:
            failed.append(f"failed to remove context {name}: {e}")
            continue
        ctx.stdout.write(name + "\n")
    if failed:
        ctx.stderr.write("\n".join(failed) + "\n")
        return 1
    return 0


def _document(store: ContextStore, name: str) -> dict[str, Any]:
    if name == "default":
        host = _env_host()
        return {
            "Name": "default",
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": bool(os.environ.get("DOCKER_TLS_VERIFY") is None and host.startswith("tcp"))}},
            "TLSMaterial": {},
            "Storage": {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"},
        }
    stored = store.get(name)
    files = stored.endpoint.tls_files()
    return {
        "Name": name,
        "Metadata": stored.meta.get("Metadata") or {},
        "Endpoints": {"docker": {"Host": stored.endpoint.host, "SkipTLSVerify": stored.endpoint.skip_tls_verify}},
        "TLSMaterial": {"docker": sorted(os.path.basename(p) for p in files.values())} if files else {},
        "Storage": {
            "MetadataPath": store._meta_dir(name),
            "TLSPath": os.path.dirname(store._tls_dir(name)),
        },
    }


def inspect(ctx: Context, argv: list[str]) -> int:
    p = Flags("context inspect", "Display detailed information on one or more contexts", "[OPTIONS] [CONTEXT] [CONTEXT...]")
    p.add_string("format", "f", help="Format output using a custom template")
    ns = p.parse(argv)
    store = _store()
    names = ns.args or [_current(store)]
    found, missing = [], []
    for name in names:
        try:
            found.append(_document(store, name))
        except PinnaceError as e:
            missing.append(str(e))
    fmt = ns.value("format")
    if fmt:
        from pinnace.cli.format import render

        ctx.stdout.write(render(found, fmt, default_table="", headers={}))
    else:
        from pinnace._util import jsonc

        ctx.stdout.write(jsonc.dumps(found, indent="    ") + "\n")
    for text in missing:
        ctx.stderr.write(f"Error: {text}\n")
    return 1 if missing else 0


def show(ctx: Context, argv: list[str]) -> int:
    p = Flags("context show", "Print the name of the current context", "")
    p.parse(argv, max_args=0)
    ctx.stdout.write(_current(_store()) + "\n")
    return 0


def dial_stdio(ctx: Context, argv: list[str]) -> int:
    """Copy stdin to the service's socket and the socket to stdout (what ``ssh://`` runs on the far end).

    The service is ``-H``, else ``PINNACE_HOST``/``DOCKER_HOST`` (unless ssh://), else the default socket.

    Our stdin's end half-closes the connection (the service sees its client's CloseWrite); the
    service's end of the connection ends the command.
    """
    p = Flags("system dial-stdio", "Proxy the stdio stream to the service connection", "")
    p.add_string("host", "H", help="The service to connect to (default unix:///run/pinnace/pinnace.sock)")
    ns = p.parse(argv, max_args=0)
    import socket
    import threading

    from pinnace.client.connect import endpoint
    from pinnace.client.transport import DEFAULT_HOST

    env_host = os.environ.get("PINNACE_HOST") or os.environ.get("DOCKER_HOST") or ""
    host = ns.value("host") or ctx.host or (env_host if not env_host.startswith("ssh:") else "") or DEFAULT_HOST
    target = endpoint(host, ctx.tls)
    if target.scheme == "ssh":
        raise InvalidArgument("dial-stdio connects to a local service: unix:// or tcp://")
    sock = target.dial()

    def upstream() -> None:
        try:
            while data := os.read(0, 65536):
                sock.sendall(data)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while data := sock.recv(65536):
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]
    except OSError:
        pass
    finally:
        sock.close()
    return 0
