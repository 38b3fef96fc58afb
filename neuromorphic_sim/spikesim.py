"""SpikeSim's closed-form energy, and a side-by-side with spikingjelly's own estimator.

SpikeSim (Moitra et al., TCAD 2023) charges every processing-element (PE) cycle of a
convolution the same energy: PE cycles = ceil(C_out/X)·ceil(C_in/X)·H_out² per time step,
E_PE from :func:`neuromorphic_sim.energy.spikesim_pe_cycle_pj`. spikingjelly 2.0.0 ships the
same model as ``op_counter.estimate_spikesim_energy``, and an event formula of its own, which
``activity_mode='spikingjelly_event'`` reproduces; :func:`compare_with_spikingjelly` runs both
on one spiking network and explains every difference layer by layer, term by term.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.op_counter.spikesim import (
    SpikeSimEnergyConfig,
    SpikeSimEnergyProfiler,
)

from neuromorphic_sim.config import ActivityMode, HardwareConfig, SpikeSimConstants
from neuromorphic_sim.energy import LayerEvents, LayerGeometry, spikesim_energy_j
from neuromorphic_sim.exceptions import ConfigurationError
from neuromorphic_sim.presets import SPIKESIM
from neuromorphic_sim.replay import replay, resolve_model
from neuromorphic_sim.report import LayerEnergy, LayerMapping, format_energy


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
    breakdown: dict[str, float] = {}
    cycles = []
    for shape in layers:
        input_tiles = math.ceil(shape.in_channels / size)
        positions = shape.output_size**2
        cycles.append(input_tiles * math.ceil(shape.out_channels / size) * positions)
        dense_reads = float(input_tiles * positions * timesteps)
        events = LayerEvents(0.0, 0.0, 0.0, 0.0, 0.0, dense_reads, 0.0, 0.0)
        geometry = LayerGeometry(
            physical_columns=0,
            output_tiles=math.ceil(shape.out_channels / size),
            kernel_area=shape.kernel_size**2,
            row_groups=input_tiles,
        )
        for component, joules in spikesim_energy_j(events, geometry, constants, "dense").items():
            breakdown[component] = breakdown.get(component, 0.0) + joules
    return ClosedFormEnergy(timesteps, tuple(cycles), sum(breakdown.values()), breakdown)


@dataclass(frozen=True)
class ComparisonTerm:
    """One cause of a difference between spikingjelly's estimate and ours."""

    name: str
    """``input planes``, ``activity``, ``crossbar`` or ``neuron``."""
    delta_j: float
    """What it adds to spikingjelly's figure to reach ours, joules per inference."""
    reason: str
    """Why, in words."""

    def describe(self) -> str:
        """``crossbar +12.3 nJ (why)``."""
        sign = "+" if self.delta_j >= 0 else "−"
        return f"{self.name} {sign}{format_energy(abs(self.delta_j))} ({self.reason})"


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
    """Why the two differ (``equal``; the terms; or ``unexplained: ...``)."""
    terms: tuple[ComparisonTerm, ...] = ()
    """The difference term by term: spikingjelly_j + Σ delta_j = ours_j."""

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
    """Our mode: ``dense``, ``event`` or ``spikingjelly_event`` (spikingjelly runs ``dense``
    for ``dense``, else ``event``)."""
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
            f"{'total':<8}{format_energy(self.spikingjelly_total_j):>14}"
            f"{format_energy(self.ours_total_j):>12}"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class _StageEnergy:
    """spikingjelly's estimate for one convolution, and the counts it was made from."""

    energy_j: float
    """Joules per inference."""
    event_driven: bool | None
    """True: every step counted by its event formula (binary input); False: every step dense
    (dense mode, or its fallback for inputs that are not 0/1); None: some of each."""
    counts: LayerEvents
    """Its counts per inference, in our terms (PE cycles with input, row occupancy, output
    positions with input, all PE cycles)."""
    input_tiles: int
    """ceil(C_in / X)."""


