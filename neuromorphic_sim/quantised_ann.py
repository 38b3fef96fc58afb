"""The iso-information quantised ANN: the baseline a T-step rate-coded SNN must beat.

A rate-coded SNN run for T steps tells the next layer one of T + 1 spike counts per neuron; an
ANN whose activations carry ⌈log2(T + 1)⌉ bits tells it as much (Yan, Bai, Tang & Wong,
"Reconsidering the energy efficiency of spiking neural networks", arXiv 2409.08290). Here every
``nn.ReLU`` of the ANN becomes an :class:`ActivationQuantiser`: ReLU, then uniform quantisation to
b bits over [0, θ], y = (θ/L)·clamp(round(x·L/θ), 0, L) with L = 2^b − 1 levels. θ is calibrated
per ReLU exactly as the rate conversion calibrates its threshold: spikingjelly's ``VoltageHook``
with the same mode (e.g. ``'99.9%'``) and momentum, on the same calibration batches (so θ equals
the converted SNN's threshold, tested).

On the crossbar a quantised activation is an integer count times a unit θ/L, like the SNN's
spike counts: a layer fed by a quantiser (through average or max pooling, flattening, dropout)
gets the lossless count encoding, bit-serial over b planes (b + 2 after 2×2 average pooling),
with the unit folded into the programmed weights; the pixel layer keeps the ANN's multi-bit
encoding. ``replay`` knows only spiking neurons as count sources, so :func:`replay_quantised`
builds the crossbar network with ``build_crossbar_network``, swaps those layers' encodings and
runs the batches itself.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from spiking.calibration import calibration_inputs, largest_activation, max_samples_per_batch
from spiking.config import ConversionConfig
from spiking.data import iter_batches
from spiking.steps import module_device
from spikingjelly.activation_based.ann2snn.modules import VoltageHook
from torch import fx, nn
from tqdm.auto import tqdm

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.data import labelled_batches
from neuromorphic_sim.encoding import SpikeCountEncoding
from neuromorphic_sim.energy import layer_energy_j
from neuromorphic_sim.exceptions import ReplayInputError, UnsupportedLayerError
from neuromorphic_sim.folding import fold_batch_norms, has_batch_norm
from neuromorphic_sim.layer import CrossbarLayer
from neuromorphic_sim.network import CrossbarNetwork, build_crossbar_network
from neuromorphic_sim.replay import mapping_report
from neuromorphic_sim.report import LayerEnergy, ReplayReport

_COUNT_PRESERVING = (nn.MaxPool2d, nn.Dropout, nn.Identity)
"""Modules whose output is still an integer count times the same unit."""


def activation_bits(timesteps: int) -> int:
    """⌈log2(T + 1)⌉: the activation bits carrying as much as a T-step spike count (Yan et al.)."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ReplayInputError(f"timesteps={timesteps!r} is invalid: it must be an integer >= 1.")
    return math.ceil(math.log2(timesteps + 1))


class ActivationQuantiser(nn.Module):
    """ReLU, then ``bits``-bit uniform quantisation over [0, threshold]; ``bits=None``: ReLU."""

    threshold: torch.Tensor

    def __init__(self, threshold: float, bits: int | None = None) -> None:
        super().__init__()
        if not (math.isfinite(threshold) and threshold > 0):
            raise ReplayInputError(
                f"threshold={threshold!r} is invalid: it must be finite and > 0."
            )
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 1):
            raise ReplayInputError(f"bits={bits!r} is invalid: it must be an integer >= 1 or None.")
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.bits = bits

    @property
    def levels(self) -> int:
        """L = 2^bits − 1: the largest count (0 when unquantised)."""
        return 0 if self.bits is None else 2**self.bits - 1

    @property
    def unit(self) -> float:
        """θ/L: the value of one count."""
        return float(self.threshold) / self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if self.bits is None:
            return x
        return torch.clamp(torch.round(x / self.unit), 0, self.levels) * self.unit

    def extra_repr(self) -> str:
        return f"threshold={float(self.threshold):.4g}, bits={self.bits}"


def _relu_nodes(graph_module: fx.GraphModule) -> list[fx.Node]:
    """The ReLU module calls, as spikingjelly's recipes find them (``type(module) is nn.ReLU``)."""
    modules = dict(graph_module.named_modules())
    for node in graph_module.graph.nodes:
        if (node.op == "call_function" and node.target in (F.relu, torch.relu)) or (
            node.op == "call_method" and node.target == "relu"
        ):
            raise UnsupportedLayerError(
                f"graph node {node.name!r} calls relu as a function; only nn.ReLU modules are "
                "quantised (and converted by spiking.convert): use nn.ReLU()."
            )
    return [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_module" and type(modules[str(node.target)]) is nn.ReLU
    ]


