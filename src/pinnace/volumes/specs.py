"""Docker's mount syntaxes, parsed and checked: ``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from``.

Two sides, as in docker, because scripts see both sets of messages:

- the CLI side (docker/cli ``opts/mount.go``, the compose loader's
  ``ParseVolume`` and ``cli/command/container/opts.go``):
  :func:`cli_volume`, :func:`parse_mount_flag`, :func:`parse_tmpfs_flag`
  turn flag values into what the CLI sends (``HostConfig.Binds``,
  ``Config.Volumes``, ``HostConfig.Mounts``, ``HostConfig.Tmpfs``);
- the daemon side (moby ``volume/mounts/linux_parser.go``, ``validate.go``,
  ``volume/local``, moby/sys ``MergeTmpfsOptions``): :func:`parse_bind`,
  :func:`mount_spec`, :func:`tmpfs_spec`, :func:`parse_volumes_from`,
  :func:`check_volume_name`, :func:`check_local_options` check what the API
  received and give :class:`MountSpec` records; :func:`tmpfs_mount_options`
  gives the OCI options of a tmpfs mount.

The behaviour follows docker 28 (CLI 28.2 and its daemon).  Errors are
:class:`~pinnace.errors.InvalidArgument` with docker's text, without the
``Error response from daemon: `` prefix nor pflag's ``invalid argument "..."
for "--mount" flag: `` prefix (the CLI adds those).  Nothing here touches the
host except :func:`mount_spec`, which stats a bind's source as the daemon does.
No ``re``, no ``urllib``: ``run`` imports this module and start-up is counted.
"""

from __future__ import annotations

import os
import posixpath
from types import MappingProxyType

from pinnace._util.golang import parse_bool, quote
from pinnace._util.record import record
from pinnace._util.units import ram_in_bytes
from pinnace.errors import InvalidArgument, NotImplementedYet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: Mount types (docker's mount.Type values pinnace supports).
VOLUME, BIND, TMPFS = "volume", "bind", "tmpfs"


# fmt: off
@record
class MountSpec:
    """One mount a container asked for, from ``-v``/``Binds`` or ``--mount``/``HostConfig.Mounts``, checked.

    ``source`` is the volume name ("" for an anonymous volume) or the
    absolute host path of a bind (empty for tmpfs).  ``target`` is absolute
    and clean.
    """

    type: str  # VOLUME, BIND or TMPFS
    target: str
    source: str = ""
    read_only: bool = False
    mode: str = ""  # the mode field as given in -v (``ro,z``), shown by inspect's Mounts[].Mode
    propagation: str = ""  # binds: "" (rprivate), or one of shared/rshared/slave/rslave/private/rprivate
    nocopy: bool = False  # volumes: do not copy the image's content into a new volume
    create_source: bool = False  # binds from -v: a missing host path is created as a directory
    volume_driver: str = ""  # volumes: driver for a volume created on the fly ("" = local)
    volume_labels: Mapping[str, str] = _EMPTY
    volume_options: Mapping[str, str] = _EMPTY  # volume-opt: the driver options of a volume created on the fly
    tmpfs_size: int = 0  # bytes; 0 = the kernel's default (half of RAM)
    tmpfs_mode: int = 0  # permission bits; 0 = the kernel's default (1777)
    tmpfs_options: tuple[str, ...] = ()  # --tmpfs: the mount options given after the path (size=64m, exec ...)
    # -- added with the parsers: what --mount/HostConfig.Mounts can also ask for (docker 25+)
    subpath: str = ""  # volumes: mount this relative path inside the volume (volume-subpath)
    non_recursive: bool = False  # binds: plain bind, not rbind (bind-recursive=disabled)
    read_only_non_recursive: bool = False  # binds, read-only: submounts stay writable (=writable)
    read_only_force_recursive: bool = False  # binds, read-only: fail unless recursively read-only (=readonly)
# fmt: on


#: Propagation modes a bind accepts, in docker's order (mount.Propagations).
PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")

_RW_MODES = frozenset({"rw", "ro"})
_LABEL_MODES = frozenset({"z", "Z"})
_PROPAGATION_MODES = frozenset(PROPAGATIONS)
_COPY_MODES = frozenset({"nocopy"})
_CONSISTENCY_MODES = frozenset({"consistent", "cached", "delegated"})

_TARGET_IS_ROOT = "invalid specification: destination can't be '/'"


# -- Go's path helpers ---------------------------------------------------------------------------


def _clean(path: str) -> str:
    """Go's ``path.Clean``: like normpath, but ``//x`` becomes ``/x`` and ``""`` is ``.``."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _abs(path: str, cwd: str) -> str:
    """Go's ``filepath.Abs`` against ``cwd`` (the CLI's working directory)."""
    if path.startswith("/"):
        return _clean(path)
    return _clean(posixpath.join(cwd, path) if path else cwd)


def _byte_len(text: str) -> int:
    """Go's ``len`` of a string: bytes, not characters."""
    return len(text.encode("utf-8", "surrogatepass"))


