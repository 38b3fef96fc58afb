"""Accept the usual shapes of evaluation data and yield labelled batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from neuromorphic_sim.exceptions import ReplayInputError

DEFAULT_BATCH_SIZE = 128
"""Batch size used when ``data`` is a dataset or a pair of tensors."""


def _as_iterable(data: Any, batch_size: int) -> Iterable[Any]:
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        inputs, labels = data
        return [
            (inputs[i : i + batch_size], labels[i : i + batch_size])
            for i in range(0, len(inputs), batch_size)
        ]
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        return DataLoader(data, batch_size=batch_size)
    if isinstance(data, Iterable):
        return data
    raise ReplayInputError(
        f"data of type {type(data).__name__} is not usable: pass a DataLoader (or any iterable) "
        "of (inputs, labels) batches, a Dataset of (input, label) pairs, or a tuple of two tensors."
    )


def count_batches(data: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
    """Number of batches ``labelled_batches`` will yield before ``max_samples``, if known."""
    try:
        return len(_as_iterable(data, batch_size))  # type: ignore[arg-type]
    except TypeError:
        return None


def labelled_batches(
    data: Any, *, max_samples: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (inputs, labels) batches from ``data``, stopping after ``max_samples`` samples."""
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise ReplayInputError(
            f"max_samples={max_samples!r} is invalid: it must be an integer >= 1 or None."
        )
    seen = 0
    for batch in _as_iterable(data, batch_size):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ReplayInputError(
                "each batch must be an (inputs, labels) pair: accuracy needs the labels "
                f"(got {type(batch).__name__})."
            )
        inputs, labels = batch[0], batch[1]
        if not isinstance(inputs, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise ReplayInputError("batches must hold tensors: (inputs, labels).")
        if max_samples is not None:
            inputs, labels = inputs[: max_samples - seen], labels[: max_samples - seen]
        if len(inputs) == 0:
            break
        seen += len(inputs)
        yield inputs, labels
        if max_samples is not None and seen >= max_samples:
            break
