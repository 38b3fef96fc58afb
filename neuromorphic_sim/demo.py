"""The crossbar stage of ``nature demo``: ANN and SNN on the ReRAM preset, a sweep, the figure."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.exceptions import ReplayInputError
from neuromorphic_sim.figure import FigurePaths, side_by_side
from neuromorphic_sim.frontier import Frontier, frontier
from neuromorphic_sim.presets import RERAM
from neuromorphic_sim.reference import DigitalReference, digital_reference
from neuromorphic_sim.replay import replay
from neuromorphic_sim.report import ReplayReport, format_accuracy, format_energy
from neuromorphic_sim.sweep import (
    DEFAULT_SEEDS,
    SweepPoint,
    SweepResult,
    replay_over_seeds,
    sweep,
)


FRONTIER_SAMPLES = 128
"""Test samples the demo's frontier replays (each point is a crossbar replay; its accuracy
carries a Wilson interval for that many samples)."""

FRONTIER_TIMESTEPS = (4, 8, 16)


@dataclass(frozen=True)
class CrossbarStageResult:
    """What the crossbar stage produced."""

    snn: ReplayReport
    """The spiking network on the crossbar."""
    ann: ReplayReport
    """The original network on the same crossbar."""
    digital: DigitalReference
    """The original network on a GPU (measured) or its digital estimate."""
    sweep: SweepResult
    """Accuracy and energy over the swept parameter."""
    figure: FigurePaths
    """Where the side-by-side figure was written."""
    frontier: Frontier | None
    """Accuracy against energy per inference over methods and T (None when not asked for)."""
    frontier_png: Path | None
    """Where the frontier's plot was written."""
    samples_used: int
    """Test samples replayed."""
    samples_available: int
    """Test samples in the split."""

    def to_table(self) -> str:
        """A printable summary for the demo's output."""
        subsample = (
            f" (a subsample of {self.samples_used} of {self.samples_available} test samples,"
            " to stay fast)"
            if self.samples_used < self.samples_available
            else ""
        )
        rows = [
            (self.digital.label, self.digital.energy_per_inference_j, self.digital.accuracy),
            (self.ann.label, self.ann.energy_per_inference_j, self.ann.accuracy),
            (self.snn.label, self.snn.energy_per_inference_j, self.snn.accuracy),
        ]
        width = max(len(label) for label, _, _ in rows) + 2
        lines = [
            f"Crossbar replay{subsample}:",
            f"  {'':<{width}}{'energy/inference':>18}  accuracy (95 % Wilson interval)",
        ]
        lines += [
            f"  {label:<{width}}{format_energy(energy):>18}  "
            f"{format_accuracy(accuracy, self.samples_used)}"
            for label, energy, accuracy in rows
        ]
        ratio = self.snn.energy_per_inference_j / self.ann.energy_per_inference_j
        lines.append(
            f"  SNN / ANN on the same crossbar: {ratio:.3g}× the energy "
            f"({'the SNN wins' if ratio < 1 else 'the ANN wins'} on this hardware)"
        )
        lines.append(
            "  crossbar energies are modelled; "
            + (
                "the GPU figure is measured with NVML"
                if self.digital.source == "measured"
                else "the digital figure is an estimate (Horowitz 45 nm, FP32 MACs only)"
            )
        )
        lines.append(textwrap.indent(self.sweep.to_table(), "  "))
        lines.append(f"  figure: {self.figure.png} and {self.figure.svg}")
        if self.frontier is not None:
            lines.append(textwrap.indent(self.frontier.to_table(), "  "))
            lines.append(f"  frontier: {self.frontier_png}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "snn": self.snn.to_dict(),
            "ann": self.ann.to_dict(),
            "digital": self.digital.to_dict(),
            "sweep": self.sweep.to_dict(),
            "figure": self.figure.to_dict(),
            "frontier": self.frontier.to_dict() if self.frontier is not None else None,
            "samples_used": self.samples_used,
            "samples_available": self.samples_available,
        }


def _sweep_values(parameter: str, timesteps: int) -> list[Any]:
    if parameter == "timesteps":
        return sorted(
            {max(1, timesteps // 8), max(1, timesteps // 4), max(1, timesteps // 2)} - {timesteps}
        )
    if parameter == "adc_bits":
        return [4, 5, 6]
    return [0.05, 0.1, 0.2]


def _nominal_value(parameter: str, config: HardwareConfig, timesteps: int) -> Any:
    if parameter == "timesteps":
        return timesteps
    for section in (config.device, config.crossbar, config.periphery):
        if parameter in section.field_names():
            return getattr(section, parameter)
    raise KeyError(parameter)


def crossbar_stage(
    spiking_model: Any,
    splits: Any,
    out_dir: str | os.PathLike[str],
    nature_summary: Mapping[str, Any] | None = None,
    progress: bool = False,
    *,
    config: HardwareConfig = RERAM,
    max_samples: int | None = None,
    sweep_parameter: str = "timesteps",
    seeds: Sequence[int] = DEFAULT_SEEDS,
    tensorboard: Any | None = None,
    frontier_samples: int | None = FRONTIER_SAMPLES,
) -> CrossbarStageResult:
    """Replay the ANN and the SNN of ``spiking_model`` on ``config`` over the whole test split
    (or its first ``max_samples``), sweep one parameter over ``seeds`` (T by default: energy
    grows with T, accuracy too), draw the side-by-side figure into ``out_dir``.

    ``splits`` has a ``test`` dataset (``nature_callback.demo.digits.DigitsSplits``). The ANN
    and SNN bars use ``seeds[0]``. The energy–accuracy frontier (T = 4, 8, 16, every
    conversion method, the quantised ANN) is drawn on the first ``frontier_samples`` test
    samples (None: skip it).
    """
    if not seeds:
        raise ReplayInputError("seeds is empty: give at least one hardware seed.")
    torch.manual_seed(0)
    test = splits.test
    available = len(test)
    used = available if max_samples is None else min(max_samples, available)
    timesteps = int(spiking_model.timesteps)
    first_seed = config.with_parameter("seed", seeds[0])
    snn = replay(spiking_model, test, first_seed, timesteps, progress=progress, max_samples=used)
    ann = replay(spiking_model.ann, test, first_seed, progress=progress, max_samples=used)
    digital = digital_reference(spiking_model.ann, test, max_samples=used, progress=progress)
    values = _sweep_values(sweep_parameter, timesteps)
    partial = sweep(
        spiking_model,
        test,
        sweep_parameter,
        values,
        config,
        timesteps,
        seeds=seeds,
        progress=progress,
        max_samples=used,
    )
    # The nominal point's first seed is the SNN replay above: reuse it, replay the others.
    others = replay_over_seeds(spiking_model, test, config, timesteps, seeds[1:], max_samples=used)
    nominal = SweepPoint.from_reports(
        _nominal_value(sweep_parameter, config, timesteps), [snn, *others]
    )
    points = sorted([*partial.points, nominal], key=lambda point: point.value)
    swept = replace(partial, points=tuple(points))
    figure = side_by_side(
        snn,
        ann,
        digital,
        swept,
        Path(out_dir),
        nature_summary=nature_summary,
        tensorboard=tensorboard,
    )
    front = front_png = None
    if frontier_samples is not None:
        front = frontier(spiking_model.ann, DataLoader(splits.train, batch_size=32), test,
                         FRONTIER_TIMESTEPS, config=config, samples=min(frontier_samples, used),
                         progress=progress)
        front_png = front.plot(Path(out_dir) / "frontier.png")
    return CrossbarStageResult(snn, ann, digital, swept, figure, front, front_png, used,
                               available)