def _stage_counts(stats: dict[str, Any], metadata: dict[str, Any], samples: int) -> LayerEvents:
    """spikingjelly's stage statistics (summed over the batch and steps) as our per-inference
    counts: a tile's active rows over its rows (C_tile·k²) is its row occupancy."""
    kernel_area = metadata["kernel_size"][0] * metadata["kernel_size"][1]
    occupancy = sum(
        rows / (channels * kernel_area)
        for rows, channels in zip(
            stats["active_row_count_by_tile"], metadata["input_tile_channels"], strict=True
        )
    )
    per_sample = 1.0 / samples
    return LayerEvents(
        active_row_reads=stats["active_row_count"] * per_sample,
        active_group_reads=stats["active_patch_tile_count"] * per_sample,
        conductance_read_s=0.0,
        driver_pulses=0.0,
        dac_conversions=0.0,
        dense_group_reads=stats["dense_patch_tile_count"] * per_sample,
        output_updates=0.0,
        input_bits=0.0,
        row_occupancy_reads=occupancy * per_sample,
        active_output_sites=stats["active_output_tile_site_count"]
        / metadata["out_channel_tiles"]
        * per_sample,
    )


def _spikingjelly_by_layer(
    network: torch.nn.Module, inputs: torch.Tensor, timesteps: int, mode: str
) -> dict[str, _StageEnergy]:
    """Run spikingjelly's SpikeSim profiler over T single steps; its estimate per layer."""
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
    stages = {}
    for stage, pj in report.energy_by_stage.items():
        metadata = report.stage_metadata[stage]
        dense_calls, event_calls = metadata["dense_fallback_calls"], metadata["event_driven_calls"]
        stages[stage.removeprefix(root)] = _StageEnergy(
            energy_j=pj * 1e-12 / len(inputs),
            event_driven=True if dense_calls == 0 else False if event_calls == 0 else None,
            counts=_stage_counts(report.event_stats_by_stage[stage], metadata, len(inputs)),
            input_tiles=len(metadata["input_tile_channels"]),
        )
    return stages


def _energy_j(
    events: LayerEvents,
    geometry: LayerGeometry,
    constants: SpikeSimConstants,
    mode: ActivityMode,
) -> float:
    return sum(spikesim_energy_j(events, geometry, constants, mode).values())


def _unexplained(ours_j: float, theirs_j: float, why: str) -> str:
    return f"unexplained: ×{ours_j / theirs_j:.4g} ({why})"


def _formula_terms(layer: LayerEnergy, constants: SpikeSimConstants) -> list[ComparisonTerm]:
    """Our ``event`` formula against spikingjelly's on the same counts: crossbar and neuron."""
    ours = spikesim_energy_j(layer.events, layer.geometry, constants, "event")
    theirs = spikesim_energy_j(layer.events, layer.geometry, constants, "spikingjelly_event")
    events, tiles = layer.events, layer.geometry.row_groups
    reasons = {
        "crossbar": "ours reads every row of a PE cycle with input; spikingjelly charges the "
        f"driven rows only, {events.row_occupancy_reads / events.active_group_reads:.1%} of them",
        "neuron": f"ours per PE cycle with input ({events.active_group_reads:g}); spikingjelly "
        f"per output position with input × {tiles} input tile(s) "
        f"({events.active_output_sites * tiles:g})",
    }
    return [
        ComparisonTerm(name, ours[name] - theirs[name], reason)
        for name, reason in reasons.items()
        if not math.isclose(ours[name], theirs[name], rel_tol=1e-9)
    ]


