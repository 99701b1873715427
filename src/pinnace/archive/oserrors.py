"""OSError -> pinnace error kinds, at the archive package's boundary."""

from __future__ import annotations

import errno

from pinnace.errors import FailedPrecondition, PinnaceError, Unavailable

#: Out of space or a failing disk: retrying later may work.
_TRANSIENT = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


def os_error(context: str, exc: OSError) -> PinnaceError:
    """The kind to raise for ``exc``, with ``context`` leading its message."""
    message = f"{context}: {exc.strerror or exc}"
    if exc.errno in _TRANSIENT:
        return Unavailable(message)
    return FailedPrecondition(message)
