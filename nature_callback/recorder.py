"""Writes a run's records: ``nature_epochs.jsonl``, ``nature_summary.json`` and the ledger row.

Synchronous and short: one appended, flushed line per epoch; the summary (replaced
atomically) and the ledger row at the start and at the end of the run (crash and interrupt
included). A file or ledger that cannot be written gives one warning naming it; training goes
on and the other outputs are still written.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from nature_callback.exceptions import LedgerError, LedgerLockedError, NatureWarning
from nature_callback.files import atomic_write_json, compact_json
from nature_callback.ledger import PostgresURL, RunLedger
from nature_callback.records import EpochRecord, RunSummary, StepRecord, WindowRecord
from nature_callback.run_files import RunFiles

log = logging.getLogger(__name__)


ROW_RETRY_S = 30.0
"""How long the final ledger row waits for another process's lock, off the training thread."""


def _record(ledger: RunLedger, summary: RunSummary) -> None:
    ledger.record(summary.run_id, summary.project, summary.started_at, status=summary.status,
                  epochs=summary.epochs, energy_j=summary.energy_j, co2e_kg=summary.co2e_kg,
                  ended=summary.status != "running", params=summary.params or None)


def _record_or_warn(ledger: RunLedger, summary: RunSummary) -> None:
    try:
        _record(ledger, summary)
    except LedgerError as err:
        log.warning("the run's final ledger row was not written: %s", err)


ORPHAN_AGE_S = 60.0
"""A temporary summary file older than this was left by a killed process (a write takes
milliseconds) and is removed when a run starts in its folder."""


def _remove_orphans(summary: Path) -> None:
    """Remove temporary summary files that a killed process left beside ``summary``."""
    now_s = time.time()
    for orphan in summary.parent.glob(f".{summary.name}.*.tmp"):
        try:
            if now_s - orphan.stat().st_mtime > ORPHAN_AGE_S:
                orphan.unlink()
        except OSError:
            pass  # gone already, or not ours to remove


def _open_no_follow(path: str, flags: int) -> int:
    """``open`` that refuses to follow a symbolic link at the last component."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o666)


Record = EpochRecord | WindowRecord | StepRecord

LINE_TYPES: dict[type, str] = {EpochRecord: "epoch", WindowRecord: "window", StepRecord: "step"}
"""The ``type`` of each record's line in the JSON Lines file."""


def record_line(record: Record) -> str:
    """One record as a line of the JSON Lines file."""
    return compact_json({"type": LINE_TYPES[type(record)], **record.to_dict()}) + "\n"


class Recorder:
    """The files and ledger row of one run (on the process that writes them)."""

    def __init__(self, files: RunFiles, ledger: RunLedger | None) -> None:
        self.files = files
        self.ledger = ledger
        self._epochs_file: IO[str] | None = None
        self._failed: set[str] = set()
        """Outputs already reported as failing (each is reported once)."""
        self._pending_row: RunSummary | None = None
        """A ledger row that met another process's lock, to be written later."""
        self.retry_thread: threading.Thread | None = None
        """The thread writing the final row after a lock, if one was needed."""

    def begin(self, header: dict[str, Any], records: Sequence[Record],
              summary: RunSummary) -> None:
        """Start the epochs file (header, then the records a resumed run carries), write the
        first summary and the ledger row. Called again (a resume), it starts the file anew."""
        self._close_epochs_file()
        try:
            self.files.epochs.parent.mkdir(parents=True, exist_ok=True)
            _remove_orphans(self.files.summary)
            if self.files.epochs.is_symlink():  # never write through a link planted there
                self.files.epochs.unlink()
            self._epochs_file = open(self.files.epochs, "w", encoding="utf-8",  # noqa: SIM115
                                     opener=_open_no_follow)
            self._epochs_file.write(compact_json({"type": "header", **header}) + "\n")
            self._epochs_file.writelines(record_line(record) for record in records)
            self._epochs_file.flush()
        except OSError as err:
            self._report("epochs", self.files.epochs, err)
            self._close_epochs_file()
        self.write_summary(summary)

    @property
    def row_pending(self) -> bool:
        """Whether a ledger row met another process's lock and waits to be written."""
        return self._pending_row is not None

    def append(self, record: Record) -> None:
        """Append one record's line and flush it to the operating system (no fsync)."""
        if self._epochs_file is None:
            return
        try:
            self._epochs_file.write(record_line(record))
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
        """Insert or update the run's ledger row. If another process holds the ledger's lock,
        the row is kept and written at the next epoch end or at ``close()``."""
        if self.ledger is None:
            return
        try:
            _record(self.ledger, summary)
            self._pending_row = None
        except LedgerLockedError:
            self._pending_row = summary
        except LedgerError as err:
            self._report("ledger", self.ledger.path, err)
            self.ledger = None

    def close(self) -> None:
        """Close the epochs file. A ledger row still waiting for a lock is written by a
        thread that the interpreter waits for at exit (``ROW_RETRY_S`` at most)."""
        self._close_epochs_file()
        summary, self._pending_row = self._pending_row, None
        if summary is not None and self.ledger is not None:
            ledger = RunLedger(self.ledger.path, timeout_s=ROW_RETRY_S)
            thread = threading.Thread(target=_record_or_warn, args=(ledger, summary),
                                      name="nature-ledger-retry", daemon=False)
            thread.start()
            self.retry_thread = thread

    def _close_epochs_file(self) -> None:
        file, self._epochs_file = self._epochs_file, None
        if file is not None:
            try:
                file.close()
            except OSError as err:
                self._report("epochs", self.files.epochs, err)

    def _report(self, what: str, path: Path | PostgresURL, err: Exception) -> None:
        if what in self._failed:
            return
        self._failed.add(what)
        hint = ("set ledger_path= to a writable file, or ledger_path=False" if what == "ledger"
                else "set output_dir= to a writable folder")
        warnings.warn(f"could not write the run's {what} at {path}: {err}. Training goes on; "
                      f"{hint}.", NatureWarning, stacklevel=3)

