"""The ledger's one table, the same in SQLite and PostgreSQL, and how older layouts catch up.

Version history (``PRAGMA user_version`` in SQLite, the ``nature_ledger_schema`` table in
PostgreSQL):

1. run_id, project, started_at, ended_at, status, epochs, energy_j, co2e_kg, summary
2. + host, pid (which process on which machine wrote the row; ``mark_killed``)
3. + params (the run's hyperparameters, JSON) and an index on (project, started_at)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["sqlite", "postgres"]

SCHEMA_VERSION = 3
"""Version of the ledger's layout; older ledgers are migrated when opened."""

TABLE = "runs"


@dataclass(frozen=True)
class Column:
    """One column of ``runs``: its types in each dialect and the version that added it."""

    name: str
    sqlite_type: str
    postgres_type: str
    since_version: int = 1

    def definition(self, dialect: Dialect) -> str:
        return f"{self.name} {self.sqlite_type if dialect == 'sqlite' else self.postgres_type}"


COLUMNS = (
    Column("run_id", "TEXT PRIMARY KEY", "TEXT PRIMARY KEY"),
    Column("project", "TEXT NOT NULL", "TEXT NOT NULL"),
    Column("started_at", "TEXT NOT NULL", "TEXT NOT NULL"),
    Column("ended_at", "TEXT", "TEXT"),
    Column("status", "TEXT NOT NULL", "TEXT NOT NULL"),
    Column("epochs", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    Column("energy_j", "REAL NOT NULL DEFAULT 0", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    Column("co2e_kg", "REAL NOT NULL DEFAULT 0", "DOUBLE PRECISION NOT NULL DEFAULT 0"),
    Column("summary", "TEXT", "TEXT"),
    Column("host", "TEXT", "TEXT", since_version=2),
    Column("pid", "INTEGER", "INTEGER", since_version=2),
    Column("params", "TEXT", "JSONB", since_version=3),
)

INDEX = f"CREATE INDEX IF NOT EXISTS runs_project_started ON {TABLE} (project, started_at)"


def create_table(dialect: Dialect) -> str:
    """``CREATE TABLE`` for the current version."""
    body = ",\n    ".join(column.definition(dialect) for column in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    {body}\n)"


def upgrade(existing_columns: set[str] | None, dialect: Dialect) -> list[str]:
    """Statements that bring the table to ``SCHEMA_VERSION``: create it (``None``: no table),
    or add the columns a version since has brought; then the index."""
    if existing_columns is None:
        return [create_table(dialect), INDEX]
    return [f"ALTER TABLE {TABLE} ADD COLUMN {column.definition(dialect)}"
            for column in COLUMNS if column.name not in existing_columns] + [INDEX]


SELECT_RUNS = ("SELECT run_id, project, started_at, ended_at, status, epochs, energy_j, "
               "co2e_kg, host, params FROM runs")
"""The columns a ``LedgerRun`` is made of, in its field order."""

UPSERT = (
    "INSERT INTO runs (run_id, project, started_at, status, epochs, energy_j, co2e_kg, "
    "ended_at, host, pid, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json}) "
    "ON CONFLICT(run_id) DO UPDATE SET status = excluded.status, "
    "epochs = excluded.epochs, energy_j = excluded.energy_j, "
    "co2e_kg = excluded.co2e_kg, host = excluded.host, pid = excluded.pid, "
    "params = COALESCE(excluded.params, runs.params), "
    "ended_at = CASE WHEN excluded.status = 'running' THEN NULL "
    "ELSE COALESCE(excluded.ended_at, runs.ended_at) END"
)
"""Insert or update a run's row; ``{json}`` is the dialect's placeholder for a JSON value."""


def params_json(params: dict[str, Any] | None) -> str | None:
    """Hyperparameters as canonical JSON (sorted keys: equal dicts give equal text); values
    JSON cannot hold are written as their ``str``, NaN and infinities as null."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict or None, not {type(params).__name__}")
    loose = json.dumps(dict(params), default=str)  # NaN and Infinity are not JSON: nulled below
    return json.dumps(json.loads(loose, parse_constant=lambda _: None), sort_keys=True)


def params_from_db(value: Any) -> dict[str, Any] | None:
    """The params column as read back (JSON text from SQLite, a dict from PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {"value": loaded}
    return dict(value)