# -- the CLI side ----------------------------------------------------------------------------------


def cli_volume(value: str, cwd: str) -> tuple[str, str]:
    """One ``-v`` value as the docker CLI sends it: ``("binds", spec)`` or ``("volumes", target)``.

    The CLI reads the value with the compose loader's ``ParseVolume``: a spec
    with a source (a host path or a volume name) goes to HostConfig.Binds,
    with a relative host path (``.``, ``./x``, ``../x``, ``.x``) made absolute
    against ``cwd``; a bare target is an anonymous volume that goes to
    Config.Volumes, as the raw value.  The loader takes ``X:`` after a lone
    letter for a Windows drive, so ``c:/data`` is an anonymous volume too, as
    it is for docker.  Modes are not checked here: the daemon does
    (:func:`parse_bind`).
    """
    source = _cli_parse_volume_source(value)
    if not source:
        return "volumes", value
    if _cli_is_file_path(source):
        host, sep, rest = value.partition(":")
        if sep:
            if not host.startswith("/") and host.startswith("."):
                host = _abs(host, cwd)
            return "binds", host + ":" + rest
    return "binds", value


def _cli_parse_volume_source(spec: str) -> str:
    """The compose loader's ParseVolume, down to the source ("" for an anonymous volume), with its errors."""
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    if _byte_len(spec) <= 2:
        return ""
    source = target = ""
    buffer: list[str] = []
    end = "\x00"  # the loader's endOfSpec rune
    for char in spec + end:
        if char == ":" and len(buffer) == 1 and buffer[0].isalpha():  # a Windows drive letter
            buffer.append(char)
        elif char in (":", end):
            field = "".join(buffer)
            if not buffer:
                raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
            if not source and char == end:
                target = field
            elif not source:
                source = field
            elif not target:
                target = field
            elif char == ":":
                raise InvalidArgument(f"invalid spec: {spec}: too many colons")
            buffer = []  # the mode section is read and ignored: the daemon checks it
        else:
            buffer.append(char)
    return source


def _cli_is_file_path(source: str) -> bool:
    """The loader's isFilePath: does this source name a host path rather than a volume?"""
    if source[0] in "./~":
        return True
    if len(source) == 1:
        return False
    if source.startswith("\\\\"):  # a Windows named pipe
        return True
    return source[1] == ":" and source[0].isalpha()


