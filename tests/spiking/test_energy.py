"""The compute-energy estimate: arithmetic, precisions, break-even."""

from __future__ import annotations

import pytest

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
