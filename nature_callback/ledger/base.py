"""What the ledger asks of a back end (SQLite or PostgreSQL), and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nature_callback.exceptions import LedgerError, LedgerLockedError
from nature_callback.ledger.schema import Dialect
from nature_callback.ledger.urls import PostgresURL

LEDGER_ENV = "NATURE_LEDGER"
"""Environment variable naming the ledger (a file, or a ``postgresql://`` URL)."""

CONNECT_TIMEOUT_S = 5.0
"""How long a call waits for another process's lock on the ledger before giving up (the
``nature`` command and retries off the training thread)."""


class Backend(Protocol):
    """Runs one statement at a time against the ledger, made or migrated first."""

    dialect: Dialect
    json_placeholder: str
    """SQL placeholder for a JSON text parameter (``?`` is the plain one in every dialect)."""

    @property
    def location(self) -> Path | PostgresURL:
        """The file, or the URL (whose ``str`` hides the password)."""

    def execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` placeholders) in its own transaction; the rows it returns."""

    def exists(self) -> bool:
        """Whether the ledger holds a runs table (or file); makes nothing."""

    def close(self) -> None:
        """Release any open connection."""


def locked_error(location: object) -> LedgerLockedError:
    return LedgerLockedError(f"the run ledger at {location} is locked by another process")


def ledger_error(location: object, detail: str, remedy: str) -> LedgerError:
    """The error for a ledger that cannot be used: what failed and how to fix it."""
    return LedgerError(
        f"cannot use the run ledger at {location}: {detail}. Set ledger_path= (or "
        f"${LEDGER_ENV}) to {remedy}, or ledger_path=False to disable it.")
