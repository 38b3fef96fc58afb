"""Accuracy and energy over a range of one parameter: the trade-off a designer picks from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.exceptions import ReplayInputError
from neuromorphic_sim.presets import RERAM
from neuromorphic_sim.replay import replay

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


@dataclass(frozen=True)
class SweepPoint:
    """One value of the swept parameter."""

    value: Any
    """The parameter's value."""
    accuracy: float
    """Top-1 accuracy, in [0, 1]."""
    energy_per_inference_j: float
    """Joules per inference (modelled)."""
    breakdown: dict[str, float]
    """Component → joules per inference."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "value": self.value,
            "accuracy": self.accuracy,
            "energy_per_inference_j": self.energy_per_inference_j,
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
    """Inferences per point."""
    points: tuple[SweepPoint, ...]
    """One per value, in the order given."""

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
            "points": [point.to_dict() for point in self.points],
        }

    def to_table(self) -> str:
        """A printable table."""
        lines = [
            f"{self.model_kind.upper()} on {self.hardware}: sweep of {self.label} "
            f"({self.samples} samples)"
        ]
        lines += [
            f"  {point.value!s:>10}  accuracy {point.accuracy:7.2%}  "
            f"energy {point.energy_per_inference_j:.3e} J"
            for point in self.points
        ]
        return "\n".join(lines)


def sweep(
    model: Any,
    data: Any,
    parameter: str,
    values: Sequence[Any],
    config: HardwareConfig = RERAM,
    timesteps: int | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    max_samples: int | None = None,
) -> SweepResult:
    """Replay ``model`` once per value of ``parameter`` (a config field, or ``timesteps``).

    Every point uses the same seed, so the only change between points is the parameter.
    """
    if not values:
        raise ReplayInputError("values is empty: give at least one value to sweep.")
    if parameter != "timesteps":
        config.with_parameter(parameter, values[0])  # fail fast on an unknown name
    points = []
    samples = 0
    kind = "snn"
    for value in tqdm(values, disable=not progress, desc=f"sweep {parameter}"):
        hw = config if parameter == "timesteps" else config.with_parameter(parameter, value)
        steps = value if parameter == "timesteps" else timesteps
        report = replay(
            model, data, hw, steps, device=device, progress=False, max_samples=max_samples
        )
        points.append(
            SweepPoint(value, report.accuracy, report.energy_per_inference_j, report.breakdown)
        )
        samples, kind = report.samples, report.model_kind
    return SweepResult(parameter, kind, config.name, samples, tuple(points))
