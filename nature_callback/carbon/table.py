"""The embedded per-country table as a provider, its intensity values and the grid-loss term.

The rows and the lookups by country code live in ``countries`` (re-exported here); this
module adds what is built on them: :func:`table_intensity`, the :class:`EmbeddedTable`
provider (which resolves the location when no country is given) and :func:`grid_loss_for`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.carbon.countries import (  # re-exported: the table's public lookups
    TABLE_RESOURCE,
    WORLD,
    CountryRow,
    country_of_zone,
    find_country,
    load_table,
    require_country,
)
from nature_callback.carbon.location import resolve_location

__all__ = [
    "TABLE_RESOURCE",
    "WORLD",
    "WORLD_AVERAGE_G_PER_KWH",
    "WORLD_GRID_LOSS",
    "CountryRow",
    "EmbeddedTable",
    "GridLoss",
    "country_of_zone",
    "find_country",
    "grid_loss_for",
    "load_table",
    "require_country",
    "table_intensity",
]

WORLD_AVERAGE_G_PER_KWH = 480.62
"""The table's WORLD row: generation-weighted mean of its 213 country rows (Ember; Energy
Institute; Our World in Data, latest year per country, mostly 2022-2023). A test checks it
against the data file."""

WORLD_GRID_LOSS = 0.0687
"""The table's WORLD row: World Bank WDI EG.ELC.LOSS.ZS, WLD aggregate for 2022 (6.87 %)."""


def table_intensity(code: str | None, note: str = "") -> CarbonIntensity:
    """The table's value for ``code`` (a country or zone), the world row when unknown.

    ``note`` is appended to the source label (e.g. why this fallback is used).
    """
    country = country_of_zone(code)
    row = load_table()[country or WORLD]
    year = f", {row.carbon_year}" if row.carbon_year else ""
    label = f"embedded table {row.iso_alpha2} ({row.carbon_source}{year})"
    if code and country is None:
        label += f"; no row for {code!r}, world average used"
    return CarbonIntensity(
        g_per_kwh=row.g_per_kwh,
        zone=row.iso_alpha2,
        source=label + (f"; {note}" if note else ""),
        is_estimated=True,
        country=None if row.iso_alpha2 == WORLD else row.iso_alpha2,
    )


class EmbeddedTable(CarbonProvider):
    """Offline annual average of a country (or the world) from the embedded table.

    ``country=None`` resolves the location offline (``NATURE_COUNTRY``, then the system
    time zone, then the world average with one warning).
    """

    name = "embedded-table"
    is_live = False

    def __init__(self, country: str | None = None) -> None:
        if country is None:
            country = resolve_location().country or WORLD
        self._row = require_country(country)

    @property
    def country(self) -> str | None:
        """The row's alpha-2 code (None for the world row)."""
        return None if self._row.iso_alpha2 == WORLD else self._row.iso_alpha2

    def intensity(self) -> CarbonIntensity:
        """The table's annual average (``is_estimated`` is True: it is not live)."""
        return table_intensity(self._row.iso_alpha2)

    def describe(self) -> dict[str, Any]:
        """Settings for the run's hyperparameters."""
        return {"provider": self.name, "country": self._row.iso_alpha2}

    def __repr__(self) -> str:
        return f"EmbeddedTable(country={self._row.iso_alpha2!r})"


@dataclass(frozen=True)
class GridLoss:
    """Transmission-and-distribution loss fraction of a grid (λ of the R term), with its source."""

    fraction: float
    """Share of generated power lost between plant and consumer, in [0, 1)."""
    zone: str
    """The row used: an alpha-2 code or ``WORLD``."""
    source: str
    """Data set, release and what was looked up."""
    year: int | None
    """Year the figure refers to."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def grid_loss_for(where: CarbonIntensity | str | None) -> GridLoss:
    """The loss fraction of the grid of a zone, country code or intensity value.

    Falls back to the World Bank world aggregate, saying why, when the zone names no
    country or the country has no World Bank figure.
    """
    if isinstance(where, CarbonIntensity):
        zone: str | None = where.country or where.zone
    else:
        zone = where
    country = country_of_zone(zone)
    row = load_table()[country] if country else None
    if row is not None and row.grid_loss_fraction is not None:
        return GridLoss(row.grid_loss_fraction, row.iso_alpha2,
                        f"{row.grid_loss_source}, {row.iso_alpha2} {row.grid_loss_year}",
                        row.grid_loss_year)
    world = load_table()[WORLD]
    why = f"no figure for {zone!r}" if zone else "location unknown"
    assert world.grid_loss_fraction is not None
    return GridLoss(world.grid_loss_fraction, WORLD,
                    f"{world.grid_loss_source}, {world.grid_loss_year} ({why})",
                    world.grid_loss_year)
