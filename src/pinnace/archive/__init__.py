"""Layer tarballs: detect compression, apply a layer onto a snapshot, write a diff.

- :func:`open_decompressed` -- gzip / zstd / plain by magic, on any stream.
- :func:`apply_layer` -- unpack safely (nothing lands outside the target,
  see :mod:`pinnace.archive.beneath`), hashing the diff ID on the way.
- :func:`write_diff` / :func:`write_tree` -- an overlay upper dir or a plain
  tree back to a deterministic PAX tar.

Heavy imports (tarfile, hashlib, zstandard, shutil) wait until first use:
importing this package is on every CLI command's path.  So do the modules
behind these names: ``run`` uses only the small helpers
(:mod:`.oserrors`, :mod:`.whiteout`), and importing one of those must not
load the unpacker and the tar writer.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pinnace.archive.apply import ApplyResult, apply_layer
    from pinnace.archive.compression import open_decompressed
    from pinnace.archive.diff import DiffResult, write_diff, write_tree

#: name -> the module that defines it
_LAZY = {
    "ApplyResult": "apply",
    "apply_layer": "apply",
    "open_decompressed": "compression",
    "DiffResult": "diff",
    "write_diff": "diff",
    "write_tree": "diff",
}


def __getattr__(name: str) -> object:
    """The functions and records above, their modules imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pinnace.archive' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"pinnace.archive.{module}"), name)


__all__ = ["ApplyResult", "DiffResult", "apply_layer", "open_decompressed", "write_diff", "write_tree"]
