"""Exceptions and warnings raised by the ``spiking`` package.

Errors raised by spikingjelly or torch at the boundary (conversion, calibration,
loading) are translated here into these types, with a message that names what was
wrong and how to fix it.
"""

from __future__ import annotations

from nature_callback.exceptions import NatureError, NatureWarning


class SpikingError(NatureError):
    """Root of every error raised by the spiking package."""


class UnsupportedModelError(SpikingError, ValueError):
    """The model contains parts that ANN-to-SNN conversion cannot handle; the message lists each."""


class CalibrationDataError(SpikingError, ValueError):
    """Calibration or evaluation data is empty, malformed or too large to calibrate on."""


class InvalidInputError(SpikingError, ValueError):
    """A batch or parameter given to a spiking model is invalid (shape, time steps, ...)."""


class ConversionError(SpikingError):
    """spikingjelly failed to convert a model that passed the pre-conversion checks."""


class ModelFileError(SpikingError, OSError):
    """A saved spiking model could not be written or read back."""


class SpikingWarning(NatureWarning):
    """Root of every warning emitted by the spiking package."""


class SpikePoolingWarning(SpikingWarning):
    """A max-pooling layer will pool spikes instead of rates after conversion (accuracy loss)."""
