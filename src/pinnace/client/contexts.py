"""Contexts, stored as docker stores them: ``CONFIG/contexts/meta/<sha256 of name>/meta.json`` and
``CONFIG/contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem``; ``CONFIG/config.json``'s
``currentContext`` names the one in use.  CONFIG is ``$PINNACE_CONFIG``, else ``~/.pinnace``.

The ``default`` context is not stored: it is the local store (daemonless), or ``PINNACE_HOST``/
``DOCKER_HOST`` when set, as docker's default context is its environment's host.
"""

from __future__ import annotations

import hashlib
import os

from pinnace._util import jsonc
from pinnace.errors import AlreadyExists, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT = "default"
_TLS_FILES = {"ca": "ca.pem", "cert": "cert.pem", "key": "key.pem"}


def config_dir() -> str:
    return os.environ.get("PINNACE_CONFIG") or os.path.join(os.path.expanduser("~"), ".pinnace")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def check_name(name: str) -> None:
    """docker's rule: ``^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$``, and not ``default``."""
    import re

    if name == DEFAULT:
        raise InvalidArgument('"default" is a reserved context name')
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+", name):
        raise InvalidArgument(
            f'context name "{name}" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"'
        )


class DockerEndpoint:
    """A context's ``docker`` endpoint: the host, TLS files, whether to skip verification."""

    def __init__(self, host: str, *, skip_tls_verify: bool = False, tls_dir: str = "") -> None:
        self.host = host
        self.skip_tls_verify = skip_tls_verify
        self.tls_dir = tls_dir

    def tls_files(self) -> dict[str, str]:
        if not self.tls_dir:
            return {}
        found = {}
        for key, file in _TLS_FILES.items():
            path = os.path.join(self.tls_dir, file)
            if os.path.exists(path):
                found[key] = path
        return found

    def tls_settings(self) -> dict[str, str]:
        """The CLI's TLS flags this endpoint stands for."""
        files = self.tls_files()
        if not files and not self.skip_tls_verify and not self.host.startswith("https://"):
            return {}
        out = {"tls": "1", "tlsverify": "" if self.skip_tls_verify else "1"}
        for key, flag in (("ca", "tlscacert"), ("cert", "tlscert"), ("key", "tlskey")):
            if key in files:
                out[flag] = files[key]
        return out


class StoredContext:
    def __init__(self, name: str, meta: dict[str, Any], tls_dir: str) -> None:
        self.name = name
        self.meta = meta
        docker = (meta.get("Endpoints") or {}).get("docker") or {}
        self.endpoint = DockerEndpoint(
            str(docker.get("Host") or ""),
            skip_tls_verify=bool(docker.get("SkipTLSVerify")),
            tls_dir=tls_dir if os.path.isdir(tls_dir) else "",
        )

    @property
    def description(self) -> str:
        return str((self.meta.get("Metadata") or {}).get("Description") or "")


class ContextStore:
    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def default(cls) -> ContextStore:
        return cls(config_dir())

    def _meta_dir(self, name: str) -> str:
        return os.path.join(self.root, "contexts", "meta", _digest(name))

    def _tls_dir(self, name: str) -> str:
        return os.path.join(self.root, "contexts", "tls", _digest(name), "docker")

    # -- config.json
    def _config(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.root, "config.json"), "rb") as f:
                doc = jsonc.loads(f.read())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise InvalidArgument(f"{self.root}/config.json: not valid JSON") from None
        return doc if isinstance(doc, dict) else {}

    def current(self) -> str:
        return str(self._config().get("currentContext") or DEFAULT)

    def set_current(self, name: str) -> None:
        from pinnace._util.fs import atomic_write

        doc = self._config()
        if name == DEFAULT:
            doc.pop("currentContext", None)
        else:
            doc["currentContext"] = name
        os.makedirs(self.root, exist_ok=True)
        atomic_write(os.path.join(self.root, "config.json"), (jsonc.dumps(doc, indent="\t") + "\n").encode())

    # -- contexts
    def names(self) -> list[str]:
        base = os.path.join(self.root, "contexts", "meta")
        out = []
        for entry in sorted(os.listdir(base)) if os.path.isdir(base) else ():
            try:
                with open(os.path.join(base, entry, "meta.json"), "rb") as f:
                    out.append(str(jsonc.loads(f.read())["Name"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(out)

    def get(self, name: str) -> StoredContext:
        try:
            with open(os.path.join(self._meta_dir(name), "meta.json"), "rb") as f:
                meta = jsonc.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"context {name!r} does not exist") from None
        return StoredContext(name, meta, self._tls_dir(name))

    def create(
        self, name: str, host: str, *, description: str = "", skip_tls_verify: bool = False,
        tls: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        from pinnace._util.fs import atomic_write

        check_name(name)
        if os.path.exists(os.path.join(self._meta_dir(name), "meta.json")):
            raise AlreadyExists(f'context "{name}" already exists')
        meta = {
            "Name": name,
            "Metadata": {"Description": description} if description else {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
        }
        for key, path in (tls or {}).items():
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise InvalidArgument(f"unable to read {key} file {path}: {e.strerror}") from None
            os.makedirs(self._tls_dir(name), mode=0o700, exist_ok=True)
            atomic_write(os.path.join(self._tls_dir(name), _TLS_FILES[key]), data)
        os.makedirs(self._meta_dir(name), mode=0o755, exist_ok=True)
        atomic_write(
            os.path.join(self._meta_dir(name), "meta.json"), jsonc.dumps(meta, compact=True).encode()
        )

    def remove(self, name: str) -> None:
        import shutil

        if not os.path.exists(os.path.join(self._meta_dir(name), "meta.json")):
            raise NotFound(f"context {name!r} does not exist")
        shutil.rmtree(self._meta_dir(name), ignore_errors=True)
        shutil.rmtree(os.path.dirname(self._tls_dir(name)), ignore_errors=True)
        if self.current() == name:
            self.set_current(DEFAULT)