def parse_mount_flag(value: str, *, cwd: str | None = None) -> dict[str, Any]:
    """One ``--mount`` value as the docker CLI sends it: a HostConfig.Mounts entry (docker's JSON keys).

    CSV fields of ``key=value`` (keys case-insensitive), ``type`` defaulting to
    ``volume``; only the keys docker sets are present, in its order.  A
    relative ``source`` starting with ``.`` is made absolute against ``cwd``
    (default: this process's working directory, as the CLI uses its own).
    ``bind-nonrecursive`` is accepted as docker 28 does (it only warns).
    """
    fields = _csv_first_record(value)
    mount: dict[str, Any] = {"Type": VOLUME}
    bind: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None
    tmpfs: dict[str, Any] | None = None
    image: dict[str, Any] | None = None

    def volume_options() -> dict[str, Any]:
        nonlocal volume
        if volume is None:  # the CLI creates the Labels map and the DriverConfig with the options
            volume = {
                "NoCopy": False,
                "Labels": {},
                "Subpath": "",
                "DriverConfig": {"Name": "", "Options": None},
            }
        return volume

    def bind_options() -> dict[str, Any]:
        nonlocal bind
        if bind is None:
            bind = {
                "Propagation": "",
                "NonRecursive": False,
                "ReadOnlyNonRecursive": False,
                "ReadOnlyForceRecursive": False,
            }
        return bind

    def tmpfs_options() -> dict[str, Any]:
        nonlocal tmpfs
        if tmpfs is None:
            tmpfs = {"SizeBytes": 0, "Mode": 0}
        return tmpfs

    def image_options() -> dict[str, Any]:
        nonlocal image
        if image is None:
            image = {"Subpath": ""}
        return image

    def boolean(key: str, val: str, message: str | None = None) -> bool:
        try:
            return parse_bool(val)
        except InvalidArgument:
            raise InvalidArgument(message or f"invalid value for {key}: {val}") from None

    for field in fields:
        key, has_value, val = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                volume_options()["NoCopy"] = True
            elif key == "bind-nonrecursive":
                bind_options()["NonRecursive"] = True
            else:
                raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = val.lower()
        elif key in ("source", "src"):
            mount["Source"] = val
            if not val.startswith("/") and val.startswith("."):
                mount["Source"] = _abs(val, os.getcwd() if cwd is None else cwd)
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = boolean(key, val)
        elif key == "consistency":
            mount["Consistency"] = val.lower()
        elif key == "bind-propagation":
            bind_options()["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            bind_options()["NonRecursive"] = boolean(key, val)
        elif key == "bind-recursive":
            if val == "disabled":
                bind_options()["NonRecursive"] = True
            elif val == "writable":
                bind_options()["ReadOnlyNonRecursive"] = True
            elif val == "readonly":
                bind_options()["ReadOnlyForceRecursive"] = True
            elif val != "enabled":
                raise InvalidArgument(
                    f'invalid value for {key}: {val} (must be "enabled", "disabled", "writable", or "readonly")'
                )
        elif key == "volume-subpath":
            volume_options()["Subpath"] = val
        elif key == "volume-nocopy":
            volume_options()["NoCopy"] = boolean(key, val, f"invalid value for volume-nocopy: {val}")
        elif key == "volume-label":
            _set_on_map(volume_options()["Labels"], val)
        elif key == "volume-driver":
            volume_options()["DriverConfig"]["Name"] = val
        elif key == "volume-opt":
            driver = volume_options()["DriverConfig"]
            if driver["Options"] is None:
                driver["Options"] = {}
            _set_on_map(driver["Options"], val)
        elif key == "image-subpath":
            image_options()["Subpath"] = val
        elif key == "tmpfs-size":
            try:
                tmpfs_options()["SizeBytes"] = ram_in_bytes(val)
            except InvalidArgument:
                raise InvalidArgument(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            if not val or not all(c in "01234567" for c in val) or int(val, 8) >= 1 << 32:
                raise InvalidArgument(f"invalid value for {key}: {val}")  # strconv.ParseUint(val, 8, 32)
            tmpfs_options()["Mode"] = int(val, 8)
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")

    kind = mount["Type"]
    if not kind:
        raise InvalidArgument("type is required")
    if not mount.get("Target"):
        raise InvalidArgument("target is required")
    for options, wanted, prefix in (
        (volume, VOLUME, "volume"),
        (image, "image", "image"),
        (bind, BIND, "bind"),
        (tmpfs, TMPFS, "tmpfs"),
    ):
        if options is not None and kind != wanted:
            raise InvalidArgument(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
    if bind is not None:
        if bind["ReadOnlyNonRecursive"] and not mount.get("ReadOnly"):
            raise InvalidArgument(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
            )
        if bind["ReadOnlyForceRecursive"]:
            if not mount.get("ReadOnly"):
                raise InvalidArgument(
                    "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
                )
            if bind["Propagation"] != "rprivate":
                raise InvalidArgument(
                    "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"
                )

    # Go's encoding/json with omitempty: zero values and empty maps are left out, nil pointers too.
    out: dict[str, Any] = {}
    for key in ("Type", "Source", "Target", "ReadOnly", "Consistency"):
        if mount.get(key):
            out[key] = mount[key]
    if bind is not None:
        out["BindOptions"] = _omit_empty(bind)
    if volume is not None:
        driver = volume["DriverConfig"]
        volume["Labels"] = dict(sorted(volume["Labels"].items()))  # Go writes map keys sorted
        if driver["Options"] is not None:
            driver["Options"] = dict(sorted(driver["Options"].items()))
        volume["DriverConfig"] = _omit_empty(driver)
        out["VolumeOptions"] = {k: v for k, v in volume.items() if v or k == "DriverConfig"}
    if image is not None:
        out["ImageOptions"] = _omit_empty(image)
    if tmpfs is not None:
        out["TmpfsOptions"] = _omit_empty(tmpfs)
    return out


def _omit_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v}


def _set_on_map(target: dict[str, str], key_value: str) -> None:
    """The CLI's setValueOnMap: ``k=v`` (``k`` alone means an empty value); an empty key is dropped."""
    key, _, value = key_value.partition("=")
    if key:
        target[key] = value


def _csv_first_record(text: str) -> list[str]:
    """The first record of Go's ``encoding/csv`` Reader (``,``, strict quotes), with its errors.

    Empty lines before the record are skipped; a quoted field may span
    lines; whatever follows the first record is ignored, as ``csvReader.Read()``
    reads one record only.
    """
    # Go's readLine: lines end at \n only; \r\n reads as \n; a last line without \n loses a trailing \r.
    pieces = text.split("\n")
    joined = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        joined.append(pieces[-1].removesuffix("\r"))
    joined = [line[:-2] + "\n" if line.endswith("\r\n") else line for line in joined]
    index = 0
    while index < len(joined) and joined[index] == "\n":
        index += 1  # empty lines are skipped
    if index == len(joined):
        raise InvalidArgument("EOF")
    line_no = index + 1
    start_line = line_no
    line = joined[index]
    index += 1
    fields: list[str] = []
    col = 1  # 1-based byte column, as Go reports it

    def error(line_at: int, column: int, what: str) -> InvalidArgument:
        where = f"parse error on line {line_at}, column {column}"
        if line_at != start_line:
            where = f"record on line {start_line}; {where}"
        return InvalidArgument(f"{where}: {what}")

    bare = 'bare " in non-quoted-field'
    extraneous = 'extraneous or missing " in quoted-field'
    while True:
        if not line.startswith('"'):
            comma = line.find(",")
            field = line[:comma] if comma >= 0 else line.removesuffix("\n")
            quote_at = field.find('"')
            if quote_at >= 0:
                raise error(line_no, col + _byte_len(field[:quote_at]), bare)
            fields.append(field)
            if comma < 0:
                return fields
            col += _byte_len(line[: comma + 1])
            line = line[comma + 1 :]
            continue
        # a quoted field
        line = line[1:]
        col += 1
        parts: list[str] = []
        while True:
            close = line.find('"')
            if close >= 0:
                parts.append(line[:close])
                col += _byte_len(line[: close + 1])
                line = line[close + 1 :]
                if line.startswith('"'):
                    parts.append('"')
                    line = line[1:]
                    col += 1
                elif line.startswith(","):
                    line = line[1:]
                    col += 1
                    fields.append("".join(parts))
                    break
                elif line in ("", "\n"):
                    fields.append("".join(parts))
                    return fields
                else:  # Go points at the closing quote
                    raise error(line_no, col - 1, extraneous)
            elif line:
                parts.append(line)
                col += _byte_len(line)
                if index == len(joined):
                    line = ""
                    continue
                line = joined[index]
                index += 1
                line_no += 1
                col = 1
            else:
                raise error(line_no, col, extraneous)


def parse_tmpfs_flag(value: str) -> tuple[str, str]:
    """One ``--tmpfs`` value into its HostConfig.Tmpfs entry: ``/run:size=64m`` -> ``("/run", "size=64m")``.

    The CLI checks nothing (``Can't evaluate options passed into --tmpfs
    until we actually mount``): the daemon does, see :func:`tmpfs_spec`.
    """
    path, _, options = value.partition(":")
    return path, options


# -- the daemon side -------------------------------------------------------------------------------


def _valid_mode(mode: str) -> bool:
    """moby's linuxValidMountMode: known words only, at most one of each kind."""
    if not mode:
        return True
    counts = [0, 0, 0, 0, 0]
    for option in mode.split(","):
        if option in _RW_MODES:
            counts[0] += 1
        elif option in _LABEL_MODES:
            counts[1] += 1
        elif option in _PROPAGATION_MODES:
            counts[2] += 1
        elif option in _COPY_MODES:
            counts[3] += 1
        elif option in _CONSISTENCY_MODES:
            counts[4] += 1
        else:
            return False
    return max(counts) <= 1


def _mode_propagation(mode: str) -> str:
    for option in mode.split(","):
        if option in _PROPAGATION_MODES:
            return option
    return ""


def _not_absolute(path: str) -> str | None:
    """moby's linuxValidateAbsolute (which reads ``\\`` as ``/``): the error text, or None."""
    slashed = path.replace("\\", "/")
    if slashed.startswith("/"):
        return None
    return f"invalid mount path: '{slashed}' mount path must be absolute"


def _check_destination(target: str) -> str | None:
    """moby's linuxValidateNotRoot then linuxValidateAbsolute: the error text, or None."""
    if _clean(target.replace("\\", "/")) == "/":
        return _TARGET_IS_ROOT
    return _not_absolute(target)


def _clean_target(target: str) -> str:
    """The destination docker keeps (path.Clean).

    moby's checks read ``\\`` as ``/``, but keep the path as given: ``\\x``
    would pass as absolute and fail only in the runtime.  Refused here with
    the must-be-absolute message so no relative target leaves this module.
    """
    cleaned = _clean(target)
    if not cleaned.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
    return cleaned


def _config_error(kind: str, message: str) -> InvalidArgument:
    """moby's errMountConfig."""
    return InvalidArgument(f"invalid mount config for type {quote(kind)}: {message}")


def parse_bind(raw: str) -> MountSpec:
    """One HostConfig.Binds entry, checked as the daemon does (moby ParseMountRaw).

    ``SRC:DST[:MODE]`` or ``DST`` alone (an anonymous volume).  An absolute
    SRC is a bind (whose missing source the daemon creates as a directory),
    anything else names a volume, checked with the local driver's rule at
    the point docker checks it, when the volume is created (hence the
    ``create NAME: `` prefix of the message).  MODE is comma-separated:
    ``ro``/``rw``, ``z``/``Z``, ``nocopy`` (volumes), a propagation (binds),
    ``consistent``/``cached``/``delegated`` (ignored on Linux); at most one of
    each kind.
    """
    parts = raw.split(":", 3)
    invalid_spec = f"invalid volume specification: '{raw}'"
    if not parts[0]:
        raise InvalidArgument(invalid_spec)
    source = mode = ""
    if len(parts) == 1:
        target = parts[0]
    elif len(parts) == 2:
        if _valid_mode(parts[1]):  # a destination and a mode: a volume cannot have a mode (/foo:rw)
            raise InvalidArgument(invalid_spec)
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise InvalidArgument(invalid_spec)
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    options = mode.split(",")
    kind = BIND if source.startswith("/") else VOLUME
    propagation = _mode_propagation(mode)
    nocopy = "nocopy" in options

    problem = None
    if not target:
        problem = "field Target must not be empty"
    else:
        problem = _check_destination(target)
    if problem is None:
        if kind == BIND and nocopy:
            problem = "field VolumeOptions must not be specified"
        elif kind == VOLUME and propagation:
            problem = "field BindOptions must not be specified"
    if problem is not None:
        raise InvalidArgument(f"{invalid_spec}: invalid mount config for type {quote(kind)}: {problem}")
    try:
        clean_target = _clean_target(target)
    except InvalidArgument as e:
        raise InvalidArgument(f"{invalid_spec}: invalid mount config for type {quote(kind)}: {e}") from None

    read_only = "ro" in options
    if kind == BIND:
        return MountSpec(
            type=BIND,
            target=clean_target,
            source=_clean(source),
            read_only=read_only,
            mode=mode,
            propagation=propagation,
            create_source=True,
        )
    if source:
        try:
            check_volume_name(source)
        except InvalidArgument as e:
            raise InvalidArgument(f"create {source}: {e}") from None
    return MountSpec(
        type=VOLUME, target=clean_target, source=source, read_only=read_only, mode=mode, nocopy=nocopy
    )


def _field(m: Mapping[str, Any], name: str) -> Any:
    """A JSON member as Go's decoder finds it: the exact name, else a case-insensitive match."""
    if name in m:
        return m[name]
    lowered = name.lower()
    for key, value in m.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def _typed(value: Any, wanted: type, where: str, go_type: str) -> Any:
    """``value`` if JSON null or of the wanted kind, else encoding/json's error (best effort wording)."""
    if value is None or isinstance(value, wanted):
        return value
    raise InvalidArgument(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type {go_type}"
    )


def _string(m: Mapping[str, Any], name: str, where: str) -> str:
    value = _typed(_field(m, name), str, f"{where}.{name}", "string")
    return value or ""


def _flag(m: Mapping[str, Any], name: str, where: str) -> bool:
    return bool(_typed(_field(m, name), bool, f"{where}.{name}", "bool"))


def _object(m: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any] | None:
    value = _field(m, name)
    if value is None:
        return None
    if not isinstance(value, dict | MappingProxyType):
        raise InvalidArgument(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where}.{name} of type object"
        )
    return value


def _string_map(m: Mapping[str, Any] | None, name: str, where: str) -> Mapping[str, str]:
    if m is None:
        return _EMPTY
    value = _object(m, name, where)
    if not value:
        return _EMPTY
    for item in value.values():
        _typed(item, str, f"{where}.{name}", "map[string]string")
    return MappingProxyType({k: v or "" for k, v in value.items()})


def _go_int(value: Any, where: str, go_type: str, bits: int, signed: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        kind = "number " + repr(value) if isinstance(value, float) else _json_kind(value)
        raise InvalidArgument(f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}")
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    if not low <= value < high:
        raise InvalidArgument(
            f"json: cannot unmarshal number {value} into Go struct field {where} of type {go_type}"
        )
    return value


def mount_spec(m: Mapping[str, Any]) -> MountSpec:
    """One HostConfig.Mounts entry, checked as the daemon does (validateMountConfig, ParseMountSpec).

    Docker's JSON keys (``Type``, ``Source``, ``Target``, ``ReadOnly``,
    ``BindOptions``, ``VolumeOptions``, ``TmpfsOptions`` ...; matched
    case-insensitively as Go's decoder does); a present options object,
    even ``{}``, counts as given.  A bind's source must exist unless
    ``BindOptions.CreateMountpoint``: unlike ``-v``, ``--mount`` does not
    create it.  A volume without a Source is anonymous.  Options for another
    type are ignored where docker ignores them.  The read-only recursion
    conflicts docker finds at start are reported here.  ``image`` mounts
    (docker 28) pass docker's checks, then raise NotImplementedYet.
    """
    where = "Mount"
    kind = _typed(_field(m, "Type"), str, "Mount.Type", "mount.Type") or ""
    source = _string(m, "Source", where)
    target = _string(m, "Target", where)
    read_only = _flag(m, "ReadOnly", where)
    _string(m, "Consistency", where)
    bind = _object(m, "BindOptions", where)
    volume = _object(m, "VolumeOptions", where)
    tmpfs = _object(m, "TmpfsOptions", where)

    if not target:
        raise _config_error(kind, "field Target must not be empty")
    problem = _check_destination(target)
    if problem is not None:
        raise _config_error(kind, problem)
    try:
        clean_target = _clean_target(target)
    except InvalidArgument as e:
        raise _config_error(kind, str(e)) from None

    if kind == BIND:
        return _bind_mount(source, clean_target, read_only, bind, volume)
    if kind == VOLUME:
        return _volume_mount(source, clean_target, read_only, bind, volume)
    if kind == TMPFS:
        if bind is not None:
            raise _config_error(kind, "field BindOptions must not be specified")
        if source:
            raise _config_error(kind, "field Source must not be specified")
        where = "Mount.TmpfsOptions"
        size = mode = 0
        options: tuple[str, ...] = ()
        if tmpfs is not None:
            size = _go_int(_field(tmpfs, "SizeBytes"), f"{where}.SizeBytes", "int64", 64, True)
            mode = _go_int(_field(tmpfs, "Mode"), f"{where}.Mode", "fs.FileMode", 32, False)
            try:
                options = _tmpfs_api_options(_field(tmpfs, "Options"))
            except InvalidArgument as e:
                raise _config_error(kind, str(e)) from None
        return MountSpec(
            type=TMPFS,
            target=clean_target,
            read_only=read_only,
            tmpfs_size=size,
            tmpfs_mode=mode,
            tmpfs_options=options,
        )
    if kind == "image":
        if bind is not None:
            raise _config_error(kind, "field BindOptions must not be specified")
        if not source:
            raise _config_error(kind, "field Source must not be empty")
        raise NotImplementedYet('mount type "image" is not supported by pinnace')
    raise _config_error(kind, "mount type unknown")


def _bind_mount(
    source: str,
    target: str,
    read_only: bool,
    bind: Mapping[str, Any] | None,
    volume: Mapping[str, Any] | None,
) -> MountSpec:
    where = "Mount.BindOptions"
    if not source:
        raise _config_error(BIND, "field Source must not be empty")
    propagation = ""
    create = non_recursive = ro_non_recursive = ro_force_recursive = False
    if bind is not None:
        propagation = (
            _typed(_field(bind, "Propagation"), str, f"{where}.Propagation", "mount.Propagation") or ""
        )
        create = _flag(bind, "CreateMountpoint", where)
        non_recursive = _flag(bind, "NonRecursive", where)
        ro_non_recursive = _flag(bind, "ReadOnlyNonRecursive", where)
        ro_force_recursive = _flag(bind, "ReadOnlyForceRecursive", where)
        if propagation and propagation not in _PROPAGATION_MODES:
            raise _config_error(BIND, f"invalid propagation mode: {propagation}")
    if volume is not None:
        raise _config_error(BIND, "field VolumeOptions must not be specified")
    problem = _not_absolute(source)
    if problem is not None:
        raise _config_error(BIND, problem)
    try:
        os.stat(source)
    except FileNotFoundError:
        if not create:
            raise _config_error(BIND, f"bind source path does not exist: {source}") from None
    except OSError as e:  # Go's *PathError: "stat /x: permission denied"
        reason = e.strerror or str(e)
        raise _config_error(BIND, f"stat {source}: {reason[:1].lower()}{reason[1:]}") from None
    # checked by the daemon when the container starts (setupMounts)
    if ro_non_recursive and not read_only:
        raise InvalidArgument("mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive")
    if ro_force_recursive and not read_only:
        raise InvalidArgument("mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive")
    if ro_non_recursive and ro_force_recursive:
        raise InvalidArgument(
            "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"
        )
    return MountSpec(
        type=BIND,
        target=target,
        source=_clean(source),
        read_only=read_only,
        propagation=propagation,
        create_source=create,
        non_recursive=non_recursive,
        read_only_non_recursive=ro_non_recursive,
        read_only_force_recursive=ro_force_recursive,
    )


def _volume_mount(
    source: str,
    target: str,
    read_only: bool,
    bind: Mapping[str, Any] | None,
    volume: Mapping[str, Any] | None,
) -> MountSpec:
    where = "Mount.VolumeOptions"
    if bind is not None:
        raise _config_error(VOLUME, "field BindOptions must not be specified")
    anonymous = not source
    nocopy = False
    subpath = driver_name = ""
    labels: Mapping[str, str] = _EMPTY
    driver_options: Mapping[str, str] = _EMPTY
    if volume is not None:
        nocopy = _flag(volume, "NoCopy", where)
        subpath = _string(volume, "Subpath", where)
        labels = _string_map(volume, "Labels", where)
        driver = _object(volume, "DriverConfig", where)
        if driver is not None:
            driver_name = _string(driver, "Name", f"{where}.DriverConfig")
            driver_options = _string_map(driver, "Options", f"{where}.DriverConfig")
        if subpath:
            if anonymous:
                raise _config_error(VOLUME, "must not set Subpath when using anonymous volumes")
            if not _is_local(subpath):
                raise _config_error(VOLUME, "subpath must be a relative path within the volume")
    if read_only and anonymous:
        raise _config_error(VOLUME, "must not set ReadOnly mode when using anonymous volumes")
    if source and driver_name in ("", "local"):
        try:
            check_volume_name(source)
        except InvalidArgument as e:
            raise InvalidArgument(f"create {source}: {e}") from None
    return MountSpec(
        type=VOLUME,
        target=target,
        source=source,
        read_only=read_only,
        nocopy=nocopy,
        volume_driver=driver_name,
        volume_labels=labels,
        volume_options=driver_options,
        subpath=subpath,
    )


def _is_local(path: str) -> bool:
    """Go's ``filepath.IsLocal`` on Unix: relative, non-empty, and not escaping upwards."""
    if not path or path.startswith("/"):
        return False
    if any(part in (".", "..") for part in path.split("/")):
        path = _clean(path)
    return not (path == ".." or path.startswith("../"))


def _tmpfs_api_options(raw: Any) -> tuple[str, ...]:
    """TmpfsOptions.Options (``[["exec"]]``), as moby's validateTmpfsOptions reads them."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple) or not all(isinstance(o, list | tuple) for o in raw):
        raise InvalidArgument(
            f"json: cannot unmarshal {_json_kind(raw)} into Go struct field TmpfsOptions.Mount.TmpfsOptions.Options of type [][]string"
        )
    out = []
    for option in raw:
        if not 1 <= len(option) <= 2:
            raise InvalidArgument("invalid option array length")
        if not all(isinstance(part, str) for part in option):
            raise InvalidArgument(
                "json: cannot unmarshal non-string into Go struct field TmpfsOptions.Mount.TmpfsOptions.Options of type string"
            )
        if option[0] not in ("exec", "noexec"):
            raise InvalidArgument(f"invalid option: {option[0]}")
        out.append("=".join(option))
    return tuple(out)


def tmpfs_spec(target: str, data: str) -> MountSpec:
    """One HostConfig.Tmpfs entry (``--tmpfs TARGET:DATA``), checked as the daemon does.

    The destination must be absolute and not ``/`` (checked by docker at
    create); the options must be mount flags or ``size``/``mode``/``uid``/
    ``gid``/``nr_inodes``/``nr_blocks``/``mpol`` settings (checked by docker
    when it builds the runtime spec, at start; the same message here).
    ``read_only`` tells whether the options end up read-only (a later
    ``rw`` cancels an ``ro``).
    """
    problem = _check_destination(target)
    if problem is not None:
        raise InvalidArgument(problem)
    options = tuple(data.split(",")) if data else ()
    _merge_tmpfs_options(list(options))
    read_only = False
    for option in options:
        if option in ("ro", "rw"):
            read_only = option == "ro"
    return MountSpec(type=TMPFS, target=_clean_target(target), read_only=read_only, tmpfs_options=options)


#: mount(8) flags as moby/sys ``MergeTmpfsOptions`` knows them: option -> the flag it sets or clears.
_MOUNT_FLAGS = {
    "ro": "RDONLY",
    "rw": "RDONLY",
    "suid": "NOSUID",
    "nosuid": "NOSUID",
    "dev": "NODEV",
    "nodev": "NODEV",
    "exec": "NOEXEC",
    "noexec": "NOEXEC",
    "sync": "SYNCHRONOUS",
    "async": "SYNCHRONOUS",
    "dirsync": "DIRSYNC",
    "remount": "REMOUNT",
    "mand": "MANDLOCK",
    "nomand": "MANDLOCK",
    "atime": "NOATIME",
    "noatime": "NOATIME",
    "diratime": "NODIRATIME",
    "nodiratime": "NODIRATIME",
    "relatime": "RELATIME",
    "norelatime": "RELATIME",
    "strictatime": "STRICTATIME",
    "nostrictatime": "STRICTATIME",
    # one propagation mode per mount: all share one slot
    "bind": "PROPAGATION",
    "rbind": "PROPAGATION",
    "unbindable": "PROPAGATION",
    "runbindable": "PROPAGATION",
    "private": "PROPAGATION",
    "rprivate": "PROPAGATION",
    "shared": "PROPAGATION",
    "rshared": "PROPAGATION",
    "slave": "PROPAGATION",
    "rslave": "PROPAGATION",
}
_TMPFS_DATA = frozenset({"", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev", "rprivate")


def _merge_tmpfs_options(options: list[str]) -> list[str]:
    """moby/sys ``MergeTmpfsOptions``: the last of each flag or setting wins, in its place."""
    seen: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        slot = _MOUNT_FLAGS.get(option)
        if slot is None:
            key, has_value, _ = option.partition("=")
            if not has_value or key not in _TMPFS_DATA:
                raise InvalidArgument(f"invalid tmpfs option {quote(key)}")
            slot = "=" + key
        if slot not in seen:
            seen.add(slot)
            merged.append(option)
    merged.reverse()
    return merged


def _tmpfs_size_option(size: int) -> str:
    """moby's ConvertTmpfsOptions: the largest of g/m/k that divides the size, else bytes."""
    for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % divisor == 0:
            return f"size={int(size / divisor)}{suffix}"
    return f"size={size}"


def tmpfs_mount_options(spec: MountSpec) -> list[str]:
    """The OCI mount options docker gives a tmpfs: ``noexec,nosuid,nodev,rprivate`` merged with the spec's.

    The spec's options come as moby's ConvertTmpfsOptions writes them for
    ``--mount`` (``ro``, ``mode=`` in octal, ``size=`` with a g/m/k suffix
    when exact, then TmpfsOptions.Options) followed by ``--tmpfs``'s own;
    a later flag or setting replaces an earlier one (``exec`` cancels the
    default ``noexec``).  Raises InvalidArgument for an option docker would
    refuse at start.
    """
    options = list(_TMPFS_DEFAULTS)
    if spec.read_only:
        options.append("ro")
    if spec.tmpfs_mode:
        options.append(f"mode={spec.tmpfs_mode:o}")
    if spec.tmpfs_size:
        options.append(_tmpfs_size_option(spec.tmpfs_size))
    options.extend(spec.tmpfs_options)
    return _merge_tmpfs_options(options)


def parse_volumes_from(value: str) -> tuple[str, str]:
    """``--volumes-from CONTAINER[:MODE]`` (one HostConfig.VolumesFrom entry) into (container, mode).

    Mode is "" when none is given (the source's mounts keep their own
    read-only state), "ro" or "rw" when the mode says so; like docker, "rw"
    does not make a read-only source mount writable (a mount is writable
    only if it is in the source and the mode allows it).  Labels and
    consistency words are accepted and dropped, as docker does; propagation
    and ``nocopy`` are refused (moby ParseVolumesFrom).
    """
    if not value:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    container, _, mode = value.partition(":")
    if not mode:
        return container, ""
    if not _valid_mode(mode) or _mode_propagation(mode) or "nocopy" in mode.split(","):
        raise InvalidArgument(f"invalid mode: {mode}")
    options = mode.split(",")
    if "ro" in options:
        return container, "ro"
    return container, "rw" if "rw" in options else ""


_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def check_volume_name(name: str) -> None:
    """The local driver's rule for a volume name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``, with its messages.

    The message is the driver's alone; docker's volume store prefixes it
    with ``create NAME: `` (what ``volume create`` and ``run -v`` print), which
    callers add (:func:`parse_bind` and :func:`mount_spec` do).
    """
    if _byte_len(name) == 1:
        raise InvalidArgument(
            "volume name is too short, names should be at least two alphanumeric characters"
        )
    if len(name) < 2 or name[0] not in _NAME_FIRST or not all(c in _NAME_REST for c in name[1:]):
        raise InvalidArgument(
            f'{quote(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
        )


#: The local driver's ``-o`` keys (volume/local/local_unix.go validOpts).
LOCAL_OPTIONS = ("type", "o", "device", "size")
#: For each key, the keys it needs (mandatoryOpts), in the order docker reports a missing one.
_LOCAL_NEEDS = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_local_options(options: Mapping[str, str]) -> None:
    """The local driver's checks of ``volume create -o`` options (moby validateOpts).

    Keys are ``type``, ``o``, ``device`` and ``size``; ``type``/``device``/``o``
    need each other (``o`` alone, or ``type=tmpfs`` without ``device``, is
    refused); a ``cifs`` device URL may not carry a port.  ``size`` is a
    quota, which needs an XFS project-quota backing filesystem: pinnace has
    no quota support, so any size above zero is refused as docker refuses it
    without one.
    """
    for key in options:
        if key not in LOCAL_OPTIONS:
            raise InvalidArgument(f"invalid option: {quote(key)}")
    device = options.get("device", "")
    if options.get("type") == "cifs" and device:
        port = _url_port(device)
        if port:
            raise InvalidArgument("port not allowed in CIFS device URL, include 'port' in 'o='")
    if "size" in options and ram_in_bytes(options["size"]) > 0:
        raise InvalidArgument("quota size requested but no quota support")
    for needed in ("device", "type"):  # deterministic: docker's map walk reports device before type
        if needed not in options and any(
            key in options and needed in _LOCAL_NEEDS[key] for key in _LOCAL_NEEDS
        ):
            raise InvalidArgument(f"missing required option: {quote(needed)}")


def _url_port(raw: str) -> str:
    """The port of Go's ``url.Parse(raw).Port()``, raising its parse errors (the common ones)."""

    def fail(reason: str) -> InvalidArgument:
        return InvalidArgument(f"error parsing mount device url: parse {quote(raw)}: {reason}")

    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise fail("net/url: invalid control character in URL")
    rest = raw.partition("#")[0]
    scheme = ""
    for i, c in enumerate(rest):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-.") and i > 0:
            continue
        if c == ":":
            if i == 0:
                raise fail("missing protocol scheme")
            scheme, rest = rest[:i], rest[i + 1 :]
        break
    rest = rest.partition("?")[0]
    if not scheme and not rest.startswith("/"):
        segment = rest.partition("/")[0]
        if ":" in segment:
            raise fail("first path segment in URL cannot contain colon")
    if not rest.startswith("//") or (not scheme and rest.startswith("///")):
        return ""
    authority = rest[2:].partition("/")[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise fail("missing ']' in host")
        colon_port = host[close + 1 :]
    else:
        colon = host.rfind(":")
        colon_port = host[colon:] if colon >= 0 else ""
    if colon_port and not (colon_port[0] == ":" and all(c in "0123456789" for c in colon_port[1:])):
        raise fail(f"invalid port {quote(colon_port)} after host")
    return colon_port[1:]
