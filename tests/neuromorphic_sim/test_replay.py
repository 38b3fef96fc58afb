"""Replay: the ideal crossbar equals the networks, non-idealities cost accuracy, errors name."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from spikingjelly.activation_based import ann2snn
from torch import fx, nn

from nature_callback.demo.digits import DigitsCNN
from neuromorphic_sim import (
    CrossbarNetwork,
    ReplayInputError,
    UnsupportedLayerError,
    build_crossbar_network,
    map_model,
    presets,
    replay,
    sweep,
)

from tests.spiking.helpers import assert_same_outputs, decided

from .conftest import Trained, first_samples


def _assert_weights_are_the_models(network: CrossbarNetwork, model: nn.Module) -> None:
    """Every crossbar layer's effective weights and bias equal the original layer's, exactly:
    decoded in float64 from ideal conductances, they round back to the same float32 values."""
    for name, layer in network.layers.items():
        original = model.get_submodule(name)
        assert torch.equal(layer.weight_fast, original.weight.reshape(layer.weight_fast.shape)), name
        assert (layer.bias is None) == (original.bias is None), name
        assert original.bias is None or torch.equal(layer.bias, original.bias), name


def test_ideal_crossbar_reproduces_the_spiking_network(trained: Trained) -> None:
    inputs, _ = first_samples(trained, 64)
    expected = trained.model.run(inputs, 16)
    for preset in (presets.RERAM, presets.PCM, presets.SPIKESIM):
        network = build_crossbar_network(trained.model.snn, preset.ideal())
        _assert_weights_are_the_models(network, trained.model.snn)
        assert_same_outputs(network.run(inputs, 16), expected)


def test_ideal_crossbar_reproduces_the_ann(trained: Trained) -> None:
    inputs, _ = first_samples(trained, 64)
    network = build_crossbar_network(trained.ann, presets.RERAM.ideal())
    _assert_weights_are_the_models(network, trained.ann)
    with torch.no_grad():
        assert_same_outputs(network.run(inputs, 1), trained.ann(inputs))


def test_ideal_replay_accuracy_is_the_spiking_networks(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 128)
    outputs = trained.model.run(inputs)
    expected = float((outputs.argmax(1) == labels).double().mean())
    report = replay(trained.model, (inputs, labels), presets.RERAM.ideal(), progress=False)
    # Only a sample whose top two outputs are within the kernels' rounding may be classed otherwise.
    undecided = int((~decided(outputs)).sum())
    assert abs(report.accuracy - expected) * 128 <= undecided
    assert report.samples == 128 and report.timesteps == 16


def test_a_fine_adc_resolves_columns_like_the_ideal_path(trained: Trained) -> None:
    # The column-resolving path (ADC per physical column) against the effective-weight path.
    inputs, _ = first_samples(trained, 32)
    ideal = presets.RERAM.ideal()
    fine = ideal.with_parameter("adc_bits", 22)
    coarse = build_crossbar_network(trained.model.snn, fine).run(inputs, 4)
    torch.testing.assert_close(
        coarse, build_crossbar_network(trained.model.snn, ideal).run(inputs, 4), atol=1e-3, rtol=0
    )


def test_report_energy_is_the_sum_of_its_breakdown(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 32)
    report = replay(trained.model, (inputs, labels), presets.RERAM, 8, progress=False)
    assert report.energy_per_inference_j > 0
    assert report.energy_per_inference_j == pytest.approx(sum(report.breakdown.values()))
    assert report.energy_per_inference_j == pytest.approx(
        sum(layer.total_j for layer in report.layers)
    )
    assert set(report.breakdown) == {
        "cell_read",
        "adc",
        "column_mux",
        "input_driver",
        "neuron",
        "accumulate",
        "buffer",
        "interconnect",
    }
    assert 0.5 < report.accuracy <= 1.0
    data = json.loads(json.dumps(report.to_dict()))
    assert data["energy_source"].startswith("estimated") and data["model_kind"] == "snn"
    assert "layer" in report.to_table()


def test_non_idealities_are_reproducible_from_the_seed(trained: Trained) -> None:
    inputs, _ = first_samples(trained, 16)
    noisy = presets.RERAM.with_parameter("c2c_read_noise", 0.05)
    first = build_crossbar_network(trained.model.snn, noisy).run(inputs, 4)
    again = build_crossbar_network(trained.model.snn, noisy).run(inputs, 4)
    other = build_crossbar_network(trained.model.snn, noisy.with_parameter("seed", 1)).run(
        inputs, 4
    )
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_accuracy_falls_as_variation_grows(trained: Trained, quiet_reram) -> None:
    inputs, labels = first_samples(trained, 128)
    result = sweep(
        trained.model,
        (inputs, labels),
        "d2d_variation",
        [0.0, 0.3, 1.0],
        quiet_reram,
        progress=False,
    )
    accuracy = [point.accuracy for point in result.points]
    assert accuracy[0] > 0.8
    assert accuracy[0] >= accuracy[1] >= accuracy[2]
    assert accuracy[2] < accuracy[0] - 0.15
    assert result.parameter == "d2d_variation" and "variation" in result.label


def test_sweep_over_t_trades_energy_for_accuracy(trained: Trained, quiet_reram) -> None:
    inputs, labels = first_samples(trained, 64)
    result = sweep(
        trained.model, (inputs, labels), "timesteps", [2, 16], quiet_reram, progress=False
    )
    low, high = result.points
    assert high.energy_per_inference_j > 4 * low.energy_per_inference_j
    assert high.accuracy > low.accuracy


def test_ann_and_graph_module_and_duck_typed_models(trained: Trained, quiet_reram) -> None:
    inputs, labels = first_samples(trained, 32)
    ann = replay(trained.ann, (inputs, labels), quiet_reram, progress=False)
    assert ann.model_kind == "ann" and ann.timesteps == 1 and ann.accuracy > 0.8
    graph = replay(trained.model.snn, (inputs, labels), quiet_reram, 4, progress=False)
    duck = replay(
        SimpleNamespace(snn=trained.model.snn, timesteps=4),
        (inputs, labels),
        quiet_reram,
        progress=False,
    )
    assert graph.to_dict() == duck.to_dict()
    with pytest.raises(ReplayInputError, match="timesteps is required"):
        replay(trained.model.snn, (inputs, labels), quiet_reram, progress=False)


def test_mapping_report_of_the_digits_cnn(trained: Trained) -> None:
    mapping = map_model(trained.ann, presets.RERAM)
    rows = {layer.name: layer for layer in mapping.layers}
    # 8-bit weights on 2-bit cells: 4 slices × 2 columns per output.
    assert (rows["0"].crossbars, rows["3"].crossbars, rows["7"].crossbars, rows["9"].crossbars) == (
        1,
        4,
        4,
        1,
    )
    assert rows["0"].utilisation == pytest.approx(9 * 128 / 128**2)
    assert rows["3"].utilisation == pytest.approx(144 * 256 / (4 * 128**2))
    assert rows["9"].utilisation == pytest.approx(64 * 80 / 128**2)
    assert mapping.total_crossbars == 10 and "total crossbars: 10" in mapping.to_table()
    snn_inputs = {
        layer.name: layer.input_encoding for layer in map_model(trained.model, presets.RERAM).layers
    }
    assert snn_inputs == {
        "0": "multi-bit, 8 bit-serial planes",
        "3": "spike counts 0–4, 3 bit-serial planes",
        "7": "spike counts 0–4, 3 bit-serial planes",
        "9": "binary spikes",
    }


class _BatchNormAfterReLU(nn.Sequential):
    """BatchNorm that no Conv2d or Linear feeds directly: it cannot be folded."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 10)
        )


