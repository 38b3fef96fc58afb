"""SpikeSim: the VGG9 closed form, and agreement with spikingjelly's estimator."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron
from torch import fx, nn

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


@pytest.mark.parametrize("mode", ["dense", "event", "spikingjelly_event"])
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


class _NeuronLeafTracer(fx.Tracer):
    """Traces a network built by hand, keeping spiking neurons as modules (as ann2snn does)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, neuron.BaseNode) or super().is_leaf_module(module, qualified_name)


@pytest.fixture(scope="module")
def binary_graph() -> fx.GraphModule:
    """A spiking CNN whose every convolution receives 0/1 inputs (binarised pixels, then IF
    spikes through max pooling, no voltage scalers), with one layer of 80 > 64 input channels
    (two SpikeSim input tiles)."""
    torch.manual_seed(0)
    layers = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        neuron.IFNode(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 80, 3, padding=1),
        neuron.IFNode(),
        nn.Conv2d(80, 32, 3, padding=1),
        neuron.IFNode(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    with torch.no_grad():
        for module in layers:
            if isinstance(module, nn.Conv2d):
                module.weight.mul_(2.0)  # enough spikes in every layer
    return fx.GraphModule(layers, _NeuronLeafTracer().trace(layers))


@pytest.fixture(scope="module")
def binary_batch(batch: torch.Tensor) -> torch.Tensor:
    return (batch[:8] > 0.5).float()


_CONVOLUTIONS = ("0", "3", "5")


def test_spikingjelly_event_mode_equals_spikingjellys_event_formula(
    binary_graph: fx.GraphModule, binary_batch: torch.Tensor
) -> None:
    # Ideal devices: the same spikes as spikingjelly's run; one read per step (ideal DAC).
    config = presets.SPIKESIM.ideal().with_parameter("activity_mode", "spikingjelly_event")
    comparison = compare_with_spikingjelly(binary_graph, binary_batch, 4, config)
    rows = {row.layer: row for row in comparison.rows}
    for conv in _CONVOLUTIONS:
        assert rows[conv].spikingjelly_j > 0
        assert rows[conv].ours_j == pytest.approx(rows[conv].spikingjelly_j, rel=1e-9)
        assert rows[conv].explanation == "equal" and rows[conv].terms == ()


def test_event_mode_on_binary_inputs_is_explained_term_by_term(
    binary_graph: fx.GraphModule, binary_batch: torch.Tensor
) -> None:
    """The preset as shipped (bit-serial pixels, non-ideal devices) in our event mode: every
    difference is a named term, and the terms add up to it."""
    config = presets.SPIKESIM.with_parameter("activity_mode", "event")
    comparison = compare_with_spikingjelly(binary_graph, binary_batch, 4, config)
    rows = {row.layer: row for row in comparison.rows}
    for conv in _CONVOLUTIONS:
        row = rows[conv]
        assert not row.explanation.startswith("unexplained"), row
        explained = row.spikingjelly_j + sum(term.delta_j for term in row.terms)
        assert explained == pytest.approx(row.ours_j, rel=1e-9)
        terms = {term.name: term for term in row.terms}
        assert terms["crossbar"].delta_j > 0  # ours charges every row of an active PE cycle
        assert "activity" not in terms  # spikingjelly is event-driven on 0/1 inputs
    assert {term.name for term in rows["0"].terms} == {"input planes", "crossbar"}
    assert rows["0"].terms[0].delta_j == pytest.approx(7 * rows["0"].spikingjelly_j, rel=1e-9)
    assert "neuron" in {term.name for term in rows["5"].terms}  # two input tiles
    assert "crossbar +" in comparison.to_table()
