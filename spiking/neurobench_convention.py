"""Operation counts in NeuroBench's convention, for comparison with papers that report them.

NeuroBench (``neurobench`` on PyPI; ``SynapticOperations`` and ``ActivationSparsity`` metrics)
hooks the *input* of every Conv/Linear at every call (every time step) and counts:

* effective operations: connections whose input element and weight are both non-zero, that is
  sum over input elements of [x != 0] x (non-zero weights the element reaches);
* as ACs when every input value of the call is -1, 0 or 1 (binary spikes), as MACs otherwise;
* dense operations: every connection, batch x connections per call;
* activation sparsity: zero outputs / all outputs of the activation layers (here the spiking
  neurons) over all calls.

This package's own convention (``spiking.counting``) counts events at the neurons instead: a
spike that reaches an average pool is one event per spike (NeuroBench: one operation per
non-zero pooled value, after the voltage scalers that make it non-binary) and an analog first
layer performs all its MACs (NeuroBench skips zero pixels). ``NeuroBenchCounter`` reproduces
NeuroBench's counts on the same network with the same hooks; a test compares it with the real
package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Self

import torch
from spikingjelly.activation_based import neuron
from torch import nn
from torch.utils.hooks import RemovableHandle

from spiking.counting import SYNAPTIC_TYPES, FanoutCache

NEUROBENCH_SOURCE = (
    "NeuroBench 2.3 (neurobench on PyPI), workload metrics SynapticOperations and ActivationSparsity; "
    "J. Yik et al., 'The NeuroBench framework for benchmarking neuromorphic computing algorithms and "
    "systems', Nature Communications 16, 1545 (2025)"
)
"""The harness whose counting convention this module follows."""


@dataclass(frozen=True)
class NeuroBenchLayerCounts:
    """One Conv/Linear layer, counted at its input on every call, per sample over T steps."""

    name: str
    """Module path."""
    kind: str
    """Conv1d, Conv2d, Conv3d or Linear."""
    effective_macs: float
    """Effective operations on calls whose input was not binary."""
    effective_acs: float
    """Effective operations on calls whose input was binary (-1, 0, 1)."""
    dense: float
    """Every connection on every call."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


