"""Building tar streams for archive tests (with tarfile, as strangers would)."""

from __future__ import annotations

import io
import os
import tarfile
from typing import Any

MTIME = 1_600_000_000

Entry = tuple[tarfile.TarInfo, bytes]


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: Any) -> Entry:
    """One member, owned by the running user so unpacking needs no root."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid, info.gid = os.getuid(), os.getgid()
    info.mtime = MTIME
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tar(*entries: Entry, format: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=format) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()
