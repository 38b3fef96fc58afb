"""Accuracy of a ``SpikingModel`` for several time-step counts, beside the ANN's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from spiking.data import DataSource, iter_batches
from spiking.exceptions import InvalidInputError
from spiking.steps import SteppedModel, validate_timesteps

DEFAULT_TIMESTEPS = (8, 16, 32, 64)
"""Time-step counts evaluated when none are given."""


@dataclass(frozen=True)
class EvaluationResult:
    """Top-1 accuracy of the SNN for each T and of the ANN, on the same samples."""

    timesteps: tuple[int, ...]
    """The T values evaluated, ascending."""
    snn_accuracy: tuple[float, ...]
    """SNN accuracy (fraction in [0, 1]) for each entry of ``timesteps``."""
    ann_accuracy: float
    """ANN accuracy (fraction in [0, 1])."""
    samples: int
    """Number of labelled samples evaluated."""

    def accuracy_at(self, timesteps: int) -> float:
        """SNN accuracy at ``timesteps`` (which must have been evaluated)."""
        if timesteps not in self.timesteps:
            raise InvalidInputError(f"T = {timesteps} was not evaluated; evaluated: {list(self.timesteps)}.")
        return self.snn_accuracy[self.timesteps.index(timesteps)]

    def drop_points(self, timesteps: int) -> float:
        """ANN accuracy minus SNN accuracy at ``timesteps``, in percentage points."""
        return 100.0 * (self.ann_accuracy - self.accuracy_at(timesteps))

    def smallest_timesteps(self, max_drop_points: float = 1.0) -> int | None:
        """The smallest evaluated T whose SNN accuracy is within ``max_drop_points`` percentage
        points of the ANN's, or ``None`` if no evaluated T is."""
        if not (isinstance(max_drop_points, (int, float)) and max_drop_points >= 0):
            raise InvalidInputError(f"max_drop_points must be a number >= 0 (got {max_drop_points!r}).")
        return next((t for t in self.timesteps if self.drop_points(t) <= max_drop_points), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {
            "timesteps": list(self.timesteps),
            "snn_accuracy": list(self.snn_accuracy),
            "ann_accuracy": self.ann_accuracy,
            "samples": self.samples,
        }

    def to_table(self) -> str:
        """ANN vs SNN accuracy over T as a plain-text table."""
        lines = [f"{'model':<10}{'T':>6}{'accuracy':>11}{'drop (pt)':>11}"]
        lines.append(f"{'ANN':<10}{'-':>6}{100 * self.ann_accuracy:>10.2f}%{'':>11}")
        for t, accuracy in zip(self.timesteps, self.snn_accuracy):
            lines.append(f"{'SNN':<10}{t:>6}{100 * accuracy:>10.2f}%{self.drop_points(t):>11.2f}")
        lines.append(f"({self.samples} samples)")
        return "\n".join(lines)


def normalise_timesteps(timesteps: Sequence[int] | int | None, default: Sequence[int]) -> tuple[int, ...]:
    """Sorted distinct T values, each validated (>= 1); ``default`` when ``None``."""
    if timesteps is None:
        timesteps = default
    if isinstance(timesteps, int) and not isinstance(timesteps, bool):
        timesteps = (timesteps,)
    values = tuple(timesteps)
    if not values:
        raise InvalidInputError("timesteps is empty: give at least one T, e.g. timesteps=[8, 16, 32].")
    return tuple(sorted({validate_timesteps(t, "each entry of timesteps") for t in values}))


def evaluate(
    model: SteppedModel,
    data: DataSource,
    timesteps: Sequence[int] | int | None = None,
    *,
    progress: bool = True,
) -> EvaluationResult:
    """Accuracy of the SNN at every T in ``timesteps`` and of the ANN, over labelled ``data``.

    Each batch is run once for the largest T; the accuracy at a smaller T is read from the
    running sum of outputs after that many steps (identical to a separate run of T steps, since
    the state is reset before each batch and the input is constant).
    """
    wanted = normalise_timesteps(timesteps, DEFAULT_TIMESTEPS)
    correct = dict.fromkeys(wanted, 0)
    ann_correct = samples = 0
    batches = iter_batches(data, name="data", require_targets=True)
    for batch in tqdm(batches, desc="evaluating SNN", disable=not progress, leave=False):
        targets = batch.targets.to(model.device)  # type: ignore[union-attr]
        inputs = model.check_input(batch.inputs)  # on the device once, for the ANN and the SNN
        with torch.no_grad():
            ann_out = model.ann(inputs)
        ann_correct += int((ann_out.argmax(dim=1) == targets).sum().item())
        samples += len(targets)
        total: torch.Tensor | None = None
        for step, output in enumerate(model.iter_steps(inputs, wanted[-1]), start=1):
            total = output.clone() if total is None else total.add_(output)
            if step in correct:
                correct[step] += int((total.argmax(dim=1) == targets).sum().item())
    return EvaluationResult(
        timesteps=wanted,
        snn_accuracy=tuple(correct[t] / samples for t in wanted),
        ann_accuracy=ann_correct / samples,
        samples=samples,
    )