@dataclass(frozen=True)
class NeuroBenchActivationCounts:
    """One spiking-neuron layer: how many of its outputs were zero, over all steps and samples."""

    name: str
    """Module path of the neuron."""
    outputs_per_sample: float
    """Outputs per sample over T steps (neurons x T)."""
    nonzero_per_sample: float
    """Non-zero outputs (spikes) per sample over T steps."""

    @property
    def sparsity(self) -> float:
        """Zero outputs / all outputs."""
        return 1.0 - self.nonzero_per_sample / self.outputs_per_sample if self.outputs_per_sample else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view, with the sparsity."""
        return {**asdict(self), "sparsity": self.sparsity}


@dataclass(frozen=True)
class NeuroBenchStatistics:
    """A run of the SNN counted as NeuroBench counts it (see the module docstring)."""

    timesteps: int
    """T of the run."""
    samples: int
    """Number of samples run."""
    layers: tuple[NeuroBenchLayerCounts, ...]
    """Conv/Linear layers, in module order."""
    activations: tuple[NeuroBenchActivationCounts, ...]
    """Spiking-neuron layers, in module order."""
    accuracy: float | None = None
    """Top-1 accuracy of the SNN on this run, when the data is labelled."""

    @property
    def effective_macs(self) -> float:
        """NeuroBench's ``Effective_MACs`` per sample."""
        return sum(layer.effective_macs for layer in self.layers)

    @property
    def effective_acs(self) -> float:
        """NeuroBench's ``Effective_ACs`` per sample."""
        return sum(layer.effective_acs for layer in self.layers)

    @property
    def dense(self) -> float:
        """NeuroBench's ``Dense`` per sample."""
        return sum(layer.dense for layer in self.layers)

    @property
    def activation_sparsity(self) -> float:
        """NeuroBench's ``ActivationSparsity``: zero outputs / all outputs of every neuron layer."""
        outputs = sum(layer.outputs_per_sample for layer in self.activations)
        nonzero = sum(layer.nonzero_per_sample for layer in self.activations)
        return 1.0 - nonzero / outputs if outputs else 0.0

    def to_neurobench(self) -> dict[str, Any]:
        """The figures keyed as ``neurobench.benchmarks.Benchmark.run`` returns them."""
        return {
            "SynapticOperations": {
                "Effective_MACs": self.effective_macs,
                "Effective_ACs": self.effective_acs,
                "Dense": self.dense,
            },
            "ActivationSparsity": self.activation_sparsity,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view, with the totals."""
        return {
            "timesteps": self.timesteps,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "layers": [layer.to_dict() for layer in self.layers],
            "activations": [layer.to_dict() for layer in self.activations],
            **self.to_neurobench(),
        }

    def to_table(self) -> str:
        """Plain-text table of the layers, per sample over T steps."""
        lines = [
            f"NeuroBench convention: T = {self.timesteps}, {self.samples} samples (operations per sample)",
            f"{'layer':<24}{'eff. MACs':>14}{'eff. ACs':>14}{'dense':>14}",
        ]
        for layer in self.layers:
            lines.append(
                f"{layer.name + ' (' + layer.kind + ')':<24}{layer.effective_macs:>14,.0f}"
                f"{layer.effective_acs:>14,.0f}{layer.dense:>14,.0f}"
            )
        lines.append(f"{'total':<24}{self.effective_macs:>14,.0f}{self.effective_acs:>14,.0f}{self.dense:>14,.0f}")
        lines.append(f"activation sparsity {self.activation_sparsity:.4f}")
        return "\n".join(lines)


class _ConnectionHook:
    """Sums, per input element, the non-zero inputs of one layer's calls (binary and non-binary
    calls apart) and the dense operations."""

    def __init__(self, layer: nn.Module) -> None:
        self.fanout = FanoutCache(layer, skip_zero_weights=True)
        self.connections = FanoutCache(layer)
        self.nonzero: dict[bool, torch.Tensor] = {}  # keyed by "the call's input was binary"
        self.probe: torch.Tensor | None = None
        self.dense = 0

    def __call__(self, _layer: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0]
        binary = bool(((x == 0) | (x == 1) | (x == -1)).all())
        counts = (x != 0).sum(0, dtype=torch.float64).reshape(-1)
        self.nonzero[binary] = counts if binary not in self.nonzero else self.nonzero[binary].add_(counts)
        self.probe = x[:1]
        self.dense += len(x) * self.connections.get(x)[1]

    def effective(self, binary: bool) -> float:
        if binary not in self.nonzero or self.probe is None:
            return 0.0
        fanout, _ = self.fanout.get(self.probe)
        return float((self.nonzero[binary] * fanout.to(torch.float64)).sum().item())


class _ActivationHook:
    """Counts the outputs and the non-zero outputs of one neuron layer."""

    def __init__(self) -> None:
        self.outputs = 0
        self.nonzero = 0

    def __call__(self, _layer: nn.Module, _args: tuple[Any, ...], output: torch.Tensor) -> None:
        self.outputs += output.numel()
        self.nonzero += int(torch.count_nonzero(output).item())


class NeuroBenchCounter:
    """While entered, counts every call of ``network``'s Conv/Linear layers and spiking neurons
    as NeuroBench does (forward hooks; the same modules run in any copy that shares them)."""

    def __init__(self, network: nn.Module) -> None:
        modules = list(network.named_modules())
        self._layers = [(name, module) for name, module in modules if isinstance(module, SYNAPTIC_TYPES)]
        self._neurons = [(name, module) for name, module in modules if isinstance(module, neuron.BaseNode)]
        self._connection_hooks = {name: _ConnectionHook(module) for name, module in self._layers}
        self._activation_hooks = {name: _ActivationHook() for name, _ in self._neurons}
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> Self:
        self._handles = [module.register_forward_pre_hook(self._connection_hooks[name]) for name, module in self._layers]
        self._handles += [module.register_forward_hook(self._activation_hooks[name]) for name, module in self._neurons]
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def result(self, timesteps: int, samples: int, accuracy: float | None) -> NeuroBenchStatistics:
        """The counts so far, per sample."""
        layers = tuple(
            NeuroBenchLayerCounts(
                name=name,
                kind=next(kind.__name__ for kind in SYNAPTIC_TYPES if isinstance(module, kind)),
                effective_macs=self._connection_hooks[name].effective(binary=False) / samples,
                effective_acs=self._connection_hooks[name].effective(binary=True) / samples,
                dense=self._connection_hooks[name].dense / samples,
            )
            for name, module in self._layers
        )
        activations = tuple(
            NeuroBenchActivationCounts(
                name=name,
                outputs_per_sample=self._activation_hooks[name].outputs / samples,
                nonzero_per_sample=self._activation_hooks[name].nonzero / samples,
            )
            for name, _ in self._neurons
        )
        return NeuroBenchStatistics(timesteps, samples, layers, activations, accuracy)
