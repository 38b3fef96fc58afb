"""Count spikes, synaptic operations and MACs of a converted network, at the spiking neurons.

spikingjelly's own counters look at the inputs of each Conv/Linear, which after ``ann2snn`` are
the outputs of voltage scalers (spikes times a threshold), not binary; its ``SynOpCounter``
therefore reports 0 on a converted model (a test shows it). Here the converted graph is copied
and instrumented instead:

* every spiking neuron's output (binary spikes) is tapped: spikes and neurons per sample;
* from each neuron, an *event tensor* follows the spikes to the next synaptic layer through the
  operations in between: voltage scalers and dropout pass events on unchanged, average pooling
  becomes sum pooling (a spike reaching a pooled cell is still one event), max pooling stays max
  pooling (one event per window with a spike), reshapes, concatenation and additions apply as they
  are;
* at a Conv/Linear fed by events, synaptic operations = sum over input elements of
  events x fan-out, where the fan-out map (how many weights each input element reaches; padding
  excluded) is computed once per input shape from the layer with all-ones weights;
* a Conv/Linear not fed by spikes (the analog first layer) performs MACs = sum of its fan-out map
  per sample and step, or once per sample when it holds a constant current
  (``spiking.constant_current``).

If an operation the walker does not know sits between neurons and a synaptic layer, the events
behind it are taken as the non-zero elements of its real output, and the layer's counts are
marked ``basis='nonzero'`` (a lower bound when several spikes merge into one element).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import neuron
from spikingjelly.activation_based.ann2snn.modules import ChannelVoltageScaler, VoltageScaler
from torch import fx, nn

from spiking.constant_current import holds_constant_current

SYNAPTIC_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""Layers whose work is counted as synaptic operations (spike input) or MACs (analog input)."""

_PASS_THROUGH_MODULES = (VoltageScaler, ChannelVoltageScaler, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_APPLY_AS_IS_MODULES = (nn.Flatten, nn.Unflatten, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
"""Modules applied to the event tensor as they are (max pooling: one event per window)."""
_SHAPE_METHODS = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze", "unsqueeze",
    "expand", "unflatten", "__getitem__", "add",
}
_SHAPE_FUNCTIONS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.cat, operator.getitem, torch.add, operator.add,
}
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
_MERGE_FUNCTIONS = {torch.cat, torch.add, operator.add}
_METADATA_METHODS = {"size", "dim", "numel"}
_METADATA_FUNCTIONS = {getattr, len}
_STEP_OP_SHAPES = {"flatten", "transpose", "unsqueeze", "unflatten", "permute", "cat", "reshape", "expand", "getitem"}
_STEP_OP_METADATA = {"shape", "dim", "size"}


def _indicator_forward(layer: nn.Module, x: torch.Tensor, skip_zero_weights: bool) -> torch.Tensor:
    """``layer`` applied to ``x`` with each weight replaced by 1 (or by 0 where it is zero, with
    ``skip_zero_weights``) and no bias."""
    weights = (layer.weight != 0).to(x.dtype) if skip_zero_weights else torch.ones_like(layer.weight, dtype=x.dtype)
    if isinstance(layer, nn.Linear):
        return F.linear(x, weights)
    return layer._conv_forward(x, weights, None)  # type: ignore[operator]  # Conv1d/2d/3d


def fanout_map(
    layer: nn.Module, sample_shape: tuple[int, ...], device: torch.device, *, skip_zero_weights: bool = False
) -> torch.Tensor:
    """For one sample of shape ``sample_shape``: how many weights of ``layer`` each input element
    reaches (its fan-out; zero padding is not an input element, so it is not counted), or with
    ``skip_zero_weights`` how many non-zero weights (NeuroBench's effective operations)."""
    probe = torch.zeros((1, *sample_shape), device=device, dtype=torch.float32, requires_grad=True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_indicator_forward(layer, probe, skip_zero_weights).sum(), probe)
    return grad[0].detach()


