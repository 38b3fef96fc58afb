"""RunLedger: a real SQLite file; the schema is made once per process and file, and made again
when the file, its folder or its table went away since."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from nature_callback.exceptions import LedgerError
from nature_callback.ledger import RunLedger


def _record(ledger: RunLedger, run_id: str) -> None:
    ledger.record(run_id, "p", "2026-11-28T00:00:00+00:00", status="completed", epochs=1,
                  energy_j=1.0, co2e_kg=1e-4, ended=True)


def test_a_second_ledger_object_on_the_same_file_skips_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    _record(RunLedger(path), "a")
    second = RunLedger(path)
    assert second._ready  # known to this process: no folder or table statement
    _record(second, "b")
    assert [run.run_id for run in RunLedger(path).runs()] == ["a", "b"]


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
