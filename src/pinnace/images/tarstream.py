"""Writing tar archives of whole files fast: data by sendfile.

``save`` copies hundreds of MB of blobs into one tar; Python's tarfile would
push every byte through read()/write() in small chunks.  Here the data goes
kernel-to-kernel (sendfile) when the output is a file descriptor; headers
come from the layer writer's encoder (:mod:`pinnace.archive.header`).
"""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO

from pinnace.archive import header


class TarWriter:
    """Append regular files to a tar stream; ``close()`` writes the end-of-archive blocks."""

    def __init__(self, out: BinaryIO, mtime: int = 0) -> None:
        self.out = out
        self.mtime = mtime
        try:
            out.flush()
            self._fd: int | None = out.fileno()
        except (OSError, AttributeError, ValueError):
            self._fd = None

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self.out.write(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _header(self, name: str, size: int, kind: bytes = header.REGULAR, mode: int = 0o644) -> None:
        self._write(header.encode(name.encode(), kind, mode=mode, uid=0, gid=0, mtime=self.mtime, size=size))

    def add_dir(self, name: str) -> None:
        self._header(name.rstrip("/") + "/", 0, header.DIRECTORY, 0o755)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self._write(data)
        self._pad(len(data))

    def add_file(self, name: str, path: str | os.PathLike[str]) -> None:
        with open(path, "rb") as src:
            size = os.fstat(src.fileno()).st_size
            self._header(name, size)
            if self._fd is not None:
                offset = 0
                while offset < size:
                    sent = os.sendfile(self._fd, src.fileno(), offset, size - offset)
                    if sent == 0:
                        raise OSError(f"{path}: file shrank while being copied")
                    offset += sent
            else:
                shutil.copyfileobj(src, self.out, 1 << 20)
        self._pad(size)

    def _pad(self, size: int) -> None:
        self._write(header.padding(size))

    def close(self) -> None:
        self._write(header.END_OF_ARCHIVE)
        if self._fd is None:
            self.out.flush()
