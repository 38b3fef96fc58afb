"""``SpikingModel``: a converted network, the ANN it came from, and how to run it for T steps.

Imports go one way: this module uses ``evaluation``, ``statistics`` and ``persistence``, which
know a model only as a ``spiking.steps.SteppedModel`` and never import this module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from os import PathLike
from typing import Literal, overload

import torch
from spikingjelly.activation_based import functional
from torch import fx, nn

from spiking.config import ConversionConfig
from spiking.counting import InstrumentedNetwork, instrument
from spiking.data import DataSource
from spiking.evaluation import EvaluationResult, evaluate
from spiking.exceptions import InvalidInputError
from spiking.neurobench_convention import NeuroBenchStatistics
from spiking.persistence import read_model_file, write_model_file
from spiking.statistics import (
    Convention,
    SpikeStatistics,
    check_convention,
    collect_neurobench_statistics,
    collect_statistics,
)
from spiking.steps import mean_over_steps, module_device, validate_timesteps


class SpikingModel:
    """A spiking network converted by spikingjelly's ``ann2snn``, beside the ANN it came from.

    Attributes:
        ann: a deep copy of the original model, in eval mode (never the caller's object).
        snn: the converted ``torch.fx.GraphModule`` in single-step mode (IF neurons between
            voltage scalers); it keeps membrane state between calls, so ``run`` resets it.
        timesteps: the default number of time steps T used by ``run``, ``evaluate`` and
            ``statistics``.
        input_shape: the shape of one sample (without the batch dimension) seen at conversion.
        config: the conversion settings, kept for ``save`` and reports.
    """

    def __init__(
        self,
        ann: nn.Module,
        snn: fx.GraphModule,
        timesteps: int,
        input_shape: Sequence[int],
        config: ConversionConfig,
    ) -> None:
        self.ann = ann.eval()
        self.snn = snn.eval()
        self.timesteps = validate_timesteps(timesteps)
        self.input_shape: tuple[int, ...] = tuple(int(size) for size in input_shape)
        self.config = config
        self._counting_network: InstrumentedNetwork | None = None

    # ----------------------------------------------------------------------------- running
    @property
    def device(self) -> torch.device:
        """The device holding the SNN's parameters (CPU for a parameterless network)."""
        return module_device(self.snn)

    @property
    def counting_network(self) -> InstrumentedNetwork:
        """The SNN with spike and synapse taps, used by ``statistics`` (built on first use; it
        shares modules and neuron state with ``snn``)."""
        if self._counting_network is None:
            self._counting_network = instrument(self.snn)
        return self._counting_network

    def to(self, device: torch.device | str) -> "SpikingModel":
        """Move the ANN and the SNN to ``device``; returns ``self``."""
        self.ann.to(device)
        self.snn.to(device)
        return self

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` on the model's device, or raise ``InvalidInputError`` for a wrong shape."""
        if not isinstance(x, torch.Tensor):
            raise InvalidInputError(f"expected a torch.Tensor batch, got {type(x).__name__}.")
        expected = "[B, " + ", ".join(str(size) for size in self.input_shape) + "]"
        if tuple(x.shape) == self.input_shape:
            raise InvalidInputError(
                f"got one unbatched sample of shape {list(x.shape)}; the model expects {expected}: "
                "add a batch dimension with x.unsqueeze(0)."
            )
        if x.dim() != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise InvalidInputError(
                f"input of shape {list(x.shape)} does not match the shape seen at conversion, "
                f"{expected}."
            )
        if x.shape[0] == 0:
            raise InvalidInputError("got an empty batch (batch size 0).")
        if not torch.is_floating_point(x):
            x = x.float()
        return x.to(self.device)

    def iter_steps(
        self, x: torch.Tensor, timesteps: int | None = None, network: nn.Module | None = None
    ) -> Iterator[torch.Tensor]:
        """Yield the output of each of T steps for one batch (state reset before the first).

        ``network`` defaults to ``snn``; the statistics code passes its instrumented copy.
        """
        steps = self.timesteps if timesteps is None else validate_timesteps(timesteps)
        x = self.check_input(x)
        network = self.snn if network is None else network
        with torch.no_grad():
            functional.reset_net(network)
            try:
                for _ in range(steps):
                    yield network(x)
            finally:
                functional.reset_net(network)

    def run(
        self, x: torch.Tensor, timesteps: int | None = None, per_step: bool = False
    ) -> torch.Tensor:
        """Run one batch for T steps on constant input (state reset first).

        Returns the output averaged over the T steps, ``[B, ...]``, or with ``per_step=True``
        every step's output stacked, ``[T, B, ...]``.
        """
        outputs = self.iter_steps(x, timesteps)
        if per_step:
            return torch.stack(list(outputs))
        return mean_over_steps(outputs)  # validate_timesteps guarantees at least one step

    __call__ = run

    # ------------------------------------------------------------------ evaluation & stats
    def evaluate(
        self,
        data: DataSource,
        timesteps: Sequence[int] | None = None,
        *,
        progress: bool = True,
    ) -> EvaluationResult:
        """Top-1 accuracy of the SNN for each T in ``timesteps``, beside the ANN's, over ``data``."""
        return evaluate(self, data, timesteps=timesteps, progress=progress)

    @overload
    def statistics(
        self, data: DataSource, timesteps: int | None = None, *, progress: bool = False,
        convention: Literal["events", "both"] = "events",
    ) -> SpikeStatistics: ...

    @overload
    def statistics(
        self, data: DataSource, timesteps: int | None = None, *, progress: bool = False,
        convention: Literal["neurobench"],
    ) -> NeuroBenchStatistics: ...

    def statistics(
        self, data: DataSource, timesteps: int | None = None, *, progress: bool = False,
        convention: Convention = "events",
    ) -> SpikeStatistics | NeuroBenchStatistics:
        """Per-layer firing rates, spikes, synaptic operations and MACs from a run over ``data``.

        ``convention="events"`` counts at the spiking neurons (``SpikeStatistics``);
        ``"neurobench"`` counts at each layer's input as NeuroBench does (``NeuroBenchStatistics``);
        ``"both"`` gives ``SpikeStatistics`` whose ``neurobench`` holds the second, from one run.
        """
        if check_convention(convention) == "neurobench":
            return collect_neurobench_statistics(self, data, timesteps=timesteps, progress=progress)
        return collect_statistics(self, data, timesteps=timesteps, progress=progress, neurobench=convention == "both")

    # -------------------------------------------------------------------------- persistence
    def save(self, path: str | PathLike[str]) -> None:
        """Write the model (ANN, SNN, T, input shape, settings) to ``path`` atomically."""
        write_model_file(
            path,
            ann=self.ann,
            snn=self.snn,
            timesteps=self.timesteps,
            input_shape=self.input_shape,
            config=self.config,
        )

    def copy(self) -> "SpikingModel":
        """A deep copy (independent state and parameters)."""
        return SpikingModel(
            copy.deepcopy(self.ann),
            copy.deepcopy(self.snn),
            self.timesteps,
            self.input_shape,
            self.config,
        )

    def __repr__(self) -> str:
        return (
            f"SpikingModel(method={self.config.method!r}, mode={self.config.mode!r}, "
            f"timesteps={self.timesteps}, input_shape={list(self.input_shape)})"
        )


def load(
    path: str | PathLike[str], map_location: str | torch.device | None = None, *, trusted: bool = False
) -> SpikingModel:
    """Read a model written by ``SpikingModel.save``; ``map_location`` as in ``torch.load``.

    The file is read without running code from it (``spiking.persistence``); a malformed or crafted
    file raises ``ModelFileError`` naming it and what is wrong. ``trusted=True`` unpickles without
    restriction (needed for files of earlier releases): only for files whose origin you trust.
    """
    return SpikingModel(**read_model_file(path, map_location, trusted=trusted))
