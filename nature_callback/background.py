"""Write the latest snapshot of a record off the training thread.

Each epoch produces a new snapshot of the run (JSON record, ledger row). Writing it
costs milliseconds (serialisation, a file, an SQLite commit), so the tracker hands it
to one background thread instead; only the newest pending snapshot is written, older
ones are superseded.

* ``min_interval_s``: writes are at least that far apart (a burst of short epochs costs one
  write, not one per epoch).
* ``first_after_s``: the first write comes no sooner than that after the writer was made, and
  no thread is started before then (a run shorter than that writes only its final record).
* ``max_busy_fraction``: after a write that took w seconds the thread rests at least
  w / max_busy_fraction, so a record that grows with a long run never takes more than that
  share of the time (or of the interpreter's lock) from training.

``close()`` writes what is pending at once and joins the thread; ``close(write_pending=False)``
drops it instead (for a caller about to write a newer snapshot itself).

``ProcessWorker`` runs the jobs that must outlive a run but not the process (the final ledger
row) in one thread per process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class LatestValueWriter(Generic[T]):
    """Calls ``write(snapshot)`` in a background thread for the newest submitted snapshot."""

    def __init__(self, write: Callable[[T], None], name: str = "nature-record-writer",
                 min_interval_s: float = 0.0, first_after_s: float | None = None,
                 max_busy_fraction: float | None = None) -> None:
        self._write = write
        self._name = name
        self._min_interval_s = min_interval_s
        self._first_write_at_s = time.monotonic() + (
            min_interval_s if first_after_s is None else first_after_s)
        self._max_busy_fraction = max_busy_fraction
        self._condition = threading.Condition()
        self._pending: T | None = None
        self._has_pending = False
        self._busy = False
        self._idle = False
        """The thread waits for a snapshot (rather than resting between writes)."""
        self._closing = False
        self._thread: threading.Thread | None = None
        self._warned = False

    def submit(self, snapshot: T) -> None:
        """Queue ``snapshot``, replacing any snapshot not yet written; returns at once."""
        with self._condition:
            if self._closing:
                raise RuntimeError("LatestValueWriter.submit() after close()")
            self._pending, self._has_pending = snapshot, True
            if self._thread is None:
                # No thread before the first write is due (a later submit starts it), so a run
                # shorter than the interval costs no thread at all: close() writes it.
                if time.monotonic() >= self._first_write_at_s:
                    self._start_thread()
            elif self._idle:  # a resting thread finds it when its rest ends: no wake-up needed
                self._condition.notify_all()

    def wants_snapshots(self) -> bool:
        """False until the first write is due: a snapshot submitted before then would only be
        superseded (the submitter may skip making it)."""
        return self._thread is not None or time.monotonic() >= self._first_write_at_s

    def flush(self) -> None:
        """Block until every submitted snapshot has been written (or superseded)."""
        with self._condition:
            if self._thread is None and self._has_pending and not self._closing:
                self._start_thread()
            while self._thread is not None and (self._has_pending or self._busy):
                self._condition.wait()

    def close(self, write_pending: bool = True) -> None:
        """Write what is pending (or drop it), stop the thread and join it; idempotent."""
        with self._condition:
            self._closing = True
            if not write_pending:
                self._pending, self._has_pending = None, False
            self._condition.notify_all()
            thread = self._thread
            unwritten = thread is None and self._has_pending
            snapshot = self._pending
            if unwritten:
                self._pending, self._has_pending = None, False
        if thread is not None:
            thread.join()
        elif unwritten:  # never handed to a thread: written here, as the thread would have
            self._write_safely(snapshot)  # type: ignore[arg-type]

    def _start_thread(self) -> None:
        """Start the writer thread; the caller holds the condition."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _write_safely(self, snapshot: T) -> None:
        """``write(snapshot)``; a failure is logged (once), never raised."""
        try:
            self._write(snapshot)
        except Exception as err:  # noqa: BLE001 - a failed write must not kill the writer
            if not self._warned:
                log.warning("could not write the energy record: %s", err)
                self._warned = True

    def _run(self) -> None:
        with self._condition:  # the first write waits out the interval too; close() cuts it short
            self._condition.wait_for(
                lambda: self._closing, timeout=max(self._first_write_at_s - time.monotonic(), 0.0))
        while True:
            with self._condition:
                self._idle = True
                while not self._has_pending and not self._closing:
                    self._condition.wait()
                self._idle = False
                if not self._has_pending:  # closing with nothing left to write
                    self._thread = None
                    self._condition.notify_all()
                    return
                snapshot, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            started_s = time.perf_counter()
            try:
                self._write_safely(snapshot)  # type: ignore[arg-type]
            finally:
                rest_s = self._rest_after(time.perf_counter() - started_s)
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()
                    # rest before the next write; close() cuts the rest short
                    self._condition.wait_for(lambda: self._closing, timeout=rest_s)

    def _rest_after(self, write_s: float) -> float:
        """The rest after a write that took ``write_s``: the interval, or longer for a slow
        write when a busy fraction is set."""
        if self._max_busy_fraction is None:
            return self._min_interval_s
        return max(self._min_interval_s, write_s / self._max_busy_fraction)


class ProcessWorker:
    """One background thread per process for short jobs that must be done before the
    interpreter exits (the final ledger row of each run).

    The thread starts with the first job and stays for the next ones, so a process that fits
    many times (a sweep) starts it once instead of once per run. At exit the interpreter waits
    for the queued jobs (``concurrent.futures`` joins its workers before it stops). A forked
    child gets a worker of its own (the parent's thread does not exist there). A job that
    raises is logged, never raised into the submitter.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def submit(self, job: Callable[[], None]) -> Future[None]:
        """Run ``job`` in this process's worker thread; returns at once."""
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                self._pid = os.getpid()
            try:
                return self._executor.submit(self._run_logged, job)
            except RuntimeError:  # the interpreter is shutting down: no new threads, run it here
                done: Future[None] = Future()
                self._run_logged(job)
                done.set_result(None)
                return done

    def _run_logged(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - nobody may wait for the result: log it
            log.exception("background job of %s failed", self._name)
