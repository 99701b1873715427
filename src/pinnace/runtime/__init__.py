"""The OCI runtime (DESIGN.md layer L4): runtime-spec v1.2 config -> isolated process.

A library first (the engine calls it in-process) and a runc-compatible
command second (``pinnace-runtime``, see :mod:`pinnace.runtime.cli`).  This
package's ``__init__`` imports nothing: the runtime starts once per
container, so each caller imports only the submodule it needs
(:mod:`~pinnace.runtime.spec`, :mod:`~pinnace.runtime.features`).
"""

from __future__ import annotations

#: The runtime-spec version this runtime writes and targets.
SPEC_VERSION = "1.2.0"
