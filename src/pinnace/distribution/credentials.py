"""docker's credential store, so that an existing ``docker login`` works and ``pinnace login`` writes
what docker reads.

The file is ``$DOCKER_CONFIG/config.json`` (else ``~/.docker/config.json``).
Its ``auths`` map a registry to ``{"auth": base64("user:password")}`` or
``{"identitytoken": ...}`` (a refresh token a token service gave at login);
Docker Hub's key is ``https://index.docker.io/v1/``, other registries'
their ``host[:port]`` (keys written as URLs are matched by their host, as
docker's ``ConvertToHostname`` does).  ``credsStore`` names a helper for
every registry and ``credHelpers`` one per registry (it wins): the program
``docker-credential-NAME``, spoken to by the helpers' protocol (``get``,
``store``, ``erase`` with the server URL or a JSON document on stdin).  A
write keeps every other key of the file, atomically, mode 0600.
"""

from __future__ import annotations

import os

from pinnace._util.record import record
from pinnace.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = frozenset(("docker.io", "index.docker.io", "registry-1.docker.io"))
#: What a helper says when it has nothing for a server (docker-credential-helpers' ErrCredentialsNotFound).
_NOT_FOUND = "credentials not found in native keychain"


@record
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # a refresh token for the registry's token service, instead of a password

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def hub_key() -> str:
    return HUB_KEY


def server_key(registry_host: str) -> str:
    """The key docker files a registry's credentials under."""
    return HUB_KEY if registry_host in _HUB_HOSTS else registry_host


def config_path(env: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    environ = os.environ if env is None else env
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    return Path(directory) / "config.json"


def _hostname(key: str) -> str:
    """A key as docker's ConvertToHostname reads it: a URL's host, or the key itself."""
    if "://" in key:
        key = key.partition("://")[2]
    return key.partition("/")[0]


def _load(path: Path) -> dict[str, Any]:
    from pinnace._util import jsonc

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise InvalidArgument(f"loading config file {path}: {e.strerror}") from None
    if not data.strip():
        return {}
    try:
        doc = jsonc.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"loading config file {path}: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"loading config file {path}: not a JSON object")
    return doc


def _save(path: Path, doc: Mapping[str, Any]) -> None:
    import json

    from pinnace._util.fs import atomic_write

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(doc, indent="\t") + "\n").encode(), mode=0o600)


def _helper(doc: Mapping[str, Any], key: str) -> str:
    """The credential helper for ``key``: its own in ``credHelpers``, else ``credsStore``, else ""."""
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for name, helper in helpers.items():
            if _hostname(str(name)) == _hostname(key) and helper:
                return str(helper)
    store = doc.get("credsStore")
    return str(store) if store else ""


def lookup(registry_host: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The stored credentials for the registry; empty ones when there are none."""
    import base64

    key = server_key(registry_host)
    doc = _load(config_path(env))
    helper = _helper(doc, key)
    if helper:
        found = _helper_get(helper, key, env)
        if not found.empty:
            return found
    auths = doc.get("auths") or {}
    if not isinstance(auths, dict):
        return Credentials()
    entry = auths.get(key)
    if entry is None:
        entry = next((v for k, v in auths.items() if _hostname(str(k)) == _hostname(key)), None)
    if not isinstance(entry, dict):
        return Credentials()
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument(
                f"invalid auth configuration file {config_path(env)}: bad auth of {key}"
            ) from None
    return Credentials(username, password, str(entry.get("identitytoken") or ""))


def store(registry_host: str, creds: Credentials, env: Mapping[str, str] | None = None) -> None:
    """File the credentials (with the registry's helper when one is set, else in ``auths``)."""
    import base64

    key = server_key(registry_host)
    path = config_path(env)
    doc = _load(path)
    auths = doc.setdefault("auths", {})
    if not isinstance(auths, dict):
        auths = doc["auths"] = {}
    helper = _helper(doc, key)
    if helper:
        secret = creds.identity_token or creds.password
        username = "<token>" if creds.identity_token else creds.username
        _run_helper(helper, "store", {"ServerURL": key, "Username": username, "Secret": secret}, env)
        auths[key] = {}
    else:
        entry: dict[str, str] = {}
        if creds.identity_token:
            entry["auth"] = base64.b64encode(f"{creds.username}:".encode()).decode()
            entry["identitytoken"] = creds.identity_token
        else:
            entry["auth"] = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        auths[key] = entry
    _save(path, doc)


def erase(registry_host: str, env: Mapping[str, str] | None = None) -> bool:
    """Forget the registry's credentials; whether there were any."""
    key = server_key(registry_host)
    path = config_path(env)
    doc = _load(path)
    removed = False
    auths = doc.get("auths")
    if isinstance(auths, dict):
        for name in [k for k in auths if _hostname(str(k)) == _hostname(key)]:
            del auths[name]
            removed = True
    helper = _helper(doc, key)
    if helper:
        try:
            _run_helper(helper, "erase", key, env)
            removed = True
        except Unavailable as e:
            if _NOT_FOUND not in str(e):
                raise
    if removed and path.exists():
        _save(path, doc)
    return removed


def _helper_get(helper: str, key: str, env: Mapping[str, str] | None) -> Credentials:
    from pinnace._util import jsonc

    try:
        out = _run_helper(helper, "get", key, env)
    except Unavailable as e:
        if _NOT_FOUND in str(e):
            return Credentials()
        raise
    try:
        doc = jsonc.loads(out)
    except ValueError:
        raise Unavailable(
            f"error getting credentials - err: invalid JSON from docker-credential-{helper}"
        ) from None
    username, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def _run_helper(helper: str, action: str, payload: Any, env: Mapping[str, str] | None) -> bytes:
    """Run ``docker-credential-HELPER ACTION`` with ``payload`` on stdin (a string, or JSON); its stdout."""
    import json
    import subprocess

    program = f"docker-credential-{helper}"
    data = payload if isinstance(payload, str) else json.dumps(payload)
    try:
        proc = subprocess.run(
            [program, action],
            input=data.encode(),
            capture_output=True,
            env=dict(os.environ if env is None else env),
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise Unavailable(
            f'error getting credentials - err: exec: "{program}": executable file not found in $PATH, out: ``'
        ) from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"error getting credentials - err: {program} {action} timed out, out: ``") from None
    if proc.returncode != 0:
        out = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        verb = "getting" if action == "get" else ("storing" if action == "store" else "erasing")
        raise Unavailable(f"error {verb} credentials - err: exit status {proc.returncode}, out: `{out}`")
    return proc.stdout
