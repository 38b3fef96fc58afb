"""The common interface of every carbon-intensity provider."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeGuard

from nature_callback.exceptions import ConfigurationError

MAX_PLAUSIBLE_G_PER_KWH = 2000.0
"""Upper bound of a plausible grid intensity, in g CO2e/kWh: the highest national annual
average in the embedded table (Ember / Energy Institute via Our World in Data) is
Turkmenistan's 1306 (2022); half-hourly values swing above annual ones, so the bound leaves
room, and anything beyond it is a unit or data error (e.g. lbs/MWh or kg/MWh mistaken)."""


@dataclass(frozen=True)
class CarbonIntensity:
    """Grid carbon intensity at a place and time, with where it came from."""

    g_per_kwh: float
    """Grams CO2e per kWh consumed."""
    zone: str
    """Grid zone or ISO 3166 alpha-2 country code (``DE``, ``GB``, ``US-CAL-CISO``, ``WORLD``)."""
    source: str
    """Provider and data set, e.g. ``electricitymaps``, ``embedded table (Ember 2023)``."""
    is_estimated: bool = False
    """The provider itself labels the value as estimated, or it is an annual average."""
    is_stale: bool = False
    """A live lookup failed and this is an older value kept in its place."""
    timestamp: datetime | None = None
    """The time the value applies to, when the provider says."""
    country: str | None = None
    """ISO 3166 alpha-2 code of the grid's country when known (for the grid-loss term)."""
    signal_index_percent: float | None = None
    """WattTime's relative 0-100 percentile index, where that is all the account gives.

    It is *not* an intensity: ``g_per_kwh`` then comes from the embedded table and
    ``source`` says so."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly; the timestamp as ISO 8601)."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        return data


def is_finite_number(value: object) -> TypeGuard[float]:
    """True for an int or float (a bool is not a number here) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_g_per_kwh(value: object, what: str, error: type[Exception]) -> float:
    """Return ``value`` as a float if it is a finite intensity in [0, 2000], else raise ``error``.

    ``what`` names the parameter or payload field in the message.
    """
    if not is_finite_number(value):
        raise error(
            f"{what}={value!r} is not a finite number of g CO2e/kWh "
            f"(got {type(value).__name__})."
        )
    if not 0.0 <= value <= MAX_PLAUSIBLE_G_PER_KWH:
        raise error(
            f"{what}={value!r} is outside the plausible range [0, {MAX_PLAUSIBLE_G_PER_KWH:g}] "
            "g CO2e/kWh (world average about 481)."
        )
    return float(value)


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float seconds if finite and > 0 (>= 0 with ``allow_zero``), else
    raise a ConfigurationError naming ``name``."""
    if not is_finite_number(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{name}={value!r} is invalid: it must be seconds {bound}.")
    return float(value)


class CarbonProvider(ABC):
    """Something that can say the grid's carbon intensity; ``intensity()`` may do I/O."""

    name: str = "provider"
    """Short, stable name used in source labels and cache keys."""
    is_live: bool = True
    """True when ``intensity()`` may be slow or fail (a network service): the monitor then
    calls it only in the background. The offline providers (Fixed, EmbeddedTable) set False
    and are read once, synchronously. A user subclass is treated as live unless it says not."""

    @abstractmethod
    def intensity(self) -> CarbonIntensity:
        """The current carbon intensity; raises ``CarbonError`` when it cannot."""

    @property
    def country(self) -> str | None:
        """ISO alpha-2 code of the grid's country, for the embedded-table fallback."""
        return None

    @property
    def cache_key(self) -> str:
        """Identifies this provider's location and endpoint in caches; never holds a secret."""
        return f"{self.name}|{self.country or 'WORLD'}"

    def offline_fallback(self, note: str = "") -> CarbonIntensity | None:
        """A provider's own offline value, or None for the embedded table's value of its
        country (the world row if none), which the monitor then uses.

        The monitor asks for it until a live provider first answers, or after a failure with
        no recent value to keep; ``note`` (why) belongs in the source label. A provider may
        label the table's value further (a cloud region names itself).
        """
        del note
        return None

    def describe(self) -> dict[str, Any]:
        """Settings to record as run hyperparameters (never a secret)."""
        return {"provider": self.name, "country": self.country}
