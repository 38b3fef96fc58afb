"""The compute-energy estimate: arithmetic, precisions, break-even."""

from __future__ import annotations

import pytest

import spiking
from spiking import InvalidInputError, estimate_energy


def test_ann_and_snn_energy_by_the_formula() -> None:
    estimate = estimate_energy(ann_macs=1000, analog_macs_per_step=100, synops=3000,
                               spiking_layer_macs=900, timesteps=4, precision="fp32")
    assert estimate.ann_energy_j == pytest.approx(1000 * 4.6e-12)
    assert estimate.snn_macs == 400
    assert estimate.snn_energy_j == pytest.approx(400 * 4.6e-12 + 3000 * 0.9e-12)
    assert estimate.snn_to_ann_ratio == pytest.approx((1840 + 2700) / 4600)
    assert estimate.snn_wins
    assert estimate.events_per_synapse == pytest.approx(3000 / 900)
    # equal energies: 0.9 r 900 = 4.6 (1000 - 400)  ->  r = 3.407
    assert estimate.break_even_events_per_synapse == pytest.approx(4.6 * 600 / (0.9 * 900))
    # per step: 4.6 x 100 + 0.9 x 750 = 1135 pJ; ANN 4600 pJ -> T = 4.05
    assert estimate.break_even_timesteps == pytest.approx(4600 / 1135)
    assert "Horowitz 45 nm" in estimate.statement() and "break-even at T = 4.1" in estimate.statement()


def test_without_an_analog_layer_break_even_is_the_mac_to_ac_ratio() -> None:
    for precision, ratio in (("fp32", 4.6 / 0.9), ("fp16", 1.5 / 0.4), ("int8", 0.23 / 0.03)):
        estimate = estimate_energy(ann_macs=500, analog_macs_per_step=0, synops=100,
                                   spiking_layer_macs=500, timesteps=8, precision=precision)
        assert estimate.break_even_events_per_synapse == pytest.approx(ratio)


def test_an_snn_that_cannot_win_says_so() -> None:
    estimate = estimate_energy(ann_macs=1000, analog_macs_per_step=300, synops=10,
                               spiking_layer_macs=700, timesteps=8)
    assert not estimate.snn_wins and estimate.break_even_events_per_synapse < 0
    assert "no firing rate lets it win at this T" in estimate.statement()
    assert estimate.to_dict()["snn_wins"] is False


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="precision='bf16' is unknown"):
        estimate_energy(ann_macs=1, analog_macs_per_step=0, synops=0, spiking_layer_macs=1,
                        timesteps=1, precision="bf16")
    with pytest.raises(InvalidInputError, match="ann_macs must be positive"):
        estimate_energy(ann_macs=0, analog_macs_per_step=0, synops=0, spiking_layer_macs=1, timesteps=1)


def test_int32_estimate_equals_the_formula_by_hand() -> None:
    estimate = estimate_energy(ann_macs=1000, analog_macs_per_step=100, synops=3000,
                               spiking_layer_macs=900, timesteps=4, precision="int32")
    assert (estimate.mac_pj, estimate.ac_pj) == (3.2, 0.1)
    assert estimate.ann_energy_j == pytest.approx(1000 * 3.2e-12)
    assert estimate.snn_energy_j == pytest.approx(400 * 3.2e-12 + 3000 * 0.1e-12)
    assert estimate.analog_share == pytest.approx(1280 / 1580)


@pytest.mark.parametrize(
    ("precision", "multiply_pj", "add_pj"),
    [("fp32", 3.7, 0.9), ("fp16", 1.1, 0.4), ("int8", 0.2, 0.03), ("int32", 3.1, 0.1)],
)
def test_each_constant_is_the_sum_its_source_states(precision: str, multiply_pj: float, add_pj: float) -> None:
    energy = spiking.HOROWITZ_45NM[precision]
    assert energy.mac_pj == pytest.approx(multiply_pj + add_pj) and energy.ac_pj == add_pj
    assert f"multiply {multiply_pj} pJ" in energy.derivation and f"add {add_pj} pJ" in energy.derivation
    assert "ISSCC 2014" in energy.source


def test_constant_current_counts_the_analog_layer_once_instead_of_t_times() -> None:
    counts: dict = {"ann_macs": 1000, "analog_macs_per_step": 100, "synops": 3000, "spiking_layer_macs": 900,
                    "timesteps": 4, "precision": "int32"}
    repeated, held = estimate_energy(**counts), estimate_energy(**counts, constant_current=True)
    assert (repeated.snn_macs, held.snn_macs) == (400, 100)
    assert held.snn_energy_j == pytest.approx(100 * 3.2e-12 + 3000 * 0.1e-12)
    # fixed 320 pJ + 75 pJ per step (0.1 pJ x 750 SynOps) = ANN 3200 pJ at T = 38.4
    assert held.break_even_timesteps == pytest.approx((3200 - 320) / 75)
    assert "x T" in repeated.formula and "x T" not in held.formula
    assert "first layer as a constant current" in held.statement()


def test_the_statement_sets_the_published_claims_beside_the_measured_ratio() -> None:
    estimate = estimate_energy(ann_macs=1000, analog_macs_per_step=100, synops=3000,
                               spiking_layer_macs=900, timesteps=4, precision="fp32")
    statement = estimate.statement()
    assert "up to 38.7x (the NATURE metric's source paper, citing Spike-thrift)" in statement
    assert "up to 12.2x (Spike-thrift's own abstract" in statement
    assert "INT32 arithmetic (3.2 pJ/MAC, 0.1 pJ/AC), a negligible analog first layer" in statement
    assert "about 0.83 (38.7x) or 2.62 (12.2x) events per synapse" in statement  # 32 / 38.7, 32 / 12.2
    assert f"This model measures SNN/ANN = {estimate.snn_to_ann_ratio:.2f}x" in statement
    assert f"{estimate.events_per_synapse:.2f} events per synapse" in statement
