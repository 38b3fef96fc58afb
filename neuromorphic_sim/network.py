"""Build a crossbar copy of a network: every Conv2d and Linear becomes a ``CrossbarLayer``.

For a spiking network (spikingjelly's converted ``torch.fx.GraphModule``) the graph tells
what each layer receives: walking back from a layer's input through voltage scalers,
pooling and flattening to the IF neuron that produced the spikes gives the unit of one
spike and the largest count that can arrive (average pooling over k×k spikes gives counts
up to k²). Those layers get lossless spike or count encodings, and the scale is folded into
the programmed weights, as hardware would. Inputs that do not come from a neuron (the
pixels of the first layer, every ANN activation) get the multi-bit encoding.

The rest of the network (neurons, pooling, scalers) runs unchanged, digitally.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from spiking.steps import mean_over_steps
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.ann2snn.modules import ChannelVoltageScaler, VoltageScaler
from spikingjelly.activation_based.neuron import BaseNode, SimpleBaseNode
from torch import fx, nn

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.encoding import InputEncoding, MultiBitEncoding, SpikeCountEncoding
from neuromorphic_sim.exceptions import UnsupportedLayerError
from neuromorphic_sim.folding import fold_batch_norms, has_batch_norm
from neuromorphic_sim.layer import CrossbarLayer, check_mappable

SPIKING_NEURONS = (BaseNode, SimpleBaseNode)
"""Modules whose output is binary spikes."""
_MAPPED = (nn.Conv2d, nn.Linear)
_KEEPS_COUNTS = (nn.MaxPool2d, nn.Dropout, nn.Identity)
"""Modules that keep a spike count an integer multiple of the same unit."""
_MAC_FUNCTIONS = {
    torch.nn.functional.conv1d,
    torch.nn.functional.conv2d,
    torch.nn.functional.conv3d,
    torch.nn.functional.linear,
    torch.nn.functional.bilinear,
    torch.matmul,
    torch.mm,
    torch.bmm,
    torch.addmm,
    torch.einsum,
    torch.conv2d,
}
"""Functions doing multiply-accumulates outside a module: the arrays cannot take them."""


def is_spiking(model: nn.Module) -> bool:
    """True when ``model`` holds spiking neurons."""
    return any(isinstance(module, SPIKING_NEURONS) for module in model.modules())


@dataclass(frozen=True)
class CountSource:
    """What reaches a layer from a spiking neuron: unit · count, count in [0, max_count]."""

    unit: torch.Tensor
    """Value of one spike: a scalar, or one value per channel."""
    max_count: int
    """Largest count per input (1 for plain spikes)."""
    flattened: bool
    """True once the channel dimension was flattened into features."""


def _trace_counts(node: object, modules: dict[str, nn.Module]) -> CountSource | None:
    """Walk back from ``node`` to the spiking neuron feeding it; None if it is not one."""
    if not isinstance(node, fx.Node) or not node.args:
        return None
    previous = node.args[0]
    if (node.op == "call_function" and node.target is torch.flatten) or (
        node.op == "call_method" and node.target == "flatten"
    ):
        source = _trace_counts(previous, modules)
        return None if source is None else CountSource(source.unit, source.max_count, True)
    if node.op != "call_module":
        return None
    module = modules[str(node.target)]
    if isinstance(module, SPIKING_NEURONS):
        return CountSource(torch.tensor(1.0, dtype=torch.float64), 1, False)
    source = _trace_counts(previous, modules)
    if source is None:
        return None
    if isinstance(module, VoltageScaler):
        return CountSource(
            source.unit * module.scale.detach().double().cpu(), source.max_count, source.flattened
        )
    if isinstance(module, ChannelVoltageScaler):
        scale = module.scale.detach().double().cpu()
        if scale.dim() == 1 and (module.channel_dim not in (1, -3) or source.flattened):
            return None
        return CountSource(source.unit * scale, source.max_count, source.flattened)
    if isinstance(module, nn.AvgPool2d):
        pads = module.padding if isinstance(module.padding, tuple) else (module.padding,)
        if module.divisor_override is not None or (not module.count_include_pad and any(pads)):
            return None
        kernel = (
            module.kernel_size
            if isinstance(module.kernel_size, tuple)
            else (module.kernel_size,) * 2
        )
        area = int(kernel[0]) * int(kernel[1])
        return CountSource(source.unit / area, source.max_count * area, source.flattened)
    if isinstance(module, nn.Flatten):
        return CountSource(source.unit, source.max_count, True) if module.start_dim == 1 else None
    if isinstance(module, _KEEPS_COUNTS):
        return source
    return None


def _row_unit(
    source: CountSource, module: nn.Conv2d | nn.Linear
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(per weight-row unit (K,), unit broadcastable to the layer input), or None if unsupported."""
    unit = source.unit
    if isinstance(module, nn.Conv2d):
        channels, kernel_area = module.in_channels, module.kernel_size[0] * module.kernel_size[1]
        per_channel = unit.expand(channels) if unit.dim() == 0 else unit
        if per_channel.numel() != channels or source.flattened:
            return None
        return per_channel.repeat_interleave(kernel_area), per_channel.view(1, channels, 1, 1)
    features = module.in_features  # nn.Linear
    if unit.dim() == 0:
        per_feature = unit.expand(features)
    elif source.flattened and features % unit.numel() == 0:
        per_feature = unit.repeat_interleave(features // unit.numel())
    elif not source.flattened and features == unit.numel():
        per_feature = unit
    else:
        return None
    return per_feature, per_feature.view(1, features, 1, 1)  # linear inputs run as 1×1 maps


def _check_graph(graph_module: fx.GraphModule, modules: dict[str, nn.Module]) -> None:
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target in _MAC_FUNCTIONS:
            raise UnsupportedLayerError(
                f"graph node {node.name!r} calls {getattr(node.target, '__name__', node.target)} "
                "outside a module; only nn.Conv2d and nn.Linear modules are mapped onto crossbars."
            )
        if node.op == "call_module":
            _check_module(str(node.target), modules[str(node.target)])


def _check_module(name: str, module: nn.Module) -> None:
    if isinstance(module, _MAPPED):
        check_mappable(name, module)
    elif any(True for _ in module.parameters(recurse=False)):
        check_mappable(name, module)  # raises, naming the layer


class CrossbarNetwork:
    """A network whose Conv2d and Linear layers run on simulated crossbars."""

    def __init__(self, network: nn.Module, layers: dict[str, CrossbarLayer], spiking: bool) -> None:
        self.network = network
        self.layers = layers
        self.spiking = spiking

    def to(self, device: torch.device | str) -> "CrossbarNetwork":
        """Move every buffer to ``device``."""
        self.network.to(device)
        return self

    def reset_events(self) -> None:
        """Zero every layer's counters."""
        for layer in self.layers.values():
            layer.reset_events()

    def _reset(self) -> None:
        functional.reset_net(self.network)
        for layer in self.layers.values():
            layer.clear_cache()

    def iter_steps(self, x: torch.Tensor, timesteps: int) -> Iterator[torch.Tensor]:
        """Outputs of each time step for one batch (state reset before and after)."""
        steps = timesteps if self.spiking else 1
        with torch.no_grad():
            self._reset()
            try:
                for _ in range(steps):
                    yield self.network(x)
            finally:
                self._reset()

    def run(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        """The output averaged over T steps (one step for an ANN), as ``SpikingModel.run``."""
        return mean_over_steps(self.iter_steps(x, timesteps))


def build_crossbar_network(model: nn.Module, hw: HardwareConfig) -> CrossbarNetwork:
    """A deep copy of ``model`` with its Conv2d and Linear layers on the arrays of ``hw``.

    ``model`` is a spiking ``torch.fx.GraphModule`` (spikingjelly's ann2snn output) or any
    torch model without spiking neurons (an ANN, every input multi-bit). BatchNorm after a
    Conv2d or Linear is folded into it (the copy is traced with torch.fx to find them), as the
    conversion does. Raises :class:`UnsupportedLayerError` naming the first layer that cannot
    be mapped.
    """
    network = copy.deepcopy(model).eval()
    spiking = is_spiking(network)
    if spiking and not isinstance(network, fx.GraphModule):
        raise UnsupportedLayerError(
            f"{type(model).__name__} holds spiking neurons but is not a torch.fx.GraphModule; "
            "pass spikingjelly's ann2snn output (or a SpikingModel)."
        )
    if has_batch_norm(network):
        network = fold_batch_norms(network)
    modules = dict(network.named_modules())
    if isinstance(network, fx.GraphModule):
        _check_graph(network, modules)
        candidates = [
            (str(node.target), node)
            for node in network.graph.nodes
            if node.op == "call_module" and isinstance(modules[str(node.target)], _MAPPED)
        ]
    else:
        for name, module in network.named_modules():
            if not any(True for _ in module.children()):
                _check_module(name, module)
        candidates = [
            (name, None) for name, module in network.named_modules() if isinstance(module, _MAPPED)
        ]

    layers: dict[str, CrossbarLayer] = {}
    for index, (name, node) in enumerate(candidates):
        module = modules[name]
        assert isinstance(module, _MAPPED)
        encoding: InputEncoding = MultiBitEncoding(hw.periphery)
        row_unit = None
        source = _trace_counts(node.args[0], modules) if node is not None and node.args else None
        units = None if source is None else _row_unit(source, module)
        if source is not None and units is not None:
            row_unit, input_unit = units
            encoding = SpikeCountEncoding(input_unit.float(), source.max_count, hw.periphery)
        layer = CrossbarLayer(
            name, module, encoding, hw, row_unit=row_unit, seed=hw.seed * 1000 + index
        )  # type: ignore[arg-type]
        network.set_submodule(name, layer)
        layers[name] = layer
    if not layers:
        raise UnsupportedLayerError(
            f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to map."
        )
    return CrossbarNetwork(network, layers, spiking)
