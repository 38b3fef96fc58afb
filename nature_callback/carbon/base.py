"""The common interface of every carbon-intensity provider."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly; the timestamp as ISO 8601)."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        return data


class CarbonProvider(ABC):
    """Something that can say the grid's carbon intensity; ``intensity()`` may do I/O."""

    name: str = "provider"

    @abstractmethod
    def intensity(self) -> CarbonIntensity:
        """The current carbon intensity; raises ``CarbonError`` when it cannot."""
