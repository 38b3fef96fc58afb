"""Mutable bookkeeping of one metered device, frozen into a ``DeviceEnergy`` on read."""

from __future__ import annotations

from dataclasses import dataclass

from nature_callback.meters.base import DeviceEnergy, DeviceKind, Source


@dataclass
class DeviceState:
    """What a meter knows about one device; guarded by the owning meter's lock."""

    device: str
    """Stable key (``gpu0``, ``cpu0``, ...)."""
    kind: DeviceKind
    """gpu, cpu, dram or other."""
    description: str
    """Model name and method."""
    source: Source
    """``measured`` or ``estimated``."""
    energy_j: float = 0.0
    """Joules since the meter's ``start()``."""
    ok: bool = True
    """False once the device failed; ``energy_j`` is then no longer updated."""

    def reading(self) -> DeviceEnergy:
        """An immutable snapshot."""
        return DeviceEnergy(
            device=self.device,
            kind=self.kind,
            description=self.description,
            energy_j=self.energy_j,
            source=self.source,
            ok=self.ok,
        )
