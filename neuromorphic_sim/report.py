"""Results of a mapping and of a replay, as frozen dataclasses with ``to_dict()``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

from neuromorphic_sim.energy import LayerEvents, LayerGeometry
from neuromorphic_sim.exceptions import ReplayInputError

ModelKind = Literal["snn", "ann"]

Z_95 = NormalDist().inv_cdf(0.975)
"""Two-sided 95 % standard-normal quantile (1.95996), for the Wilson interval."""


def wilson_interval(correct: int, samples: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of an accuracy of ``correct`` out of ``samples``
    (Wilson, JASA 1927; preferred to the normal approximation by Brown, Cai & DasGupta,
    Statistical Science 2001): it stays inside [0, 1] and is sound near 100 %.

    >>> [round(bound, 4) for bound in wilson_interval(60, 64)]
    [0.85, 0.9754]
    """
    if samples < 1 or not 0 <= correct <= samples:
        raise ReplayInputError(
            f"correct={correct!r}, samples={samples!r} is invalid: need 0 <= correct <= samples "
            "and samples >= 1."
        )
    share, z2 = correct / samples, z * z
    centre = (share + z2 / (2 * samples)) / (1 + z2 / samples)
    half = z / (1 + z2 / samples) * math.sqrt(share * (1 - share) / samples + z2 / (4 * samples**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(accuracy: float, samples: int) -> tuple[float, float]:
    """Wilson 95 % interval of an ``accuracy`` measured over ``samples``."""
    return wilson_interval(round(accuracy * samples), samples)


def format_accuracy(accuracy: float, samples: int) -> str:
    """``96.28 % (95 % CI 93.3–98.0)``: an accuracy over ``samples`` with its Wilson interval."""
    low, high = accuracy_interval(accuracy, samples)
    return f"{accuracy:.2%} (95 % CI {100 * low:.1f}–{100 * high:.1f})".replace("%", " %", 1)


def format_energy(joules: float) -> str:
    """``1.23 µJ``-style text for an energy in joules."""
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(joules) >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules / 1e-15:.3g} fJ"


def format_duration(seconds: float) -> str:
    """``1 year``, ``2.5 h``-style text for a duration in seconds (a year is 365 days)."""
    for unit, scale in (("year", 365 * 86400.0), ("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= scale:
            value = seconds / scale
            plural = "s" if unit in ("year", "day") and value != 1 else ""
            return f"{value:.3g} {unit}{plural}"
    return f"{seconds:.3g} s"


@dataclass(frozen=True)
class LayerMapping:
    """How one layer sits on the arrays."""

    name: str
    """The layer's name in the model."""
    kind: str
    """``conv`` or ``linear``."""
    input_rows: int
    """K: weight-matrix rows (C_in·k·k or in_features)."""
    output_features: int
    """C_out or out_features."""
    weight_slices: int
    """Cells per weight per sign column (bit slicing)."""
    physical_columns: int
    """Columns used, data and reference."""
    row_groups: int
    """Row groups summed before the ADC (one crossbar's rows, or SpikeSim's k² crossbars)."""
    crossbars: int
    """Crossbars the layer occupies."""
    utilisation: float
    """Programmed cells / cells of the crossbars used."""
    input_encoding: str
    """How the layer's input drives the word lines."""
    drift_compensation_gain: float = 1.0
    """Global drift compensation: digital gain on the layer's outputs (1: off or no drift)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class MappingReport:
    """Every layer's placement on the crossbars of one hardware configuration."""

    hardware: str
    """Name of the hardware configuration."""
    rows: int
    """Rows per crossbar."""
    columns: int
    """Columns per crossbar."""
    layers: tuple[LayerMapping, ...]
    """One entry per mapped layer, in network order."""

    @property
    def total_crossbars(self) -> int:
        """Crossbars used by the whole network."""
        return sum(layer.crossbars for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {**asdict(self), "total_crossbars": self.total_crossbars}

    def to_table(self) -> str:
        """A printable table."""
        lines = [
            f"Mapping on {self.hardware} ({self.rows}×{self.columns} crossbars)",
            f"{'layer':<10}{'kind':<8}{'K×C_out':>12}{'slices':>8}{'columns':>9}"
            f"{'xbars':>7}{'util':>7}  input",
        ]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<10}{layer.kind:<8}{f'{layer.input_rows}×{layer.output_features}':>12}"
                f"{layer.weight_slices:>8}{layer.physical_columns:>9}{layer.crossbars:>7}"
                f"{layer.utilisation:>7.0%}  {layer.input_encoding}"
            )
        lines.append(f"total crossbars: {self.total_crossbars}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LayerEnergy:
    """One layer's energy and events, per inference."""

    name: str
    """The layer's name in the model."""
    energy_j: dict[str, float]
    """Component → joules per inference."""
    events: LayerEvents
    """Counted events per inference."""
    geometry: LayerGeometry
    """What the energy model knows of the mapped layer (``layer_energy_j(events, geometry,
    config)`` recomputes ``energy_j``, also under another accounting)."""

    @property
    def total_j(self) -> float:
        """Joules per inference, all components."""
        return sum(self.energy_j.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "name": self.name,
            "energy_j": dict(self.energy_j),
            "total_j": self.total_j,
            "events": self.events.to_dict(),
            "geometry": asdict(self.geometry),
        }


@dataclass(frozen=True)
class ReplayReport:
    """Accuracy and energy of one network replayed on one crossbar configuration."""

    model_kind: ModelKind
    """``snn`` (converted spiking network) or ``ann`` (the original network)."""
    hardware: str
    """Name of the hardware configuration."""
    accounting: str
    """``device`` or ``spikesim`` (and its activity mode)."""
    timesteps: int
    """T (1 for an ANN)."""
    samples: int
    """Inferences replayed."""
    accuracy: float
    """Top-1 accuracy over the replayed samples, in [0, 1]."""
    energy_per_inference_j: float
    """Total energy per inference, joules (modelled, not measured)."""
    breakdown: dict[str, float]
    """Component → joules per inference, summed over layers."""
    layers: tuple[LayerEnergy, ...]
    """Per-layer energy and events."""
    mapping: MappingReport
    """Where the layers sit on the arrays."""
    notes: tuple[str, ...] = ()
    """Assumptions a reader needs (estimated figures, ideal parts, subsampling)."""

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the accuracy over the replayed samples."""
        return accuracy_interval(self.accuracy, self.samples)

    @property
    def label(self) -> str:
        """``SNN (T=32) on ReRAM 128×128``-style label."""
        kind = f"SNN (T={self.timesteps})" if self.model_kind == "snn" else "ANN"
        return f"{kind} on {self.hardware}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return {
            "model_kind": self.model_kind,
            "hardware": self.hardware,
            "accounting": self.accounting,
            "timesteps": self.timesteps,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "accuracy_interval_95": list(self.accuracy_interval),
            "energy_per_inference_j": self.energy_per_inference_j,
            "energy_source": "estimated (crossbar energy model)",
            "breakdown": dict(self.breakdown),
            "layers": [layer.to_dict() for layer in self.layers],
            "mapping": self.mapping.to_dict(),
            "notes": list(self.notes),
        }

    def to_table(self) -> str:
        """A printable summary: totals, then joules per component and per layer."""
        lines = [
            f"{self.label}: accuracy {format_accuracy(self.accuracy, self.samples)} over "
            f"{self.samples} samples, "
            f"{format_energy(self.energy_per_inference_j)} per inference "
            f"(modelled, {self.accounting})",
        ]
        for name, joules in sorted(self.breakdown.items(), key=lambda item: -item[1]):
            share = joules / self.energy_per_inference_j if self.energy_per_inference_j else 0.0
            lines.append(f"  {name:<14}{format_energy(joules):>12}  {share:6.1%}")
        for layer in self.layers:
            lines.append(f"  layer {layer.name:<8}{format_energy(layer.total_j):>12}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)