def calibrate_activations(
    ann: nn.Module, calibration_data: Any, mode: str | float = "99.9%", *, progress: bool = False
) -> fx.GraphModule:
    """A traced copy of ``ann`` (BatchNorm folded) whose ReLUs are unquantised
    :class:`ActivationQuantiser` s, each with the threshold the rate conversion would give it:
    spikingjelly's ``VoltageHook`` (``mode``, momentum 0.1) over the same calibration batches as
    ``spiking.convert``. :func:`quantise` sets their bits."""
    model = copy.deepcopy(ann).eval()
    graph = fold_batch_norms(model) if has_batch_norm(model) else fx.symbolic_trace(model)
    config = ConversionConfig(method="rate", mode=mode)
    device = module_device(graph)
    batches = iter_batches(calibration_data, name="calibration_data")
    first = next(batches)
    sample = first.inputs[:1].to(device, torch.float32)
    limit = max_samples_per_batch(largest_activation(graph, sample), config)  # before the hooks
    hooks: dict[str, VoltageHook] = {}
    for index, node in enumerate(_relu_nodes(graph)):
        name = f"activation_quantiser_{index}"
        hooks[name] = VoltageHook(momentum=config.momentum, mode=config.mode)  # training: records
        graph.add_submodule(name, nn.Sequential(nn.ReLU(), hooks[name]))
        node.target = name
    if not hooks:
        raise UnsupportedLayerError(f"{type(ann).__name__} has no nn.ReLU to quantise.")
    graph.delete_all_unused_submodules()
    graph.recompile()
    with torch.no_grad():
        for inputs in calibration_inputs(
            first, batches, device=device, max_samples=limit, max_batches=None, progress=progress
        ):
            graph(inputs)
    for name, hook in hooks.items():
        graph.set_submodule(name, ActivationQuantiser(float(hook.scale)))
    return graph


def quantise(calibrated: fx.GraphModule, bits: int) -> fx.GraphModule:
    """A copy of ``calibrated`` (:func:`calibrate_activations`) with ``bits``-bit activations."""
    quantised = copy.deepcopy(calibrated)
    for name, module in list(quantised.named_modules()):
        if isinstance(module, ActivationQuantiser):
            quantised.set_submodule(name, ActivationQuantiser(float(module.threshold), bits))
    return quantised


def activation_thresholds(graph: fx.GraphModule) -> tuple[float, ...]:
    """The quantisers' thresholds θ, in graph order."""
    return tuple(
        float(module.threshold)
        for module in graph.modules()
        if isinstance(module, ActivationQuantiser)
    )


def _count_source(node: object, modules: dict[str, nn.Module]) -> tuple[float, int] | None:
    """(unit, largest count) of a layer input that is a quantised activation, after any average
    or max pooling, flattening and dropout; None for anything else (e.g. the pixels)."""
    area = 1
    while isinstance(node, fx.Node) and node.args:
        if node.op == "call_function" and node.target is torch.flatten:
            node = node.args[0]
            continue
        if node.op != "call_module":
            return None
        module = modules[str(node.target)]
        if isinstance(module, ActivationQuantiser):
            return (module.unit / area, module.levels * area) if module.bits else None
        if isinstance(module, nn.AvgPool2d):
            if module.divisor_override is not None or (
                module.padding not in (0, (0, 0)) and not module.count_include_pad
            ):
                return None
            kernel = module.kernel_size
            area *= math.prod(kernel) if isinstance(kernel, tuple) else kernel * kernel
        elif not isinstance(module, (*_COUNT_PRESERVING, nn.Flatten)):
            return None
        node = node.args[0]
    return None


def quantised_crossbar_network(
    quantised: fx.GraphModule, config: HardwareConfig
) -> CrossbarNetwork:
    """``quantised`` on the crossbars of ``config``: layers fed by a quantiser read its counts
    bit-serially (lossless; the unit θ/L folded into the programmed weights)."""
    network = build_crossbar_network(quantised, config)
    modules = dict(quantised.named_modules())
    for node in quantised.graph.nodes:
        name = str(node.target)
        source = _count_source(node.args[0], modules) if name in network.layers else None
        if source is None:
            continue
        unit, max_count = source
        module = modules[name]
        assert isinstance(module, (nn.Conv2d, nn.Linear))
        layer = CrossbarLayer(
            name,
            module,
            SpikeCountEncoding(torch.tensor(unit), max_count, config.periphery),
            config,
            row_unit=torch.full((module.weight[0].numel(),), unit, dtype=torch.float64),
            seed=network.layers[name].seed,  # the same devices as the ANN's mapping
        )
        network.network.set_submodule(name, layer)
        network.layers[name] = layer
    return network


def replay_quantised(
    quantised: fx.GraphModule,
    data: Any,
    config: HardwareConfig,
    *,
    max_samples: int | None = None,
    progress: bool = False,
) -> ReplayReport:
    """``replay`` for a quantised ANN (one pass): accuracy and modelled energy per inference."""
    widths = sorted(
        {m.bits for m in quantised.modules() if isinstance(m, ActivationQuantiser) and m.bits}
    )
    network = quantised_crossbar_network(quantised, config)
    device = module_device(quantised)
    correct = samples = 0
    for inputs, labels in tqdm(
        labelled_batches(data, max_samples=max_samples),
        disable=not progress,
        leave=False,
        desc=f"replay quantised ANN on {config.name}",
    ):
        outputs = network.run(inputs.to(device, torch.float32), 1)
        correct += int((outputs.argmax(dim=1).cpu() == labels.cpu()).sum())
        samples += len(labels)
    layers = []
    for name, layer in network.layers.items():
        events = layer.events().scaled(1.0 / samples)
        layers.append(
            LayerEnergy(
                name, layer_energy_j(events, layer.geometry, config), events, layer.geometry
            )
        )
    breakdown: dict[str, float] = {}
    for layer_energy in layers:
        for component, joules in layer_energy.energy_j.items():
            breakdown[component] = breakdown.get(component, 0.0) + joules
    return ReplayReport(
        model_kind="ann",
        hardware=config.name,
        accounting=config.accounting,
        timesteps=1,
        samples=samples,
        accuracy=correct / samples,
        energy_per_inference_j=sum(breakdown.values()),
        breakdown=breakdown,
        layers=tuple(layers),
        mapping=mapping_report(network, config),
        notes=(
            "energies are modelled (crossbar energy model), not measured",
            f"quantised ANN: {'/'.join(map(str, widths))}-bit activations, read as counts",
        ),
    )
