"""RunLedger: a real SQLite file, made (folder, file, table) by whichever call comes first."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from nature_callback.exceptions import LedgerError
from nature_callback.ledger import RunLedger


def _record(ledger: RunLedger, run_id: str) -> None:
    ledger.record(run_id, "p", "2026-11-28T00:00:00+00:00", status="completed", epochs=1,
                  energy_j=1.0, co2e_kg=1e-4, ended=True)


def test_runs_are_listed_oldest_first_and_by_project(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path / "l.sqlite")
    ledger.record("b", "p", "2026-11-28T00:00:02+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)
    _record(ledger, "a")
    ledger.record("c", "other", "2026-11-28T00:00:03+00:00", status="crashed", epochs=2,
                  energy_j=5.0, co2e_kg=1e-6, ended=True)
    assert [run.run_id for run in ledger.runs()] == ["a", "b", "c"]
    assert [run.run_id for run in ledger.runs("p")] == ["a", "b"]
    assert ledger.count("p") == 2 and ledger.count("nobody") == 0


def test_recording_a_run_again_updates_its_row_and_keeps_its_end(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path / "l.sqlite")
    ledger.record("a", "p", "2026-11-28T00:00:00+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)
    assert ledger.runs()[0].ended_at is None
    _record(ledger, "a")
    (run,) = ledger.runs()
    assert run.status == "completed" and run.epochs == 1 and run.energy_j == 1.0
    assert run.ended_at is not None


@pytest.mark.parametrize("removal", ["folder", "table"])
def test_a_ledger_removed_after_this_process_made_it_is_made_again(
    tmp_path: Path, removal: str,
) -> None:
    folder = tmp_path / "ledgers"
    path = folder / "l.sqlite"
    _record(RunLedger(path), "a")
    if removal == "folder":
        shutil.rmtree(folder)
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("DROP TABLE runs")
        connection.close()
    _record(RunLedger(path), "b")
    assert [run.run_id for run in RunLedger(path).runs()] == ["b"]


def test_a_ledger_that_cannot_be_made_says_how_to_fix_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(LedgerError, match="ledger_path=False"):
        _record(RunLedger(blocker / "l.sqlite"), "a")


def test_a_version_1_ledger_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with sqlite3.connect(path) as connection:  # the first layout: no host or pid column
        connection.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, project TEXT NOT NULL, started_at TEXT "
            "NOT NULL, ended_at TEXT, status TEXT NOT NULL, epochs INTEGER NOT NULL DEFAULT 0, "
            "energy_j REAL NOT NULL DEFAULT 0, co2e_kg REAL NOT NULL DEFAULT 0, summary TEXT)")
        connection.execute("INSERT INTO runs (run_id, project, started_at, status) VALUES "
                           "('old', 'p', '2026-01-01T00:00:00+00:00', 'completed')")
    connection.close()
    ledger = RunLedger(path)
    _record(ledger, "new")
    assert [run.run_id for run in ledger.runs()] == ["old", "new"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
        host, pid = connection.execute("SELECT host, pid FROM runs WHERE run_id = 'new'").fetchone()
    connection.close()
    assert host and pid == os.getpid()


def test_running_rows_of_processes_that_are_gone_are_marked_killed(tmp_path: Path) -> None:
    import subprocess
    import sys

    ledger = RunLedger(tmp_path / "l.sqlite")
    # a process that records a running row and dies without ending it (as after SIGKILL)
    script = ("from nature_callback.ledger import RunLedger\n"
              f"RunLedger({str(ledger.path)!r}).record('dead', 'p', "
              "'2026-01-01T00:00:00+00:00', status='running', epochs=1, energy_j=1.0, "
              "co2e_kg=0.0)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    ledger.record("alive", "p", "2999-01-01T00:00:00+00:00", status="running", epochs=0,
                  energy_j=0.0, co2e_kg=0.0)  # this process: alive
    assert ledger.mark_killed() == ["dead"]
    statuses = {run.run_id: run.status for run in ledger.runs()}
    assert statuses == {"dead": "killed", "alive": "running"}
