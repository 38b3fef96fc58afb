"""Accuracy and energy over a range of one parameter, each point replayed over several hardware
seeds: the trade-off a designer picks from, with its seed-to-seed spread."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.exceptions import ReplayInputError
from neuromorphic_sim.presets import RERAM
from neuromorphic_sim.replay import replay
from neuromorphic_sim.report import ReplayReport

SWEEP_LABELS = {
    "d2d_variation": "device-to-device variation σ",
    "c2c_read_noise": "read noise σ",
    "adc_bits": "ADC bits",
    "timesteps": "time steps T",
    "drift_time_s": "time since programming (s)",
    "drift_compensation": "global drift compensation",
    "bits_per_cell": "bits per cell",
    "weight_bits": "weight bits",
    "stuck_at_hrs_fraction": "cells stuck at HRS",
}
"""Axis labels of the usual sweep parameters (any config field name works)."""

DEFAULT_SEEDS = (0, 1, 2)
"""Hardware seeds every point is replayed with (variation, stuck cells, read noise): on the
digits CNN one seed's accuracy differs from the next by about 1.5 points."""


def _spread(values: Sequence[float]) -> float:
    """Sample standard deviation (n − 1); 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class SweepPoint:
    """One value of the swept parameter: the mean over its seeds, and their spread."""

    value: Any
    """The parameter's value."""
    accuracy: float
    """Top-1 accuracy, in [0, 1]: the mean over the seeds."""
    energy_per_inference_j: float
    """Joules per inference (modelled): the mean over the seeds."""
    breakdown: dict[str, float]
    """Component → joules per inference, the mean over the seeds."""
    accuracy_sd: float = 0.0
    """Sample standard deviation of the accuracy over the seeds (0 with one seed)."""
    energy_sd_j: float = 0.0
    """Sample standard deviation of the energy over the seeds, joules."""
    seed_accuracies: tuple[float, ...] = field(default_factory=tuple)
    """Accuracy of each seed, in the order of ``SweepResult.seeds``."""

    @classmethod
    def from_reports(cls, value: Any, reports: Sequence[ReplayReport]) -> SweepPoint:
        """The point of ``value`` from its replays, one per seed."""
        if not reports:
            raise ReplayInputError("a sweep point needs at least one replay.")
        accuracies = [report.accuracy for report in reports]
        energies = [report.energy_per_inference_j for report in reports]
        names = sorted({name for report in reports for name in report.breakdown})
        breakdown = {
            name: statistics.fmean(report.breakdown.get(name, 0.0) for report in reports)
            for name in names
        }
        return cls(
            value,
            statistics.fmean(accuracies),
            statistics.fmean(energies),
            breakdown,
            _spread(accuracies),
            _spread(energies),
            tuple(accuracies),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "value": self.value,
            "accuracy": self.accuracy,
            "accuracy_sd": self.accuracy_sd,
            "seed_accuracies": list(self.seed_accuracies),
            "energy_per_inference_j": self.energy_per_inference_j,
            "energy_sd_j": self.energy_sd_j,
            "breakdown": dict(self.breakdown),
        }


@dataclass(frozen=True)
class SweepResult:
    """Accuracy and energy at every value of one parameter."""

    parameter: str
    """The swept field (``d2d_variation``, ``adc_bits``, ``timesteps``, ``drift_time_s``, ...)."""
    model_kind: str
    """``snn`` or ``ann``."""
    hardware: str
    """Name of the base hardware configuration."""
    samples: int
    """Inferences per point and seed."""
    points: tuple[SweepPoint, ...]
    """One per value, in the order given."""
    seeds: tuple[int, ...] = (0,)
    """The hardware seeds every point was replayed with."""

    @property
    def label(self) -> str:
        """Human-readable name of the parameter."""
        return SWEEP_LABELS.get(self.parameter, self.parameter)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "parameter": self.parameter,
            "model_kind": self.model_kind,
            "hardware": self.hardware,
            "samples": self.samples,
            "seeds": list(self.seeds),
            "points": [point.to_dict() for point in self.points],
        }

    def to_table(self) -> str:
        """A printable table: mean ± standard deviation over the seeds."""
        lines = [
            f"{self.model_kind.upper()} on {self.hardware}: sweep of {self.label} "
            f"({self.samples} samples, mean ± sd over seeds {', '.join(map(str, self.seeds))})"
        ]
        lines += [
            f"  {point.value!s:>10}  accuracy {100 * point.accuracy:6.2f} ± "
            f"{100 * point.accuracy_sd:.2f} %  energy {point.energy_per_inference_j:.3e} ± "
            f"{point.energy_sd_j:.1e} J"
            for point in self.points
        ]
        return "\n".join(lines)


def replay_over_seeds(
    model: Any,
    data: Any,
    config: HardwareConfig,
    timesteps: int | None,
    seeds: Sequence[int],
    *,
    device: torch.device | str | None = None,
    max_samples: int | None = None,
) -> list[ReplayReport]:
    """``replay`` once per hardware seed (``config.seed`` replaced), in the order given."""
    return [
        replay(
            model,
            data,
            config.with_parameter("seed", seed),
            timesteps,
            device=device,
            progress=False,
            max_samples=max_samples,
        )
        for seed in seeds
    ]


def sweep(
    model: Any,
    data: Any,
    parameter: str,
    values: Sequence[Any],
    config: HardwareConfig = RERAM,
    timesteps: int | None = None,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    device: torch.device | str | None = None,
    progress: bool = True,
    max_samples: int | None = None,
) -> SweepResult:
    """Replay ``model`` once per value of ``parameter`` (a config field, or ``timesteps``) and
    per hardware seed; each point holds the mean and the standard deviation over the seeds.

    Every point uses the same seeds, so the only change between points is the parameter.
    """
    if not values:
        raise ReplayInputError("values is empty: give at least one value to sweep.")
    if not seeds:
        raise ReplayInputError("seeds is empty: give at least one hardware seed.")
    if parameter != "timesteps":
        config.with_parameter(parameter, values[0])  # fail fast on an unknown name
    for seed in seeds:
        config.with_parameter("seed", seed)  # fail fast on an invalid seed
    points = []
    reports: list[ReplayReport] = []
    for value in tqdm(values, disable=not progress, desc=f"sweep {parameter}"):
        hw = config if parameter == "timesteps" else config.with_parameter(parameter, value)
        steps = value if parameter == "timesteps" else timesteps
        reports = replay_over_seeds(
            model, data, hw, steps, seeds, device=device, max_samples=max_samples
        )
        points.append(SweepPoint.from_reports(value, reports))
    last = reports[-1]
    return SweepResult(
        parameter, last.model_kind, config.name, last.samples, tuple(points), tuple(seeds)
    )
