"""The one error hierarchy of pinnace.

Services raise these kinds; fronts map them (the CLI to exit code 125 and a
one-line message, the API server to an HTTP status).  Callers branch on the
kind, never on the message text.  The message is already in Docker's words
for the same condition, so fronts print it unchanged.

    PinnaceError                  any engine error (exit 125)
    ├── NotFound                  no such image / container / blob / snapshot   (404)
    ├── AlreadyExists             a record with that name or key exists        (409)
    ├── Conflict                  in use, or a concurrent change won          (409)
    ├── InvalidArgument           bad input from the user                       (400)
    │   ├── InvalidReference      an image reference docker would refuse
    │   ├── UnsafeArchive         a tar entry would land outside its root
    │   └── DigestMismatch        content does not match its digest or size
    ├── FailedPrecondition        the store is not in a state that allows it   (412)
    ├── Unauthenticated           a registry wants credentials we lack or it refused (401)
    ├── PermissionDenied          a registry refused the credentials access      (403)
    ├── Unavailable               a resource is busy or a peer is unreachable  (503)
    └── NotImplementedYet         a documented feature pinnace does not have   (501)

Foreign exceptions (OSError, sqlite3.Error, tarfile.TarError) are translated
at the boundary where they happen, with :func:`map_errors` or by hand, so
nothing foreign escapes a service.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType


class PinnaceError(Exception):
    """Root of every error pinnace raises on purpose."""

    #: HTTP status the API front answers with for this kind.
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(PinnaceError):
    http_status = 404


class AlreadyExists(PinnaceError):
    http_status = 409


class Conflict(PinnaceError):
    http_status = 409


class InvalidArgument(PinnaceError):
    http_status = 400


class InvalidReference(InvalidArgument):
    """An image reference that docker's reference grammar refuses."""


class UnsafeArchive(InvalidArgument):
    """A tar entry that would be written outside the directory it unpacks into."""


class DigestMismatch(InvalidArgument):
    """Content whose digest or size differs from what was expected."""


class FailedPrecondition(PinnaceError):
    http_status = 412


class Unauthenticated(PinnaceError):
    """A registry asked for credentials (401): none were given, or it refused them."""

    http_status = 401


class PermissionDenied(PinnaceError):
    """A registry knows who we are and refuses the access (403)."""

    http_status = 403


class Unavailable(PinnaceError):
    http_status = 503


class NotImplementedYet(PinnaceError):
    http_status = 501


class map_errors:  # noqa: N801 - used as a function: ``with map_errors(...):``
    """Translate foreign exceptions raised inside the block into pinnace kinds.

    ``context`` says what was being done (``"open blob sha256:..."``); it leads
    the message so the one line the user sees names the object.  (A class, not
    contextlib.contextmanager: this module is imported by every command, and
    contextlib costs start-up.)
    """

    def __init__(self, table: Mapping[type[BaseException], type[PinnaceError]], context: str) -> None:
        self.table = table
        self.context = context

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, PinnaceError):
            return
        for foreign, kind in self.table.items():
            if isinstance(exc, foreign):
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise kind(f"{self.context}: {detail}") from exc
