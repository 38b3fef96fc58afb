"""A carbon intensity given by the user."""

from __future__ import annotations

import math

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.exceptions import ConfigurationError


class Fixed(CarbonProvider):
    """A constant intensity, for a known contract or a what-if comparison."""

    name = "fixed"

    def __init__(self, g_per_kwh: float, zone: str = "user") -> None:
        if not isinstance(g_per_kwh, (int, float)) or not math.isfinite(g_per_kwh) or not (
            0 <= g_per_kwh <= 2000
        ):
            raise ConfigurationError(
                f"g_per_kwh={g_per_kwh!r} is invalid: a grid carbon intensity must be a "
                "number in [0, 2000] g CO2e/kWh (world average about 481)."
            )
        self.g_per_kwh = float(g_per_kwh)
        self.zone = zone

    def intensity(self) -> CarbonIntensity:
        """The value given at construction."""
        return CarbonIntensity(
            g_per_kwh=self.g_per_kwh, zone=self.zone, source="fixed (user parameter)"
        )

    def __repr__(self) -> str:
        return f"Fixed(g_per_kwh={self.g_per_kwh!r}, zone={self.zone!r})"
