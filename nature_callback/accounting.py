"""Readings → NATURE terms: epoch records, A, the run's running sums, checkpoint state.

Pure bookkeeping: no meters, files, threads or clocks. The tracker measures (energy per
device, durations, carbon intensity) and hands the figures here; under DDP it sums
``epoch_vector`` over ranks before ``close_epoch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nature_callback.carbon.base import CarbonIntensity
from nature_callback.metric import (
    co2e_g,
    epoch_terms,
    forecast_co2e_kg,
    wall_to_plant_factor,
)
from nature_callback.records import KINDS, EpochRecord, StepRecord, WindowRecord

STATE_VERSION = 2
"""Version of ``state_dict``; version 1 (with ``records`` as dicts and ``open_epoch``) loads too."""


_GAP = slice(len(KINDS), len(KINDS) + 2)
"""Where the gap [J, g] sits in an epoch vector; the device counts follow it."""


def _power_by_kind_w(kind_j: dict[str, float], time_s: float,
                     metered_kinds: frozenset[str]) -> dict[str, float]:
    """Mean power of each device kind over a span: the kinds that drew energy or are metered
    (a metered GPU at 0 W is shown, a kind nothing meters is not)."""
    if time_s <= 0:
        return {}
    return {kind: j / time_s for kind, j in kind_j.items() if j > 0 or kind in metered_kinds}


@dataclass(frozen=True)
class DeviceCounts:
    """How many devices were estimated, metered (measured or estimated) and failed, summed
    over ranks when they travel in an epoch vector."""

    estimated: int = 0
    metered: int = 0
    failed: int = 0

    @classmethod
    def of_vector(cls, vector: list[float]) -> "DeviceCounts":
        """The counts at the end of an epoch vector."""
        estimated, metered, failed = (round(value) for value in vector[_GAP.stop:])
        return cls(estimated, metered, failed)


@dataclass(frozen=True)
class OpenEpoch:
    """An epoch cut short by a checkpoint: what was measured of it so far."""

    epoch: int
    epoch_time_s: float
    energy_by_kind_j: dict[str, float]
    """Hardware energy of the part so far, per device kind."""

    @property
    def hardware_energy_j(self) -> float:
        """Hardware energy of the part so far."""
        return sum(self.energy_by_kind_j.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (checkpoint state)."""
        return {"epoch": self.epoch, "epoch_time_s": self.epoch_time_s,
                "hardware_energy_j": self.hardware_energy_j,
                "energy_by_kind_j": dict(self.energy_by_kind_j)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OpenEpoch":
        """Rebuild from ``to_dict`` (a version-1 state has no per-kind split: "other")."""
        by_kind = data.get("energy_by_kind_j") or {"other": float(data["hardware_energy_j"])}
        return cls(epoch=int(data["epoch"]), epoch_time_s=float(data["epoch_time_s"]),
                   energy_by_kind_j={kind: float(j) for kind, j in by_kind.items()})


class Accounting:
    """The run's NATURE bookkeeping; every figure is O(1) to update and to read."""

    def __init__(self, *, pue: float, grid_loss: float, n_exp: int, extra_energy_j: float,
                 planned_epochs: int | None, start_g_per_kwh: float) -> None:
        self.pue = pue
        self.grid_loss = grid_loss
        self.n_exp = n_exp
        self.extra_energy_j = extra_energy_j
        self.planned_epochs = planned_epochs
        self.start_g_per_kwh = start_g_per_kwh
        """Intensity at the run's start: ``extra_energy_j`` is charged at it."""
        self.records: list[EpochRecord] = []
        self.a_hw_j = 0.0
        """Hardware energy metered outside epoch windows (before PUE and grid loss)."""
        self.a_hw_g = 0.0
        """Carbon of that energy at the intensity of its time (before scaling)."""
        self._pending_gap_j = 0.0
        self._pending_gap_g = 0.0
        self._epochs_energy_j = 0.0
        self._epochs_co2e_g = 0.0
        self._any_estimated = False
        self.window_records: list[WindowRecord] = []
        self._windows_energy_j = 0.0
        self._windows_co2e_g = 0.0
        self._window_totals: dict[str, dict[str, float]] = {}
        """Per window name: count, time_s, energy_j, co2e_kg (kept as windows are added)."""

    @property
    def factor(self) -> float:
        """Hardware energy → energy at the plant: PUE / (1 − λ)."""
        return wall_to_plant_factor(self.pue, self.grid_loss)

    # ------------------------------------------------------------------ windows
    def add_gap(self, hardware_j: float, g_per_kwh: float) -> None:
        """Energy metered outside epochs, pending the next reduction over ranks."""
        self._pending_gap_j += hardware_j
        self._pending_gap_g += co2e_g(hardware_j, g_per_kwh)

    def take_gap_vector(self) -> list[float]:
        """The pending gap as [J, g], to be summed over ranks; it is no longer pending."""
        vector = [self._pending_gap_j, self._pending_gap_g]
        self._pending_gap_j = self._pending_gap_g = 0.0
        return vector

    def commit_gap(self, gap_vector: list[float]) -> None:
        """Add a (reduced) gap vector to A."""
        gap_j, gap_g = gap_vector
        self.a_hw_j += gap_j
        self.a_hw_g += gap_g

    def epoch_vector(self, kind_j: dict[str, float], devices: DeviceCounts) -> list[float]:
        """What ranks sum when an epoch or named window closes: J per device kind, the pending
        gap (taken), and the numbers of estimated, metered and failed devices."""
        return [*(kind_j.get(kind, 0.0) for kind in KINDS), *self.take_gap_vector(),
                float(devices.estimated), float(devices.metered), float(devices.failed)]

    def close_epoch(self, vector: list[float], *, epoch_time_s: float,
                    intensity: CarbonIntensity,
                    power_by_device_w: dict[str, float] | None = None,
                    metered_kinds: frozenset[str] = frozenset()) -> EpochRecord:
        """Turn a (reduced) ``epoch_vector`` into the epoch's record and add it."""
        kind_j = dict(zip(KINDS, vector[: len(KINDS)], strict=True))
        self.commit_gap(vector[_GAP])
        devices = DeviceCounts.of_vector(vector)
        terms = epoch_terms(
            epoch=len(self.records), hardware_energy_j=sum(kind_j.values()),
            epoch_time_s=epoch_time_s, pue=self.pue, grid_loss=self.grid_loss,
            carbon_intensity_g_per_kwh=intensity.g_per_kwh,
        )
        record = self._record(
            terms, power_by_kind_w=_power_by_kind_w(kind_j, epoch_time_s, metered_kinds),
            power_by_device_w=dict(power_by_device_w or {}),
            estimated=devices.estimated > 0, carbon_source=intensity.source,
            carbon_is_stale=intensity.is_stale, carbon_is_estimated=intensity.is_estimated,
            devices_metered=devices.metered, devices_failed=devices.failed,
        )
        self._add(record)
        return record

    def close_window(self, name: str, vector: list[float], *, window_time_s: float,
                     intensity: CarbonIntensity,
                     power_by_device_w: dict[str, float] | None = None,
                     metered_kinds: frozenset[str] = frozenset()) -> WindowRecord:
        """Turn a (reduced) ``epoch_vector`` of a named window into its record and add it."""
        kind_j = dict(zip(KINDS, vector[: len(KINDS)], strict=True))
        hardware_j = sum(kind_j.values())
        self.commit_gap(vector[_GAP])
        energy_j = hardware_j * self.factor
        record = WindowRecord(
            name=name, index=int(self._window_totals.get(name, {}).get("count", 0)),
            window_time_s=window_time_s,
            power_w=hardware_j / window_time_s if window_time_s > 0 else 0.0,
            energy_j=energy_j, co2e_g=co2e_g(energy_j, intensity.g_per_kwh),
            carbon_intensity_g_per_kwh=intensity.g_per_kwh,
            estimated=DeviceCounts.of_vector(vector).estimated > 0,
            carbon_source=intensity.source,
            power_by_kind_w=_power_by_kind_w(kind_j, window_time_s, metered_kinds),
            power_by_device_w=dict(power_by_device_w or {}))
        self._add_window(record)
        return record

    def _add_window(self, record: WindowRecord) -> None:
        self.window_records.append(record)
        self._windows_energy_j += record.energy_j
        self._windows_co2e_g += record.co2e_g
        self._any_estimated = self._any_estimated or record.estimated
        totals = self._window_totals.setdefault(
            record.name, dict.fromkeys(("count", "time_s", "energy_j", "co2e_kg"), 0.0))
        totals["count"] += 1
        totals["time_s"] += record.window_time_s
        totals["energy_j"] += record.energy_j
        totals["co2e_kg"] += record.co2e_g / 1000.0

    def pending_gap_vector(self) -> list[float]:
        """The gap not yet summed over ranks, as [J, g] (it stays pending)."""
        return [self._pending_gap_j, self._pending_gap_g]

    def step_record(self, *, step: int, hardware_j: float, gap_vector: list[float],
                    epoch_time_s: float, intensity: CarbonIntensity) -> StepRecord:
        """The run's figures part-way through the open epoch, with the (reduced) pending gap;
        nothing is added."""
        terms = epoch_terms(epoch=len(self.records), hardware_energy_j=hardware_j,
                            epoch_time_s=epoch_time_s, pue=self.pue, grid_loss=self.grid_loss,
                            carbon_intensity_g_per_kwh=intensity.g_per_kwh)
        gap_j, gap_g = gap_vector
        energy_j = self.energy_j + terms.epoch_energy_j + gap_j * self.factor
        co2e_kg = self.co2e_kg + (terms.epoch_co2e_g + gap_g * self.factor) / 1000.0
        return StepRecord(step=step, epoch=len(self.records), epoch_time_s=epoch_time_s,
                          power_w=terms.power_w, energy_j=energy_j, co2e_kg=co2e_kg,
                          nature_energy_j=self.n_exp * energy_j,
                          nature_co2e_kg=self.n_exp * co2e_kg)

    def windows_summary(self) -> dict[str, dict[str, float]]:
        """Per window name: count, time_s, energy_j, co2e_kg (a copy)."""
        return {name: dict(totals) for name, totals in self._window_totals.items()}

    def _record(self, terms: Any, **extra: Any) -> EpochRecord:
        energy_j = self.energy_j + terms.epoch_energy_j
        co2e_kg = self.co2e_kg + terms.epoch_co2e_g / 1000.0
        forecast = None
        if self.planned_epochs is not None:
            forecast = forecast_co2e_kg(
                co2e_kg_so_far=co2e_kg, epochs_done=len(self.records) + 1,
                epoch_co2e_g_sum=self._epochs_co2e_g + terms.epoch_co2e_g,
                planned_epochs=self.planned_epochs, n_exp=self.n_exp,
            )
        return EpochRecord(
            terms=terms, energy_j=energy_j, co2e_kg=co2e_kg,
            nature_energy_j=self.n_exp * energy_j, nature_co2e_kg=self.n_exp * co2e_kg,
            forecast_co2e_kg=forecast, **extra,
        )

    def _add(self, record: EpochRecord) -> None:
        self.records.append(record)
        self._epochs_energy_j += record.terms.epoch_energy_j
        self._epochs_co2e_g += record.terms.epoch_co2e_g
        self._any_estimated = self._any_estimated or record.estimated

    # ------------------------------------------------------------------ totals
    @property
    def epochs(self) -> int:
        """Completed epochs."""
        return len(self.records)

    @property
    def any_estimated(self) -> bool:
        """Whether any epoch had an estimated part."""
        return self._any_estimated

    @property
    def a_energy_j(self) -> float:
        """A: energy outside epochs, scaled by PUE and grid loss, plus extra_energy_j."""
        return self.a_hw_j * self.factor + self.extra_energy_j

    @property
    def a_co2e_g(self) -> float:
        """Carbon of A; extra_energy_j is charged at the intensity of the run's start."""
        return self.a_hw_g * self.factor + co2e_g(self.extra_energy_j, self.start_g_per_kwh)

    @property
    def windows_energy_j(self) -> float:
        """Energy of the named windows so far (J), PUE and grid loss included."""
        return self._windows_energy_j

    @property
    def energy_j(self) -> float:
        """The run's energy so far: A + named windows + Σ epoch energy (J)."""
        return self.a_energy_j + self._windows_energy_j + self._epochs_energy_j

    @property
    def co2e_kg(self) -> float:
        """The run's carbon so far (kg CO2e), A and named windows included."""
        return (self.a_co2e_g + self._windows_co2e_g + self._epochs_co2e_g) / 1000.0

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, open_epoch: OpenEpoch | None = None) -> dict[str, Any]:
        """Completed epochs, A (pending gap included) and an epoch cut short."""
        return {
            "version": STATE_VERSION,
            "pue": self.pue,
            "grid_loss": self.grid_loss,
            "records": [record.to_dict() for record in self.records],
            "windows": [record.to_dict() for record in self.window_records],
            "a_hw_j": self.a_hw_j + self._pending_gap_j,
            "a_hw_g": self.a_hw_g + self._pending_gap_g,
            "open_epoch": open_epoch.to_dict() if open_epoch else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> OpenEpoch | None:
        """Continue a checkpointed run's totals; returns the epoch the checkpoint cut short, if
        any (``close_open_epoch`` records it; a resumed run may continue it instead)."""
        self.records = []
        self._epochs_energy_j = self._epochs_co2e_g = 0.0
        self._any_estimated = False
        for data in state.get("records", []):
            self._add(EpochRecord.from_dict(data))
        self.window_records = []
        self._windows_energy_j = self._windows_co2e_g = 0.0
        self._window_totals = {}
        for data in state.get("windows", []):
            self._add_window(WindowRecord.from_dict(data))
        self.a_hw_j = float(state.get("a_hw_j", 0.0))
        self.a_hw_g = float(state.get("a_hw_g", 0.0))
        self._pending_gap_j = self._pending_gap_g = 0.0
        open_epoch = state.get("open_epoch")
        return OpenEpoch.from_dict(open_epoch) if open_epoch else None

    def close_open_epoch(self, open_epoch: OpenEpoch, intensity: CarbonIntensity) -> EpochRecord:
        """Record an epoch cut short by a checkpoint as it was measured (local figures)."""
        vector = [*(open_epoch.energy_by_kind_j.get(kind, 0.0) for kind in KINDS), 0.0, 0.0,
                  0.0, 0.0, 0.0]
        return self.close_epoch(vector, epoch_time_s=open_epoch.epoch_time_s,
                                intensity=intensity)
