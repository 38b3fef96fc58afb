"""Turn the user's ``carbon=`` argument into a provider, and keep its value fresh.

Minimal foundation version: a fixed world average; the carbon-intensity issue
replaces it with live providers, the embedded table and background refresh.
"""

from __future__ import annotations

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.carbon.fixed import Fixed
from nature_callback.exceptions import ConfigurationError

WORLD_AVERAGE_G_PER_KWH = 481.0
"""Generation-weighted mean of the Ember/Energy Institute per-country table (2022-2023)."""

WORLD_GRID_LOSS = 0.08
"""World transmission-and-distribution loss fraction, World Bank EG.ELC.LOSS.ZS (≈ 8 %)."""


def resolve_provider(carbon: CarbonProvider | float | str | None) -> CarbonProvider:
    """A provider for ``carbon``: a provider, a number in g/kWh, or None (world average)."""
    if isinstance(carbon, CarbonProvider):
        return carbon
    if carbon is None:
        return Fixed(WORLD_AVERAGE_G_PER_KWH, zone="WORLD")
    if isinstance(carbon, (int, float)):
        return Fixed(float(carbon))
    raise ConfigurationError(
        f"carbon={carbon!r} is invalid: pass a CarbonProvider, a number in g CO2e/kWh, or None."
    )


def grid_loss_for(zone: str | None) -> tuple[float, str]:
    """Transmission-and-distribution loss fraction for ``zone`` and its source."""
    return WORLD_GRID_LOSS, "world average (World Bank EG.ELC.LOSS.ZS)"


class CarbonMonitor:
    """Holds the intensity to use now; ``current()`` never blocks on the network."""

    def __init__(self, provider: CarbonProvider) -> None:
        self.provider = provider
        self._value = provider.intensity()

    def start(self) -> None:
        """Begin background refresh (none needed for the minimal version)."""

    def current(self) -> CarbonIntensity:
        """The best value at hand."""
        return self._value

    def close(self) -> None:
        """Stop background refresh."""
