"""Spike, SynOp and MAC counts: hand-computed on tiny networks, cross-checked with spikingjelly."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter
from torch import nn

import spiking
from spiking.counting import SumPool, ann_macs_per_layer, fanout_map, instrument
from tests.spiking.conftest import TrainedDigits


def _set(layer: nn.Module, weight: float) -> nn.Module:
    with torch.no_grad():
        layer.weight.fill_(weight)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def _convert(model: nn.Module, x: torch.Tensor, timesteps: int = 4, **settings: object) -> spiking.SpikingModel:
    """Thresholds from the maximum of ``x``'s activations (1.0 in the hand-computed cases)."""
    return spiking.convert(model.eval(), x, mode="max", timesteps=timesteps, **settings)


def test_linear_network_counts_match_hand_computation() -> None:
    # input [1, 0.5] -> identity Linear -> IF (threshold 1, soft reset) -> Linear(2, 3)
    # over T = 4: neuron 0 spikes every step (4), neuron 1 every second step (2): 6 spikes.
    model = nn.Sequential(_set(nn.Linear(2, 2), 0.0), nn.ReLU(), nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.5]])
    stats = _convert(model, x).statistics(x)
    (layer,) = stats.neurons
    assert (layer.neurons, layer.spikes, layer.firing_rate) == (2, 6, 6 / 8)
    first, second = stats.synapses
    assert (first.spiking_input, first.macs_per_sample, first.ann_macs_per_sample) == (False, 2 * 2 * 4, 4)
    assert (second.spiking_input, second.input_events, second.synops) == (True, 6, 6 * 3)
    assert stats.ann_macs_per_sample == 4 + 6
    energy = stats.energy("fp32")
    assert energy.ann_energy_j == pytest.approx(10 * 4.6e-12)
    assert energy.snn_energy_j == pytest.approx(16 * 4.6e-12 + 18 * 0.9e-12)


def _pixel_model(*tail: nn.Module) -> nn.Sequential:
    return nn.Sequential(_set(nn.Conv2d(1, 1, 1, bias=False), 1.0), nn.ReLU(), *tail)


def test_spikes_merged_by_average_pooling_count_one_synop_each() -> None:
    # pixels 1, .5, 0, 1 over T = 4 spike 4 + 2 + 0 + 4 = 10 times; a 2x2 average pool merges them
    # into one cell feeding Linear(1, 3): 10 events x fan-out 3 = 30 SynOps (non-zero inputs
    # would give only 4 steps x 3 = 12).
    model = _pixel_model(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(1, 3))
    x = torch.tensor([[[[1.0, 0.5], [0.0, 1.0]]]])
    stats = _convert(model, x).statistics(x)
    assert stats.neurons[0].spikes == 10
    linear = stats.synapses[-1]
    assert (linear.input_events, linear.synops, linear.basis, linear.sources) == (10, 30, "spikes", ("spiking_0",))


def test_convolution_fanout_excludes_zero_padding() -> None:
    # a 3x3 kernel with padding 1 on a 3x3 map: a corner pixel reaches 4 outputs, an edge pixel 6,
    # the centre 9 (per output channel). Corner 1.0 spikes 4 times, centre 0.5 twice, with 2
    # output channels: 4 x 4 x 2 + 2 x 9 x 2 = 68 SynOps.
    model = _pixel_model(nn.Conv2d(1, 2, 3, padding=1))
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 0, 0], x[0, 0, 1, 1] = 1.0, 0.5
    stats = _convert(model, x).statistics(x)
    conv = stats.synapses[-1]
    assert stats.neurons[0].spikes == 6
    assert conv.synops == 68
    assert conv.ann_macs_per_sample == (4 * 4 + 4 * 6 + 9) * 2  # 98 connections (162 with padding)
    assert fanout_map(model[2], (1, 3, 3), torch.device("cpu")).tolist() == [[[8, 12, 8], [12, 18, 12], [8, 12, 8]]]


def test_ann_macs_of_the_digits_cnn(digits: TrainedDigits) -> None:
    macs = ann_macs_per_layer(digits.model, (1, 8, 8), torch.device("cpu"))
    # conv 3x3 pad 1: per axis each input row/column reaches 3 outputs except the 2 borders (2):
    # 8x8 map -> (8*3 - 2)^2 = 484 connections per channel pair; 4x4 map -> (4*3 - 2)^2 = 100
    assert macs == {"0": 484 * 1 * 16, "3": 100 * 16 * 32, "7": 128 * 64, "9": 64 * 10}


def _binary_input_snn(model: nn.Module, x: torch.Tensor, **settings: object) -> spiking.SpikingModel:
    """Convert, then set every post-neuron scaler to 1 so each synaptic layer sees 0/1 spikes."""
    converted = spiking.convert(model.eval(), x, mode="max", timesteps=8, **settings)
    for name, module in converted.snn.named_modules():
        if name.endswith("scaler1"):
            module.scale.fill_(1.0)
    return converted


def _spikingjelly_synops(converted: spiking.SpikingModel, x: torch.Tensor) -> int:
    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        functional.reset_net(converted.snn)
        for _ in range(converted.timesteps):
            converted.snn(x)
    functional.reset_net(converted.snn)
    return counter.get_total()


