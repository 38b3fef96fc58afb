"""The meters' building blocks: trapezoid rule, warn-once, the periodic thread."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from nature_callback.exceptions import MeterWarning
from nature_callback.meters._integrate import TrapezoidIntegrator
from nature_callback.meters._warn import OnceWarner
from nature_callback.meters._worker import PeriodicWorker


def test_trapezoid_is_exact_for_a_linear_ramp() -> None:
    # P(t) = 100 + 20 t W sampled at uneven times: ∫0..3 = 300 + 10·9 = 390 J
    integrator = TrapezoidIntegrator(0.0, 100.0)
    for t in (0.1, 0.25, 1.0, 2.2, 3.0):
        integrator.add(t, 100.0 + 20.0 * t)
    assert integrator.total == pytest.approx(390.0, rel=1e-12)


def test_trapezoid_ignores_a_sample_that_does_not_move_time() -> None:
    integrator = TrapezoidIntegrator(1.0, 10.0)
    integrator.add(1.0, 50.0)  # same instant: only the level changes
    integrator.add(2.0, 50.0)
    assert integrator.total == pytest.approx(50.0)


def test_once_warner_emits_each_key_once_from_the_flushing_thread() -> None:
    warner = OnceWarner()
    noted = []
    thread = threading.Thread(target=lambda: noted.append(warner.note("gpu0", "lost", "gpu0 lost")))
    thread.start()
    thread.join()
    assert noted == [True]
    assert warner.note("gpu0", "lost", "gpu0 lost again") is False
    assert warner.note("gpu1", "lost", "gpu1 lost") is True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warner.flush()
        warner.flush()
    assert [str(w.message) for w in caught] == ["gpu0 lost", "gpu1 lost"]
    assert all(w.category is MeterWarning for w in caught)


def test_worker_ticks_and_stops_promptly() -> None:
    ticks = []
    worker = PeriodicWorker("nature-test-worker", 0.005, lambda: ticks.append(1), pytest.fail)
    worker.start()
    deadline = time.monotonic() + 5
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(ticks) >= 3
    assert worker.stop(timeout_s=1.0)
    slow = PeriodicWorker("nature-test-slow", 60.0, lambda: None, pytest.fail)
    slow.start()
    started = time.monotonic()
    assert slow.stop(timeout_s=1.0)
    assert time.monotonic() - started < 1.0


def test_worker_reports_a_crash_and_ends() -> None:
    errors: list[Exception] = []

    def boom() -> None:
        raise RuntimeError("sensor exploded")

    worker = PeriodicWorker("nature-test-crash", 0.001, boom, errors.append)
    worker.start()
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.002)
    assert worker.stop(timeout_s=1.0)
    assert len(errors) == 1 and "sensor exploded" in str(errors[0])
