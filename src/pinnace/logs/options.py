"""``--log-opt`` for the file log drivers: docker's keys, parsing, error words, and the record attributes.

docker checks the keys when a container is created (moby jsonfilelog and
local ``ValidateLogOpt``) and parses the values when its logger starts
(``jsonfilelog.New``, ``local.New``); :func:`parse_log_opts` and
:func:`parse_local_opts` do both, so the engine can refuse a bad option at
``create`` with the message docker prints at ``start``.  ``mode`` and
``max-buffer-size`` are the daemon's own options for every driver
(moby logger.ValidateLogOpts); pinnace always logs in blocking mode, so they
are checked and otherwise ignored.

Why pinnace's json-file rotates by default: docker's json-file driver keeps
one file that grows without bound unless the user passes ``max-size``
(moby/moby#27957 "Default Logging should have sane settings", moby/moby#40207
"Set a default max size for the json-file log driver", docker/for-linux#985:
80 GB of logs).  Users ask for rotation out of the box (shared/USERS.md §6),
so ``defaults=True`` fills in 3 files of 10 MiB for the keys the user left
out, the way dockerd merges ``log-opts`` from daemon.json key by key:
``--log-opt max-file=5`` alone still rotates at 10 MiB, and
``--log-opt max-size=1g`` keeps 3 files.  ``local`` has docker's own defaults
(20 MiB, 5 files, compressed).

:func:`log_attrs` computes what ``labels``/``env``/``*-regex``/``tag`` add to
every record (moby ``logger.Info.ExtraAttributes`` and ``ParseLogTag``); the
engine calls it when the container starts and hands the result to the
monitor, which never imports ``re``.
"""

from __future__ import annotations

from pinnace._util.golang import atoi, parse_bool
from pinnace._util.units import from_human_size
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: Size at which pinnace rotates a json-file log when the user set no ``max-size``.
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
#: Files kept (the live one and ``max-file - 1`` rotated ones) when the user set no ``max-file``.
DEFAULT_MAX_FILE = 3

#: docker's ``local`` defaults (moby daemon/logger/local): 20 MiB, 5 files, rotated files gzip'd.
LOCAL_MAX_SIZE = 20 * 1024 * 1024
LOCAL_MAX_FILE = 5
LOCAL_COMPRESS = True

#: The attribute options both drivers take (moby logger.Attr*): what each record carries for ``--details``.
ATTR_OPTS = frozenset(("labels", "labels-regex", "env", "env-regex", "tag"))
# moby jsonfilelog.ValidateLogOpt / local.LogOptKeys
KNOWN_OPTS = frozenset(("max-file", "max-size", "compress")) | ATTR_OPTS
#: The daemon's options for every driver, taken out before a driver sees the rest.
BUILTIN_OPTS = frozenset(("mode", "max-buffer-size"))


def check_builtin(opts: Mapping[str, str]) -> None:
    """``mode`` and ``max-buffer-size`` as moby's ``ValidateLogOpts`` checks them."""
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    size = opts.get("max-buffer-size")
    if size is not None:
        if mode != "non-blocking":
            raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        from pinnace._util.units import ram_in_bytes

        try:
            ram_in_bytes(size)
        except InvalidArgument as e:
            raise InvalidArgument(f"logger: could not parse value of max-buffer-size: {e}") from None


def _driver_opts(opts: Mapping[str, str], unknown: str) -> dict[str, str]:
    check_builtin(opts)
    for key in opts:
        if key not in KNOWN_OPTS and key not in BUILTIN_OPTS:
            raise InvalidArgument(unknown.format(key))
    return {k: v for k, v in opts.items() if k not in BUILTIN_OPTS}


