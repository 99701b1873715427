"""Layer tarballs: detect compression, apply a layer onto a snapshot, write a diff.

- :func:`open_decompressed` -- gzip / zstd / plain by magic, on any stream.
- :func:`apply_layer` -- unpack safely (nothing lands outside the target,
  see :mod:`pinnace.archive.beneath`), hashing the diff ID on the way.
- :func:`write_diff` / :func:`write_tree` -- an overlay upper dir or a plain
  tree back to a deterministic PAX tar.

Heavy imports (tarfile, hashlib, zstandard, shutil) wait until first use:
importing this package is on every CLI command's path.
"""

from __future__ import annotations

from pinnace.archive.apply import ApplyResult, apply_layer
from pinnace.archive.compression import open_decompressed
from pinnace.archive.diff import DiffResult, write_diff, write_tree

__all__ = ["ApplyResult", "DiffResult", "apply_layer", "open_decompressed", "write_diff", "write_tree"]
