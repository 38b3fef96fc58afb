"""Pre-conversion checks: find every part of a model that spikingjelly's ``ann2snn`` cannot convert.

spikingjelly 2.0.0 turns only ``nn.ReLU`` *modules* into integrate-and-fire neurons and stops at
the first module or function its step-mode adapter does not know, with a terse ``ValueError``.
This module traces the model once with ``torch.fx`` and reports every offending part at once, by
module path and type, with the fix.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import base
from spikingjelly.activation_based.ann2snn.recipes.step_mode_adapters import (
    _RATE_CODING_STATELESS_MODULE_TYPES,
)
from torch import fx, nn

from spiking.config import ConversionConfig
from spiking.exceptions import SpikePoolingWarning, UnsupportedModelError

_RELU_FIX = (
    "only nn.ReLU modules become spiking neurons: declare an nn.ReLU() in __init__ and call it "
    "in forward"
)
_ACTIVATION_FIX = (
    "no rate-coded spiking equivalent: replace it with nn.ReLU and fine-tune the model before "
    "converting"
)
_NORM_FIX = (
    "normalises each time step's scaled spikes, which does not carry over to rates: use "
    "BatchNorm after a convolution (folded into it) or remove it"
)
_SOFTMAX_FIX = (
    "remove it from the model: the class is the argmax of the averaged output, which a softmax "
    "does not change; apply softmax to SpikingModel.run's output if you need probabilities"
)

_MODULE_FIXES: dict[type[nn.Module], str] = {
    nn.ReLU6: "clipping at 6 does not carry over to spike rates: replace it with nn.ReLU and fine-tune",
    nn.LeakyReLU: _ACTIVATION_FIX,
    nn.PReLU: _ACTIVATION_FIX,
    nn.ELU: _ACTIVATION_FIX,
    nn.SELU: _ACTIVATION_FIX,
    nn.GELU: _ACTIVATION_FIX,
    nn.SiLU: _ACTIVATION_FIX,
    nn.Mish: _ACTIVATION_FIX,
    nn.Hardswish: _ACTIVATION_FIX,
    nn.Hardtanh: _ACTIVATION_FIX,
    nn.Sigmoid: _ACTIVATION_FIX,
    nn.Tanh: _ACTIVATION_FIX,
    nn.Softplus: _ACTIVATION_FIX,
    nn.LayerNorm: _NORM_FIX,
    nn.InstanceNorm1d: _NORM_FIX,
    nn.InstanceNorm2d: _NORM_FIX,
    nn.LocalResponseNorm: _NORM_FIX,
    nn.Softmax: _SOFTMAX_FIX,
    nn.LogSoftmax: _SOFTMAX_FIX,
}

_FUNCTION_FIXES: dict[Any, str] = {
    F.relu: _RELU_FIX,
    F.relu_: _RELU_FIX,
    torch.relu: _RELU_FIX,
    torch.relu_: _RELU_FIX,
    F.relu6: _MODULE_FIXES[nn.ReLU6],
    F.leaky_relu: _ACTIVATION_FIX,
    F.elu: _ACTIVATION_FIX,
    F.gelu: _ACTIVATION_FIX,
    F.silu: _ACTIVATION_FIX,
    F.mish: _ACTIVATION_FIX,
    F.hardswish: _ACTIVATION_FIX,
    F.hardtanh: _ACTIVATION_FIX,
    F.softplus: _ACTIVATION_FIX,
    torch.sigmoid: _ACTIVATION_FIX,
    F.sigmoid: _ACTIVATION_FIX,
    torch.tanh: _ACTIVATION_FIX,
    F.tanh: _ACTIVATION_FIX,
    F.layer_norm: _NORM_FIX,
    F.softmax: _SOFTMAX_FIX,
    F.log_softmax: _SOFTMAX_FIX,
    torch.softmax: _SOFTMAX_FIX,
}

_METHOD_FIXES: dict[str, str] = {
    "relu": _RELU_FIX,
    "relu_": _RELU_FIX,
    "sigmoid": _ACTIVATION_FIX,
    "tanh": _ACTIVATION_FIX,
    "softmax": _SOFTMAX_FIX,
    "log_softmax": _SOFTMAX_FIX,
}

_CONVERTIBLE_MODULES: tuple[type[nn.Module], ...] = (
    *_RATE_CODING_STATELESS_MODULE_TYPES,  # what spikingjelly 2.0.0 wraps for step mode
    nn.Identity,
    base.StepModule,
    base.MemoryModule,
)
_TRANSPARENT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class UnsupportedPart:
    """One part of a model that cannot be converted."""

    path: str
    """Module path (``features.3``) or, for a function call, the module whose forward calls it."""
    kind: str
    """The module type (``ReLU6``) or the function (``torch.nn.functional.relu``)."""
    fix: str
    """What to change."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}): {self.fix}"


