"""SQLite connection handling: WAL, busy timeouts, migrations, transactions.

Many pinnace processes share one database (daemonless CLI commands next to
``system service``), so every write is a ``BEGIN IMMEDIATE`` transaction and
waits on a busy database instead of failing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pinnace.errors import Unavailable
from pinnace.meta.schema import MIGRATIONS

#: How long a writer waits for another process's transaction (ms).
BUSY_TIMEOUT_MS = 30_000


class Database:
    """One connection to ``pinnace.db``; not shared between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise Unavailable(f"open metadata database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        with self.tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on error."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"metadata database is busy: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for reads (autocommit; each statement sees a snapshot)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()
