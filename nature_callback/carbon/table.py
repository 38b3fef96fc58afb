"""The embedded per-country table: annual carbon intensity and grid (T&D) loss.

The data file ``data/grid_table.csv`` ships inside the package; its header comment and
``docs/carbon.md`` give the provenance (Ember / Energy Institute via Our World in Data,
World Bank WDI EG.ELC.LOSS.ZS, both CC BY 4.0).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from nature_callback.carbon.base import CarbonIntensity, CarbonProvider
from nature_callback.exceptions import ConfigurationError

TABLE_RESOURCE = "data/grid_table.csv"
"""Path of the table inside the ``nature_callback.carbon`` package."""

WORLD = "WORLD"
"""Key of the world-average row."""

WORLD_AVERAGE_G_PER_KWH = 480.62
"""The table's WORLD row: generation-weighted mean of its 213 country rows (Ember; Energy
Institute; Our World in Data, latest year per country, mostly 2022-2023). A test checks it
against the data file."""

WORLD_GRID_LOSS = 0.0687
"""The table's WORLD row: World Bank WDI EG.ELC.LOSS.ZS, WLD aggregate for 2022 (6.87 %)."""


@dataclass(frozen=True)
class CountryRow:
    """One row of the embedded table."""

    iso_alpha2: str
    """ISO 3166 alpha-2 code (``WORLD`` for the world row)."""
    iso_alpha3: str
    """ISO 3166 alpha-3 code (``WLD`` for the world row)."""
    country: str
    """English name."""
    g_per_kwh: float
    """Annual life-cycle carbon intensity of generation, g CO2e/kWh."""
    carbon_year: int | None
    """Year of ``g_per_kwh`` (None for the world row, a mean over the countries' years)."""
    carbon_source: str
    """Where ``g_per_kwh`` comes from."""
    generation_twh: float
    """Annual generation, TWh (the weight of the world mean)."""
    grid_loss_fraction: float | None
    """Transmission-and-distribution loss as a fraction of output; None where unsourced."""
    grid_loss_year: int | None
    """Year of ``grid_loss_fraction``."""
    grid_loss_source: str
    """Where ``grid_loss_fraction`` comes from ('' where None)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def _optional_int(text: str) -> int | None:
    return int(text) if text else None


def _parse_row(fields: dict[str, str]) -> CountryRow:
    loss = fields["grid_loss_fraction"]
    return CountryRow(
        iso_alpha2=fields["iso_alpha2"],
        iso_alpha3=fields["iso_alpha3"],
        country=fields["country"],
        g_per_kwh=float(fields["carbon_intensity_g_per_kwh"]),
        carbon_year=_optional_int(fields["carbon_year"]),
        carbon_source=fields["carbon_source"],
        generation_twh=float(fields["generation_twh"]),
        grid_loss_fraction=float(loss) if loss else None,
        grid_loss_year=_optional_int(fields["grid_loss_year"]),
        grid_loss_source=fields["grid_loss_source"],
    )


@functools.lru_cache(maxsize=1)
def load_table() -> dict[str, CountryRow]:
    """Every row of the embedded table keyed by alpha-2 code (``WORLD`` included); read once."""
    text = resources.files("nature_callback.carbon").joinpath(TABLE_RESOURCE).read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    rows = (_parse_row(fields) for fields in csv.DictReader(lines))
    return {row.iso_alpha2: row for row in rows}


@functools.lru_cache(maxsize=1)
def _alpha3_index() -> dict[str, str]:
    return {row.iso_alpha3: row.iso_alpha2 for row in load_table().values()}


def find_country(code: str | None) -> CountryRow | None:
    """The row for an alpha-2 or alpha-3 code (any case), ``WORLD``, or None if unknown."""
    if not code:
        return None
    key = code.strip().upper()
    table = load_table()
    return table.get(key) or table.get(_alpha3_index().get(key, ""))


def require_country(code: str, what: str = "country") -> CountryRow:
    """The row for ``code``; a ConfigurationError naming ``what`` and the code if unknown."""
    row = find_country(code) if isinstance(code, str) else None
    if row is None:
        raise ConfigurationError(
            f"{what}={code!r} is not a country of the embedded carbon table: use an ISO 3166 "
            "alpha-2 code such as 'DE', 'US' or 'IN' (or 'WORLD'), or pass a number in "
            "g CO2e/kWh."
        )
    return row


def country_of_zone(zone: str | None) -> str | None:
    """The alpha-2 country of a grid zone: ``DE`` -> ``DE``, ``US-CAL-CISO`` -> ``US``.

    None when the zone names no country of the table (e.g. WattTime's ``CAISO_NORTH``).
    """
    if not zone:
        return None
    row = find_country(zone) or find_country(zone.split("-", 1)[0])
    return row.iso_alpha2 if row else None


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
            from nature_callback.carbon.location import resolve_location

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
