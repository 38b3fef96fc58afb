"""SpikeSim: the VGG9 closed form, and agreement with spikingjelly's estimator."""

from __future__ import annotations

import pytest
import torch
from torch import fx

from nature_callback.demo.digits import load_digits_splits
from neuromorphic_sim import (
    VGG9_CIFAR10_SPIKESIM,
    ConfigurationError,
    compare_with_spikingjelly,
    presets,
    replay,
    spikesim_closed_form,
)


def test_vgg9_cifar10_at_t5_is_15_91_microjoules() -> None:
    result = spikesim_closed_form(VGG9_CIFAR10_SPIKESIM, timesteps=5)
    assert result.energy_per_inference_j == pytest.approx(15.91e-6, rel=0.01)
    assert result.energy_per_inference_j == pytest.approx(15_906_934e-12, rel=1e-6)
    assert sum(result.pe_cycles_per_step) == 3840  # 48 PEs' worth of cycles over the 7 layers
    shares = {
        name: joules / result.energy_per_inference_j for name, joules in result.breakdown.items()
    }
    assert shares["tile_buffer"] == pytest.approx(0.479, abs=0.001)
    assert shares["htree"] == pytest.approx(0.190, abs=0.001)
    assert shares["adc"] == pytest.approx(0.157, abs=0.001)
    assert shares["crossbar"] == pytest.approx(0.153, abs=0.001)


def test_closed_form_grows_linearly_with_t() -> None:
    one = spikesim_closed_form(VGG9_CIFAR10_SPIKESIM, timesteps=1).energy_per_inference_j
    for timesteps in (2, 5, 32):
        assert spikesim_closed_form(
            VGG9_CIFAR10_SPIKESIM, timesteps
        ).energy_per_inference_j == pytest.approx(one * timesteps, rel=1e-12)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return load_digits_splits().test.tensors[0][:16]


def test_matches_spikingjelly_on_every_convolution(
    random_graph: fx.GraphModule, batch: torch.Tensor
) -> None:
    # With one read per step (a DAC for multi-bit inputs), as spikingjelly assumes.
    comparison = compare_with_spikingjelly(
        random_graph, batch, 3, presets.SPIKESIM.with_parameter("input_driver", "dac")
    )
    rows = {row.layer: row for row in comparison.rows}
    for conv in ("0", "3"):
        assert rows[conv].spikingjelly_j > 0
        assert rows[conv].ours_j == pytest.approx(rows[conv].spikingjelly_j, rel=1e-9)
        assert rows[conv].explanation == "equal"
    for linear in ("7", "9"):
        assert rows[linear].spikingjelly_j == 0 and rows[linear].ours_j > 0
        assert "convolutions only" in rows[linear].explanation


@pytest.mark.parametrize("mode", ["dense", "event"])
def test_every_difference_with_spikingjelly_is_explained(
    random_graph: fx.GraphModule, batch: torch.Tensor, mode: str
) -> None:
    comparison = compare_with_spikingjelly(
        random_graph, batch, 3, presets.SPIKESIM.with_parameter("activity_mode", mode)
    )
    first = comparison.rows[0]
    assert "8 bit-serial input planes" in first.explanation  # the analog first layer, 8-bit inputs
    if mode == "dense":
        assert first.ours_j == pytest.approx(8 * first.spikingjelly_j, rel=1e-9)
    for row in comparison.rows:
        assert not row.explanation.startswith("unexplained"), row
    assert "total" in comparison.to_table()


def test_replay_energy_grows_linearly_with_t_in_dense_mode(
    random_graph: fx.GraphModule, batch: torch.Tensor
) -> None:
    data = (batch, torch.zeros(len(batch), dtype=torch.long))
    energies = [
        replay(random_graph, data, presets.SPIKESIM, t, progress=False).energy_per_inference_j
        for t in (1, 2, 4)
    ]
    assert energies[1] == pytest.approx(2 * energies[0], rel=1e-9)
    assert energies[2] == pytest.approx(4 * energies[0], rel=1e-9)


def test_comparison_needs_spikesim_accounting(
    random_graph: fx.GraphModule, batch: torch.Tensor
) -> None:
    with pytest.raises(ConfigurationError, match="accounting='spikesim'"):
        compare_with_spikingjelly(random_graph, batch, 2, presets.RERAM)
