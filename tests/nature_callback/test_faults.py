"""Fault injection with real processes: SIGKILL at random points, SIGTERM, eight processes on
one ledger. Whatever happens, the files on disk stay readable and no ledger row is lost."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nature_callback.ledger import RunLedger
from nature_callback.run_files import read_run
from tests.conftest import repo_root

LOOP = """
import sys, time
from nature_callback import NatureTracker
out, ledger, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
with NatureTracker(carbon=300.0, output_dir=out, ledger_path=ledger, gpus=None,
                   planned_epochs=epochs) as tracker:
    print("started", flush=True)
    for _ in range(epochs):
        with tracker.epoch():
            time.sleep(0.002)
print("done", flush=True)
"""
"""A training loop of short epochs: ``python -c LOOP OUT LEDGER EPOCHS``."""


def start_loop(out: Path, ledger: Path, epochs: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(repo_root()))
    return subprocess.Popen([sys.executable, "-c", LOOP, str(out), str(ledger), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_started(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "started", process.stderr.read() if process.stderr else ""


def assert_ledger_intact(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_readable_records(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    ledger = tmp_path / "ledger.sqlite"
    kills = 20
    for index in range(kills):
        out = tmp_path / f"run{index}"
        process = start_loop(out, ledger, epochs=100_000)
        wait_started(process)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        run = read_run(out)  # raises on a corrupt summary
        assert run.summary is not None and run.summary["status"] == "running"
        assert run.header is not None
        assert run.skipped_lines <= 1  # at most the torn last line
        epochs = [epoch["terms"]["epoch"] for epoch in run.epochs]
        assert epochs == list(range(len(epochs)))
    assert_ledger_intact(ledger)
    runs = RunLedger(ledger).runs()
    # each start marks the rows its killed predecessors left running
    assert len(runs) == kills and {run.status for run in runs[:-1]} == {"killed"}
    assert runs[-1].status == "running"
    assert RunLedger(ledger).mark_killed() == [runs[-1].run_id]


def test_sigterm_is_recorded_as_terminated(tmp_path: Path) -> None:
    out, ledger = tmp_path / "run", tmp_path / "ledger.sqlite"
    process = start_loop(out, ledger, epochs=100_000)
    wait_started(process)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    run = read_run(out)
    assert run.summary is not None and run.summary["status"] == "terminated"
    assert run.summary["epochs"] == len(run.epochs) and run.skipped_lines == 0
    (row,) = RunLedger(ledger).runs()
    assert row.status == "terminated" and row.epochs == len(run.epochs)


@pytest.mark.slow
def test_eight_processes_on_one_ledger_lose_no_row(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    processes = [start_loop(tmp_path / f"run{index}", ledger, epochs=50) for index in range(8)]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and "done" in out, err[-2000:]
    assert_ledger_intact(ledger)
    runs = RunLedger(ledger).runs()
    assert len(runs) == 8
    assert all(run.status == "completed" and run.epochs == 50 for run in runs)
    for index in range(8):
        summary = read_run(tmp_path / f"run{index}").summary
        assert summary is not None and summary["status"] == "completed"
        assert {run.run_id for run in runs} >= {summary["run_id"]}