class _FunctionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(10, 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x.flatten(1), self.weight)


@pytest.mark.parametrize(
    ("model", "named"),
    [
        (_BatchNormAfterReLU(), "'2' (BatchNorm2d) cannot be folded"),
        (
            nn.Sequential(nn.Conv2d(1, 4, 3, groups=1), nn.Conv2d(4, 4, 3, groups=2)),
            "'1' (Conv2d, groups=2)",
        ),
        (nn.Sequential(nn.Flatten(), nn.Conv1d(1, 2, 3)), "'1' (Conv1d)"),
        (fx.symbolic_trace(_FunctionalLinear()), "calls linear"),
        (nn.Sequential(nn.ReLU()), "no nn.Conv2d or nn.Linear"),
    ],
)
def test_unsupported_layers_are_named(model: nn.Module, named: str) -> None:
    with pytest.raises(UnsupportedLayerError, match=named.replace("(", r"\(").replace(")", r"\)")):
        build_crossbar_network(model, presets.RERAM)


def test_channel_wise_conversion_replays_the_network() -> None:
    torch.manual_seed(0)
    from nature_callback.demo.digits import load_digits_splits

    inputs = load_digits_splits().train.tensors[0][:128]
    graph = ann2snn.Converter(
        ann2snn.LocalThresholdBalancingRecipe(torch.utils.data.DataLoader(inputs, batch_size=32))
    ).convert(DigitsCNN())
    network = build_crossbar_network(graph, presets.RERAM.ideal())
    _assert_weights_are_the_models(network, graph)
    assert network.layers["9"].encoding.description == "binary spikes"
    with torch.no_grad():
        for module in graph.modules():
            if hasattr(module, "reset"):
                module.reset()
        expected = sum(graph(inputs[:16]) for _ in range(4)) / 4
        for module in graph.modules():
            if hasattr(module, "reset"):
                module.reset()
    assert_same_outputs(network.run(inputs[:16], 4), expected)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (42, "not usable"),
        ([torch.zeros(2, 1, 8, 8)], "labels"),
    ],
)
def test_bad_data_is_explained(trained: Trained, data: object, message: str) -> None:
    with pytest.raises(ReplayInputError, match=message):
        replay(trained.ann, data, presets.RERAM.ideal(), progress=False)


def test_bad_model_and_timesteps_are_explained(trained: Trained) -> None:
    with pytest.raises(ReplayInputError, match="cannot be replayed"):
        replay("model.pt", trained.splits.test, progress=False)
    with pytest.raises(ReplayInputError, match="timesteps=0"):
        replay(trained.model, trained.splits.test, timesteps=0, progress=False)


def test_holding_a_constant_input_layer_charges_it_once(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 16)
    every_step = replay(trained.model, (inputs, labels), presets.RERAM, 8, progress=False)
    held = replay(
        trained.model,
        (inputs, labels),
        presets.RERAM.with_parameter("hold_constant_inputs", True),
        8,
        progress=False,
    )
    assert held.layers[0].total_j == pytest.approx(every_step.layers[0].total_j / 8, rel=1e-9)
    assert held.energy_per_inference_j < every_step.energy_per_inference_j
