"""The run ledger: one row per training run, so N_exp can be counted, not guessed.

The paper's N_exp is the number of experiments behind a reported model. With
``n_exp="ledger"`` the tracker counts the runs recorded under the same project name (this one
included), failed, interrupted and killed runs too: they cost energy.

Two back ends hold the same versioned table (``schema.py``): a SQLite file, the embedded
default (per user), and a PostgreSQL server that a team's nodes share
(``ledger_path="postgresql://…"`` or ``NATURE_LEDGER``; docs/ledger.md).
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any

from nature_callback.ledger.base import CONNECT_TIMEOUT_S, LEDGER_ENV, Backend
from nature_callback.ledger.schema import (
    SCHEMA_VERSION, SELECT_RUNS, UPSERT, params_from_db, params_json,
)
from nature_callback.ledger.sqlite import SQLiteBackend
from nature_callback.ledger.urls import PostgresURL, is_postgres_url, redact_url

__all__ = [
    "CONNECT_TIMEOUT_S", "LEDGER_ENV", "SCHEMA_VERSION", "TRAINING_TIMEOUT_S", "LedgerRun",
    "PostgresURL", "RunLedger", "default_ledger_path", "is_postgres_url", "redact_url",
]

TRAINING_TIMEOUT_S = 0.03
"""How long a call made on the training thread waits for a lock (at most three such calls at
the start of a run, one at each later write): a locked ledger must not
hold up training; the write is retried later."""

LedgerLocation = Path | PostgresURL


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


def _location(value: str | os.PathLike[str] | PostgresURL) -> LedgerLocation:
    """A file or a URL (a Path keeps its type: ``PostgresURL`` undoes what ``Path`` does to
    ``//``)."""
    if isinstance(value, PostgresURL):
        return value
    target = value if isinstance(value, (str, PurePath)) else os.fspath(value)
    return PostgresURL(target) if is_postgres_url(target) else Path(target)


def default_ledger_path() -> LedgerLocation:
    """``$NATURE_LEDGER`` if set (a file or a ``postgresql://`` URL), else ``ledger.sqlite``
    in the user data folder."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return _location(configured)
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
    host: str | None = None
    """The machine that last wrote the row."""
    params: dict[str, Any] | None = None
    """The run's hyperparameters, as recorded (None where none were given)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def _run_from_row(row: tuple[Any, ...]) -> LedgerRun:
    """A ``SELECT_RUNS`` row as a ``LedgerRun``."""
    run_id, project, started_at, ended_at, status, epochs, energy_j, co2e_kg, host, params = row
    return LedgerRun(run_id, project, started_at, ended_at, status, epochs, energy_j, co2e_kg,
                     host, params_from_db(params))


class RunLedger:
    """The runs of a SQLite file or a PostgreSQL table (``path``: a file, a
    ``postgresql://`` URL, or None for ``default_ledger_path()``). The table is made, or an
    older layout migrated, by the first call that needs it."""

    def __init__(self, path: str | os.PathLike[str] | PostgresURL | None = None,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        location = _location(path) if path is not None else default_ledger_path()
        self.timeout_s = timeout_s
        """How long each call waits for another process's lock."""
        self._backend: Backend
        if isinstance(location, PostgresURL):
            from nature_callback.ledger.postgres import PostgresBackend

            self._backend = PostgresBackend(location, timeout_s)
        else:
            self._backend = SQLiteBackend(location, timeout_s)

    @property
    def path(self) -> LedgerLocation:
        """The file, or the URL (a ``PostgresURL``: its ``str`` hides the password);
        ``RunLedger(ledger.path)`` opens the same ledger."""
        return self._backend.location

    @property
    def is_shared(self) -> bool:
        """Whether this is a PostgreSQL ledger (shared by many hosts)."""
        return self._backend.dialect == "postgres"

    def __repr__(self) -> str:
        return f"RunLedger({str(self.path)!r})"

    def __enter__(self) -> RunLedger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection a PostgreSQL ledger keeps (SQLite keeps none)."""
        self._backend.close()

    def exists(self) -> bool:
        """Whether the ledger has been made (the file, or the server's table); makes nothing."""
        return self._backend.exists()

    def record(
        self, run_id: str, project: str, started_at: str, *, status: str, epochs: int,
        energy_j: float, co2e_kg: float, ended: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Insert or update a run's row with its latest totals and this process's host and pid:
        one statement either way. A row set back to ``running`` (a resume) loses its end time.
        ``params`` (hyperparameters, JSON-friendly) are stored when given; None keeps the
        row's."""
        ended_at = datetime.now(timezone.utc).isoformat() if ended else None
        self._backend.execute(
            UPSERT.format(json=self._backend.json_placeholder),
            (run_id, project, started_at, status, epochs, energy_j, co2e_kg, ended_at,
             socket.gethostname(), os.getpid(), params_json(params)),
        )

    def delete(self, run_id: str) -> None:
        """Remove a run's row (a resumed run continues its earlier row instead)."""
        self._backend.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def mark_killed(self) -> list[str]:
        """Mark as ``killed`` this host's ``running`` rows whose process is gone (a SIGKILL, a
        power cut); returns their run ids."""
        rows = self._backend.execute(
            "SELECT run_id, pid, started_at FROM runs WHERE status = 'running' AND host = ?",
            (socket.gethostname(),))
        gone = [run_id for run_id, pid, started_at in rows
                if pid is not None and not _process_alive(int(pid), started_at)]
        for run_id in gone:
            self._backend.execute(
                "UPDATE runs SET status = 'killed' WHERE run_id = ? AND status = 'running'",
                (run_id,))
        return gone

    def count(self, project: str) -> int:
        """Number of runs recorded under ``project``."""
        rows = self._backend.execute("SELECT COUNT(*) FROM runs WHERE project = ?", (project,))
        return int(rows[0][0])

    def runs(self, project: str | None = None) -> list[LedgerRun]:
        """Recorded runs, oldest first, optionally of one project."""
        where, values = ("", ()) if project is None else (" WHERE project = ?", (project,))
        rows = self._backend.execute(f"{SELECT_RUNS}{where} ORDER BY started_at, run_id", values)
        return [_run_from_row(row) for row in rows]
