"""docker's credential store, so that an existing ``docker login`` works and ``pinnace login`` writes
what docker reads.

The file is ``$DOCKER_CONFIG/config.json`` (else ``~/.docker/config.json``).
Its ``auths`` map a registry to ``{"auth": base64("user:password")}``, with
``"identitytoken"`` beside it when a token service gave a refresh token at
login.  Docker Hub's key is ``https://index.docker.io/v1/``, other
registries' their ``host[:port]``; keys written as URLs (``https://host``,
``http://host/v2/``) are found by their host, as docker's
``ConvertToHostname`` finds them.

``credsStore`` names a helper for every registry and ``credHelpers`` one per
registry (it wins, even when it names none): the program
``docker-credential-NAME`` on PATH, spoken to by docker-credential-helpers'
protocol (``get``/``erase`` with the server URL on stdin, ``store`` with
``{"ServerURL","Username","Secret"}``; a ``Username`` of ``<token>`` makes the
secret an identity token).  As docker does, a registry that has a helper gets
its answer only (never a stale ``auth`` of the file), and a helper-stored
login leaves an empty ``{}`` under ``auths`` so that ``docker`` lists it.

A write keeps every other key of the file, goes through a temporary file and
a rename (following a symlinked config.json to its target, as docker does),
mode 0600 (docker would keep a wider mode of the file it replaces: a file that
holds secrets is better not readable by others) and the replaced file's owner;
a new directory is mode 0700.

Looser than docker, on purpose: a ``credHelpers`` key written as a URL or as
another name of Docker Hub (``docker.io``) matches its registry too.  Not here:
``DOCKER_AUTH_CONFIG`` and the platform's default helper that docker picks
when the file holds no credentials at all (``secretservice``/``pass``).
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
#: The Username with which a helper files an identity token (docker's ``tokenUsername``).
_TOKEN_USERNAME = "<token>"
#: What a helper says when it has nothing for a server (docker-credential-helpers' ErrCredentialsNotFound).
_NOT_FOUND = "credentials not found in native keychain"
#: Helper answers that docker-credential-helpers' client turns into errors of their own.
_HELPER_ERRORS = frozenset(("no credentials server URL", "no credentials username"))


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
    """The key docker files a registry's credentials under: Docker Hub's URL, else ``host[:port]``.

    A URL is taken by its host, so that the keys of a file normalise with the same function.
    """
    host = _hostname(registry_host)
    return HUB_KEY if host in _HUB_HOSTS else host


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``$HOME/.docker/config.json`` (docker's ``config.Dir``)."""
    from pathlib import Path

    environ = os.environ if env is None else env
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    return Path(directory) / "config.json"


