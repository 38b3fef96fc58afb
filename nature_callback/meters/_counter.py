"""A cumulative energy counter that moves in steps, read as a smooth cumulative figure.

NVML's energy counter does not move at every read: it is updated every 20-100 ms on
recent GPUs (PETSc's ``PetscLogGpuEnergyMeter`` notes; Zeus's ``approx_instant_energy``
exists for the same reason), so a window shorter than that reads 0 J, and the next one
gets its energy. ``CounterBridge`` reports

    energy_j = counter_j + interpolated_j

where ``counter_j`` is the counter's own difference since the start and
``interpolated_j`` ≥ 0 is instantaneous power × the time since the counter last moved
(at most one update period). The figure never decreases, so differences of readings
(the tracker's windows) are never negative and always add up to the last reading:
the sum over windows is the counter's total plus the interpolated part of the last
reading, which the counter itself holds at its next update.

When the counter last moved is estimated: ``watch_counters`` polls each counter at
start until it has moved ``DETECT_CHANGES`` times (or ``DETECT_MAX_S``): that gives the
update period and its phase, each with how far off it may be (the polls' spacing, which a
loaded machine stretches). At a later read where the counter has moved, the change is
placed at the predicted update (phase + k × period) when the prediction is sharp enough
to tell and that update falls since the previous read; otherwise, and when the counter
moved within the prediction's uncertainty before an update was due, at the read itself.
A bridge that starts late undershoots and the counter's next update makes up for it; one
that starts early overshoots, and the figure, which never decreases, then stands still:
short windows would read 0 J until the counter caught up. Every change seen between two
close reads re-anchors the phase (and, across many updates, sharpens the period), so
predictions stay sharp while reads are frequent, which is when they matter. The first
bridge starts at ``start()`` itself: the energy between the counter's last update and
the start goes to the run when the counter next moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from nature_callback.exceptions import MeterError
from nature_callback.meters._clock import Clock

DETECT_MAX_S = 0.5
"""How long ``start()`` may poll the counters: four updates of a counter moving every 100 ms
(the slow end of 20-100 ms), with margin. Paid once per run, for all GPUs together."""
DETECT_CHANGES = 4
"""Updates to see before stopping: the period is their span / 3, known to a third of a poll."""
DETECT_POLL_S = 0.002
"""Poll period while detecting: the update period is known to about this."""
UNKNOWN_PERIOD_CAP_S = 1.0
"""Longest bridge where no update period was seen (the counter did not move twice within
``DETECT_MAX_S``): NVML's averaged power covers 1 s (nvmlDeviceGetPowerUsage docs)."""


@dataclass(frozen=True)
class CounterStart:
    """What polling a counter at start found."""

    counter_mj: int
    """The last value read: the baseline."""
    phase_s: float | None
    """When the counter last moved (the middle of the polls around it); None if not seen."""
    period_s: float | None
    """Mean time between its observed updates; None if it did not move twice."""
    phase_error_s: float = 0.0
    """How far ``phase_s`` may be off: half the widest spacing of the polls."""
    period_error_s: float = 0.0
    """How far ``period_s`` may be off."""


class _Watch:
    """Polls one counter, noting when its value changes."""

    def __init__(self, read: Callable[[], int], counter_mj: int, now_s: float) -> None:
        self.read = read
        self.value = counter_mj
        self.changes: list[float] = []
        self.widest_gap_s = 0.0
        self.last_poll_s = now_s
        self.done = False

    def poll(self, clock: Clock) -> None:
        t_s = clock.now()
        try:
            value = self.read()
        except MeterError:  # the first read at open worked: keep what is known, read() retries
            self.done = True
            return
        if value != self.value:  # it moved between the previous poll and this one
            self.changes.append((self.last_poll_s + t_s) / 2.0)
            self.widest_gap_s = max(self.widest_gap_s, t_s - self.last_poll_s)
            self.value = value
        self.last_poll_s = t_s
        self.done = len(self.changes) >= DETECT_CHANGES

    def result(self) -> CounterStart:
        if not self.changes:
            return CounterStart(self.value, None, None)
        error_s = self.widest_gap_s / 2.0
        if len(self.changes) < 2:
            return CounterStart(self.value, self.changes[-1], None, error_s)
        updates = len(self.changes) - 1
        return CounterStart(self.value, self.changes[-1],
                            (self.changes[-1] - self.changes[0]) / updates, error_s,
                            2.0 * error_s / updates)


