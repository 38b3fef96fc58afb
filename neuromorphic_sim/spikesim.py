"""SpikeSim's closed-form energy, and a side-by-side with spikingjelly's own estimator.

SpikeSim (Moitra et al., TCAD 2023) charges every processing-element (PE) cycle of a
convolution the same energy: PE cycles = ceil(C_out/X)·ceil(C_in/X)·H_out² per time step,
E_PE from :func:`neuromorphic_sim.energy.spikesim_pe_cycle_pj`. spikingjelly 2.0.0 ships the
same model as ``op_counter.estimate_spikesim_energy``; :func:`compare_with_spikingjelly` runs
both on one converted network and explains every difference layer by layer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.op_counter.spikesim import (
    SpikeSimEnergyConfig,
    SpikeSimEnergyProfiler,
)

from neuromorphic_sim.config import HardwareConfig, SpikeSimConstants
from neuromorphic_sim.energy import LayerEvents, LayerGeometry, spikesim_energy_j
from neuromorphic_sim.exceptions import ConfigurationError
from neuromorphic_sim.presets import SPIKESIM
from neuromorphic_sim.replay import replay, resolve_model
from neuromorphic_sim.report import format_energy


@dataclass(frozen=True)
class ConvShape:
    """One convolution as SpikeSim sees it."""

    in_channels: int
    """C_in."""
    out_channels: int
    """C_out."""
    kernel_size: int
    """k (square kernels)."""
    output_size: int
    """H_out = W_out (SpikeSim takes the size after a following 2×2 pooling)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


VGG9_CIFAR10_SPIKESIM: tuple[ConvShape, ...] = (
    ConvShape(3, 64, 3, 32),
    ConvShape(64, 64, 3, 16),
    ConvShape(64, 128, 3, 16),
    ConvShape(128, 128, 3, 8),
    ConvShape(128, 256, 3, 8),
    ConvShape(256, 256, 3, 8),
    ConvShape(256, 256, 3, 4),
)
"""SpikeSim's VGG9 on CIFAR-10 (32×32 inputs): the seven convolutions it counts, output sizes
after pooling for layers 2, 4 and 7; the classifier is not counted (SpikeSim ela_spikesim.py)."""


@dataclass(frozen=True)
class ClosedFormEnergy:
    """SpikeSim's dense energy of a network, per inference."""

    timesteps: int
    """T."""
    pe_cycles_per_step: tuple[int, ...]
    """PE cycles of each layer per time step."""
    energy_per_inference_j: float
    """Σ_layers PE cycles × E_PE × T."""
    breakdown: dict[str, float]
    """Component → joules per inference."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def spikesim_closed_form(
    layers: tuple[ConvShape, ...], timesteps: int, constants: SpikeSimConstants | None = None
) -> ClosedFormEnergy:
    """SpikeSim's energy from layer shapes alone (dense: every PE cycle charged); ``constants``
    default to ``SpikeSimConstants()``, spikingjelly's values."""
    constants = SpikeSimConstants() if constants is None else constants
    size = constants.xbar_size
    dense = replace(constants, activity_mode="dense")
    breakdown: dict[str, float] = {}
    cycles = []
    for shape in layers:
        input_tiles = math.ceil(shape.in_channels / size)
        positions = shape.output_size**2
        cycles.append(input_tiles * math.ceil(shape.out_channels / size) * positions)
        events = LayerEvents(
            0.0, 0.0, 0.0, 0.0, 0.0, float(input_tiles * positions * timesteps), 0.0, 0.0
        )
        geometry = LayerGeometry(
            physical_columns=0,
            output_tiles=math.ceil(shape.out_channels / size),
            kernel_area=shape.kernel_size**2,
        )
        for component, joules in spikesim_energy_j(events, geometry, dense).items():
            breakdown[component] = breakdown.get(component, 0.0) + joules
    return ClosedFormEnergy(timesteps, tuple(cycles), sum(breakdown.values()), breakdown)


