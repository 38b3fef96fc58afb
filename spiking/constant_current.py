"""Constant input current: the analog first layer computed once per input, its output injected
at every step.

A converted network sees the same input at each of its T steps, so every layer between the input
and the first spiking neuron computes the same output T times. Holding that output after the
first step changes no output (a test checks the outputs are identical) and turns the analog
layer's T x MACs into 1 x MACs. ``convert(..., constant_current=True)`` applies it: each such
Conv/Linear becomes its ``Held*`` counterpart below, the same module (same path, parameters and
``isinstance``) whose ``forward`` returns the held output while it is given the same, unmodified
input tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from spikingjelly.activation_based import layer, neuron
from torch import fx, nn

from spiking.exceptions import ConversionError


class ConstantCurrent:
    """Mixin for a Conv/Linear of a spiking network: compute once per input, then repeat.

    The held output is reused while ``forward`` receives the same tensor object with the same
    version counter (any in-place change of the input recomputes), so no reset is needed and a
    new batch is never served a stale current. The held tensors are not saved or copied.
    """

    holds_constant_current = True
    """Read by the counters: this layer's MACs are counted once per input, not once per step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        held: tuple[torch.Tensor, int, torch.Tensor] | None = self.__dict__.get("_held")
        if held is None or held[0] is not x or held[1] != x._version:
            held = (x, x._version, super().forward(x))  # type: ignore[misc]
            self.__dict__["_held"] = held
        return held[2]

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())  # type: ignore[misc, call-overload]
        state.pop("_held", None)
        return state


class HeldConv1d(ConstantCurrent, layer.Conv1d):
    """spikingjelly's ``Conv1d`` holding its output as a constant current."""


class HeldConv2d(ConstantCurrent, layer.Conv2d):
    """spikingjelly's ``Conv2d`` holding its output as a constant current."""


class HeldConv3d(ConstantCurrent, layer.Conv3d):
    """spikingjelly's ``Conv3d`` holding its output as a constant current."""


class HeldLinear(ConstantCurrent, layer.Linear):
    """spikingjelly's ``Linear`` holding its output as a constant current."""


HELD_TYPES: dict[type[nn.Module], type[nn.Module]] = {
    layer.Conv1d: HeldConv1d,
    layer.Conv2d: HeldConv2d,
    layer.Conv3d: HeldConv3d,
    layer.Linear: HeldLinear,
}
"""The layer types ``ann2snn`` produces for Conv/Linear, and the types that hold their output."""

_SYNAPTIC = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def holds_constant_current(module: nn.Module | None) -> bool:
    """Whether ``module`` computes its output once per input (see ``ConstantCurrent``)."""
    return isinstance(module, ConstantCurrent)


def hold_analog_layers(snn: fx.GraphModule) -> tuple[str, ...]:
    """Make every Conv/Linear of ``snn`` that no spiking neuron feeds (directly or through other
    operations) hold its output; returns their module paths, in graph order."""
    modules = dict(snn.named_modules())
    after_neuron: set[fx.Node] = set()
    held: list[str] = []
    for node in snn.graph.nodes:
        module = modules.get(str(node.target)) if node.op == "call_module" else None
        if isinstance(module, neuron.BaseNode) or any(arg in after_neuron for arg in node.all_input_nodes):
            after_neuron.add(node)
        elif isinstance(module, _SYNAPTIC) and not holds_constant_current(module):
            held_type = HELD_TYPES.get(type(module))
            if held_type is None:
                raise ConversionError(
                    f"constant_current=True cannot hold layer '{node.target}' ({type(module).__name__}): "
                    f"only {', '.join(kind.__name__ for kind in HELD_TYPES)} from spikingjelly's converter can."
                )
            module.__class__ = held_type  # type: ignore[assignment]  # same attributes and parameters, another forward
            held.append(str(node.target))
    return tuple(held)
