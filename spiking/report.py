"""ANN vs SNN over T in one report: accuracy, activity, operation counts, compute-energy estimate."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spiking.data import DataSource
from spiking.energy import EnergyEstimate, operation_energy
from spiking.evaluation import DEFAULT_TIMESTEPS, EvaluationResult, evaluate, normalise_timesteps
from spiking.model import SpikingModel
from spiking.statistics import SpikeStatistics, collect_statistics


@dataclass(frozen=True)
class ConversionReport:
    """Accuracy, spike statistics and compute-energy estimate of a converted model for several T."""

    method: str
    """How the model was converted, e.g. ``rate coding (99.9%)``."""
    evaluation: EvaluationResult
    """ANN accuracy and SNN accuracy per T."""
    statistics: tuple[SpikeStatistics, ...]
    """One statistics run per T (same order as ``evaluation.timesteps``)."""
    precision: str
    """Arithmetic precision of the energy estimate."""
    max_drop_points: float
    """Accuracy drop (percentage points) allowed when choosing the smallest T."""
    spiking_model: SpikingModel = field(repr=False, compare=False)
    """The converted model the report describes (not part of ``to_dict``)."""

    @property
    def energies(self) -> tuple[EnergyEstimate, ...]:
        """Compute-energy estimate per T (estimates, Horowitz 45 nm)."""
        return tuple(stats.energy(self.precision) for stats in self.statistics)

    @property
    def chosen_timesteps(self) -> int | None:
        """Smallest evaluated T within ``max_drop_points`` of the ANN's accuracy (``None``: none)."""
        return self.evaluation.smallest_timesteps(self.max_drop_points)

    def to_metrics(self, prefix: str = "spiking/") -> dict[str, float]:
        """Flat metrics for a logger: accuracies per T, activity and energy ratio per T."""
        metrics = {f"{prefix}ann_accuracy": self.evaluation.ann_accuracy}
        for stats, energy in zip(self.statistics, self.energies):
            t = stats.timesteps
            metrics[f"{prefix}snn_accuracy_T{t}"] = self.evaluation.accuracy_at(t)
            metrics[f"{prefix}mean_firing_rate_T{t}"] = stats.mean_firing_rate
            metrics[f"{prefix}spikes_per_sample_T{t}"] = stats.spikes_per_sample
            metrics[f"{prefix}synops_per_sample_T{t}"] = stats.synops_per_sample
            metrics[f"{prefix}energy_ratio_{self.precision}_T{t}"] = energy.snn_to_ann_ratio
            for layer in stats.neurons:
                metrics[f"{prefix}firing_rate_T{t}/{layer.name}"] = layer.firing_rate
        metrics[f"{prefix}ann_macs_per_sample"] = float(self.statistics[0].ann_macs_per_sample)
        if self.chosen_timesteps is not None:
            metrics[f"{prefix}smallest_timesteps"] = float(self.chosen_timesteps)
        return metrics

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "method": self.method,
            "evaluation": self.evaluation.to_dict(),
            "statistics": [stats.to_dict() for stats in self.statistics],
            "energies": [energy.to_dict() for energy in self.energies],
            "precision": self.precision,
            "max_drop_points": self.max_drop_points,
            "chosen_timesteps": self.chosen_timesteps,
        }

    def to_table(self) -> str:
        """ANN vs SNN accuracy over T and the compute-energy estimate, as a plain-text table."""
        evaluation, energies = self.evaluation, self.energies
        op = operation_energy(self.precision)
        header = (
            f"{'model':<6}{'T':>4}{'accuracy':>10}{'drop':>7}{'spikes':>10}{'SynOps':>12}"
            f"{'MACs':>11}{'energy*':>11}{'vs ANN':>8}"
        )
        lines = [
            f"ANN -> SNN conversion ({self.method}), {evaluation.samples} evaluation samples; counts per sample",
            header,
            f"{'ANN':<6}{'-':>4}{100 * evaluation.ann_accuracy:>9.2f}%{'':>7}{'':>10}{'':>12}"
            f"{energies[0].ann_macs:>11,.0f}{energies[0].ann_energy_j * 1e9:>8.2f} nJ{1:>7.2f}x",
        ]
        for stats, energy in zip(self.statistics, energies):
            t = stats.timesteps
            lines.append(
                f"{'SNN':<6}{t:>4}{100 * evaluation.accuracy_at(t):>9.2f}%{evaluation.drop_points(t):>7.2f}"
                f"{stats.spikes_per_sample:>10,.0f}{stats.synops_per_sample:>12,.0f}{energy.snn_macs:>11,.0f}"
                f"{energy.snn_energy_j * 1e9:>8.2f} nJ{energy.snn_to_ann_ratio:>7.2f}x"
            )
        chosen = self.chosen_timesteps
        lines += [
            f"* energy is an ESTIMATE of arithmetic only ({op.precision}: {op.mac_pj} pJ per MAC, {op.ac_pj} pJ "
            "per accumulate/SynOp; no memory or data movement).",
            f"  Source: {op.source}.",
            f"  ANN = E_MAC x MACs; {energies[-1].formula}.",
            textwrap.fill(energies[-1].statement(), width=100, initial_indent="  ", subsequent_indent="  "),
            f"Smallest T within {self.max_drop_points:g} pt of the ANN: "
            + (str(chosen) if chosen is not None else "none of the evaluated T"),
        ]
        return "\n".join(lines)


def build_report(
    model: SpikingModel,
    data: DataSource,
    timesteps: Sequence[int] | None = None,
    *,
    precision: str = "fp32",
    max_drop_points: float = 1.0,
    progress: bool = False,
) -> ConversionReport:
    """Evaluate ``model`` on labelled ``data`` for each T and collect statistics for each T."""
    wanted = normalise_timesteps(timesteps, DEFAULT_TIMESTEPS)
    operation_energy(precision)  # validate before the runs
    evaluation = evaluate(model, data, wanted, progress=progress)
    statistics = tuple(collect_statistics(model, data, t, progress=progress) for t in wanted)
    return ConversionReport(
        method=model.config.describe(),
        evaluation=evaluation,
        statistics=statistics,
        precision=precision,
        max_drop_points=max_drop_points,
        spiking_model=model,
    )
