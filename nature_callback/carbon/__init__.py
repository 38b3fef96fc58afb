"""Grid carbon intensity: providers, the embedded table, location and caching.

Typical use (what the tracker does)::

    provider = resolve_provider("DE")          # or "aws:eu-west-1", ElectricityMaps(), ...
    monitor = CarbonMonitor(provider)
    monitor.start()                            # background refresh for live providers
    value = monitor.mean_between(t0, t1)       # the intensity of one epoch
    loss = grid_loss_for(value)                # lambda of the R term, with its source
    monitor.close()
"""

from __future__ import annotations

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.carbon.cache import IntensityCache, default_cache
from nature_callback.carbon.cloud import (
    CloudRegion,
    cloud_region_provider,
    find_cloud_region,
    load_cloud_regions,
)
from nature_callback.carbon.electricitymaps import ElectricityMaps
from nature_callback.carbon.fixed import Fixed
from nature_callback.carbon.http import HttpConfig
from nature_callback.carbon.live import LiveProvider
from nature_callback.carbon.location import (
    Location,
    country_from_timezone,
    locate_by_ip,
    resolve_location,
)
from nature_callback.carbon.monitor import CarbonMonitor
from nature_callback.carbon.resolve import resolve_provider
from nature_callback.carbon.table import (
    WORLD_AVERAGE_G_PER_KWH,
    WORLD_GRID_LOSS,
    CountryRow,
    EmbeddedTable,
    GridLoss,
    grid_loss_for,
    load_table,
)
from nature_callback.carbon.ukgrid import UKGrid
from nature_callback.carbon.watttime import WattTime

__all__ = [
    "CarbonIntensity",
    "CarbonMonitor",
    "CarbonProvider",
    "CloudRegion",
    "CountryRow",
    "ElectricityMaps",
    "EmbeddedTable",
    "Fixed",
    "GridLoss",
    "HttpConfig",
    "IntensityCache",
    "LiveProvider",
    "Location",
    "UKGrid",
    "WORLD_AVERAGE_G_PER_KWH",
    "WORLD_GRID_LOSS",
    "WattTime",
    "cloud_region_provider",
    "country_from_timezone",
    "default_cache",
    "find_cloud_region",
    "grid_loss_for",
    "load_cloud_regions",
    "load_table",
    "locate_by_ip",
    "resolve_location",
    "resolve_provider",
]
