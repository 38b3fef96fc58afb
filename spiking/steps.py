"""Running a network for T steps: the helpers that ``model``, ``evaluation``, ``statistics`` and
``neuromorphic_sim`` share, and what evaluation and statistics need of a model.

This module sits below ``spiking.model``: ``evaluation`` and ``statistics`` take any
``SteppedModel`` (``SpikingModel`` is one), so none of them imports ``spiking.model``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import torch
from torch import nn

from spiking.counting import InstrumentedNetwork
from spiking.exceptions import InvalidInputError


def validate_timesteps(timesteps: object, name: str = "timesteps") -> int:
    """Return ``timesteps`` as an int >= 1, or raise ``InvalidInputError`` naming ``name``."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int):
        raise InvalidInputError(f"{name} must be an int >= 1 (got {timesteps!r}).")
    if timesteps < 1:
        raise InvalidInputError(
            f"{name} must be >= 1 (got {timesteps}): a spiking network needs at least one time step."
        )
    return timesteps


def module_device(module: nn.Module) -> torch.device:
    """The device holding ``module``'s parameters (CPU for a parameterless module)."""
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def mean_over_steps(outputs: Iterable[torch.Tensor]) -> torch.Tensor:
    """The average of the per-step ``outputs`` of one batch (at least one step)."""
    total: torch.Tensor | None = None
    count = 0
    for output in outputs:
        total = output.clone() if total is None else total.add_(output)
        count += 1
    if total is None:
        raise InvalidInputError("no time step was run: timesteps must be >= 1.")
    return total / count


class SteppedModel(Protocol):
    """What ``evaluate`` and ``collect_statistics`` use of a model; ``SpikingModel`` provides it."""

    ann: nn.Module
    timesteps: int
    input_shape: tuple[int, ...]

    @property
    def snn(self) -> nn.Module: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def counting_network(self) -> InstrumentedNetwork: ...

    def check_input(self, x: torch.Tensor) -> torch.Tensor: ...

    def iter_steps(
        self, x: torch.Tensor, timesteps: int | None = None, network: nn.Module | None = None
    ) -> Iterator[torch.Tensor]: ...
