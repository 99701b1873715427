"""The registry server's settings: a config file in CNCF distribution's YAML shape, ``REGISTRY_*``
environment overrides as distribution reads them, then command-line flags (which win).

A distribution ``config.yml`` works as it is, for what pinnace implements; keys pinnace does not
implement are named in a warning and ignored, never silently.  Understood::

    version: 0.1
    log: {formatter: text|json, accesslog: {disabled: false}}
    storage:
      filesystem: {rootdirectory: /var/lib/registry}
      delete: {enabled: true}
      maintenance: {readonly: {enabled: false}, uploadpurging: {age: 168h}}
    http: {addr: ":5000", tls: {certificate: FILE, key: FILE}}
    auth:
      htpasswd: {realm: R, path: FILE, anonymouspull: false}      # anonymouspull: pinnace's
      token: {realm: URL, service: S, issuer: I, rootcertbundle: FILE,
              acl: FILE, signingkey: FILE, signingcert: FILE, expiration: 5m}  # the last four: pinnace's
    proxy: {remoteurl: URL, username: U, password: P}

With ``auth.token.acl`` the registry runs its own token service at ``/token`` (the realm, unless one is
given), signing with ``signingkey`` (made under the root on first start when not given).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_ROOT = "/var/lib/pinnace-registry"
DEFAULT_ADDR = "127.0.0.1:5000"
DEFAULT_SERVICE = "pinnace-registry"
#: Keys of distribution's configuration that pinnace reads; any other is warned about.
KNOWN = {
    "version": None,
    "log": {"level": None, "formatter": None, "fields": None, "accesslog": {"disabled": None}},
    "storage": {
        "filesystem": {"rootdirectory": None, "maxthreads": None},
        "delete": {"enabled": None},
        "maintenance": {
            "readonly": {"enabled": None},
            "uploadpurging": {"enabled": None, "age": None, "interval": None, "dryrun": None},
        },
        "cache": None,
        "redirect": None,
    },
    "http": {
        "addr": None,
        "net": None,
        "host": None,
        "secret": None,
        "relativeurls": None,
        "headers": None,
        "http2": None,
        "debug": None,
        "draintimeout": None,
        "tls": {"certificate": None, "key": None},
    },  # fmt: skip
    "auth": {
        "htpasswd": {"realm": None, "path": None, "anonymouspull": None},
        "token": {
            "realm": None,
            "service": None,
            "issuer": None,
            "rootcertbundle": None,
            "autoredirect": None,
            "acl": None,
            "signingkey": None,
            "signingcert": None,
            "expiration": None,
        },  # fmt: skip
    },
    "proxy": {"remoteurl": None, "username": None, "password": None, "ttl": None},
    "health": None,
}


class ConfigError(InvalidArgument):
    """A configuration the server cannot start with (one line: the file and what is wrong)."""


@dataclass
class TokenSettings:
    realm: str = ""  # an outside token service; "" means the registry's own /token
    service: str = DEFAULT_SERVICE
    issuer: str = DEFAULT_SERVICE
    rootcertbundle: str = ""  # certificates of outside issuers to trust
    acl: str = ""  # the own token service's ACL file
    signingkey: str = ""
    signingcert: str = ""
    expiration: float = 300.0


@dataclass
class ProxySettings:
    remoteurl: str
    username: str = ""
    password: str = ""


@dataclass
class Settings:
    addr: str = DEFAULT_ADDR
    root: str = DEFAULT_ROOT
    read_only: bool = False
    delete_enabled: bool = True
    upload_ttl: float = 24 * 3600.0
    htpasswd: str = ""
    anonymous_pull: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    token: TokenSettings | None = None
    proxy: ProxySettings | None = None
    access_log: str = "text"  # text, json or none
    warnings: list[str] = field(default_factory=list)

    def check(self) -> None:
        """What cannot work together, as one line each (ConfigError)."""
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"invalid address {self.addr!r}: HOST:PORT expected")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("a TLS certificate and its key go together")
        if self.access_log not in ("text", "json", "none"):
            raise ConfigError(f"invalid access log format {self.access_log!r}: text, json or none")
        if self.token is not None:
            if not self.token.acl and not self.token.realm:
                raise ConfigError("token auth needs an ACL file (its own token service) or a realm")
            if self.token.realm and not (self.token.acl or self.token.rootcertbundle):
                raise ConfigError("token auth with an outside realm needs its rootcertbundle")
        if self.proxy is not None and not self.proxy.remoteurl.startswith(("http://", "https://")):
            raise ConfigError(
                f"invalid proxy remoteurl {self.proxy.remoteurl!r}: http(s)://HOST[:PORT] expected"
            )

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.addr.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)


def load(path: str = "", environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file at ``path`` (none: defaults) with the environment's overrides."""
    doc: dict[str, Any] = {}
    if path:
        import yaml

        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            text = str(e).strip().splitlines()
            raise ConfigError(f"configuration file {path}: {text[0] if text else e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {path}: a mapping expected")
        doc = loaded or {}
    _override(doc, os.environ if environ is None else environ)
    return _settings(doc, path or "environment")


