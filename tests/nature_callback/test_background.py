"""LatestValueWriter: newest snapshot wins, nothing is lost at close, no thread is left."""

from __future__ import annotations

import threading
import time

import pytest

from nature_callback.background import LatestValueWriter


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
    writer.submit(1)
    writer.flush()
    for value in range(2, 10):  # inside the 30 s rest: nothing more is written yet
        writer.submit(value)
    time.sleep(0.05)
    assert written == [1]
    started = time.monotonic()
    writer.close()  # cuts the rest short and writes the newest snapshot
    assert time.monotonic() - started < 5.0
    assert written == [1, 9]
    assert writer_threads() == []


def test_close_without_writing_pending_drops_the_queued_snapshot() -> None:
    written: list[int] = []
    writer: LatestValueWriter[int] = LatestValueWriter(written.append, min_interval_s=30.0)
    writer.submit(1)
    writer.flush()
    writer.submit(2)  # waits out the 30 s rest: still queued when close() comes
    writer.close(write_pending=False)
    assert written == [1]
    assert writer_threads() == []


def test_a_snapshot_submitted_during_the_rest_is_written_when_the_rest_ends() -> None:
    written: list[tuple[int, float]] = []
    writer: LatestValueWriter[int] = LatestValueWriter(
        lambda value: written.append((value, time.monotonic())), min_interval_s=0.3)
    writer.submit(1)
    writer.flush()
    writer.submit(2)  # the resting thread is not woken; it finds this when the rest ends
    writer.flush()
    assert [value for value, _ in written] == [1, 2]
    assert written[1][1] - written[0][1] >= 0.25
    writer.submit(3)  # and after that write it rests again, then waits, and is woken
    writer.flush()
    writer.close()
    assert [value for value, _ in written] == [1, 2, 3]
    assert writer_threads() == []