def _explain(
    stage: _StageEnergy | None,
    layer: LayerEnergy,
    mapping: LayerMapping,
    constants: SpikeSimConstants,
) -> tuple[str, tuple[ComparisonTerm, ...]]:
    """Why ours differs from spikingjelly's estimate, as terms that add up to the difference.

    spikingjelly charges a convolution by its event formula where the input is 0/1, else
    dense (its ``rule``). Applied to its own counts, our copy of that rule must give its figure
    (else ``unexplained``). From there: ``input planes`` (ours reads multi-bit inputs
    bit-serially, spikingjelly once), ``counts`` (our replay's spikes, on non-ideal devices,
    differ from spikingjelly's run), ``activity`` (ours is event-driven where spikingjelly fell
    back to dense) and, in our ``event`` mode, the ``crossbar`` and ``neuron`` formulas.
    """
    if stage is None or stage.energy_j == 0.0:
        return f"{mapping.kind} layer: spikingjelly charges convolutions only", ()
    theirs_j, ours_j, mode = stage.energy_j, layer.total_j, constants.activity_mode
    if stage.event_driven is None:
        return _unexplained(ours_j, theirs_j, "spikingjelly mixed event and dense steps"), ()
    if stage.input_tiles != layer.geometry.row_groups:
        return _unexplained(ours_j, theirs_j, "row groups are not SpikeSim's channel tiles"), ()
    rule: ActivityMode = "spikingjelly_event" if stage.event_driven else "dense"
    geometry, events = layer.geometry, layer.events
    if not math.isclose(_energy_j(stage.counts, geometry, constants, rule), theirs_j, rel_tol=1e-9):
        return _unexplained(ours_j, theirs_j, f"its {rule} rule differs from ours"), ()
    planes = events.dense_group_reads * mapping.output_features
    planes /= events.output_updates * mapping.row_groups
    ours_by_rule = _energy_j(events, geometry, constants, rule)
    terms = [
        ComparisonTerm(
            "input planes",
            (planes - 1.0) * theirs_j,
            f"{planes:g} bit-serial input planes per step; spikingjelly reads once",
        ),
        ComparisonTerm(
            "counts",
            ours_by_rule - planes * theirs_j,
            "our replay's spikes (on the configured devices) differ from spikingjelly's run: "
            f"PE cycles with input {events.active_group_reads:g} against "
            f"{planes * stage.counts.active_group_reads:g}, driven-row fractions summed "
            f"{events.row_occupancy_reads:.6g} against "
            f"{planes * stage.counts.row_occupancy_reads:.6g}",
        ),
    ]
    if rule == "dense" and mode != "dense":
        terms.append(
            ComparisonTerm(
                "activity",
                _energy_j(events, geometry, constants, "spikingjelly_event") - ours_by_rule,
                f"ours event-driven, {events.active_group_reads / events.dense_group_reads:.1%} "
                f"of PE cycles and {events.row_occupancy_reads / events.dense_group_reads:.1%} "
                "of rows with input; spikingjelly falls back to dense on inputs that are not "
                "0/1 (pixels, scaled spikes of a converted network)",
            )
        )
    if mode == "event":
        terms.extend(_formula_terms(layer, constants))
    terms = [term for term in terms if not math.isclose(term.delta_j, 0.0, abs_tol=1e-9 * ours_j)]
    if not math.isclose(theirs_j + sum(term.delta_j for term in terms), ours_j, rel_tol=1e-9):
        return _unexplained(ours_j, theirs_j, "the terms do not add up"), tuple(terms)
    if not terms:
        return "equal", ()
    return f"×{ours_j / theirs_j:.4g}: " + "; ".join(t.describe() for t in terms), tuple(terms)


def compare_with_spikingjelly(
    model: Any,
    inputs: torch.Tensor,
    timesteps: int | None = None,
    config: HardwareConfig = SPIKESIM,
) -> SpikeSimComparison:
    """Our replay under ``config`` (SpikeSim accounting) beside spikingjelly's estimator.

    ``model`` is a ``SpikingModel`` or a spiking GraphModule; ``inputs`` one batch.
    spikingjelly runs in ``dense`` mode for our ``dense``, in ``event`` mode otherwise; each
    row's ``terms`` add up to the difference (see :func:`_explain`).
    """
    if config.accounting != "spikesim" or config.spikesim is None:
        raise ConfigurationError(
            f"config={config.name!r} is invalid here: compare_with_spikingjelly needs "
            "accounting='spikesim' (e.g. presets.SPIKESIM)."
        )
    resolved = resolve_model(model, timesteps)
    constants = config.spikesim
    their_mode = "dense" if constants.activity_mode == "dense" else "event"
    theirs = _spikingjelly_by_layer(resolved.network, inputs, resolved.timesteps, their_mode)
    labels = torch.zeros(len(inputs), dtype=torch.long)
    ours = replay(resolved.network, (inputs, labels), config, resolved.timesteps, progress=False)
    rows = []
    for layer, mapping in zip(ours.layers, ours.mapping.layers, strict=True):
        stage = theirs.get(layer.name)
        explanation, terms = _explain(stage, layer, mapping, constants)
        sj_j = 0.0 if stage is None else stage.energy_j
        rows.append(ComparisonRow(layer.name, sj_j, layer.total_j, explanation, terms))
    return SpikeSimComparison(resolved.timesteps, len(inputs), constants.activity_mode, tuple(rows))
