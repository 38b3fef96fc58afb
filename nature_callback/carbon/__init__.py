"""Grid carbon intensity: providers, the embedded table, location and caching."""

from __future__ import annotations

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.carbon.fixed import Fixed
from nature_callback.carbon.resolve import (
    WORLD_AVERAGE_G_PER_KWH,
    WORLD_GRID_LOSS,
    CarbonMonitor,
    grid_loss_for,
    resolve_provider,
)

__all__ = [
    "CarbonIntensity",
    "CarbonMonitor",
    "CarbonProvider",
    "Fixed",
    "WORLD_AVERAGE_G_PER_KWH",
    "WORLD_GRID_LOSS",
    "grid_loss_for",
    "resolve_provider",
]
