"""``<root>/daemon.json``: the settings users give dockerd, read by each part of pinnace that has them.

pinnace has no daemon, but a ``daemon.json`` written for docker means the
same here (networking's keys: :mod:`pinnace.network.config`; registries':
:mod:`pinnace.distribution.config`).  A missing file is no settings; one
that is not a JSON object is an error naming the file, as dockerd refuses
to start on one.
"""

from __future__ import annotations

from pinnace.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FILENAME = "daemon.json"


def load(root: str) -> tuple[dict[str, Any], str]:
    """(the parsed document, its path); an empty document when there is no file."""
    import os

    path = os.path.join(root, FILENAME)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}, path
    except OSError as e:
        raise invalid(path, e.strerror or str(e)) from None
    from pinnace._util import jsonc

    try:
        doc = jsonc.loads(data) if data.strip() else {}
    except ValueError as e:
        raise invalid(path, str(e)) from None
    if not isinstance(doc, dict):
        raise invalid(path, "the file is not a JSON object")
    return doc, path


def invalid(path: str, detail: str) -> InvalidArgument:
    """docker's refusal of a configuration file."""
    return InvalidArgument(f"unable to configure pinnace with file {path}: {detail}")
