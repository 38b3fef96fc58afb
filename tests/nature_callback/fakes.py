"""A fake clock and a meter whose energy is power × fake time: tracker tests without sleeping."""

from __future__ import annotations

from nature_callback.meters.base import DeviceEnergy, DeviceKind, EnergyMeter, Source


class FakeClock:
    """A clock that moves only when told to (``advance``); wall time starts at a fixed date."""

    def __init__(self, start_wall_s: float = 1.8e9) -> None:
        self.elapsed_s = 0.0
        self.start_wall_s = start_wall_s

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.elapsed_s += seconds

    def monotonic_s(self) -> float:
        return self.elapsed_s

    def wall_s(self) -> float:
        return self.start_wall_s + self.elapsed_s


class FakeMeter(EnergyMeter):
    """Devices drawing constant power: energy_j = power_w × fake seconds since ``start``."""

    def __init__(self, clock: FakeClock, power_w: dict[str, float] | None = None,
                 kinds: dict[str, DeviceKind] | None = None,
                 source: Source = "measured", uuids: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.power_w = dict(power_w or {"cpu0": 80.0, "dram0": 20.0})
        self.kinds: dict[str, DeviceKind] = kinds or {
            device: ("dram" if device.startswith("dram") else
                     "gpu" if device.startswith("gpu") else "cpu")
            for device in self.power_w}
        self.source = source
        self.uuids = dict(uuids or {})
        self.energy_j = {device: 0.0 for device in self.power_w}
        self._last_s = 0.0
        self.started = self.stopped = False

    def set_power(self, device: str, power_w: float) -> None:
        """Change a device's power from now on."""
        self._accumulate()
        self.power_w[device] = power_w

    def _accumulate(self) -> None:
        now_s = self.clock.monotonic_s()
        for device, power_w in self.power_w.items():
            self.energy_j[device] += power_w * (now_s - self._last_s)
        self._last_s = now_s

    def start(self) -> None:
        self.started = True
        self._last_s = self.clock.monotonic_s()

    def read(self) -> list[DeviceEnergy]:
        self._accumulate()
        return [DeviceEnergy(device=device, kind=self.kinds[device],
                             description=f"fake {device}", energy_j=energy_j,
                             source=self.source, uuid=self.uuids.get(device, ""))
                for device, energy_j in self.energy_j.items()]

    def stop(self) -> None:
        self.stopped = True
