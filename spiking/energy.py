"""Digital compute-energy estimate of an ANN and its spiking conversion (Horowitz 45 nm figures).

ANN energy = E_MAC x MACs. SNN energy = E_MAC x analog first-layer MACs x T + E_AC x SynOps, or,
with a constant input current (the analog first layer computed once per input and its output
injected at every step), E_MAC x analog first-layer MACs + E_AC x SynOps. Only arithmetic is
counted: no memory access, data movement or neuron-state updates, which often dominate on real
hardware. The result is an *estimate*, and says so; its statement also sets the published claims
(``PUBLISHED_CLAIMS``) beside what the user's own model measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from spiking.exceptions import InvalidInputError

Precision = Literal["fp32", "fp16", "int8", "int32"]
"""Arithmetic precision whose per-operation energies are used."""

HOROWITZ_SOURCE = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "pp. 10-14: energy per operation at 45 nm, 0.9 V"
)
"""Citation of the per-operation energies below."""

SPIKE_THRIFT_SOURCE = (
    "S. Kundu, G. Datta, M. Pedram, P. A. Beerel, 'Spike-Thrift: Towards Energy-Efficient Deep "
    "Spiking Neural Networks by Limiting Spiking Activity via Attention-Guided Compression', WACV 2021"
)
"""Citation of Spike-thrift, whose energy comparison uses Horowitz's INT32 figures."""


