"""Container networking (DESIGN.md layer L5).

- :mod:`.config`: the networking keys of ``<root>/daemon.json`` (``bridge``,
  ``bip``, ``fixed-cidr``, ``default-address-pools``, ``mtu``), docker's defaults.
- :mod:`.records`: the ``networks`` and ``endpoints`` tables.
- :mod:`.ipam`: subnets for networks and addresses for endpoints, as
  libnetwork's default IPAM hands them out.
- :mod:`.service`: ``network create|ls|inspect|rm|prune``, and connecting
  containers (endpoints) to networks.
- :mod:`.plumbing`: network namespaces, bridges and veth pairs (netlink).

Like the other packages, this ``__init__`` imports nothing.
"""

from __future__ import annotations
