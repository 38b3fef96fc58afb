"""Digital compute-energy estimate of an ANN and its spiking conversion (Horowitz 45 nm figures).

ANN energy = E_MAC x MACs. SNN energy = E_MAC x (analog first-layer MACs x T) + E_AC x SynOps.
Only arithmetic is counted: no memory access, data movement or neuron-state updates, which often
dominate on real hardware. The result is an *estimate*, and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from spiking.exceptions import InvalidInputError

Precision = Literal["fp32", "fp16", "int8"]
"""Arithmetic precision whose per-operation energies are used."""

HOROWITZ_SOURCE = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "pp. 10-14: energy per operation at 45 nm, 0.9 V"
)
"""Citation of the per-operation energies below."""


@dataclass(frozen=True)
class OperationEnergy:
    """Energy of one multiply-accumulate and one accumulate at a given precision."""

    precision: Precision
    """fp32, fp16 or int8."""
    mac_pj: float
    """One multiply-accumulate (multiply + add), picojoules."""
    ac_pj: float
    """One accumulate (add), picojoules: the cost of a synaptic operation."""
    source: str = HOROWITZ_SOURCE
    """Where the figures come from."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


HOROWITZ_45NM: dict[str, OperationEnergy] = {
    # Horowitz ISSCC 2014, 45 nm: FP32 multiply 3.7 pJ + FP32 add 0.9 pJ = 4.6 pJ per MAC; add 0.9 pJ.
    "fp32": OperationEnergy("fp32", mac_pj=4.6, ac_pj=0.9),
    # Horowitz ISSCC 2014, 45 nm: FP16 multiply 1.1 pJ + FP16 add 0.4 pJ = 1.5 pJ per MAC; add 0.4 pJ.
    "fp16": OperationEnergy("fp16", mac_pj=1.5, ac_pj=0.4),
    # Horowitz ISSCC 2014, 45 nm: INT8 multiply 0.2 pJ + INT8 add 0.03 pJ = 0.23 pJ per MAC; add 0.03 pJ.
    "int8": OperationEnergy("int8", mac_pj=0.23, ac_pj=0.03),
}
"""Per-operation energies by precision (see ``HOROWITZ_SOURCE``)."""

_PJ_TO_J = 1e-12


def operation_energy(precision: str) -> OperationEnergy:
    """The Horowitz 45 nm figures for ``precision`` (``fp32``, ``fp16`` or ``int8``)."""
    try:
        return HOROWITZ_45NM[precision.lower()]
    except (KeyError, AttributeError):
        raise InvalidInputError(
            f"precision={precision!r} is unknown: use one of {', '.join(HOROWITZ_45NM)}."
        ) from None