class FanoutCache:
    """Fan-out maps of one layer, per input shape and device."""

    def __init__(self, layer: nn.Module, *, skip_zero_weights: bool = False) -> None:
        self._layer = (layer,)  # a tuple: not registered as a child module
        self._skip_zero_weights = skip_zero_weights
        self._maps: dict[tuple[tuple[int, ...], torch.device], tuple[torch.Tensor, int]] = {}

    def get(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The fan-out map for ``x``'s sample shape, flattened, and its sum (MACs per sample)."""
        key = (tuple(x.shape[1:]), x.device)
        if key not in self._maps:
            fanout = fanout_map(self._layer[0], key[0], x.device, skip_zero_weights=self._skip_zero_weights)
            self._maps[key] = (fanout.reshape(-1), int(fanout.sum().item()))
        return self._maps[key]


def layer_macs_per_sample(layer: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """MACs of ``layer`` for one dense input sample: the sum of its fan-out map."""
    return int(fanout_map(layer, sample_shape, layer.weight.device).sum().item())


class SpikeTap(nn.Module):
    """Counts the spikes of one spiking-neuron layer.

    Within a batch it sums the spikes of every step per neuron; ``reset`` (which
    ``functional.reset_net`` calls at each batch boundary) folds that sum into the run's total.
    It returns either the current step's spikes or, with ``emit_counts``, the spikes summed over
    the steps so far (for the deferred event pass on the last step; see ``StepSchedule``).
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.emit_counts = False
        self.clear()

    def clear(self) -> None:
        """Zero the run's counters."""
        self.spikes = 0.0
        self.neurons_per_sample = 0
        self._counts: torch.Tensor | None = None

    def reset(self) -> None:
        """Batch boundary: fold this batch's spike counts into the total."""
        if self._counts is not None:
            self.spikes += float(self._counts.sum(dtype=torch.float64).item())
            self._counts = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        if self._counts is None:
            self._counts = spikes.to(torch.float32, copy=True)
            self.neurons_per_sample = spikes[0].numel()
        else:
            self._counts.add_(spikes)
        return self._counts if self.emit_counts else spikes


class SynapseTap(nn.Module):
    """Counts the work of one Conv/Linear: SynOps from events, or MACs for an analog input.

    Each call adds the batch's events per input element to a running sum; SynOps are that sum
    weighted by the fan-out map, computed when read. For an analog input it records the layer's
    connections (MACs per sample and step).
    """

    def __init__(self, name: str, layer: nn.Module, spiking: bool) -> None:
        super().__init__()
        self.name = name
        self.spiking = spiking
        self._fanout = FanoutCache(layer)
        self.clear()

    def clear(self) -> None:
        """Zero the counters (not named ``reset``: ``functional.reset_net`` calls that every batch)."""
        self._event_sum: torch.Tensor | None = None
        self._probe: torch.Tensor | None = None
        self.connections = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.spiking:
            self.connections = self._fanout.get(x)[1]  # MACs per sample and step
            return x
        events = x.sum(0, dtype=torch.float64)
        if self._event_sum is None:
            self._event_sum, self._probe = events, x[:1]
        else:
            self._event_sum.add_(events)
        return x

    @property
    def events(self) -> float:
        """Events that reached the layer since the last ``clear``."""
        return 0.0 if self._event_sum is None else float(self._event_sum.sum().item())

    @property
    def synops(self) -> float:
        """Synaptic operations since the last ``clear``: events x fan-out, summed."""
        if self._event_sum is None or self._probe is None:
            return 0.0
        fanout, _ = self._fanout.get(self._probe)
        return float((self._event_sum.reshape(-1) * fanout).sum().item())


class SumPool(nn.Module):
    """Average pooling turned into sum pooling: pooled cells carry the number of events."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self._pool = (pool,)  # a tuple: not registered as a child module

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        pool = self._pool[0]
        if isinstance(pool, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            return pool(events) * _region_sizes(pool, events)
        if isinstance(pool, nn.AvgPool1d):  # avg_pool1d has no divisor_override: pool as 2-d
            return F.avg_pool2d(
                events.unsqueeze(-2), (1, pool.kernel_size[0]), (1, pool.stride[0]), (0, pool.padding[0]),
                pool.ceil_mode, pool.count_include_pad, divisor_override=1,
            ).squeeze(-2)
        functional = F.avg_pool2d if isinstance(pool, nn.AvgPool2d) else F.avg_pool3d
        return functional(
            events, pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode, pool.count_include_pad,
            divisor_override=1,
        )


def _pool_dims(pool: nn.Module) -> int:
    if isinstance(pool, nn.AdaptiveAvgPool1d):
        return 1
    return 2 if isinstance(pool, nn.AdaptiveAvgPool2d) else 3


def _region_sizes(pool: nn.Module, events: torch.Tensor) -> torch.Tensor:
    """Number of input elements averaged into each output cell of an adaptive average pool."""
    dims = _pool_dims(pool)
    out_sizes = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * dims
    sizes = torch.ones((), device=events.device)
    for axis, (in_size, out_size) in enumerate(zip(events.shape[-dims:], out_sizes)):
        out_size = in_size if out_size is None else out_size
        index = torch.arange(out_size, device=events.device)
        start = torch.div(index * in_size, out_size, rounding_mode="floor")
        end = torch.div((index + 1) * in_size + out_size - 1, out_size, rounding_mode="floor")
        shape = [1] * dims
        shape[axis] = out_size
        sizes = sizes * (end - start).reshape(shape).to(events.dtype)
    return sizes


class SumOverDims(nn.Module):
    """``mean`` over dimensions turned into a sum of events."""

    def __init__(self, dim: int | list[int] | tuple[int, ...], keepdim: bool) -> None:
        super().__init__()
        self.dim = dim
        self.keepdim = keepdim

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        return events.sum(dim=self.dim, keepdim=self.keepdim)


class NonZero(nn.Module):
    """Fallback for unknown operations: every non-zero element of the real output is one event."""

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        return (value != 0).to(torch.float32)


@dataclass
class _Events:
    node: fx.Node
    basis: str
    sources: frozenset[str]


@dataclass(frozen=True)
class SynapseInfo:
    """Where a synaptic layer's input comes from."""

    name: str
    kind: str
    spiking: bool
    basis: str
    sources: tuple[str, ...]
    constant_current: bool = False
    """An analog layer computed once per input (its MACs count once, not once per step)."""


@dataclass
class InstrumentedNetwork:
    """Counting copies of a converted graph; they share modules (and neuron state) with the SNN.

    ``full`` carries spike taps, the event path and synapse taps; ``spikes_only`` only the spike
    taps. When every operation on the event path is linear (``deferrable``), the events of all T
    steps are the event path applied to the spikes summed over the steps, so ``schedule`` runs
    ``spikes_only`` for T - 1 steps and ``full`` once, on the summed spikes.
    """

    full: fx.GraphModule
    spikes_only: fx.GraphModule
    deferrable: bool
    spike_taps: list[SpikeTap] = field(default_factory=list)
    synapse_taps: list[SynapseTap] = field(default_factory=list)
    synapses: list[SynapseInfo] = field(default_factory=list)

    def clear(self) -> None:
        """Zero every tap."""
        for spike_tap in self.spike_taps:
            spike_tap.clear()
        for synapse_tap in self.synapse_taps:
            synapse_tap.clear()

    def schedule(self, timesteps: int) -> "StepSchedule":
        """The module to run for each of ``timesteps`` steps of one batch."""
        for tap in self.spike_taps:
            tap.emit_counts = self.deferrable
        return StepSchedule(self, timesteps)


class StepSchedule(nn.Module):
    """Runs ``spikes_only`` until the last step and ``full`` on it (or ``full`` every step when
    the event path is not linear). ``reset`` (called by ``reset_net``) restarts the step count."""

    def __init__(self, network: InstrumentedNetwork, timesteps: int) -> None:
        super().__init__()
        self.full = network.full
        self.spikes_only = network.spikes_only
        self.deferrable = network.deferrable
        self.timesteps = timesteps
        self.step = 0

    def reset(self) -> None:
        """Batch boundary."""
        self.step = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.step += 1
        if self.deferrable and self.step < self.timesteps:
            return self.spikes_only(x)
        return self.full(x)


def _node_is(
    node: fx.Node, module: nn.Module | None, methods: set[str], functions: set[Any], step_ops: set[str]
) -> bool:
    """Whether ``node`` calls one of ``methods``, ``functions``, or a spikingjelly step-mode tensor
    op (``_StepModeTensorOp``) named in ``step_ops``."""
    if node.op == "call_method":
        return node.target in methods
    if node.op == "call_function":
        return node.target in functions
    return getattr(module, "op_name", None) in step_ops


def _neuron_name(target: str) -> str:
    return target[: -len(".if_node")] if target.endswith(".if_node") else target


def _copy_graph(snn: fx.GraphModule) -> tuple[fx.Graph, fx.GraphModule]:
    graph = fx.Graph()
    graph.output(graph.graph_copy(snn.graph, {}))
    return graph, fx.GraphModule(snn, graph)


def _is_neuron(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    return node.op == "call_module" and isinstance(modules.get(str(node.target)), neuron.BaseNode)


class _Instrumenter:
    """Builds the ``full`` counting graph: spike taps, the event path, synapse taps."""

    def __init__(self, snn: fx.GraphModule) -> None:
        self.modules = dict(snn.named_modules())
        self.graph, self.module = _copy_graph(snn)
        self.events: dict[fx.Node, _Events] = {}
        self.spike_taps: list[SpikeTap] = []
        self.synapse_taps: list[SynapseTap] = []
        self.synapses: list[SynapseInfo] = []
        self.deferrable = True
        self._counter = 0

    def _add(self, after: fx.Node, module: nn.Module, args: tuple) -> fx.Node:
        name = f"_stats_{self._counter}"
        self._counter += 1
        self.module.add_submodule(name, module)
        with self.graph.inserting_after(after):
            return self.graph.call_module(name, args=args)

    def _inputs_with_events(self, node: fx.Node) -> list[_Events]:
        return [self.events[arg] for arg in node.all_input_nodes if arg in self.events]

    def _copy_on_events(self, node: fx.Node, found: list[_Events], module: nn.Module | None) -> None:
        """Apply ``node``'s operation to the event tensors of its inputs. For an addition or a
        concatenation, inputs that carry no spikes contribute zeros (their values are not events)."""
        mapping = {arg: self.events[arg].node for arg in node.all_input_nodes if arg in self.events}
        anchor = node
        if self._merges_tensors(node, module):
            for arg in node.all_input_nodes:
                if arg not in mapping:
                    with self.graph.inserting_after(anchor):
                        anchor = mapping[arg] = self.graph.call_function(torch.zeros_like, (arg,))
        with self.graph.inserting_after(anchor):
            copied = self.graph.node_copy(node, lambda arg: mapping.get(arg, arg))
        self._set(node, copied, found)

    @staticmethod
    def _merges_tensors(node: fx.Node, module: nn.Module | None) -> bool:
        return _node_is(node, module, {"add"}, _MERGE_FUNCTIONS, {"cat"})

    def _set(self, node: fx.Node, event_node: fx.Node, found: list[_Events], basis: str | None = None) -> None:
        merged_basis = basis or ("nonzero" if any(e.basis == "nonzero" for e in found) else "spikes")
        sources = frozenset().union(*(e.sources for e in found))
        self.events[node] = _Events(event_node, merged_basis, sources)

    def run(self) -> None:
        for node in list(self.graph.nodes):
            if node.op in ("placeholder", "get_attr", "output"):
                continue
            module = self.modules.get(node.target) if node.op == "call_module" else None
            found = self._inputs_with_events(node)
            if _is_neuron(node, self.modules):
                tap = SpikeTap(_neuron_name(str(node.target)))
                self.spike_taps.append(tap)
                self.events[node] = _Events(self._add(node, tap, (node,)), "spikes", frozenset({tap.name}))
            elif isinstance(module, SYNAPTIC_TYPES):
                self._tap_synapse(node, module)
            elif not found:
                continue
            elif isinstance(module, _PASS_THROUGH_MODULES) or self._is_scaling(node):
                self.events[node] = found[0]
            elif isinstance(module, _AVG_POOLS):
                self._set(node, self._add(node, SumPool(module), (found[0].node,)), found)
            elif self._is_mean_op(module):
                kwargs = module.op_kwargs  # type: ignore[union-attr]
                self._set(node, self._add(node, SumOverDims(kwargs["dim"], kwargs["keepdim"]), (found[0].node,)), found)
            elif isinstance(module, _APPLY_AS_IS_MODULES) or self._is_shape_op(node, module):
                self.deferrable = self.deferrable and not isinstance(module, _MAX_POOLS)
                self._copy_on_events(node, found, module)
            elif not self._is_metadata(node, module):
                self.deferrable = False
                self._set(node, self._add(node, NonZero(), (node,)), found, basis="nonzero")
        self.graph.lint()
        self.module.recompile()

    def _tap_synapse(self, node: fx.Node, module: nn.Module) -> None:
        name = str(node.target)
        source = node.args[0] if node.args else None
        events = self.events.get(source) if isinstance(source, fx.Node) else None
        tap = SynapseTap(name, module, spiking=events is not None)
        self.synapse_taps.append(tap)
        self.synapses.append(
            SynapseInfo(
                name=name,
                kind=next(kind.__name__ for kind in SYNAPTIC_TYPES if isinstance(module, kind)),
                spiking=events is not None,
                basis=events.basis if events is not None else "analog",
                sources=tuple(sorted(events.sources)) if events is not None else (),
                constant_current=events is None and holds_constant_current(module),
            )
        )
        self._add(node, tap, (events.node if events is not None else source,))

    @staticmethod
    def _is_shape_op(node: fx.Node, module: nn.Module | None) -> bool:
        return _node_is(node, module, _SHAPE_METHODS, _SHAPE_FUNCTIONS, _STEP_OP_SHAPES)

    @staticmethod
    def _is_mean_op(module: nn.Module | None) -> bool:
        return getattr(module, "op_name", None) == "mean"

    @staticmethod
    def _is_scaling(node: fx.Node) -> bool:
        """Multiplication or division by a non-zero Python number keeps the events."""
        if node.op not in ("call_function", "call_method") or len(node.args) != 2:
            return False
        if node.target not in (operator.mul, torch.mul, operator.truediv, torch.div, "mul", "div"):
            return False
        constant = node.args[1] if isinstance(node.args[0], fx.Node) else node.args[0]
        return isinstance(constant, (int, float)) and constant != 0

    @staticmethod
    def _is_metadata(node: fx.Node, module: nn.Module | None) -> bool:
        return _node_is(node, module, _METADATA_METHODS, _METADATA_FUNCTIONS, _STEP_OP_METADATA)


def _spikes_only(snn: fx.GraphModule, taps: list[SpikeTap]) -> fx.GraphModule:
    """A copy of ``snn`` with only the spike taps (the same tap objects), in neuron order."""
    modules = dict(snn.named_modules())
    graph, module = _copy_graph(snn)
    neurons = [node for node in graph.nodes if _is_neuron(node, modules)]
    for index, (node, tap) in enumerate(zip(neurons, taps, strict=True)):
        module.add_submodule(f"_stats_spikes_{index}", tap)
        with graph.inserting_after(node):
            graph.call_module(f"_stats_spikes_{index}", args=(node,))
    graph.lint()
    module.recompile()
    return module


def instrument(snn: fx.GraphModule) -> InstrumentedNetwork:
    """Build the counting copies of a converted network (modules and neuron state are shared)."""
    builder = _Instrumenter(snn)
    builder.run()
    return InstrumentedNetwork(
        full=builder.module,
        spikes_only=_spikes_only(snn, builder.spike_taps),
        deferrable=builder.deferrable,
        spike_taps=builder.spike_taps,
        synapse_taps=builder.synapse_taps,
        synapses=builder.synapses,
    )


def ann_macs_per_layer(ann: nn.Module, sample_shape: tuple[int, ...], device: torch.device) -> dict[str, int]:
    """MACs per sample of every Conv/Linear of ``ann`` (connections, zero padding excluded)."""
    shapes: dict[str, tuple[int, ...]] = {}
    layers = {name: module for name, module in ann.named_modules() if isinstance(module, SYNAPTIC_TYPES)}
    handles = [
        module.register_forward_pre_hook(
            lambda _m, args, name=name: shapes.__setitem__(name, tuple(args[0].shape[1:]))
        )
        for name, module in layers.items()
    ]
    try:
        with torch.no_grad():
            ann(torch.zeros((1, *sample_shape), device=device))
    finally:
        for handle in handles:
            handle.remove()
    return {name: layer_macs_per_sample(layers[name], shape) for name, shape in shapes.items()}
