"""The embedded back end: one SQLite file, a new connection per call.

Each call makes the folder, the file and the table if they are missing. A migration takes
the file's write lock (``BEGIN IMMEDIATE``) and checks the version again, so processes
opening an old file at once migrate it once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from nature_callback.ledger.base import ledger_error, locked_error
from nature_callback.ledger.schema import SCHEMA_VERSION, TABLE, Dialect, upgrade


def _columns(connection: sqlite3.Connection) -> set[str] | None:
    """The table's columns, or None when there is no table."""
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
    return columns or None


def _is_current(connection: sqlite3.Connection) -> bool:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return version >= SCHEMA_VERSION and _columns(connection) is not None


def _prepare(connection: sqlite3.Connection) -> None:
    """Make the table, or migrate an older one, under the file's write lock."""
    if _is_current(connection):
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        if not _is_current(connection):
            for statement in upgrade(_columns(connection), "sqlite"):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


class SQLiteBackend:
    """A ledger file; ``timeout_s`` is how long a call waits for another process's lock."""

    dialect: Dialect = "sqlite"
    json_placeholder = "?"

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s

    @property
    def location(self) -> Path:
        return self.path

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        """Nothing stays open between calls."""

    def execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: each statement is its own transaction
            connection = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            try:
                _prepare(connection)
                return connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise locked_error(self.path) from err
            raise self._error(err) from err
        except (OSError, sqlite3.Error) as err:
            raise self._error(err) from err

    def _error(self, err: Exception) -> Exception:
        return ledger_error(self.path, str(err), "a writable file")
