"""Labelled evaluation batches for the replay: ``spiking.data`` reads the data (a DataLoader or
any iterable of (inputs, labels) batches, a Dataset, or an (inputs, labels) pair of tensors);
here its errors become ``ReplayInputError`` and ``max_samples`` caps the samples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from spiking.data import count_batches as _count_batches
from spiking.data import iter_batches
from spiking.exceptions import CalibrationDataError

from neuromorphic_sim.exceptions import ReplayInputError

DEFAULT_BATCH_SIZE = 128
"""Batch size used when ``data`` is a dataset or a pair of tensors."""


def count_batches(data: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> int | None:
    """Number of batches ``labelled_batches`` will yield before ``max_samples``, if known."""
    try:
        return _count_batches(data, name="data", batch_size=batch_size)
    except CalibrationDataError as err:
        raise ReplayInputError(str(err)) from err


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
    try:
        for batch in iter_batches(data, name="data", batch_size=batch_size, require_targets=True):
            inputs, labels = batch.inputs, batch.targets
            assert labels is not None  # require_targets
            if max_samples is not None:
                inputs, labels = inputs[: max_samples - seen], labels[: max_samples - seen]
            seen += len(inputs)
            yield inputs, labels
            if max_samples is not None and seen >= max_samples:
                break
    except CalibrationDataError as err:
        raise ReplayInputError(str(err)) from err