def lookup(registry_host: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The stored credentials for the registry; empty ones when there are none."""
    path = config_path(env)
    doc = _load(path)
    key = server_key(registry_host)
    helper = _helper(doc, key)
    if helper:
        return _helper_get(helper, key, env)
    auths: dict[str, Any] = doc.get("auths") or {}
    entry = auths.get(key)
    if entry is None:  # docker's fileStore.Get: then a key that is a URL of the same host
        entry = next((v for k, v in auths.items() if server_key(k) == key), None)
    if not entry:
        return Credentials()
    username, password = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        username, password = _decode_auth(entry["auth"], path)
    return Credentials(username, password, entry.get("identitytoken") or "")


def store(registry_host: str, creds: Credentials, env: Mapping[str, str] | None = None) -> None:
    """File the credentials: with the registry's helper when one is set, else base64 in ``auths``."""
    # a password without a user would be an auth docker refuses ("Invalid auth configuration file")
    if creds.password and not creds.username:
        raise InvalidArgument("Error: Non-null Username Required")
    path = config_path(env)
    doc = _load(path)
    key = server_key(registry_host)
    auths: dict[str, Any] = doc.get("auths") or {}
    doc["auths"] = auths
    helper = _helper(doc, key)
    entry: dict[str, str] = {}
    if helper:
        from pinnace._util import jsonc

        username, secret = creds.username, creds.password
        if creds.identity_token:
            username, secret = _TOKEN_USERNAME, creds.identity_token
        message = jsonc.dumps({"ServerURL": key, "Username": username, "Secret": secret})
        code, out, err = _run_helper(helper, "store", message, env, "storing")
        if code:
            raise Unavailable(_helper_failure("storing", code, out, err))
    else:
        # docker's encodeAuth: nothing when both are empty (an identity token alone)
        if creds.username or creds.password:
            import base64

            entry["auth"] = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
    if auths.get(key) == entry and path.exists():
        return  # docker's fileStore.Store: an unchanged entry leaves the file alone
    auths[key] = entry
    _save(path, doc)


def erase(registry_host: str, env: Mapping[str, str] | None = None) -> bool:
    """Forget the registry's credentials (its ``auths`` entries, and the helper's); whether there were any."""
    path = config_path(env)
    doc = _load(path)
    key = server_key(registry_host)
    removed = False
    helper = _helper(doc, key)
    if helper:  # first, as docker's nativeStore.Erase: a helper that fails leaves the file as it was
        code, out, err = _run_helper(helper, "erase", key, env, "erasing")
        if code == 0:
            removed = True
        elif not _says_not_found(out, err):
            raise Unavailable(_helper_failure("erasing", code, out, err))
    auths: dict[str, Any] = doc.get("auths") or {}
    names = [name for name in auths if name == key or server_key(name) == key]
    for name in names:
        del auths[name]
    if names:
        _save(path, doc)
    return removed or bool(names)


def _hostname(key: str) -> str:
    """A key as docker's ``ConvertToHostname`` reads it: a URL's ``host[:port]``, or the key up to a slash."""
    if "://" in key:
        key = key.partition("://")[2]
        key = key.partition("/")[0].rpartition("@")[2]  # a URL's userinfo is no part of its host
    return key.partition("/")[0]


def _helper(doc: Mapping[str, Any], key: str) -> str:
    """The helper for ``key``: its own in ``credHelpers`` (even "", which means none), else ``credsStore``."""
    helpers: dict[str, str] = doc.get("credHelpers") or {}
    if key in helpers:
        return helpers[key]
    for name, helper in helpers.items():
        if server_key(name) == key:
            return helper
    store: str = doc.get("credsStore") or ""
    return store


def _decode_auth(auth: str, path: Path) -> tuple[str, str]:
    """``auth`` -> (user, password), refusing what docker's ``decodeAuth`` refuses."""
    import base64
    import binascii

    try:
        decoded = base64.b64decode(auth.encode(), validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        raise _malformed(path, "illegal base64 data in auth") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise _malformed(path, "Invalid auth configuration file")
    return username, password.strip("\x00")


def _malformed(path: Path, detail: str) -> InvalidArgument:
    """docker's warning for a config file it cannot read: ``Error loading config file: PATH: DETAIL``."""
    return InvalidArgument(f"loading config file: {path}: {detail}".replace("\n", " "))


_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def _check(path: Path, value: object, want: type, field: str, gotype: str) -> None:
    """Refuse a field of the wrong JSON type, in the words of Go's ``json.Unmarshal`` (null is no value)."""
    if value is not None and not isinstance(value, want):
        got = _JSON_TYPES.get(type(value), "value")
        raise _malformed(path, f"json: cannot unmarshal {got} into Go struct field {field} of type {gotype}")


def _load(path: Path) -> dict[str, Any]:
    """The file as a JSON object ({} when there is none), the parts this module reads checked for type."""
    from pinnace._util import jsonc

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise _malformed(path, e.strerror or str(e)) from None
    if not data.strip():
        return {}  # as docker's decoder, which takes an empty file for no settings
    try:
        doc = jsonc.loads(data)
    except ValueError as e:
        raise _malformed(path, str(e)) from None
    if not isinstance(doc, dict):
        got = _JSON_TYPES.get(type(doc), "value")
        raise _malformed(path, f"json: cannot unmarshal {got} into Go value of type configfile.ConfigFile")
    _check(path, doc.get("credsStore"), str, "ConfigFile.credsStore", "string")
    _check(path, doc.get("credHelpers"), dict, "ConfigFile.credHelpers", "map[string]string")
    for helper in (doc.get("credHelpers") or {}).values():
        _check(path, helper, str, "ConfigFile.credHelpers", "string")
    _check(path, doc.get("auths"), dict, "ConfigFile.auths", "map[string]types.AuthConfig")
    for entry in (doc.get("auths") or {}).values():
        _check(path, entry, dict, "ConfigFile.auths", "types.AuthConfig")
        for name in ("auth", "username", "password", "identitytoken"):
            _check(path, (entry or {}).get(name), str, f"AuthConfig.{name}", "string")
    return doc


def _save(path: Path, doc: Mapping[str, Any]) -> None:
    """Write ``doc`` in place of the file, atomically, mode 0600, keeping the owner of the file it replaces."""
    from pinnace._util import jsonc
    from pinnace._util.fs import atomic_write

    data = (jsonc.dumps(doc, indent="\t") + "\n").encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = os.path.realpath(path)  # a symlinked config.json stays a symlink (docker's EvalSymlinks)
        try:
            old: os.stat_result | None = os.stat(target)
        except FileNotFoundError:
            old = None
        atomic_write(target, data, mode=0o600)
        if old and old.st_uid > 0 and old.st_gid > 0 and os.geteuid() == 0:
            os.chown(target, old.st_uid, old.st_gid)  # root (sudo) writing a user's file leaves it theirs
    except OSError as e:
        raise Unavailable(f"error saving credentials: {e.strerror or e}: {e.filename or path}") from None


def _says_not_found(out: str, err: str) -> bool:
    return _NOT_FOUND in (out, err)


def _helper_get(helper: str, key: str, env: Mapping[str, str] | None) -> Credentials:
    from pinnace._util import jsonc

    code, out, err = _run_helper(helper, "get", key, env, "getting")
    if code:
        if _says_not_found(out, err):
            return Credentials()  # as docker: no credentials, never an error
        raise Unavailable(_helper_failure("getting", code, out, err))
    try:
        doc = jsonc.loads(out)
    except ValueError:
        doc = None
    fields_ok = isinstance(doc, dict) and all(
        isinstance(doc.get(f) or "", str) for f in ("Username", "Secret")
    )
    if not isinstance(doc, dict) or not fields_ok:  # the answer may hold the secret: never echo it
        raise Unavailable(
            f"error getting credentials - err: docker-credential-{helper} get: not a JSON credentials object"
        )
    username: str = doc.get("Username") or ""
    secret: str = doc.get("Secret") or ""
    if username == _TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def _helper_failure(verb: str, code: int, out: str, err: str) -> str:
    """docker-credential-helpers' client's error for a helper that exited ``code`` (Go's ExitError text)."""
    if out in _HELPER_ERRORS:
        return out
    if code < 0:
        import signal

        try:
            status = f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        except ValueError:
            status = f"signal: {-code}"
    else:
        status = f"exit status {code}"
    return f"error {verb} credentials - err: {status}, out: `{out or err}`"


def _run_helper(
    helper: str, action: str, message: str, env: Mapping[str, str] | None, verb: str
) -> tuple[int, str, str]:
    """Run ``docker-credential-HELPER ACTION`` with ``message`` on stdin: (exit code, stdout, stderr), stripped.

    No timeout, as docker: a helper may wait on its user (a GPG passphrase for ``pass``).
    """
    import subprocess

    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, action],
            input=message.encode(),
            capture_output=True,
            env=None if env is None else dict(env),  # its PATH is the one searched
            check=False,
        )
    except (FileNotFoundError, PermissionError):
        raise Unavailable(
            f'error {verb} credentials - err: exec: "{program}": executable file not found in $PATH, out: ``'
        ) from None
    except OSError as e:
        raise Unavailable(
            f"error {verb} credentials - err: fork/exec {program}: {e.strerror or e}, out: ``"
        ) from None
    out = proc.stdout.decode(errors="replace").strip()
    err = proc.stderr.decode(errors="replace").strip()
    return proc.returncode, out, err
