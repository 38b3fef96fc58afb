"""Turn what users pass as data (a DataLoader, tensors, (x, y) batches) into checked batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch.utils.data import DataLoader, Dataset

from spiking.exceptions import CalibrationDataError

DataSource = Union[DataLoader, Dataset, torch.Tensor, tuple, list, Iterable[Any]]
"""Accepted data: a DataLoader or any iterable of batches (a batch is a tensor of inputs or an
``(x, y, ...)`` tuple/list or a dict with an ``x``/``input``/``image`` key), a Dataset, a tensor of
inputs, or one ``(x, y)`` pair of tensors."""

_INPUT_KEYS = ("x", "input", "inputs", "image", "images", "data", "pixel_values")
_TARGET_KEYS = ("y", "target", "targets", "label", "labels")


@dataclass(frozen=True)
class Batch:
    """One batch: inputs ``[B, ...]`` and, when the data is labelled, class indices ``[B]``."""

    inputs: torch.Tensor
    targets: torch.Tensor | None

    def to_dict(self) -> dict[str, Any]:
        """Shapes of the batch (the tensors themselves are not serialised)."""
        return {
            "inputs_shape": list(self.inputs.shape),
            "targets_shape": None if self.targets is None else list(self.targets.shape),
        }


def _is_labelled_pair(data: object) -> bool:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return False
    x, y = data
    return (
        isinstance(x, torch.Tensor)
        and isinstance(y, torch.Tensor)
        and x.dim() >= 1
        and y.dim() == 1
        and not torch.is_floating_point(y)
        and len(x) == len(y)
    )


def _to_batch(item: object, name: str, index: int) -> Batch:
    if isinstance(item, Batch):
        return item
    if isinstance(item, torch.Tensor):
        return Batch(item, None)
    if isinstance(item, dict):
        inputs = next((item[key] for key in _INPUT_KEYS if key in item), None)
        targets = next((item[key] for key in _TARGET_KEYS if key in item), None)
    elif isinstance(item, (tuple, list)) and item:
        inputs = item[0]
        targets = item[1] if len(item) > 1 else None
    else:
        inputs, targets = item, None
    if not isinstance(inputs, torch.Tensor):
        raise CalibrationDataError(
            f"{name}: batch {index} holds inputs of type {type(inputs).__name__}; expected a "
            "torch.Tensor, an (x, y) tuple of tensors, or a dict with an 'x'/'input'/'image' key."
        )
    if targets is not None and not isinstance(targets, torch.Tensor):
        targets = torch.as_tensor(targets)
    return Batch(inputs, targets)


def _split(batch: Batch, batch_size: int) -> list[Batch]:
    """``batch`` cut into batches of ``batch_size`` (views, not copies)."""
    return [
        Batch(
            batch.inputs[start : start + batch_size],
            None if batch.targets is None else batch.targets[start : start + batch_size],
        )
        for start in range(0, len(batch.inputs), batch_size)
    ]


def _raw_items(data: DataSource, batch_size: int, name: str) -> Iterable[Any]:
    if isinstance(data, torch.Tensor):
        return _split(Batch(data, None), batch_size)
    if _is_labelled_pair(data):
        return _split(Batch(data[0], data[1]), batch_size)
    if isinstance(data, Dataset) and not isinstance(data, Iterable):
        return DataLoader(data, batch_size=batch_size)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return data
    raise CalibrationDataError(
        f"{name} of type {type(data).__name__} is not usable: cannot read batches from it; pass a "
        "DataLoader, a Dataset, a tensor of inputs, an (x, y) pair of tensors or a list of batches."
    )


def count_batches(data: DataSource, *, name: str, batch_size: int = 256) -> int | None:
    """How many batches ``iter_batches`` reads from ``data`` with this ``batch_size``, where the
    source has a length (``None`` otherwise); raises ``CalibrationDataError`` as it would."""
    try:
        return len(_raw_items(data, batch_size, name))  # type: ignore[arg-type]
    except TypeError:
        return None


def iter_batches(
    data: DataSource, *, name: str, batch_size: int = 256, require_targets: bool = False
) -> Iterator[Batch]:
    """Yield checked batches from ``data``; raise ``CalibrationDataError`` naming ``name`` when
    ``data`` is empty, a batch is malformed, or targets are required and missing.

    Tensors and ``(x, y)`` pairs are split into batches of ``batch_size``; DataLoaders keep theirs.
    """
    count = 0
    for index, item in enumerate(_raw_items(data, batch_size, name)):
        batch = _to_batch(item, name, index)
        if batch.inputs.dim() == 0 or len(batch.inputs) == 0:
            raise CalibrationDataError(f"{name}: batch {index} is empty (shape {list(batch.inputs.shape)}).")
        if require_targets:
            if batch.targets is None:
                raise CalibrationDataError(
                    f"{name}: batch {index} has no labels; accuracy needs (x, y) batches "
                    "(a DataLoader over a labelled dataset, or an (x, y) pair of tensors)."
                )
            if batch.targets.shape[:1] != batch.inputs.shape[:1]:
                raise CalibrationDataError(
                    f"{name}: batch {index} has {len(batch.inputs)} inputs but labels of shape "
                    f"{list(batch.targets.shape)}."
                )
        count += 1
        yield batch
    if count == 0:
        raise CalibrationDataError(
            f"{name} is empty: it yielded no batches. Pass at least one batch of inputs."
        )


def split_inputs(inputs: torch.Tensor, max_batch: int) -> list[torch.Tensor]:
    """Split ``inputs`` along the batch dimension into pieces of at most ``max_batch`` samples."""
    return list(torch.split(inputs, max(1, max_batch)))
