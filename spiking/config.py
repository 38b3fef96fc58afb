"""Settings of an ANN-to-SNN conversion, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from spiking.exceptions import InvalidInputError

Method = Literal["rate", "ltb"]
"""``rate``: spikingjelly's ``RateCodingRecipe``; ``ltb``: its ``LocalThresholdBalancingRecipe``."""

PERCENTILE_ELEMENT_LIMIT = 2**24
"""``torch.quantile`` refuses inputs with more than 2^24 elements (16,777,216); spikingjelly's
percentile modes call it on a whole activation tensor, so calibration batches are split below it."""


def _validate_mode(mode: object) -> None:
    message = (
        f"mode={mode!r} is not a rate-coding mode: use 'max', a percentile string such as "
        "'99.9%' (0 < p <= 100), or a float in (0, 1] to scale the maximum."
    )
    if isinstance(mode, str):
        if mode.lower() == "max":
            return
        if mode.endswith("%"):
            try:
                percentile = float(mode[:-1])
            except ValueError:
                raise InvalidInputError(message) from None
            if 0.0 < percentile <= 100.0:
                return
        raise InvalidInputError(message)
    if isinstance(mode, (int, float)) and not isinstance(mode, bool) and 0.0 < mode <= 1.0:
        return
    raise InvalidInputError(message)


@dataclass(frozen=True)
class ConversionConfig:
    """How ``spiking.convert`` builds the spiking network."""

    method: Method = "rate"
    """``rate`` (threshold = a statistic of each ReLU's activations) or ``ltb`` (local threshold
    balancing, per channel, spikingjelly's ``LocalThresholdBalancingRecipe``)."""
    mode: str | float = "99.9%"
    """Rate coding only: ``'max'``, a percentile such as ``'99.9%'``, or a float in (0, 1] that
    scales the maximum ("scaled max"). Ignored by ``ltb``."""
    timesteps: int = 32
    """Default number of time steps T of the resulting ``SpikingModel``."""
    channel_wise: bool = False
    """Rate coding only: one threshold per channel instead of one per layer."""
    pre_spike_maxpool: bool = False
    """Rate coding only (needs ``channel_wise``): move a MaxPool2d that follows a ReLU in front of
    the spiking neuron, so it pools membrane inputs rather than spikes."""
    fuse_conv_bn: bool = True
    """Fold BatchNorm into the preceding convolution before converting."""
    half_threshold: bool = False
    """Rate coding only (needs ``channel_wise``): every IF neuron starts each run at half its
    threshold (spikingjelly's ``RateCodingRecipe(half_threshold=True)``, ``HalfThresholdIFNode``),
    so a spike count rounds the activation instead of flooring it (Bu et al., "Optimized potential
    initialization for low-latency spiking neural networks", AAAI 2022)."""
    momentum: float = 0.1
    """Rate coding only: momentum of the running threshold statistic across calibration batches."""
    constant_current: bool = False
    """Compute the analog layers before the first spiking neuron once per input and inject their
    output as a constant current at every step (the same outputs; their MACs count once, not x T).
    See ``spiking.constant_current``."""
    progress: bool = False
    """Show a progress bar over the calibration batches."""

    def __post_init__(self) -> None:
        if self.method not in ("rate", "ltb"):
            raise InvalidInputError(
                f"method={self.method!r} is unknown: use 'rate' (RateCodingRecipe) or 'ltb' "
                "(LocalThresholdBalancingRecipe)."
            )
        if self.method == "rate":
            _validate_mode(self.mode)
        if isinstance(self.timesteps, bool) or not isinstance(self.timesteps, int) or self.timesteps < 1:
            raise InvalidInputError(f"timesteps must be an int >= 1 (got {self.timesteps!r}).")
        if self.pre_spike_maxpool and not self.channel_wise:
            raise InvalidInputError(
                "pre_spike_maxpool=True needs channel_wise=True (spikingjelly only moves the "
                "max pooling in front of channel-wise neurons)."
            )
        if self.pre_spike_maxpool and self.method != "rate":
            raise InvalidInputError("pre_spike_maxpool applies to method='rate' only.")
        if not isinstance(self.half_threshold, bool):
            raise InvalidInputError(f"half_threshold must be True or False (got {self.half_threshold!r}).")
        if self.half_threshold and not (self.method == "rate" and self.channel_wise):
            raise InvalidInputError(
                "half_threshold=True needs method='rate' and channel_wise=True (spikingjelly's "
                "RateCodingRecipe starts neurons at half threshold only with channel-wise thresholds; "
                "method='ltb' always does)."
            )
        if not isinstance(self.constant_current, bool):
            raise InvalidInputError(f"constant_current must be True or False (got {self.constant_current!r}).")
        if not (isinstance(self.momentum, (int, float)) and math.isfinite(self.momentum)
                and 0.0 <= self.momentum <= 1.0):
            raise InvalidInputError(f"momentum must be a number in [0, 1] (got {self.momentum!r}).")

    @property
    def uses_percentile(self) -> bool:
        """True when calibration calls ``torch.quantile`` (the 2^24-element limit applies)."""
        return self.method == "rate" and isinstance(self.mode, str) and self.mode.endswith("%")

    def describe(self) -> str:
        """Short human-readable label, e.g. ``rate coding (99.9%)``."""
        current = ", constant input current" if self.constant_current else ""
        if self.method == "ltb":
            return f"local threshold balancing{current}"
        mode = f"scaled max x{self.mode}" if isinstance(self.mode, float) else str(self.mode)
        channels = ", channel-wise" if self.channel_wise else ""
        half = ", half-threshold start" if self.half_threshold else ""
        return f"rate coding ({mode}{channels}{half}{current})"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return asdict(self)