@dataclass(frozen=True)
class ComparisonRow:
    """One layer: spikingjelly's estimate beside ours, and why they differ."""

    layer: str
    """The layer's name in the model."""
    spikingjelly_j: float
    """spikingjelly's ``estimate_spikesim_energy`` for this layer, joules per inference."""
    ours_j: float
    """Our replay under the same constants, joules per inference."""
    explanation: str
    """Why the two differ (or ``equal``)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class SpikeSimComparison:
    """Our SpikeSim-compatible replay beside spikingjelly's estimator, layer by layer."""

    timesteps: int
    """T."""
    samples: int
    """Inferences in the batch compared."""
    activity_mode: str
    """``dense`` or ``event``."""
    rows: tuple[ComparisonRow, ...]
    """One row per mapped layer."""

    @property
    def spikingjelly_total_j(self) -> float:
        """spikingjelly's total, joules per inference."""
        return sum(row.spikingjelly_j for row in self.rows)

    @property
    def ours_total_j(self) -> float:
        """Our total, joules per inference."""
        return sum(row.ours_j for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            **asdict(self),
            "spikingjelly_total_j": self.spikingjelly_total_j,
            "ours_total_j": self.ours_total_j,
        }

    def to_table(self) -> str:
        """A printable table."""
        lines = [
            f"SpikeSim energy per inference, T={self.timesteps}, {self.activity_mode} mode",
            f"{'layer':<8}{'spikingjelly':>14}{'ours':>12}  why",
        ]
        for row in self.rows:
            lines.append(
                f"{row.layer:<8}{format_energy(row.spikingjelly_j):>14}"
                f"{format_energy(row.ours_j):>12}  {row.explanation}"
            )
        lines.append(
            f"{'total':<8}{format_energy(self.spikingjelly_total_j):>14}{format_energy(self.ours_total_j):>12}"
        )
        return "\n".join(lines)


def _spikingjelly_by_layer(
    network: torch.nn.Module, inputs: torch.Tensor, timesteps: int, mode: str
) -> dict[str, float]:
    """Run spikingjelly's SpikeSim profiler over T single steps; joules per inference per layer."""
    profiler = SpikeSimEnergyProfiler(config=SpikeSimEnergyConfig(activity_mode=mode))
    network.eval()
    with torch.no_grad():
        functional.reset_net(network)
        with profiler:
            for _ in range(timesteps):
                network(inputs)
        functional.reset_net(network)
    report = profiler.get_report()
    root = f"{type(network).__name__}."  # stages are named '<root class>.<module path>'
    return {
        stage.removeprefix(root): pj * 1e-12 / len(inputs)
        for stage, pj in report.energy_by_stage.items()
    }


def _explain(
    sj_j: float,
    ours_j: float,
    events: LayerEvents,
    out_features: int,
    groups: int,
    kind: str,
    mode: str,
) -> str:
    """Account for the ratio ours / spikingjelly: input planes per step × PE cycles charged."""
    if sj_j == 0.0:
        return f"{kind} layer: spikingjelly charges convolutions only"
    if math.isclose(sj_j, ours_j, rel_tol=1e-9):
        return "equal"
    planes = events.dense_group_reads * out_features / (events.output_updates * groups)
    activity = events.active_group_reads / events.dense_group_reads if mode == "event" else 1.0
    ratio = ours_j / sj_j
    if not math.isclose(ratio, planes * activity, rel_tol=1e-6):
        return f"unexplained: ×{ratio:.4g}"
    parts = []
    if not math.isclose(planes, 1.0):
        parts.append(f"{planes:g} bit-serial input planes per step (spikingjelly: one read)")
    if mode == "event":
        parts.append(
            f"{activity:.1%} of PE cycles have input (ours event-driven; spikingjelly falls back "
            "to dense on the scaled, non-binary inputs of a converted network)"
        )
    return f"×{ratio:.3g} = " + " × ".join(parts)


def compare_with_spikingjelly(
    model: Any,
    inputs: torch.Tensor,
    timesteps: int | None = None,
    config: HardwareConfig = SPIKESIM,
) -> SpikeSimComparison:
    """Our replay under ``config`` (SpikeSim accounting) beside spikingjelly's estimator.

    ``model`` is a ``SpikingModel`` or a converted spiking GraphModule; ``inputs`` one batch.
    """
    if config.accounting != "spikesim" or config.spikesim is None:
        raise ConfigurationError(
            f"config={config.name!r} is invalid here: compare_with_spikingjelly needs "
            "accounting='spikesim' (e.g. presets.SPIKESIM)."
        )
    resolved = resolve_model(model, timesteps)
    mode = config.spikesim.activity_mode
    theirs = _spikingjelly_by_layer(resolved.network, inputs, resolved.timesteps, mode)
    labels = torch.zeros(len(inputs), dtype=torch.long)
    ours = replay(resolved.network, (inputs, labels), config, resolved.timesteps, progress=False)
    rows = []
    for layer, mapping in zip(ours.layers, ours.mapping.layers, strict=True):
        sj = theirs.get(layer.name, 0.0)
        explanation = _explain(
            sj,
            layer.total_j,
            layer.events,
            mapping.output_features,
            mapping.row_groups,
            mapping.kind,
            mode,
        )
        rows.append(ComparisonRow(layer.name, sj, layer.total_j, explanation))
    return SpikeSimComparison(resolved.timesteps, len(inputs), mode, tuple(rows))
