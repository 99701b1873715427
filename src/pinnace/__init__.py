"""pinnace: a container engine in Python that does what Docker does.

The package is layered as ../shared/DESIGN.md describes; imports only go
downward (checked in CI by import-linter).  Importing this package is kept
free of side effects and heavy imports: every CLI command pays for it.
"""

__version__ = "0.1.0"

#: Where pinnace keeps its state unless told otherwise (``--root``, ``--runroot``); here, not in
#: :mod:`pinnace.engine`, because the CLI's front (:mod:`pinnace.cli.client`) needs the runroot to find
#: its warm process and must not pay for importing the engine.
DEFAULT_ROOT = "/var/lib/pinnace"
DEFAULT_RUNROOT = "/run/pinnace"
