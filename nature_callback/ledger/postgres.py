"""The team back end: one PostgreSQL table that every node writes to (psycopg 3).

psycopg is imported on first use; without it a ``LedgerError`` names the extra to install.
Credentials come from the URL or, better, from libpq's environment (``PGPASSWORD``,
``~/.pgpass``, ``PGUSER``...): nothing here writes them anywhere, and every message shows the
URL redacted and is scrubbed of the password.

Each ``RunLedger`` keeps one connection (autocommit: each statement is its own transaction),
opened on first use, again after it breaks (one retry) and anew in a forked child. The
table is made or migrated once per connection under a transaction-level advisory lock, so
nodes starting at once migrate it once. ``timeout_s`` becomes the session's
``lock_timeout``: a call on the training thread gives up quickly (``LedgerLockedError``, the
row is retried later) instead of holding up training.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from types import ModuleType
from typing import Any

from nature_callback.exceptions import LedgerError
from nature_callback.ledger.base import CONNECT_TIMEOUT_S, ledger_error, locked_error
from nature_callback.ledger.schema import SCHEMA_VERSION, TABLE, Dialect, upgrade
from nature_callback.ledger.urls import PostgresURL

INSTALL_HINT = 'pip install "nature-callback[postgres]"'

VERSION_TABLE = "nature_ledger_schema"
"""One row: the layout version of ``runs`` (SQLite keeps it in ``PRAGMA user_version``)."""

ADVISORY_LOCK_KEY = 0x4E4C4547  # "NLEG"
"""``pg_advisory_xact_lock`` key held while the table is made or migrated."""

LIBPQ_MIN_CONNECT_TIMEOUT_S = 2
"""libpq's ``connect_timeout`` is whole seconds, and values below 2 count as 2."""

LOCKED_SQLSTATES = frozenset({"55P03", "57014"})
"""lock_not_available (``lock_timeout``) and query_canceled (``statement_timeout``)."""


def import_psycopg() -> ModuleType:
    """psycopg 3, or a ``LedgerError`` naming the extra."""
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            f"a postgresql:// run ledger needs psycopg 3, which is not installed: "
            f"{INSTALL_HINT}") from None
    return psycopg


def _is_current(connection: Any) -> bool:
    runs, versions = connection.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (TABLE, VERSION_TABLE)).fetchone()
    if not (runs and versions):
        return False
    (version,) = connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
    return version is not None and version >= SCHEMA_VERSION


def _columns(connection: Any) -> set[str] | None:
    """The table's columns (the ``runs`` the search path finds), or None when there is none."""
    rows = connection.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped", (TABLE,)).fetchall()
    return {row[0] for row in rows} or None


def _prepare(connection: Any) -> None:
    """Make the table, or migrate an older one, once among nodes starting together."""
    if _is_current(connection):
        return
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        if _is_current(connection):
            return
        for statement in upgrade(_columns(connection), "postgres"):
            connection.execute(statement)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                           "(version INTEGER NOT NULL)")
        connection.execute(f"DELETE FROM {VERSION_TABLE}")
        connection.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)",
                           (SCHEMA_VERSION,))


class PostgresBackend:
    """A ledger table on a PostgreSQL server."""

    dialect: Dialect = "postgres"
    json_placeholder = "CAST(? AS jsonb)"

    def __init__(self, url: PostgresURL, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._connection: Any = None
        self._owner_pid = 0
        """The process that opened ``_connection`` (a forked child opens its own)."""
        self._prepared = False
        self._lock = threading.Lock()

    @property
    def location(self) -> PostgresURL:
        return self.url

    def exists(self) -> bool:
        (found,) = self._run("SELECT to_regclass(?) IS NOT NULL", (TABLE,), prepare=False)[0]
        return bool(found)

    def execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._run(sql, params, prepare=True)

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and self._owner_pid == os.getpid():
                connection.close()

    def __del__(self) -> None:
        """Whoever dropped the ledger without ``close()`` (the tracker keeps it for the run):
        close the connection quietly."""
        with contextlib.suppress(Exception):  # interpreter shutdown, a dead server
            self.close()

    def _run(self, sql: str, params: tuple[Any, ...], *, prepare: bool) -> list[tuple[Any, ...]]:
        psycopg = import_psycopg()
        statement = sql.replace("?", "%s")
        with self._lock:
            for attempt in (1, 2):
                connection = None
                try:
                    connection = self._open(psycopg)
                    if prepare and not self._prepared:
                        _prepare(connection)
                        self._prepared = True
                    cursor = connection.execute(statement, params)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.Error as err:
                    dropped = isinstance(err, psycopg.errors.UndefinedTable)
                    broken = connection is None or connection.broken
                    if dropped:  # removed after this connection made it: make it again
                        self._prepared = False
                    if broken:
                        self._connection = None
                    if attempt == 1 and (dropped or (broken and connection is not None)):
                        continue
                    raise self._error(err) from None  # the driver's error may quote the URL
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, psycopg: ModuleType) -> Any:
        """This process's connection, opened (and its timeouts set) if needed."""
        if (self._connection is not None and self._owner_pid == os.getpid()
                and not self._connection.closed):
            return self._connection
        self._connection, self._prepared = None, False  # a parent's is left to the parent
        connection = psycopg.connect(
            self.url.secret_url(), autocommit=True,
            connect_timeout=max(LIBPQ_MIN_CONNECT_TIMEOUT_S, math.ceil(self.timeout_s)))
        lock_ms = max(1, round(self.timeout_s * 1000))
        statement_ms = round(max(self.timeout_s, CONNECT_TIMEOUT_S) * 1000)
        connection.execute(f"SET lock_timeout = {lock_ms}")
        connection.execute(f"SET statement_timeout = {statement_ms}")
        self._connection, self._owner_pid = connection, os.getpid()
        return connection

    def _error(self, err: Exception) -> LedgerError:
        if getattr(err, "sqlstate", None) in LOCKED_SQLSTATES:
            return locked_error(self.url)
        detail = self.url.scrub(str(err).strip().replace("\n", " ")) or type(err).__name__
        return ledger_error(self.url, detail,
                            "a reachable postgresql:// URL (password in PGPASSWORD or ~/.pgpass)")
