"""Time ``nature report --project`` over a SQLite ledger of 1,000 runs.

The ledger is made by ``RunLedger`` (the real table, schema version 3) and filled in one
transaction (1,000 single-row commits would time the disk, not the report): 1,000 runs of one
project, a hyperparameter search of 20 settings (lr × batch), plus 1,000 runs of another
project that the report must skip. Two figures:

* in process: ``nature_callback.cli.main([...])``, output discarded, median of ``--repeats``;
* the whole command in a fresh process (``nature report --project ...``): interpreter
  start-up and imports included, median of ``--repeats``.

Target: <= 1 s for the whole command.

    python benchmarks/report_project.py
    python benchmarks/report_project.py --runs 1000 --repeats 7
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from import_time import nature_command

from nature_callback.cli import main as nature_main
from nature_callback.ledger import RunLedger
from nature_callback.ledger.schema import params_json

TARGET_S = 1.0
PROJECT = "search"


def fill(path: Path, runs: int) -> None:
    """``runs`` runs of ``PROJECT`` and as many of another project."""
    RunLedger(path).record("first", PROJECT, "2026-01-01T00:00:00+00:00", status="completed",
                           epochs=10, energy_j=1.0, co2e_kg=1e-6, ended=True)  # makes the table
    rows = []
    for n in range(1, 2 * runs):
        project = PROJECT if n < runs else "other"
        params = {"lr": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4][n % 5], "batch": [32, 64, 128, 256][n % 4],
                  "optimizer": "adamw"}
        rows.append((f"run{n:05d}", project, f"2026-01-{1 + n // 1440:02d}T{n // 60 % 24:02d}:"
                     f"{n % 60:02d}:00+00:00", "2026-02-01T00:00:00+00:00", "completed", 10,
                     1000.0 + n, 1e-4 * n, "bench-host", 1, params_json(params)))
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO runs (run_id, project, started_at, ended_at, status, epochs, energy_j, "
            "co2e_kg, host, pid, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.close()


def in_process_s(argv: list[str]) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = nature_main(argv)
    elapsed_s = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"nature {' '.join(argv)} failed ({code})")
    return elapsed_s


def command_s(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*nature_command(), *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="runs of the project")
    parser.add_argument("--repeats", type=int, default=7, help="timings per figure")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nature-report-bench-"))
    try:
        ledger = folder / "ledger.sqlite"
        fill(ledger, args.runs)
        argv = ["report", "--project", PROJECT, "--ledger", str(ledger)]
        assert RunLedger(ledger).count(PROJECT) == args.runs
        in_process_s(argv)  # warm the file cache and the imports; not counted
        inside = statistics.median(in_process_s(argv) for _ in range(args.repeats))
        whole = statistics.median(command_s(argv) for _ in range(args.repeats))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"nature report --project over {args.runs} runs (+{args.runs} of another project), "
          f"median of {args.repeats}; Python {sys.version.split()[0]}")
    print(f"  in process (main):            {inside:.3f} s")
    print(f"  whole command, fresh process: {whole:.3f} s  (target <= {TARGET_S} s: "
          f"{'met' if whole <= TARGET_S else 'NOT met'})")


if __name__ == "__main__":
    main()
