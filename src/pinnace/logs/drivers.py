"""Log drivers by name (``--log-driver json-file|local|none``): the monitor's writer, ``logs``' reader.

The container's ``HostConfig.LogConfig`` (``{"Type": ..., "Config": {...}}``,
as docker stores it) picks the driver; an empty Type is docker's default,
json-file.  Files live where docker keeps them:

==========  ==============================================  ================================
json-file   ``<container dir>/<id>-json.log`` (+ ``.1`` ...)  rotates by default (options.py)
local       ``<container dir>/local-logs/container.log``     docker's local format, compressed
none        nothing; ``logs`` says docker's "configured logging driver does not support reading"
==========  ==============================================  ================================

The monitor imports this module and only the writer it opens (``os`` at
the top here; the json escaping or the local encoder, never the reader).
"""

from __future__ import annotations

import os

from pinnace.errors import InvalidArgument, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any, Protocol

    from pinnace.logs.common import LogRecord

    class LogWriter(Protocol):
        """What the monitor writes the container's output to."""

        def write(self, stream: str, data: bytes, when_ns: int | None = None) -> None: ...
        def flush(self, stream: str | None = None) -> None: ...
        def close(self) -> None: ...


DRIVERS = ("json-file", "local", "none")
DEFAULT_DRIVER = "json-file"

#: docker's words (logger.ErrReadLogsNotSupported) when the driver keeps nothing to read.
NOT_READABLE = "configured logging driver does not support reading"


def driver_of(log_config: Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """(driver name, options) of a ``LogConfig``; docker's default driver when it names none."""
    config = log_config or {}
    opts = config.get("Config") or {}
    return str(config.get("Type") or DEFAULT_DRIVER), {str(k): str(v) for k, v in opts.items()}


def validate(log_config: Mapping[str, Any] | None) -> None:
    """Refuse a driver or option docker would refuse, in docker's words (InvalidArgument)."""
    name, opts = driver_of(log_config)
    _rotation(name, opts)
    from pinnace.logs.options import log_attrs

    log_attrs(opts, container_id="0" * 64)  # compiles the regexes and renders the tag


def _rotation(name: str, opts: Mapping[str, str]) -> tuple[int | None, int, bool]:
    from pinnace.logs import options

    if name == "json-file":
        return options.parse_log_opts(opts, defaults=True)
    if name == "local":
        return options.parse_local_opts(opts)
    if name == "none":
        return None, 1, False
    raise InvalidArgument(f"logger: no log driver named '{name}' is registered")


def log_path(log_config: Mapping[str, Any] | None, container_dir: str, container_id: str) -> str:
    """Where the container's log file is (the live one); "" for ``none``."""
    name, _ = driver_of(log_config)
    if name == "json-file":
        return os.path.join(container_dir, f"{container_id}-json.log")
    if name == "local":
        return os.path.join(container_dir, "local-logs", "container.log")
    return ""


def inspect_log_path(log_config: Mapping[str, Any] | None, container_dir: str, container_id: str) -> str:
    """``LogPath`` in ``inspect``: json-file's file only (docker keeps the local format's path private)."""
    name, _ = driver_of(log_config)
    return log_path(log_config, container_dir, container_id) if name == "json-file" else ""


class NullWriter:
    """The ``none`` driver: output is read from the container (so it never blocks) and dropped."""

    def write(self, stream: str, data: bytes, when_ns: int | None = None) -> None:
        pass

    def flush(self, stream: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def open_writer(
    log_config: Mapping[str, Any] | None,
    container_dir: str,
    container_id: str,
    *,
    attrs: Mapping[str, str] | None = None,
) -> LogWriter:
    """The writer of the container's configured driver, appending to its log (a restart continues it).

    ``attrs`` are :func:`pinnace.logs.options.log_attrs`' result, computed by
    the engine where the container's labels and environment are known.
    InvalidArgument (docker's words) for a bad driver or option.
    """
    name, opts = driver_of(log_config)
    max_size, max_file, compress = _rotation(name, opts)
    path = log_path(log_config, container_dir, container_id)
    if name == "json-file":
        from pinnace.logs.jsonfile import JsonFileWriter

        return JsonFileWriter(path, max_size=max_size, max_file=max_file, compress=compress, attrs=attrs)
    if name == "local":
        from pinnace.logs.local import LocalWriter

        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        return LocalWriter(path, max_size=max_size, max_file=max_file, compress=compress, attrs=attrs)
    return NullWriter()


def read_logs(
    log_config: Mapping[str, Any] | None, container_dir: str, container_id: str, **kw: Any
) -> Iterator[LogRecord]:
    """The container's log records (:func:`pinnace.logs.reader.read_logs`'s options).

    NotImplementedYet (the API's 501, as docker answers) with docker's
    message when the driver keeps nothing to read.
    """
    name, _ = driver_of(log_config)
    if name == "json-file":
        from pinnace.logs.jsonfile import FORMAT
    elif name == "local":
        from pinnace.logs.local import FORMAT
    else:
        raise NotImplementedYet(NOT_READABLE)
    from pinnace.logs.reader import read_logs as read

    return read(log_path(log_config, container_dir, container_id), FORMAT, **kw)
