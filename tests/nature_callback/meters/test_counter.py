"""A counter that moves every 100 ms, read in windows shorter than that (issue 15, item 5)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from tests.nature_callback.meters.fakes import FakeClock, FakeGpu, SteppedCounter, make_fake_nvml

from nature_callback.meters import NvmlMeter
from nature_callback.meters._counter import (
    DETECT_MAX_S,
    UNKNOWN_PERIOD_CAP_S,
    CounterBridge,
    CounterStart,
    watch_counters,
)


def _meter_on(clock: FakeClock, power_w: float = 400.0, period_s: float = 0.1
              ) -> tuple[NvmlMeter, SteppedCounter]:
    gpu = FakeGpu()
    counter = SteppedCounter(clock, gpu, power_w=power_w, period_s=period_s,
                             first_update_s=clock.now() + 0.037)
    return NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock), counter


def _windows(meter: NvmlMeter, clock: FakeClock, lengths_s: list[float]) -> list[float]:
    """Energy of consecutive windows, as the tracker takes it: differences of readings."""
    before = meter.read()[0].energy_j
    energies = []
    for length_s in lengths_s:
        clock.advance(length_s)
        after = meter.read()[0].energy_j
        energies.append(after - before)
        before = after
    return energies


def test_start_learns_the_update_period(clock: FakeClock) -> None:
    meter, _ = _meter_on(clock)
    started = clock.now()
    meter.start()
    (reading,) = meter.read()
    meter.stop()
    assert reading.update_period_s == pytest.approx(0.1, abs=0.002)
    assert clock.now() - started < DETECT_MAX_S  # it stopped polling once it knew


def test_short_windows_do_not_read_zero(clock: FakeClock) -> None:
    """The issue's reproduction: 100 ms updates at 400 W, three 30 ms windows: 12 J each
    (they read 0 J), then a 50 ms window across an update: 20 J (it read 40 J)."""
    meter, counter = _meter_on(clock)
    meter.start()
    clock.advance(counter.next_update_s + 0.005 - clock.now())  # 5 ms after an update
    three = _windows(meter, clock, [0.03, 0.03, 0.03])
    fifty = _windows(meter, clock, [0.05])
    (reading,) = meter.read()
    meter.stop()
    assert three == pytest.approx([12.0, 12.0, 12.0], abs=0.01)
    assert fifty == pytest.approx([20.0], abs=1.0)
    assert reading.interpolated_j > 0  # labelled: part of the figure is bridged by power


def test_the_sum_of_windows_is_the_counter_total_plus_the_labelled_bridge(clock: FakeClock) -> None:
    meter, counter = _meter_on(clock, power_w=300.0)
    meter.start()
    start_j = counter.true_j
    lengths = [0.013, 0.2, 0.031, 0.007, 1.5, 0.09, 0.04, 0.11]
    readings = [meter.read()[0].energy_j]
    for power_w in (300.0, 650.0, 80.0):  # steps in power: the bridge over- or undershoots
        counter.set_power(power_w)
        for length_s in lengths:
            clock.advance(length_s)
            readings.append(meter.read()[0].energy_j)
    windows = [after - before for before, after in zip(readings, readings[1:])]
    (last,) = meter.read()
    first_mj = meter._channels[0].bridge.base_mj  # type: ignore[attr-defined]
    meter.stop()
    counter_j = (counter.gpu.energy_mj - first_mj) / 1000.0
    assert all(w >= 0 for w in windows)
    assert readings[0] == 0.0
    assert sum(windows) == pytest.approx(last.energy_j, abs=1e-9)  # differences telescope
    assert last.energy_j - last.interpolated_j == pytest.approx(counter_j, abs=1e-9)
    assert 0 <= last.interpolated_j <= 650.0 * 0.1  # at most one update period of power
    assert last.energy_j == pytest.approx(counter.true_j - start_j, abs=650.0 * 0.1)


def test_a_counter_that_never_moves_at_start_is_bridged_at_most_a_second() -> None:
    bridge = CounterBridge(CounterStart(counter_mj=1_000, phase_s=None, period_s=None), 0.0)
    bridge.advance(5.0, 1_000, power_w=100.0)
    assert bridge.energy_j == pytest.approx(100.0 * UNKNOWN_PERIOD_CAP_S)
    assert bridge.interpolated_j == bridge.energy_j


def test_the_figure_never_goes_down_when_the_bridge_overshot() -> None:
    bridge = CounterBridge(CounterStart(counter_mj=0, phase_s=0.0, period_s=0.1), 0.0)
    bridge.advance(0.09, 0, power_w=1000.0)  # a spike: 90 J bridged
    assert bridge.energy_j == pytest.approx(90.0)
    bridge.advance(0.11, 20_000, power_w=50.0)  # the counter says 20 J: the spike was brief
    assert bridge.energy_j == pytest.approx(90.0) and bridge.interpolated_j == pytest.approx(70.0)
    bridge.advance(0.51, 110_000, power_w=50.0)  # the counter catches up
    assert bridge.energy_j == pytest.approx(110.0 + 50.0 * 0.01)
    assert bridge.interpolated_j == pytest.approx(0.5)


def test_power_unreadable_means_no_bridge_not_a_failure() -> None:
    bridge = CounterBridge(CounterStart(counter_mj=0, phase_s=None, period_s=None), 0.0)
    bridge.advance(0.05, 0, power_w=None)
    assert bridge.energy_j == 0.0
    bridge.advance(0.2, 30_000, power_w=None)
    assert bridge.energy_j == pytest.approx(30.0) and bridge.interpolated_j == 0.0


def test_watching_stops_at_the_bound_for_a_still_counter(clock: FakeClock) -> None:
    (start,) = watch_counters([(lambda: 5, 5)], clock)
    assert start == CounterStart(counter_mj=5, phase_s=None, period_s=None)
    assert clock.now() - 100.0 == pytest.approx(DETECT_MAX_S, abs=0.01)


def _stepping(period_s: float, power_w: float) -> Callable[[float], int]:
    """A counter (mJ) updated every ``period_s`` from t = 0, holding the true energy then."""
    return lambda t_s: round(math.floor(t_s / period_s) * period_s * power_w * 1000)


def _short_windows(bridge: CounterBridge, counter: Callable[[float], int], start_s: float,
                   count: int, length_s: float, power_w: float) -> list[float]:
    """``count`` consecutive windows of ``length_s`` from ``start_s``: their energies."""
    bridge.advance(start_s, counter(start_s), power_w)
    energies, before = [], bridge.energy_j
    for index in range(1, count + 1):
        t_s = start_s + index * length_s
        bridge.advance(t_s, counter(t_s), power_w)
        energies.append(bridge.energy_j - before)
        before = bridge.energy_j
    return energies


def test_a_late_phase_estimate_does_not_make_short_windows_read_zero() -> None:
    """Under load the polls at start are far apart: a phase 6 ms late (a 12 ms poll gap:
    ± 6 ms) made a read 2 ms after an update, after a long gap, place the update a whole
    period earlier; the overshoot then held the figure still, and 10 ms windows read 0 J for
    the rest of that period. The change now counts from the read itself, and no window reads
    0 J."""
    counter = _stepping(0.1, 400.0)
    bridge = CounterBridge(CounterStart(counter(0.306), phase_s=0.306, period_s=0.1,
                                        phase_error_s=0.006, period_error_s=0.0002), 0.306)
    windows = _short_windows(bridge, counter, 0.602, 10, 0.01, 400.0)
    assert min(windows) > 0
    assert windows[:-1] == pytest.approx([4.0] * 9, abs=1e-6)  # 400 W × 10 ms
    assert 0 <= bridge.interpolated_j <= 400.0 * 0.1


def test_a_drifted_phase_is_not_trusted_and_close_reads_re_anchor_it() -> None:
    """The period known to 1 %: 50 updates later the predicted phase may be half a period
    off. A read after a long gap then starts the bridge at the read (never early); close
    reads that see an update re-anchor the phase, and predictions are sharp again."""
    counter = _stepping(0.1, 300.0)
    bridge = CounterBridge(CounterStart(0, phase_s=0.0, period_s=0.101, phase_error_s=0.001,
                                        period_error_s=0.001), 0.0)
    assert bridge.prediction_error_s(5.0) > 0.1 / 4  # 50 updates later: not sharp enough
    windows = _short_windows(bridge, counter, 5.003, 30, 0.01, 300.0)
    assert min(windows) > 0
    assert bridge.phase_s == pytest.approx(5.3, abs=0.005)  # the last update seen, ± 5 ms
    assert bridge.phase_error_s <= 0.005
    assert bridge.prediction_error_s(5.31) < 0.1 / 4  # sharp again


def test_anchors_many_updates_apart_sharpen_the_period() -> None:
    counter = _stepping(0.1, 300.0)
    bridge = CounterBridge(CounterStart(0, phase_s=0.0, period_s=0.1004, phase_error_s=0.001,
                                        period_error_s=0.0005), 0.0)
    for t_s in (5.099, 5.101, 8.099, 8.101):  # two updates, each seen between reads 2 ms apart
        bridge.advance(t_s, counter(t_s), 300.0)
    assert bridge.phase_s == pytest.approx(8.1) and bridge.phase_error_s == pytest.approx(0.001)
    assert bridge.period_s == pytest.approx(0.1, abs=1e-9)  # (8.1 - 5.1) / 30 updates
    assert bridge.period_error_s == pytest.approx(0.002 / 30)


def test_start_places_updates_between_the_polls_around_them(clock: FakeClock) -> None:
    gpu = FakeGpu()
    counter = SteppedCounter(clock, gpu, power_w=400.0, period_s=0.1,
                             first_update_s=clock.now() + 0.0371)
    (start,) = watch_counters([(lambda: gpu.energy_mj or 0, gpu.energy_mj or 0)], clock)
    last_update_s = counter.next_update_s - 0.1
    assert start.phase_s == pytest.approx(last_update_s, abs=0.001)  # a 2 ms poll: ± 1 ms
    assert start.phase_error_s == pytest.approx(0.001)
    assert start.period_s == pytest.approx(0.1, abs=2 * 0.001 / 3)
    assert start.period_error_s == pytest.approx(2 * 0.001 / 3)
