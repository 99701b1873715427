"""SQLite connection handling: WAL, busy timeouts, migrations, transactions.

Many pinnace processes share one database (daemonless CLI commands next to
``system service``), so every write is a ``BEGIN IMMEDIATE`` transaction and
waits on a busy database instead of failing.
"""

from __future__ import annotations

# ``_sqlite3``, the C module under ``sqlite3``: the package's dbapi2 layer
# adds only the default datetime adapters (pinnace stores times as text and
# floats) and costs ~2 ms of start-up, most of it ``datetime`` and
# ``collections.abc``.  Its classes are the objects ``sqlite3`` re-exports.
import _sqlite3
import os

from pinnace.errors import Unavailable
from pinnace.meta.schema import MIGRATIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from types import TracebackType

#: How long a writer waits for another process's transaction (ms).
BUSY_TIMEOUT_MS = 30_000


class Database:
    """One connection to ``pinnace.db``; not shared between threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._conn: sqlite3.Connection = _sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = _sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            if self._conn.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
                self._initialise()
        except _sqlite3.Error as exc:
            raise Unavailable(f"open metadata database {self.path}: {exc}") from exc

    def _initialise(self) -> None:
        """Switch a new database to WAL and bring its schema up to date, one process at a time.

        Two processes opening a fresh store at once would race on the journal
        mode switch, which SQLite answers with "database is locked" without
        waiting; an flock beside the database serialises set-up.  A store
        already set up never takes this path (WAL mode persists in the file).
        """
        from pinnace._util.lock import FileLock

        with FileLock(self.path + ".init.lock"):
            if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._conn.execute("PRAGMA journal_mode = WAL")
            with self.tx() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")

    def generation(self) -> tuple[int, int]:
        """A value that changes whenever the database may have: SQLite's ``data_version`` (bumped by
        other connections' commits, other processes' included) and this connection's own change count.
        Readers keep what they parsed while it holds (``docker ps`` in a loop re-parses nothing)."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes

    def tx(self) -> _Transaction:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on error."""
        return _Transaction(self._conn)

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for reads (autocommit; each statement sees a snapshot)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()


class _Transaction:
    """``with db.tx() as conn:`` (a class rather than contextlib: start-up cost)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except _sqlite3.OperationalError as exc:
            raise Unavailable(f"metadata database is busy: {exc}") from exc
        return self.conn

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.execute("ROLLBACK" if exc is not None else "COMMIT")
