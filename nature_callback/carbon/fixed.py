"""A carbon intensity given by the user."""

from __future__ import annotations

from typing import Any

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider, check_g_per_kwh
from nature_callback.carbon.countries import country_of_zone
from nature_callback.exceptions import ConfigurationError


class Fixed(CarbonProvider):
    """A constant intensity, for a known contract or a what-if comparison.

    ``zone`` may be a country code (``DE``): the grid-loss term then uses that country.
    """

    name = "fixed"
    is_live = False

    def __init__(self, g_per_kwh: float, zone: str = "user") -> None:
        self.g_per_kwh = check_g_per_kwh(g_per_kwh, "g_per_kwh", ConfigurationError)
        self.zone = zone

    @property
    def country(self) -> str | None:
        """The zone's country when the zone names one."""
        return country_of_zone(self.zone)

    def intensity(self) -> CarbonIntensity:
        """The value given at construction."""
        return CarbonIntensity(g_per_kwh=self.g_per_kwh, zone=self.zone,
                               source="fixed (user parameter)", country=self.country)

    def describe(self) -> dict[str, Any]:
        """Settings for the run's hyperparameters."""
        return {"provider": self.name, "g_per_kwh": self.g_per_kwh, "zone": self.zone}

    def __repr__(self) -> str:
        return f"Fixed(g_per_kwh={self.g_per_kwh!r}, zone={self.zone!r})"
