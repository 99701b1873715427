"""The Linux-specific half of the runtime: syscalls behind a seam, namespaces.

Like :mod:`pinnace.runtime`, this ``__init__`` imports nothing, so a caller
pays only for the submodule it uses (:mod:`~.syscalls`, :mod:`~.namespaces`).
"""

from __future__ import annotations