@pytest.mark.parametrize("pool", [nn.Identity(), nn.MaxPool2d(2)], ids=["plain", "maxpool-of-spikes"])
def test_synops_agree_with_spikingjelly_when_layer_inputs_are_binary(pool: nn.Module) -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), pool,
        nn.Conv2d(4, 6, 3, padding=1, stride=2), nn.ReLU(),
        nn.Flatten(), nn.LazyLinear(10),
    )
    x = torch.rand(5, 1, 8, 8)
    model(x)  # materialise the lazy layer
    with pytest.warns(spiking.SpikePoolingWarning) if isinstance(pool, nn.MaxPool2d) else nullcontext():
        converted = _binary_input_snn(model, x)
    ours = converted.statistics(x)
    theirs = _spikingjelly_synops(converted, x)
    print(f"SynOps: ours {sum(s.synops for s in ours.synapses)}, spikingjelly SynOpCounter {theirs}")
    assert ours.synapses[0].synops == 0 and not ours.synapses[0].spiking_input  # analog first layer
    assert sum(s.synops for s in ours.synapses) == theirs > 0


def test_spikingjelly_counts_zero_synops_on_a_plain_conversion(digits_snn: spiking.SpikingModel,
                                                               digits: TrainedDigits) -> None:
    # why this package counts at the neurons: after ann2snn the layer inputs are scaled spikes
    x = digits.splits.test.tensors[0][:16]
    assert _spikingjelly_synops(digits_snn, x) == 0
    assert digits_snn.statistics(x).synops_per_sample > 0


def test_spike_counts_match_hooks_on_the_neurons(digits_snn: spiking.SpikingModel, digits: TrainedDigits) -> None:
    x = digits.splits.test.tensors[0][:32]
    seen: dict[str, float] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, seen.get(name, 0.0) + float(out.sum()))
        )
        for name, module in digits_snn.snn.named_modules()
        if isinstance(module, neuron.BaseNode)
    ]
    try:
        digits_snn.run(x, timesteps=16)
    finally:
        for handle in handles:
            handle.remove()
    stats = digits_snn.statistics(x, timesteps=16)
    assert {f"{n.name}.if_node": n.spikes for n in stats.neurons} == {k: round(v) for k, v in seen.items()}
    assert all(0.0 < n.firing_rate < 1.0 for n in stats.neurons)


def test_deferred_event_pass_equals_counting_every_step(digits_snn: spiking.SpikingModel,
                                                        digits: TrainedDigits) -> None:
    x = digits.splits.test.tensors[0][:32]
    network = instrument(digits_snn.snn)
    assert network.deferrable  # DigitsCNN: scalers, average pooling, flatten only

    def run(deferrable: bool) -> list[float]:
        network.deferrable = deferrable
        network.clear()
        for _ in digits_snn.iter_steps(x, 12, network=network.schedule(12)):
            pass
        return [tap.synops for tap in network.synapse_taps] + [tap.spikes for tap in network.spike_taps]

    assert run(True) == run(False)


class _Branches(nn.Module):
    """Spikes merged by an addition and a concatenation, one addition with an analog input, and
    a flatten written as ``x.view(x.size(0), -1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc_a, self.act_a = nn.Linear(4, 6), nn.ReLU()
        self.fc_b, self.act_b = nn.Linear(6, 6), nn.ReLU()
        self.analog = nn.Linear(4, 6)
        self.sum_head, self.cat_head, self.mixed_head = nn.Linear(6, 3), nn.Linear(12, 5), nn.Linear(6, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act_a(self.fc_a(x.view(x.size(0), -1)))
        b = self.act_b(self.fc_b(a))
        return torch.cat(
            [self.sum_head(a + b), self.cat_head(torch.cat([a, b], dim=1)), self.mixed_head(a + self.analog(x))],
            dim=1,
        )


def test_additions_and_concatenations_merge_spike_events() -> None:
    torch.manual_seed(0)
    model = _Branches().eval()
    x = torch.rand(16, 4)
    converted = spiking.convert(model, x, mode="max", timesteps=10)
    spikes: dict[str, float] = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, n=name: spikes.__setitem__(n, spikes.get(n, 0.0) + float(out.sum())))
        for name, module in converted.snn.named_modules()
        if isinstance(module, neuron.BaseNode)
    ]
    converted.run(x)
    for handle in handles:
        handle.remove()
    a, b = spikes["spiking_0.if_node"], spikes["spiking_1.if_node"]
    assert a > 0 and b > 0
    synops = {layer.name: layer.synops for layer in converted.statistics(x).synapses}
    assert synops == {
        "fc_a": 0, "analog": 0,  # analog inputs
        "fc_b": round(a * 6),
        "sum_head": round((a + b) * 3),
        "cat_head": round((a + b) * 5),
        "mixed_head": round(a * 7),  # the analog addend carries no events
    }


@pytest.mark.parametrize(
    "pool",
    [nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True), nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
     nn.AvgPool3d(2), nn.AdaptiveAvgPool1d(3), nn.AdaptiveAvgPool2d((3, 2)), nn.AdaptiveAvgPool3d(1)],
    ids=lambda pool: type(pool).__name__,
)
def test_sum_pooling_counts_every_event_once_per_window(pool: nn.Module) -> None:
    dims = {"1d": 1, "2d": 2, "3d": 3}[type(pool).__name__[-2:]]
    events = torch.randint(0, 3, (2, 4, *([7] * dims))).float()
    summed = SumPool(pool)(events)
    # reference: each element's events land, with weight 1, in every window that contains it
    assert summed.shape == pool(events).shape
    total = torch.zeros_like(summed)
    for index in torch.nonzero(events):
        one = torch.zeros_like(events)
        one[tuple(index)] = 1.0
        total += (pool(one) > 0).float() * events[tuple(index)]
    assert torch.equal(summed.round(), total)
