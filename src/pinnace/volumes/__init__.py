"""Volumes, bind mounts and tmpfs (DESIGN.md layer L5).

- :mod:`.specs`: docker's mount syntaxes (``-v``, ``--mount``, ``--tmpfs``,
  ``--volumes-from``) parsed and checked, with docker's words.
- :mod:`.records`: the ``volumes`` table and which containers use which volume.
- :mod:`.local`: the ``local`` driver: where a volume's data lives, and the
  mounts its ``-o type=/o=/device=`` options ask for.
- :mod:`.service`: ``volume create|ls|inspect|rm|prune`` and what containers need.

Like the other packages, this ``__init__`` imports nothing.
"""

from __future__ import annotations
