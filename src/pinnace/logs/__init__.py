"""Container logs (DESIGN.md layer L4): log drivers that write a container's output, and readers.

This ``__init__`` imports nothing: the per-container monitor imports only
the writer it uses.
"""

from __future__ import annotations
