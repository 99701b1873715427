"""pinnace: a container engine in Python that does what Docker does.

The package is layered as ../shared/DESIGN.md describes; imports only go
downward (checked in CI by import-linter).  Importing this package is kept
free of side effects and heavy imports: every CLI command pays for it.
"""

__version__ = "0.1.0"