@dataclass(frozen=True)
class EnergyEstimate:
    """Compute energy per inference (one sample) of the ANN and of the SNN run for T steps."""

    precision: str
    """Precision of the arithmetic."""
    mac_pj: float
    """Energy of one MAC used, pJ."""
    ac_pj: float
    """Energy of one accumulate (synaptic operation) used, pJ."""
    source: str
    """Citation of ``mac_pj`` and ``ac_pj``."""
    timesteps: int
    """T of the SNN run."""
    ann_macs: float
    """MACs of the ANN per sample."""
    snn_macs: float
    """MACs of the SNN per sample: its analog (non-spiking-input) layers, over all T steps."""
    snn_synops: float
    """Synaptic operations of the SNN per sample, over all T steps (measured)."""
    spiking_layer_macs: float
    """ANN MACs per sample of the layers that receive spikes in the SNN."""
    ann_energy_j: float
    """E_MAC x ann_macs."""
    snn_energy_j: float
    """E_MAC x snn_macs + E_AC x snn_synops."""
    snn_to_ann_ratio: float
    """snn_energy_j / ann_energy_j: below 1 the SNN needs less compute energy."""
    events_per_synapse: float
    """snn_synops / spiking_layer_macs: mean number of input events per synapse over the T steps
    (firing rate x T, weighted by fan-out)."""
    break_even_events_per_synapse: float
    """The value of ``events_per_synapse`` at which both energies are equal at this T; the SNN
    wins below it. Without an analog first layer it is E_MAC / E_AC (about 5.1 at fp32)."""
    break_even_timesteps: float | None
    """T at which both energies would be equal if per-step activity stayed as measured
    (``None`` when the SNN does no work per step)."""

    @property
    def snn_wins(self) -> bool:
        """Whether the SNN needs less compute energy than the ANN at this T."""
        return self.snn_energy_j < self.ann_energy_j

    def statement(self) -> str:
        """One sentence stating the comparison and the break-even point."""
        verdict = "less" if self.snn_wins else "more"
        if self.break_even_events_per_synapse > 0:
            condition = (
                f"it wins while events per synapse (firing rate x T) stay below "
                f"{self.break_even_events_per_synapse:.2f} (measured {self.events_per_synapse:.2f})"
            )
        else:
            condition = (
                "its analog first layer alone (E_MAC x MACs x T) costs as much as the whole ANN, so no "
                f"firing rate lets it win at this T (measured {self.events_per_synapse:.2f} events per synapse)"
            )
        tail = (
            f"; with the measured activity per step, break-even at T = {self.break_even_timesteps:.1f}"
            if self.break_even_timesteps is not None
            else ""
        )
        return (
            f"Estimate ({self.precision}, {self.mac_pj} pJ/MAC, {self.ac_pj} pJ/AC, Horowitz 45 nm): "
            f"at T = {self.timesteps} the SNN uses {self.snn_to_ann_ratio:.2f}x the ANN's compute energy "
            f"({verdict}); {condition}{tail}."
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view, with the statement."""
        return {**asdict(self), "snn_wins": self.snn_wins, "statement": self.statement()}


def estimate_energy(
    *,
    ann_macs: float,
    analog_macs_per_step: float,
    synops: float,
    spiking_layer_macs: float,
    timesteps: int,
    precision: str = "fp32",
) -> EnergyEstimate:
    """Compute-energy estimate per sample from operation counts (pure arithmetic, no torch).

    ``analog_macs_per_step``: MACs of the SNN's analog layers for one step; ``synops``: synaptic
    operations over all ``timesteps`` steps; ``spiking_layer_macs``: the ANN MACs of the layers
    that receive spikes in the SNN.
    """
    if ann_macs <= 0:
        raise InvalidInputError(f"ann_macs must be positive (got {ann_macs}).")
    if timesteps < 1:
        raise InvalidInputError(f"timesteps must be >= 1 (got {timesteps}).")
    energy = operation_energy(precision)
    mac_j, ac_j = energy.mac_pj * _PJ_TO_J, energy.ac_pj * _PJ_TO_J
    snn_macs = analog_macs_per_step * timesteps
    ann_energy = mac_j * ann_macs
    snn_energy = mac_j * snn_macs + ac_j * synops
    per_step = mac_j * analog_macs_per_step + ac_j * synops / timesteps
    # SNN == ANN  <=>  E_AC * r * M_spiking = E_MAC * (M_ann - M_analog * T), r = events per synapse
    break_even_events = (
        (mac_j * (ann_macs - snn_macs)) / (ac_j * spiking_layer_macs) if spiking_layer_macs > 0 else 0.0
    )
    return EnergyEstimate(
        precision=energy.precision,
        mac_pj=energy.mac_pj,
        ac_pj=energy.ac_pj,
        source=energy.source,
        timesteps=timesteps,
        ann_macs=ann_macs,
        snn_macs=snn_macs,
        snn_synops=synops,
        spiking_layer_macs=spiking_layer_macs,
        ann_energy_j=ann_energy,
        snn_energy_j=snn_energy,
        snn_to_ann_ratio=snn_energy / ann_energy,
        events_per_synapse=synops / spiking_layer_macs if spiking_layer_macs > 0 else 0.0,
        break_even_events_per_synapse=break_even_events,
        break_even_timesteps=ann_energy / per_step if per_step > 0 else None,
    )
