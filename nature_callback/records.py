"""What the tracker produces: one record per epoch, per named window and per logged step,
and a run summary."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nature_callback.metric import EpochTerms

METRIC_PREFIX = "nature/"

KINDS = ("gpu", "cpu", "dram", "other")
"""Device kinds summed separately (per-kind power is logged beside E)."""

TOTAL_METRICS = tuple(METRIC_PREFIX + name for name in (
    "energy_j", "co2e_kg", "nature_energy_j", "nature_co2e_kg", "forecast_co2e_kg"))
"""The run's totals: what ``ModelCheckpoint`` / ``EarlyStopping`` would monitor."""

ALL_METRICS = tuple(METRIC_PREFIX + name for name in (
    "epoch_time_s", "power_w", "facility_w", "grid_loss_w", "epoch_energy_j",
    "carbon_intensity_g_per_kwh", "epoch_co2e_g")) + TOTAL_METRICS
"""Every name ``EpochRecord.metrics()`` can return: the terms of docs/nature.md."""

CARBON_FLAG_METRICS = (METRIC_PREFIX + "carbon_is_stale", METRIC_PREFIX + "carbon_is_estimated")
"""1.0 or 0.0 flags of the epoch's carbon value, among ``EpochRecord.detail_metrics()``."""


def _prefixed(values: dict[str, float]) -> dict[str, float]:
    return {METRIC_PREFIX + name: float(value) for name, value in values.items()}


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: its NATURE terms and the run's totals at its end."""

    terms: EpochTerms
    """T, E, U, R, the epoch's energy and carbon."""
    energy_j: float
    """The run's energy so far: A + named windows + Σ epoch_energy_j."""
    co2e_kg: float
    """The run's CO2e so far, A included."""
    nature_energy_j: float
    """N_exp × energy_j."""
    nature_co2e_kg: float
    """N_exp × co2e_kg: NATURE."""
    forecast_co2e_kg: float | None
    """Projected NATURE at the planned number of epochs (None when no plan is known)."""
    power_by_kind_w: dict[str, float] = field(default_factory=dict)
    """Mean power of each device kind over the epoch (gpu, cpu, dram, other)."""
    power_by_device_w: dict[str, float] = field(default_factory=dict)
    """Mean power per local device (``gpu0``, ``cpu0``, ...); empty under DDP."""
    estimated: bool = False
    """True when any part of E comes from an estimate rather than a meter."""
    carbon_source: str = ""
    """Where this epoch's carbon intensity came from."""
    carbon_is_stale: bool = False
    """The intensity is an older value kept after a failed live lookup."""
    carbon_is_estimated: bool = False
    """The provider labels the intensity as estimated (or it is an annual average)."""
    devices_metered: int = 0
    """Devices metered over all ranks (a GPU shared by ranks counted once)."""
    devices_failed: int = 0
    """Devices over all ranks whose meter failed (their energy stopped at the last good
    reading): a figure with failed devices is incomplete."""

    def metrics(self) -> dict[str, float]:
        """The terms of docs/nature.md, named ``nature/<name>``: what the callback logs through
        ``LightningModule.log`` (so checkpoint and early-stopping callbacks can monitor them)."""
        terms = self.terms
        values: dict[str, float] = {
            "epoch_time_s": terms.epoch_time_s,
            "power_w": terms.power_w,
            "facility_w": terms.facility_w,
            "grid_loss_w": terms.grid_loss_w,
            "epoch_energy_j": terms.epoch_energy_j,
            "carbon_intensity_g_per_kwh": terms.carbon_intensity_g_per_kwh,
            "epoch_co2e_g": terms.epoch_co2e_g,
            "energy_j": self.energy_j,
            "co2e_kg": self.co2e_kg,
            "nature_energy_j": self.nature_energy_j,
            "nature_co2e_kg": self.nature_co2e_kg,
        }
        if self.forecast_co2e_kg is not None:
            values["forecast_co2e_kg"] = self.forecast_co2e_kg
        return _prefixed(values)

    def detail_metrics(self) -> dict[str, float]:
        """Figures beside the terms: power per device kind and per device, and the carbon
        value's flags. The callback sends these straight to the loggers."""
        values: dict[str, float] = {
            "carbon_is_stale": float(self.carbon_is_stale),
            "carbon_is_estimated": float(self.carbon_is_estimated),
        }
        for kind, power_w in self.power_by_kind_w.items():
            values[f"{kind}_power_w"] = power_w
        for device, power_w in self.power_by_device_w.items():
            values[f"{device}_power_w"] = power_w
        return _prefixed(values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["terms"] = self.terms.to_dict()
        values["power_by_kind_w"] = dict(self.power_by_kind_w)
        values["power_by_device_w"] = dict(self.power_by_device_w)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EpochRecord":
        """Rebuild a record written by ``to_dict`` (checkpoint state)."""
        values = dict(data)
        values["terms"] = EpochTerms(**values["terms"])
        return cls(**values)


WINDOW_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
"""A named window's name is part of metric names: lower-case letters, digits, underscores."""


@dataclass(frozen=True)
class WindowRecord:
    """One named window (validation, evaluation, inference, ...): its energy and carbon,
    recorded under its name, beside the epochs and A."""

    name: str
    index: int
    """How many windows of this name came before it in the run."""
    window_time_s: float
    power_w: float
    """Mean hardware power over the window."""
    energy_j: float
    """Its energy with PUE and grid loss: hardware energy × PUE / (1 − λ)."""
    co2e_g: float
    carbon_intensity_g_per_kwh: float
    estimated: bool = False
    carbon_source: str = ""
    power_by_kind_w: dict[str, float] = field(default_factory=dict)
    """Mean power of each device kind over the window (gpu, cpu, dram, other)."""
    power_by_device_w: dict[str, float] = field(default_factory=dict)
    """Mean power per local device (``gpu0``, ``cpu0``, ...); empty under DDP."""

    def metrics(self) -> dict[str, float]:
        """``nature/<name>_time_s``, ``_power_w``, ``_energy_j``, ``_co2e_g``, and the power of
        each device kind and device, ``nature/<name>_gpu_power_w``, ``_gpu0_power_w``, ..."""
        values = {f"{self.name}_time_s": self.window_time_s,
                  f"{self.name}_power_w": self.power_w,
                  f"{self.name}_energy_j": self.energy_j,
                  f"{self.name}_co2e_g": self.co2e_g}
        for key, power_w in (self.power_by_kind_w | self.power_by_device_w).items():
            values[f"{self.name}_{key}_power_w"] = power_w
        return _prefixed(values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["power_by_kind_w"] = dict(self.power_by_kind_w)
        values["power_by_device_w"] = dict(self.power_by_device_w)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WindowRecord":
        """Rebuild a record written by ``to_dict``."""
        return cls(**data)


@dataclass(frozen=True)
class StepRecord:
    """The running figures at one optimizer step inside an epoch (``log_every_n_steps``)."""

    step: int
    epoch: int
    epoch_time_s: float
    """Time of the epoch so far."""
    power_w: float
    """Mean hardware power of the epoch so far."""
    energy_j: float
    """The run's energy so far, the epoch's part included."""
    co2e_kg: float
    nature_energy_j: float
    nature_co2e_kg: float

    def metrics(self) -> dict[str, float]:
        """The running totals under the epoch metrics' names, for a logger's step axis."""
        return _prefixed({"power_w": self.power_w, "energy_j": self.energy_j,
                          "co2e_kg": self.co2e_kg, "nature_energy_j": self.nature_energy_j,
                          "nature_co2e_kg": self.nature_co2e_kg})

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class RunSummary:
    """The run as a whole (no per-epoch list): ``nature_summary.json`` and the ledger row."""

    run_id: str
    project: str
    status: str
    """running, completed, crashed or interrupted."""
    started_at: str
    """ISO 8601 time (UTC) at which the run started."""
    updated_at: str
    """ISO 8601 time (UTC) at which these figures were taken."""
    n_exp: int
    n_exp_source: str
    """Where N_exp came from: ``parameter``, ``ledger`` or ``fallback`` (ledger unreadable)."""
    epochs: int
    a_energy_j: float
    """A: energy outside epochs and named windows, scaled by PUE and grid loss, plus
    extra_energy_j."""
    windows_energy_j: float
    """Energy of the named windows (validation, evaluation, ...), scaled likewise."""
    windows: dict[str, dict[str, float]]
    """Per window name: count, time_s, energy_j, co2e_kg."""
    energy_j: float
    co2e_kg: float
    nature_energy_j: float
    nature_co2e_kg: float
    nature_energy_kwh: float
    pue: float
    grid_loss: float
    grid_loss_source: str
    carbon_source: str
    carbon_zone: str
    meters: list[dict[str, Any]]
    """Each metered device: key, kind, description, source, ok."""
    estimated: bool
    """True when any part of E was estimated."""
    rank_local: bool
    """True when the figures cover only this process's devices (a DDP run cut short)."""
    epochs_file: str
    """Name of the per-epoch JSON Lines file beside this summary."""
    params: dict[str, Any] = field(default_factory=dict)
    """The run's hyperparameters (as an integration found them), kept with its ledger row."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}
