"""LatestValueWriter: newest snapshot wins, nothing is lost at close, no thread is left.
ProcessWorker: one thread per process, jobs in order, none lost at exit or after a fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nature_callback.background import LatestValueWriter, ProcessWorker


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nature-record-writer"]


def test_the_last_snapshot_is_written_and_the_thread_joined() -> None:
    written: list[int] = []

    def slow_write(value: int) -> None:
        time.sleep(0.01)
        written.append(value)

    writer: LatestValueWriter[int] = LatestValueWriter(slow_write)
    for value in range(50):
        writer.submit(value)
    writer.close()
    assert written[-1] == 49
    assert written == sorted(written)  # never an older snapshot after a newer one
    assert len(written) < 50  # superseded snapshots were skipped
    assert writer_threads() == []


def test_flush_waits_for_the_pending_write() -> None:
    written: list[str] = []
    writer: LatestValueWriter[str] = LatestValueWriter(lambda v: (time.sleep(0.05), written.append(v)))
    writer.submit("a")
    writer.flush()
    assert written == ["a"]
    writer.close()
    with pytest.raises(RuntimeError, match="after close"):
        writer.submit("b")


def test_a_failing_write_is_logged_and_later_snapshots_still_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: list[int] = []

    def write(value: int) -> None:
        if value == 0:
            raise OSError("disk full")
        written.append(value)

    writer: LatestValueWriter[int] = LatestValueWriter(write)
    writer.submit(0)
    writer.flush()
    writer.submit(1)
    writer.close()
    assert written == [1]
    assert "disk full" in caplog.text
    assert writer_threads() == []


def test_min_interval_batches_bursts_and_close_writes_at_once() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=30.0)
    for value in range(1, 10):  # the first write waits out the interval too: none yet
        writer.submit(value)
    time.sleep(0.05)
    assert written == []
    started = time.monotonic()
    writer.close()  # cuts the wait short and writes the newest snapshot
    assert time.monotonic() - started < 5.0
    assert written == [9]
    assert writer_threads() == []


def test_close_without_writing_pending_drops_the_queued_snapshot() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=30.0)
    writer.submit(1)  # waits out the 30 s interval: still queued when close() comes
    started = time.monotonic()
    writer.close(write_pending=False)
    assert time.monotonic() - started < 5.0
    assert written == []
    assert writer_threads() == []


def test_writes_are_an_interval_apart_the_first_an_interval_after_the_start() -> None:
    written: list[tuple[int, float]] = []
    made = time.monotonic()
    writer: LatestValueWriter[int] = LatestValueWriter(
        lambda value: written.append((value, time.monotonic())), min_interval_s=0.3)
    writer.submit(1)
    writer.flush()
    assert written[0][1] - made >= 0.25
    writer.submit(2)  # the resting thread is not woken; it finds this when the rest ends
    writer.flush()
    assert [value for value, _ in written] == [1, 2]
    assert written[1][1] - written[0][1] >= 0.25
    writer.submit(3)  # and after that write it rests again, then waits, and is woken
    writer.flush()
    writer.close()
    assert [value for value, _ in written] == [1, 2, 3]
    assert writer_threads() == []


def test_no_thread_before_the_first_write_is_due_then_a_submit_starts_it() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=0.2)
    writer.submit(1)  # due only 0.2 s after the writer was made: no thread yet
    assert writer_threads() == [] and written == []
    time.sleep(0.25)
    writer.submit(2)  # now due: a thread starts and writes the newest snapshot at once
    assert len(writer_threads()) == 1
    writer.flush()
    assert written == [2]
    writer.close()
    assert writer_threads() == []


def test_flush_writes_a_snapshot_that_no_thread_has_taken_yet() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=0.2)
    writer.submit(1)
    writer.flush()  # starts the thread, which waits out the interval, then writes
    assert written == [1]
    writer.close()


def test_a_slow_write_makes_the_rest_longer_to_keep_the_busy_fraction() -> None:
    written: list[float] = []

    def slow_write(_: int) -> None:
        time.sleep(0.05)
        written.append(time.monotonic())

    writer: LatestValueWriter[int] = LatestValueWriter(
        slow_write, min_interval_s=0.0, first_after_s=0.0, max_busy_fraction=0.1)
    writer.submit(1)
    writer.flush()
    writer.submit(2)  # rests 0.05 s / 0.1 = 0.5 s after the first write, not 0 s
    writer.flush()
    writer.close()
    assert len(written) == 2 and written[1] - written[0] >= 0.45 + 0.05


def test_first_after_overrides_the_interval_for_the_first_write() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=30.0,
                                                       first_after_s=0.0)
    writer.submit(1)  # due at once: a thread starts and writes it
    writer.flush()
    assert written == [1] and len(writer_threads()) == 1
    writer.close()


def test_snapshots_are_wanted_once_the_first_write_is_due() -> None:
    writer: LatestValueWriter[int] = LatestValueWriter(lambda _: None, min_interval_s=0.2)
    assert not writer.wants_snapshots()
    time.sleep(0.25)
    assert writer.wants_snapshots()
    writer.submit(1)  # starts the thread, which keeps wanting them
    writer.flush()
    assert writer.wants_snapshots()
    writer.close()


def test_the_process_worker_runs_every_job_in_order_in_one_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = ProcessWorker("nature-test-worker")
    ran: list[tuple[int, int | None]] = []

    def job(value: int) -> None:
        ran.append((value, threading.get_ident()))

    def failing() -> None:
        raise OSError("disk full")

    futures = [worker.submit(lambda v=v: job(v)) for v in range(3)]
    futures.append(worker.submit(failing))
    futures.append(worker.submit(lambda: job(3)))
    for future in futures:
        future.result(timeout=10)  # a failing job is logged, not raised into the waiter
    assert [value for value, _ in ran] == [0, 1, 2, 3]
    assert len({ident for _, ident in ran}) == 1 and ran[0][1] != threading.get_ident()
    assert any("disk full" in record.getMessage() or "disk full" in str(record.exc_info)
               for record in caplog.records)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_worker_of_its_own(tmp_path: Path) -> None:
    worker = ProcessWorker("nature-test-worker")
    worker.submit(lambda: None).result(timeout=10)  # the parent's thread exists now
    marker = tmp_path / "child-ran"
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here; a new one must run the job
        try:
            worker.submit(marker.touch).result(timeout=10)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert marker.exists()


def test_a_job_submitted_while_the_interpreter_exits_runs_at_once(tmp_path: Path) -> None:
    marker = tmp_path / "ran-at-exit"
    script = (
        "import atexit, pathlib\n"
        "from nature_callback.background import ProcessWorker\n"
        "worker = ProcessWorker('nature-test-worker')\n"
        "worker.submit(lambda: None).result()\n"
        f"atexit.register(lambda: worker.submit(pathlib.Path({str(marker)!r}).touch))\n"
    )  # atexit handlers run after the executors have shut down: no new thread is allowed
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert marker.exists()
