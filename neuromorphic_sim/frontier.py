"""``frontier``: accuracy against energy per inference, ANN, SNN and quantised ANN on one crossbar.

For one trained ANN it gathers, on the same test samples:

* the ANN's digital figure (``digital_reference``: NVML where a GPU is metered, else Horowitz's
  45 nm FP32 MAC energy × MACs, arithmetic only) and the ANN replayed on the crossbar ``config``;
* the SNN on the crossbar for every conversion method and T (:data:`CONVERSION_METHODS`);
* for every T the iso-information quantised ANN, ⌈log2(T + 1)⌉-bit activations calibrated with
  the rate conversion's percentile, on the same crossbar (``neuromorphic_sim.quantised_ann``):
  the baseline a T-step rate SNN must beat (Yan et al., arXiv 2409.08290).

Every point carries its configuration, its accuracy with a Wilson 95 % interval over the test
samples and whether its energy is modelled (crossbar energy model), estimated or measured.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import spiking
from matplotlib.figure import Figure
from torch import nn

from nature_callback.files import atomic_write
from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.exceptions import ConfigurationError
from neuromorphic_sim.frontier_plot import draw_frontier
from neuromorphic_sim.presets import RERAM
from neuromorphic_sim.quantised_ann import (
    activation_bits,
    calibrate_activations,
    quantise,
    replay_quantised,
)
from neuromorphic_sim.reference import DigitalReference, digital_reference
from neuromorphic_sim.replay import replay
from neuromorphic_sim.report import ReplayReport, format_energy, wilson_interval

Kind = Literal["ann", "snn", "qann"]
EnergySource = Literal["modelled", "estimated", "measured"]

@dataclass(frozen=True)
class ConversionMethod:
    """A conversion recipe of spikingjelly 2.0.0's ``ann2snn``, as ``spiking.convert`` runs it."""

    name: str
    convert_kwargs: dict[str, Any]
    """Keyword arguments of ``spiking.convert``."""
    description: str
    """What it does, and its source."""


CONVERSION_METHODS: dict[str, ConversionMethod] = {
    method.name: method
    for method in (
        ConversionMethod(
            "rate-max",
            {"method": "rate", "mode": "max"},
            "RateCodingRecipe(mode='Max'): threshold = the largest ReLU activation "
            "(Diehl et al., IJCNN 2015)",
        ),
        ConversionMethod(
            "rate-99.9%",
            {"method": "rate", "mode": "99.9%"},
            "RateCodingRecipe(mode='99.9%'): threshold = the 99.9th percentile "
            "(Rueckauer et al., Front. Neurosci. 2017)",
        ),
        ConversionMethod(
            "ltb",
            {"method": "ltb"},
            "LocalThresholdBalancingRecipe: per-channel thresholds, neurons start at half "
            "threshold (Bu, Li & Yu, arXiv 2409.03368, CVPR 2025)",
        ),
        ConversionMethod(
            "half-threshold",
            {"method": "rate", "mode": "99.9%", "channel_wise": True, "half_threshold": True},
            "RateCodingRecipe(channel_wise=True, half_threshold=True): per-channel 99.9 % "
            "thresholds, membrane starting at θ/2 (Bu et al., AAAI 2022)",
        ),
    )
}
"""The methods ``frontier`` converts with: spikingjelly 2.0.0's recipes that apply to any ReLU
network ``spiking.convert`` accepts."""

NOT_APPLICABLE: dict[str, str] = {
    "qcfs": (
        "spikingjelly 2.0.0 has QCFS only as SignedQCFSSequenceEncoder inside its Qwen2 LLM "
        "recipe, and QCFS conversion (Bu et al., ICLR 2022) needs an ANN trained with the "
        "quantisation-clip-floor-shift activation, not a ReLU network; 'half-threshold' applies "
        "its shift after training"
    ),
}
"""Methods that do not apply here, and why (asking for one raises with the reason)."""

DEFAULT_METHODS = tuple(CONVERSION_METHODS)
DEFAULT_TIMESTEPS = (4, 8, 16)


