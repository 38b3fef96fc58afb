"""The run ledger: one SQLite row per training run, so N_exp can be counted, not guessed.

The paper's N_exp is the number of experiments behind a reported model. With
``n_exp="ledger"`` the tracker counts the runs recorded under the same project
name (this one included), failed, interrupted and killed runs too: they cost energy.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nature_callback.exceptions import LedgerError, LedgerLockedError

LEDGER_ENV = "NATURE_LEDGER"
"""Environment variable naming the ledger file; overrides the default location."""

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of the ledger's layout; older files are migrated when opened."""

_CREATE = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    status      TEXT NOT NULL,
    epochs      INTEGER NOT NULL DEFAULT 0,
    energy_j    REAL NOT NULL DEFAULT 0,
    co2e_kg     REAL NOT NULL DEFAULT 0,
    summary     TEXT,
    host        TEXT,
    pid         INTEGER
)
"""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE runs ADD COLUMN host TEXT", "ALTER TABLE runs ADD COLUMN pid INTEGER"),
}
"""Statements that bring a file from the version before each key to that version."""


def _prepare(connection: sqlite3.Connection) -> None:
    """Make the table, or migrate an older one, inside the caller's transaction."""
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
    if not exists:
        connection.execute(_CREATE)
    elif connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
        for version in sorted(_MIGRATIONS):
            for statement in _MIGRATIONS[version]:
                if statement.split("ADD COLUMN ")[1].split()[0] not in columns:
                    connection.execute(statement)
    else:
        return
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


CONNECT_TIMEOUT_S = 5.0
"""How long a call waits for another process's lock on the ledger before giving up (the
``nature`` command and retries off the training thread)."""

TRAINING_TIMEOUT_S = 0.03
"""How long a call made on the training thread waits for a lock (at most three such calls at
the start of a run, one at each later write): a locked ledger must not
hold up training; the write is retried later."""


def _process_alive(pid: int, started_at: str) -> bool:
    """Whether ``pid`` is a live process that started before the run did (a pid reused by a
    later process does not count)."""
    import psutil

    try:
        created_s = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:  # access denied: it exists
        return True
    try:
        started_s = datetime.fromisoformat(started_at).timestamp()
    except ValueError:
        return True
    return created_s <= started_s + 1.0


def default_ledger_path() -> Path:
    """``$NATURE_LEDGER`` if set, else ``ledger.sqlite`` in the user data folder."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    import platformdirs

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
    """A SQLite file of runs; every call opens, commits and closes its own connection, and
    makes the folder, the file and the table first if they are missing."""

    def __init__(self, path: str | Path | None = None,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()
        self.timeout_s = timeout_s
        """How long each call waits for another process's lock."""

    def _execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one statement in its own connection and commit."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout_s)
            try:
                with connection:  # commits; closing is up to us
                    _prepare(connection)
                    return connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise LedgerLockedError(
                    f"the run ledger at {self.path} is locked by another process") from err
            raise self._error(err) from err
        except (OSError, sqlite3.Error) as err:
            raise self._error(err) from err

    def _error(self, err: Exception) -> LedgerError:
        return LedgerError(
            f"cannot use the run ledger at {self.path}: {err}. Set ledger_path= (or "
            f"${LEDGER_ENV}) to a writable file, or ledger_path=False to disable it.")

    def record(
        self, run_id: str, project: str, started_at: str, *, status: str, epochs: int,
        energy_j: float, co2e_kg: float, ended: bool = False,
    ) -> None:
        """Insert or update a run's row with its latest totals and this process's host and pid:
        one commit either way. A row set back to ``running`` (a resume) loses its end time."""
        ended_at = datetime.now(timezone.utc).isoformat() if ended else None
        self._execute(
            "INSERT INTO runs (run_id, project, started_at, status, epochs, energy_j, co2e_kg, "
            "ended_at, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET status = excluded.status, "
            "epochs = excluded.epochs, energy_j = excluded.energy_j, "
            "co2e_kg = excluded.co2e_kg, host = excluded.host, pid = excluded.pid, "
            "ended_at = CASE WHEN excluded.status = 'running' THEN NULL "
            "ELSE COALESCE(excluded.ended_at, runs.ended_at) END",
            (run_id, project, started_at, status, epochs, energy_j, co2e_kg, ended_at,
             socket.gethostname(), os.getpid()),
        )

    def delete(self, run_id: str) -> None:
        """Remove a run's row (a resumed run continues its earlier row instead)."""
        self._execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def mark_killed(self) -> list[str]:
        """Mark as ``killed`` this host's ``running`` rows whose process is gone (a SIGKILL, a
        power cut); returns their run ids."""
        rows = self._execute("SELECT run_id, pid, started_at FROM runs WHERE status = 'running' "
                             "AND host = ?", (socket.gethostname(),))
        gone = [run_id for run_id, pid, started_at in rows
                if pid is not None and not _process_alive(int(pid), started_at)]
        for run_id in gone:
            self._execute("UPDATE runs SET status = 'killed' WHERE run_id = ? AND "
                          "status = 'running'", (run_id,))
        return gone

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
