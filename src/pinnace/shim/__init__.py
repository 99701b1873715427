"""The per-container monitor (DESIGN.md layer L4, like conmon or containerd-shim).

It sits above the runtime and the log drivers it drives.  This ``__init__``
imports nothing: the monitor's memory is paid per running container.
"""

from __future__ import annotations
