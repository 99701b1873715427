"""Whiteouts: how a layer says "deleted", in tar form and in overlayfs form.

In a layer tar (OCI image-spec, from aufs): ``D/.wh.NAME`` deletes NAME from
lower layers, and ``D/.wh..wh..opq`` hides all of D's lower contents.  In an
overlay upper dir the same facts are a 0/0 character device at ``D/NAME``
and the xattr ``trusted.overlay.opaque=y`` on D.  Other ``.wh..wh.*`` names
are aufs bookkeeping (``.wh..wh.plnk``, ``.wh..wh.aufs``) with no meaning here.
"""

from __future__ import annotations

PREFIX = ".wh."
META_PREFIX = ".wh..wh."
OPAQUE = ".wh..wh..opq"

OPAQUE_XATTR = "trusted.overlay.opaque"
#: overlayfs' own xattrs: state of one mount, never image content.  Never
#: copied into a tar, and never taken from one (a layer that set
#: ``trusted.overlay.redirect`` could make overlay look up another path).
OVERLAY_XATTR_PREFIX = "trusted.overlay."
