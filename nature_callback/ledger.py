"""The run ledger: one SQLite row per training run, so N_exp can be counted, not guessed.

The paper's N_exp is the number of experiments behind a reported model. With
``n_exp="ledger"`` the tracker counts the runs recorded under the same project
name (this one included), failed and interrupted runs too: they cost energy.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs

from nature_callback.exceptions import LedgerError

LEDGER_ENV = "NATURE_LEDGER"
"""Environment variable naming the ledger file; overrides the default location."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    status      TEXT NOT NULL,
    epochs      INTEGER NOT NULL DEFAULT 0,
    energy_j    REAL NOT NULL DEFAULT 0,
    co2e_kg     REAL NOT NULL DEFAULT 0,
    summary     TEXT
)
"""


_READY_PATHS: set[Path] = set()
"""Ledger files whose folder and table this process has already made sure of: every run of a
sweep opens the same file, and the schema statement costs a fraction of a millisecond."""


_GONE = ("no such table", "unable to open database file")
"""SQLite's words for a ledger whose table, file or folder was removed after it was made."""


def default_ledger_path() -> Path:
    """``$NATURE_LEDGER`` if set, else ``ledger.sqlite`` in the user data folder."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    return Path(platformdirs.user_data_dir("nature-callback")) / "ledger.sqlite"


@dataclass(frozen=True)
class LedgerRun:
    """One recorded run."""

    run_id: str
    project: str
    started_at: str
    ended_at: str | None
    status: str
    epochs: int
    energy_j: float
    co2e_kg: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


class RunLedger:
    """A SQLite file of runs; every call opens, commits and closes its own connection.

    The file and its table are created by the first call that reads or writes, so
    constructing one costs nothing and a tracker can leave all SQLite work to its background
    threads.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()

    @property
    def _ready(self) -> bool:
        """Whether this process has already made this file's folder and table."""
        return self.path in _READY_PATHS

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10.0)

    def _execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one statement in its own connection and commit; the first call (of this process,
        for this file) also creates the folder, the file and the table (in the same connection).
        A file, folder or table that has gone since is made again."""
        try:
            return self._execute_once(sql, params)
        except LedgerError as err:
            if not self._ready or not any(sign in str(err) for sign in _GONE):
                raise
            _READY_PATHS.discard(self.path)
            return self._execute_once(sql, params)

    def _execute_once(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        ready = self._ready
        try:
            if not ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect()
            try:
                with connection:  # commits; closing is up to us
                    if not ready:
                        connection.execute(_SCHEMA)
                    rows = connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        except (OSError, sqlite3.Error) as err:
            if ready:
                raise LedgerError(f"run ledger {self.path}: {err}") from err
            raise LedgerError(
                f"cannot open the run ledger at {self.path}: {err}. Set ledger_path= (or "
                f"${LEDGER_ENV}) to a writable file, or ledger_path=False to disable it."
            ) from err
        _READY_PATHS.add(self.path)  # several threads may get here first: the schema is idempotent
        return rows

    def record(
        self, run_id: str, project: str, started_at: str, *, status: str, epochs: int,
        energy_j: float, co2e_kg: float, ended: bool = False,
    ) -> None:
        """Insert or update a run's row with its latest totals: one commit either way."""
        ended_at = datetime.now(timezone.utc).isoformat() if ended else None
        self._execute(
            "INSERT INTO runs (run_id, project, started_at, status, epochs, energy_j, co2e_kg, "
            "ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE SET "
            "status = excluded.status, epochs = excluded.epochs, energy_j = excluded.energy_j, "
            "co2e_kg = excluded.co2e_kg, ended_at = COALESCE(excluded.ended_at, runs.ended_at)",
            (run_id, project, started_at, status, epochs, energy_j, co2e_kg, ended_at),
        )

    def count(self, project: str) -> int:
        """Number of runs recorded under ``project``."""
        rows = self._execute("SELECT COUNT(*) FROM runs WHERE project = ?", (project,))
        return int(rows[0][0])

    def runs(self, project: str | None = None) -> list[LedgerRun]:
        """Recorded runs, oldest first, optionally of one project."""
        sql = ("SELECT run_id, project, started_at, ended_at, status, epochs, energy_j, co2e_kg "
               "FROM runs")
        params: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            params = (project,)
        rows = self._execute(sql + " ORDER BY started_at", params)
        return [LedgerRun(*row) for row in rows]
