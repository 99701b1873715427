"""``--log-opt`` for the json-file driver: docker's keys, parsing and error words.

docker checks the keys when a container is created (moby jsonfilelog
``ValidateLogOpt``) and parses the values when its logger starts
(``jsonfilelog.New``); :func:`parse_log_opts` does both, so the engine can
refuse a bad option at ``create`` with the message docker prints at ``start``.

Why pinnace rotates by default: docker's json-file driver keeps one file that
grows without bound unless the user passes ``max-size`` (moby/moby#27957
"Default Logging should have sane settings", moby/moby#40207 "Set a default
max size for the json-file log driver", docker/for-linux#985: 80 GB of logs).
Users ask for rotation out of the box (shared/USERS.md §6), so ``defaults=True``
fills in 3 files of 10 MiB for the keys the user left out, the way dockerd
merges ``log-opts`` from daemon.json key by key: ``--log-opt max-file=5``
alone still rotates at 10 MiB, and ``--log-opt max-size=1g`` keeps 3 files.
"""

from __future__ import annotations

from pinnace._util.golang import atoi, parse_bool
from pinnace._util.units import from_human_size
from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Size at which pinnace rotates a json-file log when the user set no ``max-size``.
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
#: Files kept (the live one and ``max-file - 1`` rotated ones) when the user set no ``max-file``.
DEFAULT_MAX_FILE = 3

# moby jsonfilelog.ValidateLogOpt; labels/env/tag select the "attrs" of each record.
KNOWN_OPTS = frozenset(
    ("max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
)


def parse_log_opts(opts: Mapping[str, str], *, defaults: bool = False) -> tuple[int | None, int, bool]:
    """``(max_size, max_file, compress)`` from json-file log options; InvalidArgument in docker's words.

    ``max_size`` is None when the log never rotates.  With ``defaults``,
    pinnace's rotation defaults stand in for the keys that are absent.
    """
    for key in opts:
        if key not in KNOWN_OPTS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
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
