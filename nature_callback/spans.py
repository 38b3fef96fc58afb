"""Measuring windows: the meters read at each boundary, and the epochs or named windows those
readings are charged to.

Between two boundaries the energy of every device goes to exactly one place: the named window
that is open (validation, evaluation, ...), else the running epoch, else A (the time outside
windows). An epoch is paused while a named window runs inside it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nature_callback.accounting import OpenEpoch
from nature_callback.gpu_choice import synchronize_cuda
from nature_callback.meters.base import DeviceEnergy, EnergyMeter, MeterGroup
from nature_callback.records import KINDS


@dataclass
class Span:
    """An epoch or a named window being measured, possibly in several parts."""

    name: str
    """``"epoch"``, or the named window's name."""
    start_wall_s: float
    """Wall time of its first part's start (for the carbon intensity over it)."""
    part_start_s: float | None
    """Monotonic start of the running part; None while paused."""
    time_s: float = 0.0
    """Duration of its closed parts."""
    kind_j: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    """Hardware energy per device kind charged to it so far."""
    device_j: dict[str, float] = field(default_factory=dict)
    """Hardware energy per device charged to it so far."""
    carried: OpenEpoch | None = None
    """The part of a cut epoch measured before a checkpoint (an epoch resumed mid-way)."""

    @property
    def running(self) -> bool:
        """Whether a part is running (not paused)."""
        return self.part_start_s is not None

    def charge(self, deltas: dict[str, float], readings: dict[str, DeviceEnergy]) -> None:
        """Add the energy of each device since the last boundary."""
        for device, energy_j in deltas.items():
            self.kind_j[readings[device].kind] += energy_j
            self.device_j[device] = self.device_j.get(device, 0.0) + energy_j

    def pause(self, now_s: float) -> None:
        """End the running part."""
        if self.part_start_s is not None:
            self.time_s += now_s - self.part_start_s
            self.part_start_s = None

    def resume(self, now_s: float) -> None:
        """Start a new part."""
        self.part_start_s = now_s

    def elapsed_s(self, now_s: float) -> float:
        """Duration so far, the running part included (the carried part not)."""
        running_s = now_s - self.part_start_s if self.part_start_s is not None else 0.0
        return self.time_s + running_s


class BoundaryReader:
    """Reads the meters at window boundaries: energy per device since the last boundary."""

    def __init__(self, meter: EnergyMeter, cuda_devices: list[int]) -> None:
        self.meter = meter
        self.cuda_devices = cuda_devices
        """CUDA devices synchronised before each read, so queued GPU work lands in its window."""
        self.skipped: frozenset[str] = frozenset()
        """Devices left out (a GPU another rank meters)."""
        self.readings: dict[str, DeviceEnergy] = {r.device: r for r in meter.read()}
        """The latest reading of every device: the last boundary."""

    def skip(self, devices: set[str]) -> None:
        """Leave ``devices`` out from now on."""
        self.skipped = frozenset(devices)
        for device in devices:
            self.readings.pop(device, None)

    def add(self, meter: EnergyMeter) -> None:
        """Read another (started) meter from this boundary on."""
        self.meter = MeterGroup([self.meter, meter])
        self.readings.update({r.device: r for r in meter.read()})

    def _deltas(self, move: bool) -> dict[str, float]:
        synchronize_cuda(self.cuda_devices)
        deltas: dict[str, float] = {}
        for reading in self.meter.read():
            if reading.device in self.skipped:
                continue
            previous = self.readings.get(reading.device)
            deltas[reading.device] = max(
                reading.energy_j - (previous.energy_j if previous else 0.0), 0.0)
            if move or previous is None:  # a device seen for the first time is known from now
                self.readings[reading.device] = reading if move else _at_zero(reading)
        return deltas

    def take(self) -> dict[str, float]:
        """Energy per device since the last boundary; the boundary moves to now."""
        return self._deltas(move=True)

    def peek(self) -> dict[str, float]:
        """Energy per device since the last boundary; the boundary stays."""
        return self._deltas(move=False)

    def by_kind(self, deltas: dict[str, float]) -> dict[str, float]:
        """``deltas`` summed per device kind."""
        kind_j = dict.fromkeys(KINDS, 0.0)
        for device, energy_j in deltas.items():
            kind_j[self.readings[device].kind] += energy_j
        return kind_j


def _at_zero(reading: DeviceEnergy) -> DeviceEnergy:
    """The reading of a device before any energy was counted."""
    return dataclasses.replace(reading, energy_j=0.0)