@dataclass(frozen=True)
class OperationEnergy:
    """Energy of one multiply-accumulate and one accumulate at a given precision."""

    precision: Precision
    """fp32, fp16, int8 or int32."""
    mac_pj: float
    """One multiply-accumulate (multiply + add), picojoules."""
    ac_pj: float
    """One accumulate (add), picojoules: the cost of a synaptic operation."""
    derivation: str = ""
    """How ``mac_pj`` and ``ac_pj`` follow from the operations listed in ``source``."""
    source: str = HOROWITZ_SOURCE
    """Where the figures come from."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


HOROWITZ_45NM: dict[str, OperationEnergy] = {
    "fp32": OperationEnergy(
        "fp32", mac_pj=4.6, ac_pj=0.9,
        derivation="Horowitz ISSCC 2014, 45 nm: FP32 multiply 3.7 pJ + FP32 add 0.9 pJ = 4.6 pJ per MAC; add 0.9 pJ",
    ),
    "fp16": OperationEnergy(
        "fp16", mac_pj=1.5, ac_pj=0.4,
        derivation="Horowitz ISSCC 2014, 45 nm: FP16 multiply 1.1 pJ + FP16 add 0.4 pJ = 1.5 pJ per MAC; add 0.4 pJ",
    ),
    "int8": OperationEnergy(
        "int8", mac_pj=0.23, ac_pj=0.03,
        derivation="Horowitz ISSCC 2014, 45 nm: INT8 multiply 0.2 pJ + INT8 add 0.03 pJ = 0.23 pJ per MAC; add 0.03 pJ",
    ),
    "int32": OperationEnergy(
        "int32", mac_pj=3.2, ac_pj=0.1,
        derivation=(
            "Horowitz ISSCC 2014, 45 nm: INT32 multiply 3.1 pJ + INT32 add 0.1 pJ = 3.2 pJ per MAC; add 0.1 pJ "
            "(the convention of Spike-thrift, WACV 2021, and many SNN papers)"
        ),
    ),
}
"""Per-operation energies by precision (see ``HOROWITZ_SOURCE`` and each entry's ``derivation``)."""


@dataclass(frozen=True)
class PublishedClaim:
    """A published SNN-vs-ANN compute-efficiency factor (ANN energy / SNN energy)."""

    factor: float
    """How many times less compute energy the SNN is claimed to need."""
    who: str
    """Who claims it, and where."""


PUBLISHED_CLAIMS: tuple[PublishedClaim, ...] = (
    # the paper that proposes the NATURE metric (docs/nature.md) states "up to x38.7", citing Spike-thrift
    PublishedClaim(38.7, "the NATURE metric's source paper, citing Spike-thrift"),
    # Spike-thrift's abstract: "up to 12.2x better compute energy-efficiency" (SPIKE_THRIFT_SOURCE)
    PublishedClaim(12.2, "Spike-thrift's own abstract, Kundu et al., WACV 2021"),
)
"""The claims ``EnergyEstimate.statement`` sets beside the user's measurement."""

CLAIM_PRECISION = "int32"
"""The convention under which the published factors are stated (Spike-thrift's)."""


def claim_events_per_synapse(factor: float) -> float:
    """Events per synapse (firing rate x T) at which an SNN with no analog layer is ``factor``
    times more efficient than its ANN under ``CLAIM_PRECISION``: (E_MAC / E_AC) / factor
    (32 / 12.2 = 2.6 at INT32)."""
    energy = HOROWITZ_45NM[CLAIM_PRECISION]
    return energy.mac_pj / energy.ac_pj / factor


_PJ_TO_J = 1e-12


def operation_energy(precision: str) -> OperationEnergy:
    """The Horowitz 45 nm figures for ``precision`` (``fp32``, ``fp16``, ``int8`` or ``int32``)."""
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
    constant_current: bool
    """True: the analog first layer is computed once per input and its output injected as a
    constant current at every step (its MACs counted once); False: computed at every step (x T)."""
    ann_macs: float
    """MACs of the ANN per sample."""
    snn_macs: float
    """MACs of the SNN per sample: its analog (non-spiking-input) layers, x T or x 1 (see
    ``constant_current``)."""
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
    analog_share: float
    """Share of ``snn_energy_j`` spent in the analog layers (E_MAC x snn_macs)."""
    events_per_synapse: float
    """snn_synops / spiking_layer_macs: mean number of input events per synapse over the T steps
    (firing rate x T, weighted by fan-out)."""
    break_even_events_per_synapse: float
    """The value of ``events_per_synapse`` at which both energies are equal at this T; the SNN
    wins below it. Without an analog first layer it is E_MAC / E_AC (about 5.1 at fp32)."""
    break_even_timesteps: float | None
    """T at which both energies would be equal if per-step activity stayed as measured
    (``None`` when the SNN does no work per step, or when its fixed cost alone exceeds the ANN's)."""

    @property
    def snn_wins(self) -> bool:
        """Whether the SNN needs less compute energy than the ANN at this T."""
        return self.snn_energy_j < self.ann_energy_j

    @property
    def formula(self) -> str:
        """The SNN energy formula this estimate uses."""
        repeat = "" if self.constant_current else " x T"
        return f"SNN = E_MAC x analog first-layer MACs{repeat} + E_AC x SynOps"

    def statement(self) -> str:
        """The comparison, its break-even point, and the published claims beside this measurement."""
        return f"{self._comparison()} {self._claims()}"

    def _comparison(self) -> str:
        verdict = "less" if self.snn_wins else "more"
        if self.break_even_events_per_synapse > 0:
            condition = (
                f"it wins while events per synapse (firing rate x T) stay below "
                f"{self.break_even_events_per_synapse:.2f} (measured {self.events_per_synapse:.2f})"
            )
        else:
            repeat = "" if self.constant_current else " x T"
            condition = (
                f"its analog first layer alone (E_MAC x MACs{repeat}) costs as much as the whole ANN, so no "
                f"firing rate lets it win at this T (measured {self.events_per_synapse:.2f} events per synapse)"
            )
        tail = (
            f"; with the measured activity per step, break-even at T = {self.break_even_timesteps:.1f}"
            if self.break_even_timesteps is not None
            else ""
        )
        current = ", first layer as a constant current" if self.constant_current else ""
        return (
            f"Estimate ({self.precision}, {self.mac_pj} pJ/MAC, {self.ac_pj} pJ/AC, Horowitz 45 nm{current}): "
            f"at T = {self.timesteps} the SNN uses {self.snn_to_ann_ratio:.2f}x the ANN's compute energy "
            f"({verdict}); {condition}{tail}."
        )

    def _claims(self) -> str:
        claims = " and ".join(f"up to {claim.factor:g}x ({claim.who})" for claim in PUBLISHED_CLAIMS)
        needs = " or ".join(
            f"{claim_events_per_synapse(claim.factor):.2f} ({claim.factor:g}x)" for claim in PUBLISHED_CLAIMS
        )
        reference = HOROWITZ_45NM[CLAIM_PRECISION]
        return (
            f"Published claims: SNNs more compute-efficient than ANNs by {claims}. Such factors need "
            f"{CLAIM_PRECISION.upper()} arithmetic ({reference.mac_pj} pJ/MAC, {reference.ac_pj} pJ/AC), a negligible "
            f"analog first layer and at most about {needs} events per synapse. This model measures "
            f"SNN/ANN = {self.snn_to_ann_ratio:.2f}x ({1 / self.snn_to_ann_ratio:.2f}x as efficient) at "
            f"{self.precision.upper()}, with its analog first layer at {100 * self.analog_share:.0f}% of the SNN's "
            f"energy and {self.events_per_synapse:.2f} events per synapse."
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
    constant_current: bool = False,
) -> EnergyEstimate:
    """Compute-energy estimate per sample from operation counts (pure arithmetic, no torch).

    ``analog_macs_per_step``: MACs of the SNN's analog layers for one step; ``synops``: synaptic
    operations over all ``timesteps`` steps; ``spiking_layer_macs``: the ANN MACs of the layers
    that receive spikes in the SNN. ``constant_current``: the analog layers run once per input (their
    output is injected as a constant current at every step), so their MACs count once, not x T.
    """
    if ann_macs <= 0:
        raise InvalidInputError(f"ann_macs must be positive (got {ann_macs}).")
    if timesteps < 1:
        raise InvalidInputError(f"timesteps must be >= 1 (got {timesteps}).")
    energy = operation_energy(precision)
    mac_j, ac_j = energy.mac_pj * _PJ_TO_J, energy.ac_pj * _PJ_TO_J
    snn_macs = analog_macs_per_step * (1 if constant_current else timesteps)
    ann_energy = mac_j * ann_macs
    snn_energy = mac_j * snn_macs + ac_j * synops
    # the SNN's energy as fixed + per_step x T, at the measured activity per step
    fixed = mac_j * analog_macs_per_step if constant_current else 0.0
    per_step = (0.0 if constant_current else mac_j * analog_macs_per_step) + ac_j * synops / timesteps
    # SNN == ANN  <=>  E_AC * r * M_spiking = E_MAC * (M_ann - snn_macs), r = events per synapse
    break_even_events = (
        (mac_j * (ann_macs - snn_macs)) / (ac_j * spiking_layer_macs) if spiking_layer_macs > 0 else 0.0
    )
    return EnergyEstimate(
        precision=energy.precision,
        mac_pj=energy.mac_pj,
        ac_pj=energy.ac_pj,
        source=energy.source,
        timesteps=timesteps,
        constant_current=constant_current,
        ann_macs=ann_macs,
        snn_macs=snn_macs,
        snn_synops=synops,
        spiking_layer_macs=spiking_layer_macs,
        ann_energy_j=ann_energy,
        snn_energy_j=snn_energy,
        snn_to_ann_ratio=snn_energy / ann_energy,
        analog_share=mac_j * snn_macs / snn_energy if snn_energy > 0 else 0.0,
        events_per_synapse=synops / spiking_layer_macs if spiking_layer_macs > 0 else 0.0,
        break_even_events_per_synapse=break_even_events,
        break_even_timesteps=(ann_energy - fixed) / per_step if per_step > 0 and ann_energy > fixed else None,
    )
