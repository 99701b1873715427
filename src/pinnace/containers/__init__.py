"""Containers (DESIGN.md layer L6): records, the spec built from an image and docker's flags, lifecycle.

Like the other packages, this ``__init__`` imports nothing: each caller
imports the submodule it needs.
"""

from __future__ import annotations