def parse_log_opts(opts: Mapping[str, str], *, defaults: bool = False) -> tuple[int | None, int, bool]:
    """``(max_size, max_file, compress)`` from json-file log options; InvalidArgument in docker's words.

    ``max_size`` is None when the log never rotates.  With ``defaults``,
    pinnace's rotation defaults stand in for the keys that are absent.
    """
    opts = _driver_opts(opts, "unknown log opt '{}' for json-file log driver")
    max_size: int | None = None
    size_text = opts.get("max-size")
    if size_text is not None:
        max_size = from_human_size(size_text)
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    elif defaults:
        max_size = DEFAULT_MAX_SIZE
    max_file = DEFAULT_MAX_FILE if defaults else 1
    file_text = opts.get("max-file")
    if file_text is not None:
        max_file = atoi(file_text)
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    compress = False
    compress_text = opts.get("compress")
    if compress_text is not None:
        compress = parse_bool(compress_text)
        if compress and (max_file == 1 or max_size is None):
            raise InvalidArgument(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
    return max_size, max_file, compress


def parse_local_opts(opts: Mapping[str, str]) -> tuple[int | None, int, bool]:
    """``(max_size, max_file, compress)`` from ``local`` log options, docker's defaults for the rest.

    In moby's words (daemon/logger/local config.go).  ``max-size=0`` is read
    as no limit and ``max-file`` 0 as 1 (the file is truncated in place), as
    loggerutils treats them.
    """
    opts = _driver_opts(opts, "unknown log opt '{}' for log driver local")
    max_size, max_file, compress = LOCAL_MAX_SIZE, LOCAL_MAX_FILE, LOCAL_COMPRESS
    if "max-size" in opts:
        try:
            max_size = from_human_size(opts["max-size"])
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid value for max-size: {opts['max-size']}: {e}") from None
    if "max-file" in opts:
        try:
            max_file = atoi(opts["max-file"])
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid value for max-file: {opts['max-file']}: {e}") from None
    if "compress" in opts:
        try:
            compress = parse_bool(opts["compress"])
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid boolean value for compress: {e}") from None
    if max_size < 0:
        raise InvalidArgument("max-size must not be negative")
    if max_file < 0:
        raise InvalidArgument("max-file must not be negative")
    if compress and max_file <= 1:
        raise InvalidArgument("compression cannot be enabled when max file count is 1")
    return max_size or None, max(max_file, 1), compress


# ---------------------------------------------------------------- attributes


def log_attrs(
    opts: Mapping[str, str],
    *,
    container_id: str,
    name: str = "",
    image_id: str = "",
    image_name: str = "",
    labels: Mapping[str, str] | None = None,
    env: Iterable[str] = (),
    entrypoint: str = "",
    args: Iterable[str] = (),
) -> dict[str, str]:
    """The attributes every record of the container carries (``logs --details`` shows them).

    ``labels=a,b`` and ``env=A,B`` pick the container's labels and
    environment variables by name, ``labels-regex``/``env-regex`` by a
    regular expression matched anywhere in the name; ``tag`` adds a ``tag``
    attribute from a template (``{{.Name}}``, ``{{.ID}}`` ...).
    """
    labels = labels or {}
    extra: dict[str, str] = {}
    for key in filter(None, opts.get("labels", "").split(",")):
        if key in labels:
            extra[key] = labels[key]
    if opts.get("labels-regex"):
        match = _compile(opts["labels-regex"])
        extra.update((k, v) for k, v in labels.items() if match(k))
    env_map: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            env_map[key] = value
    for key in filter(None, opts.get("env", "").split(",")):
        if key in env_map:
            extra[key] = env_map[key]
    if opts.get("env-regex"):
        match = _compile(opts["env-regex"])
        extra.update((k, v) for k, v in env_map.items() if match(k))
    if opts.get("tag"):
        info = {
            "ID": container_id[:12],
            "FullID": container_id,
            "ContainerID": container_id,
            "Name": name.lstrip("/"),
            "ContainerName": name,
            "ImageID": image_id.removeprefix("sha256:")[:12],
            "ImageFullID": image_id,
            "ContainerImageID": image_id,
            "ImageName": image_name,
            "ContainerImageName": image_name,
            "ContainerEntrypoint": entrypoint,
            "Command": " ".join([entrypoint, *args]),
            "DaemonName": "pinnace",
        }
        tag = render_tag(opts["tag"], info)
        if tag:
            extra["tag"] = tag
    return extra


def _compile(pattern: str) -> Callable[[str], object]:
    import re

    try:
        return re.compile(pattern).search
    except re.error as e:
        raise InvalidArgument(f"error parsing regexp: {e}: `{pattern}`") from None


def render_tag(template: str, info: Mapping[str, str]) -> str:
    """A log tag template (Go text/template over moby's ``logger.Info``), for its ``{{.Field}}`` actions.

    Other template syntax (pipelines, functions) is refused rather than
    rendered wrongly.
    """
    out = []
    pos = 0
    while (i := template.find("{{", pos)) >= 0:
        j = template.find("}}", i + 2)
        if j < 0:
            line = template.count("\n", 0, i) + 1
            raise InvalidArgument(f"template: log-tag:{line}: unclosed action")
        out.append(template[pos:i])
        action = template[i + 2 : j].strip(" -")
        dot = template.index(".", i) if action.startswith(".") else i + 2
        field = action[1:]
        if not action.startswith(".") or not field.isidentifier():
            raise InvalidArgument(f"log tag template {template!r}: only {{{{.Field}}}} actions are supported")
        if field not in info:
            line = template.count("\n", 0, dot) + 1
            col = dot - (template.rfind("\n", 0, dot) + 1)
            raise InvalidArgument(
                f'template: log-tag:{line}:{col}: executing "log-tag" at <.{field}>: '
                f"can't evaluate field {field} in type *logger.Info"
            )
        out.append(info[field])
        pos = j + 2
    out.append(template[pos:])
    return "".join(out)
