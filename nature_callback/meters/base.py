"""The common interface of every energy meter.

A meter reports, for each device it watches, the *cumulative* energy in joules
since ``start()``. Windows (epochs, the time outside epochs) are differences of
two readings, taken by the tracker. A meter never raises from ``read()``: a
device that fails is reported with ``ok=False`` and its energy frozen at the
last good value, after one warning.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal

Source = Literal["measured", "estimated", "unmetered"]
"""Where a figure comes from: read from a hardware counter/sensor, modelled, or nothing at all
(``unmetered``: a device the run uses that cannot be metered here; its ``energy_j`` is 0.0)."""

Scope = Literal["device", "module"]
"""What a figure covers: the device its key names (a GPU board with its memory, a CPU
package, ...), or a whole superchip module (GH200/GB200: GPU, Grace CPU and memory)."""

DeviceKind = Literal["gpu", "cpu", "dram", "other"]
"""What a device is; cpu and dram are node-level (shared by every rank of a node)."""


@dataclass(frozen=True)
class DeviceEnergy:
    """Cumulative energy of one device since its meter started."""

    device: str
    """Stable key, unique in a run: ``gpu0``, ``cpu0``, ``dram0``, ..."""
    kind: DeviceKind
    """gpu, cpu, dram or other."""
    description: str
    """Human-readable: model name and method, e.g. ``NVIDIA A100 (NVML energy counter)``."""
    energy_j: float
    """Joules since ``start()``."""
    source: Source
    """``measured`` or ``estimated``."""
    ok: bool = True
    """False once the device failed (``energy_j`` then stays at its last good value), and for
    ``unmetered`` entries."""
    scope: Scope = "device"
    """What ``energy_j`` covers; ``module``: the GPU's counter includes the superchip's CPU."""
    failed_reads: int = 0
    """Reads that failed since ``start()`` and were retried (transient errors, readings ≤ 0)."""
    interpolated_j: float = 0.0
    """The part of ``energy_j`` not yet in the hardware counter: instantaneous power × the time
    since the counter last moved (≥ 0). ``energy_j - interpolated_j`` is the counter's own
    difference since ``start()``; a window's interpolated share is the difference of this field."""
    update_period_s: float | None = None
    """How often the hardware counter moves, where measured; windows shorter than this rest
    largely on ``interpolated_j``."""
    uuid: str = ""
    """NVML UUID of a GPU (``GPU-...``); empty for other devices."""

    @property
    def covers_cpu(self) -> bool:
        """True when this figure already includes the CPU (superchip module scope): a CPU
        estimate of the same process would count it twice."""
        return self.scope == "module" and self.source == "measured"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return asdict(self)


class EnergyMeter(ABC):
    """One source of energy readings (NVML, RAPL, an estimate, ...)."""

    @abstractmethod
    def start(self) -> None:
        """Begin metering (take the baseline, start a sampler thread if any)."""

    @abstractmethod
    def read(self) -> list[DeviceEnergy]:
        """Cumulative energy per device since ``start()``; never raises."""

    @abstractmethod
    def stop(self) -> None:
        """Stop metering and release resources; idempotent, joins any thread."""

    def __enter__(self) -> "EnergyMeter":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class NullMeter(EnergyMeter):
    """A meter with no devices: what the factory returns when nothing can be metered."""

    def start(self) -> None:
        """Nothing to start."""

    def read(self) -> list[DeviceEnergy]:
        """No devices, no energy."""
        return []

    def stop(self) -> None:
        """Nothing to stop."""


class UnmeteredMeter(EnergyMeter):
    """Devices the run uses that cannot be metered here, listed explicitly (``source=
    "unmetered"``, 0 J, ``ok=False``) so that a record says so instead of lacking them."""

    def __init__(self, devices: list[tuple[str, DeviceKind]], description: str) -> None:
        self.readings = [DeviceEnergy(device=device, kind=kind, description=description,
                                      energy_j=0.0, source="unmetered", ok=False)
                         for device, kind in devices]

    def start(self) -> None:
        """Nothing to start."""

    def read(self) -> list[DeviceEnergy]:
        """The unmetered entries, always 0 J."""
        return list(self.readings)

    def stop(self) -> None:
        """Nothing to stop."""


class MeterGroup(EnergyMeter):
    """Several meters read as one; starting or stopping one never prevents the others."""

    def __init__(self, meters: list[EnergyMeter]) -> None:
        self.meters = list(meters)

    def start(self) -> None:
        """Start every meter."""
        for meter in self.meters:
            meter.start()

    def read(self) -> list[DeviceEnergy]:
        """Readings of every meter, concatenated."""
        readings: list[DeviceEnergy] = []
        for meter in self.meters:
            readings.extend(meter.read())
        return readings

    def stop(self) -> None:
        """Stop every meter, even if one of them fails to stop."""
        errors: list[BaseException] = []
        for meter in self.meters:
            try:
                meter.stop()
            except Exception as err:  # noqa: BLE001 - every meter must get its stop()
                errors.append(err)
        if errors:
            raise errors[0]
