"""Mutable bookkeeping of one metered device, frozen into a ``DeviceEnergy`` on read."""

from __future__ import annotations

from dataclasses import dataclass

from nature_callback.meters.base import DeviceEnergy, DeviceKind, Scope, Source


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
    """``measured``, ``estimated`` or ``unmetered``."""
    energy_j: float = 0.0
    """Joules since the meter's ``start()``."""
    ok: bool = True
    """False once the device failed; ``energy_j`` is then no longer updated."""
    scope: Scope = "device"
    """What the figure covers (see ``DeviceEnergy.scope``)."""
    failed_reads: int = 0
    """Reads that failed and were retried."""
    interpolated_j: float = 0.0
    """Part of ``energy_j`` bridged from instantaneous power (see ``DeviceEnergy``)."""
    update_period_s: float | None = None
    """The hardware counter's update period, where measured."""
    uuid: str = ""
    """NVML UUID of a GPU."""

    def reading(self) -> DeviceEnergy:
        """An immutable snapshot."""
        return DeviceEnergy(
            device=self.device,
            kind=self.kind,
            description=self.description,
            energy_j=self.energy_j,
            source=self.source,
            ok=self.ok,
            scope=self.scope,
            failed_reads=self.failed_reads,
            interpolated_j=self.interpolated_j,
            update_period_s=self.update_period_s,
            uuid=self.uuid,
        )
