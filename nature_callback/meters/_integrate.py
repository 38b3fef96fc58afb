"""The trapezoid rule over samples that arrive one at a time."""

from __future__ import annotations


class TrapezoidIntegrator:
    """Running ∫ y dt of samples ``(t_s, y)`` joined by straight lines.

    Exact for a quantity that changes linearly between samples; for power in W it
    gives energy in J, for resident memory in GB it gives GB·s.
    """

    def __init__(self, t0_s: float, y0: float) -> None:
        self.last_t_s = t0_s
        self.last_y = y0
        self.total = 0.0

    def add(self, t_s: float, y: float) -> float:
        """Add the sample at ``t_s`` (a sample not after the last one only updates ``y``)."""
        dt_s = t_s - self.last_t_s
        if dt_s > 0:
            self.total += 0.5 * (self.last_y + y) * dt_s
            self.last_t_s = t_s
        self.last_y = y
        return self.total