def trace(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` with ``torch.fx``; raise ``UnsupportedModelError`` if it cannot be traced."""
    tracer = fx.Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # torch.fx raises TraceError, TypeError, RuntimeError, ...
        raise UnsupportedModelError(
            f"{type(model).__name__} cannot be traced by torch.fx ({type(err).__name__}: {err}). "
            "spikingjelly's converter needs a forward without control flow that depends on tensor "
            "values; move such logic out of forward."
        ) from err
    return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__)


def _caller_path(node: fx.Node, root: nn.Module) -> str:
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, module_type = list(stack.values())[-1]
        return f"{path or '<root>'} ({getattr(module_type, '__name__', module_type)}.forward)"
    return f"<root> ({type(root).__name__}.forward)"


def _function_name(target: Any) -> str:
    module = getattr(target, "__module__", None) or "torch"
    return f"{module}.{getattr(target, '__name__', repr(target))}"


def _module_problem(module: nn.Module) -> str | None:
    if type(module) is nn.ReLU:
        return None
    for module_type, fix in _MODULE_FIXES.items():
        if isinstance(module, module_type):
            return fix
    if isinstance(module, _CONVERTIBLE_MODULES):
        return None
    return (
        "spikingjelly 2.0 ann2snn cannot run this module type in single-step spiking mode: "
        "replace it with supported layers (Conv, Linear, pooling, BatchNorm, Flatten, Dropout, nn.ReLU)"
    )


def find_unsupported_parts(graph_module: fx.GraphModule) -> list[UnsupportedPart]:
    """Every module or function call in a traced model that conversion cannot handle."""
    modules = dict(graph_module.named_modules())
    parts: list[UnsupportedPart] = []
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            module = modules[node.target]
            fix = _module_problem(module)
            if fix is not None:
                parts.append(UnsupportedPart(str(node.target), type(module).__name__, fix))
        elif node.op == "call_function" and node.target in _FUNCTION_FIXES:
            parts.append(
                UnsupportedPart(
                    _caller_path(node, graph_module), _function_name(node.target), _FUNCTION_FIXES[node.target]
                )
            )
        elif node.op == "call_method" and node.target in _METHOD_FIXES:
            parts.append(
                UnsupportedPart(
                    _caller_path(node, graph_module), f"Tensor.{node.target}()", _METHOD_FIXES[node.target]
                )
            )
    return parts


def _producer(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node | None:
    """The node feeding ``node``, looking through dropout and identity modules."""
    source = node.args[0] if node.args else None
    while (
        isinstance(source, fx.Node)
        and source.op == "call_module"
        and isinstance(modules[str(source.target)], _TRANSPARENT_MODULES)
    ):
        source = source.args[0] if source.args else None
    return source if isinstance(source, fx.Node) else None


def _pools_before_spikes(pool: nn.Module, relu_node: fx.Node, config: ConversionConfig) -> bool:
    """Whether spikingjelly will move this max pooling in front of the spiking neuron."""
    if not isinstance(pool, nn.MaxPool2d) or len(relu_node.users) != 1:
        return False
    return config.method == "ltb" or (config.channel_wise and config.pre_spike_maxpool)


def find_spike_max_pools(graph_module: fx.GraphModule, config: ConversionConfig) -> list[str]:
    """Paths of max-pooling modules that will pool spikes (they follow a ReLU) after conversion."""
    modules = dict(graph_module.named_modules())
    paths = []
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _MAX_POOLS):
            continue
        producer = _producer(node, modules)
        if (
            producer is not None
            and _is_relu_module(producer, modules)
            and not _pools_before_spikes(modules[node.target], producer, config)
        ):
            paths.append(f"{node.target} ({type(modules[node.target]).__name__})")
    return paths


def _is_relu_module(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    return node.op == "call_module" and type(modules[str(node.target)]) is nn.ReLU


def check_convertible(model: nn.Module, config: ConversionConfig) -> fx.GraphModule:
    """Raise ``UnsupportedModelError`` listing every unsupported part of ``model``; warn
    (``SpikePoolingWarning``) about max pooling of spikes. Returns the traced model."""
    graph_module = trace(model)
    parts = find_unsupported_parts(graph_module)
    modules = dict(graph_module.named_modules())
    if not parts and not any(_is_relu_module(node, modules) for node in graph_module.graph.nodes):
        parts.append(
            UnsupportedPart(
                "<root>",
                type(model).__name__,
                "the model has no nn.ReLU module, so there is nothing to turn into spiking neurons",
            )
        )
    if parts:
        listing = "\n".join(f"  - {part}" for part in parts)
        raise UnsupportedModelError(
            f"{type(model).__name__} cannot be converted to a spiking network; "
            f"{len(parts)} unsupported part(s):\n{listing}",
        )
    pools = find_spike_max_pools(graph_module, config)
    if pools:
        warnings.warn(
            "max pooling after a ReLU pools spikes, not rates, after conversion (accuracy drops): "
            + ", ".join(pools)
            + ". Use nn.AvgPool2d instead, or convert with method='ltb', or with "
            "channel_wise=True, pre_spike_maxpool=True (MaxPool2d only).",
            SpikePoolingWarning,
            stacklevel=3,
        )
    return graph_module


__all__ = [
    "UnsupportedPart",
    "check_convertible",
    "find_spike_max_pools",
    "find_unsupported_parts",
    "trace",
]