def watch_counters(counters: list[tuple[Callable[[], int], int]], clock: Clock,
                   max_s: float = DETECT_MAX_S, poll_s: float = DETECT_POLL_S
                   ) -> list[CounterStart]:
    """Poll every ``(read, first value)`` together until each moved ``DETECT_CHANGES``
    times or ``max_s`` passed."""
    start_s = clock.now()
    watches = [_Watch(read, value, start_s) for read, value in counters]
    while not all(w.done for w in watches) and clock.now() - start_s < max_s:
        clock.sleep(poll_s)
        for watch in watches:
            if not watch.done:
                watch.poll(clock)
    return [watch.result() for watch in watches]


class CounterBridge:
    """Cumulative joules of a stepping counter, bridged by power between its steps."""

    def __init__(self, start: CounterStart, now_s: float) -> None:
        self.base_mj = self.last_mj = start.counter_mj
        self.banked_j = 0.0
        """Counter energy before the last reset (driver reload, GPU reset)."""
        self.phase_s = start.phase_s
        self.phase_error_s = start.phase_error_s
        self.period_s = start.period_s
        self.period_error_s = start.period_error_s
        self.bridge_from_s = now_s
        """Where the current bridge starts: the counter's last update, or the start."""
        self.last_read_s = now_s
        self.energy_j = 0.0

    @property
    def cap_s(self) -> float:
        """The longest the counter can stay still: its period, where known."""
        return self.period_s or UNKNOWN_PERIOD_CAP_S

    @property
    def counter_j(self) -> float:
        """The counter's own difference since the start (resets bridged), in J."""
        return self.banked_j + (self.last_mj - self.base_mj) / 1000.0

    @property
    def interpolated_j(self) -> float:
        """The part of ``energy_j`` the counter does not hold yet."""
        return self.energy_j - self.counter_j

    def advance(self, now_s: float, counter_mj: int, power_w: float | None) -> bool:
        """Take a reading (power may be None where it could not be read); True when the
        counter went backwards (its energy since the previous reading is then lost)."""
        went_back = counter_mj < self.last_mj
        if went_back:
            self.banked_j = self.counter_j
            self.base_mj = counter_mj
            self.bridge_from_s = now_s
        elif counter_mj > self.last_mj:
            self.bridge_from_s = self._change_time(now_s)
        self.last_mj = counter_mj
        self.last_read_s = now_s
        bridge_s = min(max(now_s - self.bridge_from_s, 0.0), self.cap_s)
        bridge_j = power_w * bridge_s if power_w is not None and power_w > 0 else 0.0
        self.energy_j = max(self.energy_j, self.counter_j + bridge_j)
        return went_back

    def prediction_error_s(self, now_s: float) -> float:
        """How far a predicted update near ``now_s`` may be off: the phase's error plus the
        period's, once per update since the phase was anchored."""
        if not self.period_s or self.phase_s is None:
            return math.inf
        updates = abs(now_s - self.phase_s) / self.period_s
        return self.phase_error_s + updates * self.period_error_s

    def _change_time(self, now_s: float) -> float:
        """When the counter moved, seen moved at ``now_s`` and not at ``last_read_s``: the
        predicted update where the prediction can tell, else ``now_s`` (a late start of the
        bridge undershoots, which the next update repairs; an early one would overshoot)."""
        gap_s = now_s - self.last_read_s
        error_s = self.prediction_error_s(now_s)
        changed_s = now_s
        if self.period_s and self.phase_s is not None and error_s < self.period_s / 4.0:
            updates = math.floor((now_s + error_s - self.phase_s) / self.period_s)
            predicted_s = self.phase_s + updates * self.period_s
            if self.last_read_s < predicted_s <= now_s:
                changed_s = predicted_s
        if gap_s / 2.0 < error_s:  # two close reads bound the change better: re-anchor
            self._anchor(self.last_read_s + gap_s / 2.0, gap_s / 2.0)
        return changed_s

    def _anchor(self, phase_s: float, phase_error_s: float) -> None:
        """An update seen at ``phase_s`` (± ``phase_error_s``): the new phase; the period
        too, where the previous anchor is many updates back and known well enough."""
        if self.period_s and self.phase_s is not None:
            updates = round((phase_s - self.phase_s) / self.period_s)
            # the count of updates in between is sure while the prediction is within a
            # quarter period of what was seen
            sure = self.prediction_error_s(phase_s) + phase_error_s < self.period_s / 4.0
            if updates >= 1 and sure:
                period_error_s = (self.phase_error_s + phase_error_s) / updates
                if period_error_s < self.period_error_s:
                    self.period_s = (phase_s - self.phase_s) / updates
                    self.period_error_s = period_error_s
        self.phase_s, self.phase_error_s = phase_s, phase_error_s
