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
update period and its phase. At a later read where the counter has moved, the change
is placed at the predicted update (phase + k × period) if that falls since the
previous read, else in the middle of what is possible. The first bridge starts at
``start()`` itself: the energy between the counter's last update and the start (at
most one poll when the period was seen) goes to the run when the counter next moves.
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
    """When the counter was last seen moving; None if it was not."""
    period_s: float | None
    """Mean time between its observed updates; None if it did not move twice."""


class _Watch:
    """Polls one counter, noting when its value changes."""

    def __init__(self, read: Callable[[], int], counter_mj: int) -> None:
        self.read = read
        self.value = counter_mj
        self.changes: list[float] = []
        self.done = False

    def poll(self, clock: Clock) -> None:
        t_s = clock.now()
        try:
            value = self.read()
        except MeterError:  # the first read at open worked: keep what is known, read() retries
            self.done = True
            return
        if value != self.value:
            self.changes.append(t_s)
            self.value = value
        self.done = len(self.changes) >= DETECT_CHANGES

    def result(self) -> CounterStart:
        phase_s = self.changes[-1] if self.changes else None
        period_s = ((self.changes[-1] - self.changes[0]) / (len(self.changes) - 1)
                    if len(self.changes) >= 2 else None)
        return CounterStart(self.value, phase_s, period_s)


def watch_counters(counters: list[tuple[Callable[[], int], int]], clock: Clock,
                   max_s: float = DETECT_MAX_S, poll_s: float = DETECT_POLL_S
                   ) -> list[CounterStart]:
    """Poll every ``(read, first value)`` together until each moved ``DETECT_CHANGES``
    times or ``max_s`` passed."""
    start_s = clock.now()
    watches = [_Watch(read, value) for read, value in counters]
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
        self.period_s = start.period_s
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

    def _change_time(self, now_s: float) -> float:
        """When the counter moved, seen moved at ``now_s`` and not at ``last_read_s``."""
        if self.period_s and self.phase_s is not None:
            steps = math.floor((now_s - self.phase_s) / self.period_s)
            predicted_s = self.phase_s + steps * self.period_s
            if self.last_read_s < predicted_s <= now_s:
                return predicted_s
        return now_s - min(now_s - self.last_read_s, self.cap_s) / 2.0