@dataclass(frozen=True)
class FrontierPoint:
    """One network on one piece of hardware: its configuration, accuracy and energy."""

    kind: Kind
    """``ann`` (the trained network), ``snn`` (converted) or ``qann`` (iso-information
    quantised ANN)."""
    hardware: str
    """The crossbar configuration's name, or the digital reference's label."""
    method: str | None
    """The conversion method (SNN), else None."""
    timesteps: int | None
    """T of the SNN, or the T a quantised ANN matches; None for the ANN."""
    activation_bits: int | None
    """Bits of the quantised ANN's activations, ⌈log2(T + 1)⌉; None otherwise."""
    correct: int
    """Correct predictions among ``samples``."""
    samples: int
    """Test samples evaluated."""
    energy_j: float
    """Energy per inference, joules."""
    energy_source: EnergySource
    """``modelled`` (crossbar energy model), ``estimated`` (digital, arithmetic only) or
    ``measured`` (NVML)."""

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy in [0, 1]."""
        return self.correct / self.samples

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the accuracy."""
        return wilson_interval(self.correct, self.samples)

    @property
    def label(self) -> str:
        """``SNN rate-99.9% T=8``-style name (without the hardware)."""
        if self.kind == "snn":
            return f"SNN {self.method} T={self.timesteps}"
        if self.kind == "qann":
            return f"QANN {self.activation_bits}-bit (≡T={self.timesteps})"
        return "ANN" if self.energy_source == "modelled" else "ANN digital"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view, with accuracy and interval."""
        low, high = self.interval
        return {
            **asdict(self),
            "label": self.label,
            "accuracy": self.accuracy,
            "accuracy_low": low,
            "accuracy_high": high,
        }


@dataclass(frozen=True)
class Frontier:
    """Accuracy against energy per inference of every point asked for."""

    points: tuple[FrontierPoint, ...]
    hardware: str
    """The crossbar configuration's name."""
    samples: int
    """Test samples behind every accuracy."""
    notes: tuple[str, ...] = field(default=())
    """What the reader needs: energy conventions, calibration, what did not apply."""

    def pareto(self, source: EnergySource | None = None) -> tuple[FrontierPoint, ...]:
        """The non-dominated points (no other point has at most their energy and at least their
        accuracy, one strictly), by energy; ``source='modelled'`` keeps the crossbar points only
        (one energy model: the digital estimate counts arithmetic only)."""
        pool = [point for point in self.points if source is None or point.energy_source == source]
        front: list[FrontierPoint] = []
        best = -1.0
        for point in sorted(pool, key=lambda p: (p.energy_j, -p.accuracy)):
            if point.accuracy > best or (
                front and (point.energy_j, point.accuracy) == (front[-1].energy_j, best)
            ):
                front.append(point)
                best = point.accuracy
        return tuple(front)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return {
            "hardware": self.hardware,
            "samples": self.samples,
            "notes": list(self.notes),
            "points": [point.to_dict() for point in self.points],
            "pareto": [point.label + " / " + point.hardware for point in self.pareto()],
        }

    def to_table(self) -> str:
        """A printable table, points by energy; ``*`` marks the Pareto front of all points."""
        front = set(self.pareto())
        name = max(len(point.label) for point in self.points) + 2
        where = max(len(point.hardware) for point in self.points) + 2
        lines = [
            f"Accuracy vs energy per inference ({self.samples} test samples; 95 % Wilson interval)",
            (
                f"  {'':<{name}}{'hardware':<{where}}{'accuracy':>9}{'95 % interval':>16}"
                f"{'energy':>11}  source"
            ),
        ]
        for point in sorted(self.points, key=lambda p: p.energy_j):
            low, high = point.interval
            lines.append(
                f"{'*' if point in front else ' '} {point.label:<{name}}{point.hardware:<{where}}"
                f"{point.accuracy:>9.1%}{f'{low:.1%}–{high:.1%}':>16}"
                f"{format_energy(point.energy_j):>11}  {point.energy_source}"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Draw accuracy against energy (log x) with interval bars and the Pareto front of the
        crossbar points; writes ``path`` (PNG, SVG, ... by its suffix) atomically, returns it."""
        figure = Figure(figsize=(9.0, 6.0), layout="constrained")
        draw_frontier(figure, self)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(target, lambda temporary: figure.savefig(temporary, dpi=150))


def check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """The methods, validated: an unknown or inapplicable one raises ``ConfigurationError``
    listing the valid ones."""
    chosen = tuple(methods)
    valid = ", ".join(repr(name) for name in CONVERSION_METHODS)
    for name in chosen:
        if name in NOT_APPLICABLE:
            raise ConfigurationError(
                f"method {name!r} does not apply: {NOT_APPLICABLE[name]}. Valid methods: {valid}."
            )
        if name not in CONVERSION_METHODS:
            raise ConfigurationError(f"method {name!r} is unknown. Valid methods: {valid}.")
    if not chosen:
        raise ConfigurationError(f"methods is empty: give at least one of {valid}.")
    return tuple(dict.fromkeys(chosen))


def _check_timesteps(timesteps: Sequence[int]) -> tuple[int, ...]:
    values = tuple(timesteps)
    if not values or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in values):
        raise ConfigurationError(
            f"timesteps={list(values)!r} is invalid: give integers >= 1, e.g. [4, 8, 16]."
        )
    return tuple(sorted(set(values)))


def _replayed(
    report: ReplayReport,
    kind: Kind,
    method: str | None = None,
    timesteps: int | None = None,
    bits: int | None = None,
) -> FrontierPoint:
    """A point from a crossbar replay (modelled energy)."""
    correct = round(report.accuracy * report.samples)
    return FrontierPoint(
        kind, report.hardware, method, timesteps, bits, correct, report.samples,
        report.energy_per_inference_j, "modelled",
    )  # fmt: skip


def _digital(reference: DigitalReference) -> FrontierPoint:
    """The ANN's digital point (estimated, or measured with NVML)."""
    correct = round(reference.accuracy * reference.samples)
    return FrontierPoint(
        "ann", reference.label, None, None, None, correct, reference.samples,
        reference.energy_per_inference_j, reference.source,
    )  # fmt: skip


def _notes(
    points: list[FrontierPoint],
    config: HardwareConfig,
    methods: tuple[str, ...],
    quantiser_mode: str | float,
) -> tuple[str, ...]:
    digital = points[0]
    arithmetic = " and counts arithmetic only" if digital.energy_source == "estimated" else ""
    return (
        (
            f"crossbar energies modelled on {config.name} (cells, ADCs, drivers, periphery); "
            f"'{digital.hardware}' is {digital.energy_source}{arithmetic}"
        ),
        (
            f"QANN: ReLU clipped at the {quantiser_mode} calibration threshold (the rate "
            "conversion's), ⌈log2(T+1)⌉-bit uniform activations read bit-serially; pixels as "
            "for the ANN"
        ),
        "methods: " + "; ".join(f"{m}: {CONVERSION_METHODS[m].description}" for m in methods),
        "not applicable: " + "; ".join(f"{m}: {why}" for m, why in NOT_APPLICABLE.items()),
    )


def frontier(
    model: nn.Module | spiking.SpikingModel,
    calibration_data: Any,
    test_data: Any,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    methods: Sequence[str] = DEFAULT_METHODS,
    config: HardwareConfig = RERAM,
    *,
    samples: int | None = None,
    quantiser_mode: str | float = "99.9%",
    progress: bool = False,
    meter: Any = "auto",
) -> Frontier:
    """Accuracy against energy per inference of ``model`` (the trained ANN, or a
    ``SpikingModel``, whose ANN is used): the ANN (``digital_reference``, and replayed on
    ``config``), its SNN for each of ``methods`` and ``timesteps`` on ``config``, and for each
    T the iso-information quantised ANN on ``config``.

    ``calibration_data`` is read once per method and once for the quantiser (a DataLoader,
    tensor or list, not a one-shot iterator; ``ltb`` wants many small batches). ``samples``
    caps the test samples (the same ones for every point). ``quantiser_mode`` is the percentile
    the quantised ANN is clipped at (the default rate conversion's). ``meter`` goes to
    ``digital_reference``. Cost: one conversion per method, one crossbar replay per (method, T),
    per distinct bit width and for the ANN: on the digits CNN with ``RERAM``, 64 samples,
    T = 4, 8, 16 and the four methods, 8-14 s on one CPU core (docs/neuromorphic_sim.md).
    """
    chosen = check_methods(methods)
    steps = _check_timesteps(timesteps)
    ann = model.ann if isinstance(model, spiking.SpikingModel) else model

    def on_crossbar(network: Any, steps: int | None = None) -> ReplayReport:
        return replay(network, test_data, config, steps, max_samples=samples, progress=progress)

    reference = digital_reference(
        ann, test_data, max_samples=samples, progress=progress, meter=meter
    )
    points = [_digital(reference), _replayed(on_crossbar(ann), "ann")]
    for name in chosen:
        options = CONVERSION_METHODS[name].convert_kwargs
        snn = spiking.convert(ann, calibration_data, timesteps=max(steps), **options)
        points += [_replayed(on_crossbar(snn, t), "snn", name, t) for t in steps]
    calibrated = calibrate_activations(ann, calibration_data, quantiser_mode, progress=progress)
    by_bits = {
        bits: replay_quantised(
            quantise(calibrated, bits), test_data, config, max_samples=samples, progress=progress
        )
        for bits in sorted({activation_bits(t) for t in steps})
    }
    for t in steps:
        bits = activation_bits(t)
        points.append(_replayed(by_bits[bits], "qann", timesteps=t, bits=bits))
    used = {point.samples for point in points}
    assert len(used) == 1, f"points evaluated on different numbers of samples: {used}"
    return Frontier(
        tuple(points), config.name, used.pop(), _notes(points, config, chosen, quantiser_mode)
    )
