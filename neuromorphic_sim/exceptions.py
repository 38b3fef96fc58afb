"""Exceptions raised by neuromorphic_sim.

Each derives from ``nature_callback``'s root error, so one ``except NatureError``
catches every failure of the project; configuration errors are also
``nature_callback.exceptions.ConfigurationError`` (and therefore ``ValueError``).
"""

from __future__ import annotations

from nature_callback.exceptions import ConfigurationError as _NatureConfigurationError
from nature_callback.exceptions import NatureError


class NeuromorphicSimError(NatureError):
    """Root of every error raised by neuromorphic_sim."""


class ConfigurationError(NeuromorphicSimError, _NatureConfigurationError):
    """A hardware configuration field is invalid; the message names the field and the fix."""


class UnsupportedLayerError(NeuromorphicSimError, TypeError):
    """The model holds a layer the crossbar cannot map; the message names the layer."""


class ReplayInputError(NeuromorphicSimError, ValueError):
    """The model or data handed to ``replay`` (or a sweep) cannot be used as given."""
