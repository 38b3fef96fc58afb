"""``spiking.convert``: one call from a trained ANN to a ``SpikingModel`` (spikingjelly ``ann2snn``)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from spikingjelly.activation_based import ann2snn, functional
from torch import nn

from spiking.calibration import calibration_inputs, largest_activation, make_recipe, max_samples_per_batch
from spiking.checks import check_convertible
from spiking.constant_current import hold_analog_layers
from spiking.config import ConversionConfig, Method
from spiking.data import Batch, DataSource, iter_batches
from spiking.exceptions import CalibrationDataError, ConversionError, InvalidInputError, SpikingWarning
from spiking.model import SpikingModel
from spiking.steps import module_device

LTB_MIN_BATCHES = 10
"""Fewer calibration batches than this draw a warning with ``method='ltb'`` (measured on the digits
CNN: one batch of 1,257 samples gives 49 % against 97 % for 40 batches of 32)."""


def _copy_model(model: nn.Module) -> nn.Module:
    """Deep copy in eval mode; a Lightning module's trainer is left out of the copy."""
    memo: dict[int, Any] = {}
    trainer = getattr(model, "_trainer", None)
    if trainer is not None:
        memo[id(trainer)] = None
    return copy.deepcopy(model, memo).eval()


def _probe(ann: nn.Module, first: Batch, device: torch.device) -> torch.Tensor:
    """Run the ANN on one sample of the first batch; translate a failure into a clear error."""
    sample = first.inputs[:1].to(device)
    if not torch.is_floating_point(sample):
        sample = sample.float()
    try:
        with torch.no_grad():
            ann(sample)
    except Exception as err:  # shape mismatches surface as RuntimeError/ValueError from torch
        raise InvalidInputError(
            f"the model cannot run on calibration inputs of shape [B, "
            f"{', '.join(map(str, first.inputs.shape[1:]))}] ({type(err).__name__}: {err}). "
            "Pass batches shaped like the model's training inputs."
        ) from err
    return sample


def convert(
    model: nn.Module,
    calibration_data: DataSource,
    *,
    method: Method = "rate",
    mode: str | float = "99.9%",
    timesteps: int = 32,
    channel_wise: bool = False,
    pre_spike_maxpool: bool = False,
    half_threshold: bool = False,
    fuse_conv_bn: bool = True,
    momentum: float = 0.1,
    constant_current: bool = False,
    calibration_batches: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> SpikingModel:
    """Convert a trained ANN into a spiking network with spikingjelly's ``ann2snn``.

    ``model`` is checked first (``UnsupportedModelError`` lists every unsupported part), then deep
    copied: the caller's model is never modified. ``calibration_data`` is a DataLoader, a tensor of
    inputs, an ``(x, y)`` pair or a list of batches; for percentile modes, where this torch's
    ``quantile`` refuses more than 2^24 elements, each batch is split so no activation exceeds it.
    ``calibration_batches`` limits how many batches are used (all by default). The SNN lives on
    ``device`` (default: the model's).

    ``method='rate'`` uses ``RateCodingRecipe`` with ``mode`` ``'max'``, a percentile such as
    ``'99.9%'`` or a float in (0, 1] (scaled max); ``method='ltb'`` uses
    ``LocalThresholdBalancingRecipe``, whose thresholds rise one step per calibration batch: give
    it many small batches (a DataLoader with batch size 16-64), not one large tensor. The result
    runs ``timesteps`` steps by default. ``half_threshold=True`` (rate coding with
    ``channel_wise=True``) starts every neuron at half its threshold, as ``ltb`` does.

    ``constant_current=True`` computes the analog layers before the first spiking neuron once per
    input and injects their output at every step: the outputs do not change, and their MACs count
    once instead of T times (``spiking.constant_current``).
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if calibration_batches is not None and (
        isinstance(calibration_batches, bool) or not isinstance(calibration_batches, int) or calibration_batches < 1
    ):
        raise InvalidInputError(f"calibration_batches must be None or an int >= 1 (got {calibration_batches!r}).")
    config = ConversionConfig(
        method=method,
        mode=mode,
        timesteps=timesteps,
        channel_wise=channel_wise,
        pre_spike_maxpool=pre_spike_maxpool,
        half_threshold=half_threshold,
        fuse_conv_bn=fuse_conv_bn,
        momentum=momentum,
        constant_current=constant_current,
        progress=progress,
    )
    ann = _copy_model(model)
    check_convertible(ann, config)
    target = torch.device(device) if device is not None else module_device(ann)
    ann.to(target)

    batches = iter_batches(calibration_data, name="calibration_data")
    first = next(batches)
    sample = _probe(ann, first, target)
    inputs = calibration_inputs(
        first,
        batches,
        device=target,
        max_samples=max_samples_per_batch(largest_activation(ann, sample), config),
        max_batches=calibration_batches,
        progress=progress,
    )
    snn = _run_converter(copy.deepcopy(ann), inputs, config, target)
    functional.set_step_mode(snn, "s")
    if config.constant_current:
        hold_analog_layers(snn)
    return SpikingModel(ann, snn, config.timesteps, tuple(first.inputs.shape[1:]), config)


def _run_converter(
    ann: nn.Module, inputs: Iterator[torch.Tensor], config: ConversionConfig, device: torch.device
) -> Any:
    recipe = make_recipe(config, inputs)
    try:
        snn = ann2snn.Converter(recipe=recipe, device=device).convert(ann)
    except (InvalidInputError, CalibrationDataError):
        raise
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as err:
        raise ConversionError(
            f"spikingjelly could not convert the model with {config.describe()}: "
            f"{type(err).__name__}: {err}"
        ) from err
    if config.method == "ltb" and recipe.batches_seen < LTB_MIN_BATCHES:
        warnings.warn(
            f"method='ltb' was calibrated on only {recipe.batches_seen} batch(es); its thresholds rise "
            "one step per batch and stay too low after a few large batches (accuracy drops). Pass a "
            f"DataLoader with small batches (16-64 samples, at least {LTB_MIN_BATCHES} batches).",
            SpikingWarning,
            stacklevel=3,
        )
    return snn
