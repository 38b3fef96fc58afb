"""Writes a run's records: ``nature_epochs.jsonl``, ``nature_summary.json`` and the ledger row.

Synchronous and short: one appended, flushed line per epoch; the summary (replaced
atomically) and the ledger row at the start and at the end of the run (crash and interrupt
included). A file or ledger that cannot be written gives one warning naming it; training goes
on and the other outputs are still written.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from nature_callback.exceptions import LedgerError, NatureWarning
from nature_callback.files import atomic_write_json, compact_json
from nature_callback.ledger import RunLedger
from nature_callback.records import EpochRecord, RunSummary
from nature_callback.run_files import RunFiles

log = logging.getLogger(__name__)


def epoch_line(record: EpochRecord) -> str:
    """One epoch as a line of the JSON Lines file."""
    return compact_json({"type": "epoch", **record.to_dict()}) + "\n"


class Recorder:
    """The files and ledger row of one run (on the process that writes them)."""

    def __init__(self, files: RunFiles, ledger: RunLedger | None) -> None:
        self.files = files
        self.ledger = ledger
        self._epochs_file: IO[str] | None = None
        self._failed: set[str] = set()
        """Outputs already reported as failing (each is reported once)."""

    def begin(self, header: dict[str, Any], records: Sequence[EpochRecord],
              summary: RunSummary) -> None:
        """Start the epochs file (header, then the epochs a resumed run carries), write the
        first summary and the ledger row. Called again (a resume), it starts the file anew."""
        self._close_epochs_file()
        try:
            self.files.epochs.parent.mkdir(parents=True, exist_ok=True)
            self._epochs_file = open(self.files.epochs, "w", encoding="utf-8")  # noqa: SIM115
            self._epochs_file.write(compact_json({"type": "header", **header}) + "\n")
            self._epochs_file.writelines(epoch_line(record) for record in records)
            self._epochs_file.flush()
        except OSError as err:
            self._report("epochs", self.files.epochs, err)
            self._close_epochs_file()
        self.write_summary(summary)

    def append(self, record: EpochRecord) -> None:
        """Append one epoch's line and flush it to the operating system (no fsync)."""
        if self._epochs_file is None:
            return
        try:
            self._epochs_file.write(epoch_line(record))
            self._epochs_file.flush()
        except OSError as err:
            self._report("epochs", self.files.epochs, err)
            self._close_epochs_file()

    def write_summary(self, summary: RunSummary, *, ledger: bool = True) -> None:
        """Replace ``nature_summary.json`` atomically; update the ledger row."""
        try:
            atomic_write_json(self.files.summary, summary.to_dict())
        except OSError as err:
            self._report("summary", self.files.summary, err)
        if ledger:
            self.write_ledger(summary)

    def write_ledger(self, summary: RunSummary) -> None:
        """Insert or update the run's ledger row."""
        if self.ledger is None:
            return
        try:
            self.ledger.record(
                summary.run_id, summary.project, summary.started_at, status=summary.status,
                epochs=summary.epochs, energy_j=summary.energy_j, co2e_kg=summary.co2e_kg,
                ended=summary.status != "running",
            )
        except LedgerError as err:
            self._report("ledger", self.ledger.path, err)
            self.ledger = None

    def close(self) -> None:
        """Close the epochs file."""
        self._close_epochs_file()

    def _close_epochs_file(self) -> None:
        file, self._epochs_file = self._epochs_file, None
        if file is not None:
            try:
                file.close()
            except OSError as err:
                self._report("epochs", self.files.epochs, err)

    def _report(self, what: str, path: Path, err: Exception) -> None:
        if what in self._failed:
            return
        self._failed.add(what)
        hint = ("set ledger_path= to a writable file, or ledger_path=False" if what == "ledger"
                else "set output_dir= to a writable folder")
        warnings.warn(f"could not write the run's {what} at {path}: {err}. Training goes on; "
                      f"{hint}.", NatureWarning, stacklevel=3)

