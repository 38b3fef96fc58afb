"""statistics(..., convention="neurobench"): NeuroBench's counts, and where they differ from ours."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, neuron
from torch.utils.data import DataLoader, TensorDataset

from spiking import InvalidInputError, SpikingModel
from tests.spiking.conftest import TrainedDigits
from tests.spiking.test_counting import _binary_input_snn

SAMPLES, TIMESTEPS = 64, 8


def _data(digits: TrainedDigits) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = digits.splits.test.tensors
    return x[:SAMPLES], y[:SAMPLES]


def test_neurobench_convention_equals_the_real_package(digits_snn: SpikingModel, digits: TrainedDigits) -> None:
    pytest.importorskip("neurobench")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.utils.layers import single_layer_MACs
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    class SteppedSNN(TorchModel):  # NeuroBench's torch wrapper, run for T steps per batch
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__(net)
            self.add_activation_module(neuron.BaseNode)

        def __call__(self, batch: torch.Tensor) -> torch.Tensor:
            functional.reset_net(self.net)
            outputs = torch.stack([self.net(batch) for _ in range(TIMESTEPS)]).mean(0)
            functional.reset_net(self.net)
            return outputs

    x, y = _data(digits)
    ours = digits_snn.statistics((x, y), timesteps=TIMESTEPS, convention="neurobench")
    benchmark = Benchmark(SteppedSNN(digits_snn.snn), DataLoader(TensorDataset(x, y), batch_size=32), [], [],
                          [[], [SynapticOperations, ActivationSparsity]])
    theirs = benchmark.run(quiet=True)
    benchmark.workload_metric_manager.cleanup_hooks(benchmark.model)
    expected = ours.to_neurobench()
    assert expected["SynapticOperations"] == pytest.approx(theirs["SynapticOperations"], rel=1e-12)
    assert expected["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)
    # per layer: NeuroBench's own per-layer function on every call's input (hooks removed first,
    # as NeuroBench does: the function deep-copies the layer)
    inputs: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in ours.layers}
    hooks = [
        digits_snn.snn.get_submodule(name).register_forward_pre_hook(lambda _m, args, name=name: inputs[name].append(args[0]))
        for name in inputs
    ]
    try:
        digits_snn.run(x, timesteps=TIMESTEPS)
    finally:
        for hook in hooks:
            hook.remove()
    for layer in ours.layers:
        counted = [single_layer_MACs(batch, digits_snn.snn.get_submodule(layer.name)) for batch in inputs[layer.name]]
        assert layer.effective_macs * SAMPLES == sum(ops for ops, spiking in counted if not spiking)
        assert layer.effective_acs * SAMPLES == sum(ops for ops, spiking in counted if spiking)


def test_conventions_differ_only_where_pooling_or_the_analog_input_intervene(
    digits_snn: SpikingModel, digits: TrainedDigits
) -> None:
    x, _ = _data(digits)
    stats = digits_snn.statistics(x, timesteps=TIMESTEPS, convention="both")
    assert stats.neurobench is not None
    ours = {layer.name: layer for layer in stats.synapses}
    theirs = {layer.name: layer for layer in stats.neurobench.layers}
    # fed directly by the spikes of one neuron layer: the same operations (scaled spikes -> MACs)
    assert theirs["9"].effective_macs == pytest.approx(ours["9"].synops_per_sample) and theirs["9"].effective_acs == 0
    # analog input: NeuroBench skips zero pixels; dense = every connection at every step, as ours
    assert theirs["0"].dense == ours["0"].macs_per_sample == 7_744 * TIMESTEPS
    assert 0 < theirs["0"].effective_macs < ours["0"].macs_per_sample
    # behind 2x2 average pooling: one operation per non-zero pooled value, not one per spike
    for name in ("3", "7"):
        assert theirs[name].effective_macs < ours[name].synops_per_sample
    # activation sparsity is one minus the firing rate over all neurons
    assert stats.neurobench.activation_sparsity == pytest.approx(1 - stats.mean_firing_rate)
    assert "NeuroBench convention" in stats.to_table() and "neurobench" in stats.to_dict()


def test_binary_layer_inputs_count_as_acs_equal_to_our_synops() -> None:
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 6, 3, padding=1, stride=2), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(96, 10))
    x = torch.rand(5, 1, 8, 8)  # no zero pixel: the analog layer's effective MACs are all its MACs
    stats = _binary_input_snn(model, x).statistics(x, convention="both")
    assert stats.neurobench is not None
    analog, *spiking_layers = stats.neurobench.layers
    assert analog.effective_macs == analog.dense == stats.synapses[0].macs_per_sample
    assert [(layer.effective_macs, layer.effective_acs) for layer in spiking_layers] == [
        (0, pytest.approx(layer.synops_per_sample)) for layer in stats.synapses[1:]
    ]


def test_an_unknown_convention_is_refused(digits_snn: SpikingModel) -> None:
    with pytest.raises(InvalidInputError, match="convention='nb' is unknown"):
        digits_snn.statistics(torch.rand(2, 1, 8, 8), convention="nb")  # type: ignore[call-overload]
