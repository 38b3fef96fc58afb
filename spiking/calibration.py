"""Calibration batches for spikingjelly's recipes: checked, split below torch.quantile's size
limit where this torch has one, moved to the device, with an optional progress bar."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from spikingjelly.activation_based import ann2snn
from torch import nn
from tqdm.auto import tqdm

from spiking.config import PERCENTILE_ELEMENT_LIMIT, ConversionConfig
from spiking.data import Batch, split_inputs
from spiking.exceptions import CalibrationDataError, InvalidInputError


@functools.cache
def quantile_size_limited() -> bool:
    """Whether this torch's ``quantile`` refuses inputs above 2^24 elements.

    Older releases raise ``RuntimeError: quantile() input tensor is too large``; torch 2.14 does
    not. Probed once per process, only when a percentile calibration batch is larger than the
    limit.
    """
    try:
        torch.quantile(torch.zeros(1).expand(PERCENTILE_ELEMENT_LIMIT + 1), 0.5)
    except RuntimeError:
        return True
    return False


class _PreparedCalibration:
    """Replaces the recipes' ``calibrate``, which re-parses batches and always shows a progress
    bar: here the batches arrive checked, split and on the right device."""

    dataloader: Any
    batches_seen = 0

    def calibrate(self, converter: Any, fx_model: Any) -> Any:
        with torch.no_grad():
            for inputs in self.dataloader:
                fx_model(inputs)
                self.batches_seen += 1
        return fx_model


class RateCodingRecipe(_PreparedCalibration, ann2snn.RateCodingRecipe):
    """spikingjelly's ``RateCodingRecipe`` fed with prepared calibration batches."""


class LocalThresholdBalancingRecipe(_PreparedCalibration, ann2snn.LocalThresholdBalancingRecipe):
    """spikingjelly's ``LocalThresholdBalancingRecipe`` fed with prepared calibration batches."""


def make_recipe(config: ConversionConfig, inputs: Iterator[torch.Tensor]) -> Any:
    """The spikingjelly recipe for ``config``, calibrating on ``inputs``."""
    if config.method == "ltb":
        return LocalThresholdBalancingRecipe(inputs, fuse_flag=config.fuse_conv_bn)
    return RateCodingRecipe(
        inputs,
        mode=config.mode,
        momentum=config.momentum,
        fuse_flag=config.fuse_conv_bn,
        channel_wise=config.channel_wise,
        pre_spike_maxpool=config.pre_spike_maxpool,
        half_threshold=config.half_threshold,
    )


@dataclass(frozen=True)
class LargestActivation:
    """The ReLU whose output is largest for one sample."""

    path: str
    """Module path of the ReLU."""
    elements_per_sample: int
    """Elements of its output for one sample."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def largest_activation(ann: nn.Module, sample: torch.Tensor) -> LargestActivation:
    """Run ``ann`` on one sample and find its largest ReLU output."""
    sizes: dict[str, int] = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: sizes.__setitem__(name, out[0].numel()))
        for name, module in ann.named_modules()
        if type(module) is nn.ReLU
    ]
    try:
        with torch.no_grad():
            ann(sample)
    finally:
        for handle in handles:
            handle.remove()
    path = max(sizes, key=sizes.__getitem__)
    return LargestActivation(path, sizes[path])


def max_samples_per_batch(largest: LargestActivation, config: ConversionConfig) -> int | None:
    """Most samples per calibration batch so no activation exceeds 2^24 elements, or ``None``
    when nothing limits the batch (not a percentile mode). Raises ``CalibrationDataError`` when
    one sample alone is too large and this torch enforces the limit."""
    if not config.uses_percentile:
        return None
    if largest.elements_per_sample > PERCENTILE_ELEMENT_LIMIT and quantile_size_limited():
        raise CalibrationDataError(
            f"the activation of {largest.path} has {largest.elements_per_sample:,} elements for a "
            f"single sample, above the {PERCENTILE_ELEMENT_LIMIT:,} (2^24) elements this torch's "
            f"quantile accepts, so percentile mode {config.mode!r} cannot calibrate it. Use "
            "mode='max', a scaled max such as mode=0.99, or method='ltb'."
        )
    return max(1, PERCENTILE_ELEMENT_LIMIT // largest.elements_per_sample)


def calibration_inputs(
    first: Batch,
    rest: Iterator[Batch],
    *,
    device: torch.device,
    max_samples: int | None,
    max_batches: int | None,
    progress: bool,
) -> Iterator[torch.Tensor]:
    """Yield calibration input tensors: every batch checked against the first one's sample
    shape, split to ``max_samples`` when this torch's quantile needs it, moved to ``device``."""
    input_shape = tuple(first.inputs.shape[1:])
    for index, batch in enumerate(tqdm(_chain(first, rest), desc="calibrating", disable=not progress, leave=False)):
        if max_batches is not None and index >= max_batches:
            return
        if tuple(batch.inputs.shape[1:]) != input_shape:
            raise InvalidInputError(
                f"calibration batch {index} has samples of shape {list(batch.inputs.shape[1:])}, "
                f"but the first batch had {list(input_shape)}: all samples must share one shape."
            )
        inputs = batch.inputs if torch.is_floating_point(batch.inputs) else batch.inputs.float()
        if max_samples is not None and len(inputs) > max_samples and quantile_size_limited():
            pieces = split_inputs(inputs, max_samples)
        else:
            pieces = [inputs]
        for piece in pieces:
            yield piece.to(device)


def _chain(first: Batch, rest: Iterator[Batch]) -> Iterator[Batch]:
    yield first
    yield from rest