def _override(doc: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``REGISTRY_HTTP_ADDR=:5000`` sets ``http.addr``, as distribution's environment variables do."""
    import yaml

    for name, value in environ.items():
        if not name.startswith("REGISTRY_") or name == "REGISTRY_CONFIGURATION_PATH":
            continue
        keys = name[len("REGISTRY_") :].lower().split("_")
        node = doc
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        try:
            node[keys[-1]] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            node[keys[-1]] = value


def _settings(doc: Mapping[str, Any], where: str) -> Settings:
    s = Settings()
    s.warnings = [f"{where}: {key} is not supported; ignored" for key in _unknown(doc, KNOWN, "")]
    get = _Getter(doc, where)
    addr = get.text("http.addr")
    if addr:
        s.addr = f"0.0.0.0{addr}" if addr.startswith(":") else addr
    s.root = get.text("storage.filesystem.rootdirectory") or s.root
    s.read_only = get.flag("storage.maintenance.readonly.enabled")
    s.delete_enabled = get.flag("storage.delete.enabled", True)
    if get.text("storage.maintenance.uploadpurging.age"):
        s.upload_ttl = get.duration("storage.maintenance.uploadpurging.age")
    s.tls_cert = get.text("http.tls.certificate")
    s.tls_key = get.text("http.tls.key")
    s.htpasswd = get.text("auth.htpasswd.path")
    s.anonymous_pull = get.flag("auth.htpasswd.anonymouspull")
    if isinstance(doc.get("auth"), dict) and isinstance(doc["auth"].get("token"), dict):
        s.token = TokenSettings(
            realm=get.text("auth.token.realm"),
            service=get.text("auth.token.service") or DEFAULT_SERVICE,
            issuer=get.text("auth.token.issuer") or DEFAULT_SERVICE,
            rootcertbundle=get.text("auth.token.rootcertbundle"),
            acl=get.text("auth.token.acl"),
            signingkey=get.text("auth.token.signingkey"),
            signingcert=get.text("auth.token.signingcert"),
            expiration=get.duration("auth.token.expiration") if get.text("auth.token.expiration") else 300.0,
        )
    if get.text("proxy.remoteurl"):
        s.proxy = ProxySettings(
            get.text("proxy.remoteurl").rstrip("/"), get.text("proxy.username"), get.text("proxy.password")
        )
    if get.flag("log.accesslog.disabled"):
        s.access_log = "none"
    elif get.text("log.formatter") in ("json", "logstash"):
        s.access_log = "json"
    return s


def _unknown(doc: Mapping[str, Any], known: Mapping[str, Any], prefix: str) -> list[str]:
    """Dotted keys of ``doc`` that ``known`` does not name (a None there accepts anything below)."""
    found = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if key not in known:
            found.append(path)
        elif isinstance(value, dict) and isinstance(known[key], dict):
            found += _unknown(value, known[key], path + ".")
    return found


class _Getter:
    """Typed reads of dotted keys, with one-line errors naming the key."""

    def __init__(self, doc: Mapping[str, Any], where: str) -> None:
        self.doc = doc
        self.where = where

    def _value(self, dotted: str) -> Any:
        node: Any = self.doc
        keys = dotted.split(".")
        for i, key in enumerate(keys):
            if node is None:
                return None
            if not isinstance(node, dict):
                raise ConfigError(f"{self.where}: {'.'.join(keys[:i])} must be a mapping")
            node = node.get(key)
        return node

    def text(self, dotted: str) -> str:
        value = self._value(dotted)
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{self.where}: {dotted} must be a string")
        return f"{value}"

    def flag(self, dotted: str, default: bool = False) -> bool:
        value = self._value(dotted)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if f"{value}".lower() in ("true", "false"):
            return f"{value}".lower() == "true"
        raise ConfigError(f"{self.where}: {dotted} must be true or false")

    def duration(self, dotted: str) -> float:
        from pinnace._util.golang import parse_duration

        text = self.text(dotted)
        try:
            return parse_duration(text) / 1e9
        except InvalidArgument:
            raise ConfigError(f"{self.where}: {dotted}: invalid duration {text!r}") from None


def warn(settings: Settings) -> None:
    for line in settings.warnings:
        sys.stderr.write(f"warning: {line}\n")
