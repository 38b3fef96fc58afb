"""The rows of the embedded per-country table, and lookups by ISO 3166 code or grid zone.

This module depends on nothing else in ``nature_callback.carbon`` but the package's data file:
``location`` checks codes against it and ``table`` builds providers and the loss term on it.
The data file ``data/grid_table.csv`` ships inside the package; its header comment and
``docs/carbon.md`` give the provenance (Ember / Energy Institute via Our World in Data,
World Bank WDI EG.ELC.LOSS.ZS, both CC BY 4.0).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import asdict, dataclass
from typing import Any

from nature_callback.exceptions import ConfigurationError

TABLE_RESOURCE = "data/grid_table.csv"
"""Path of the table inside the ``nature_callback.carbon`` package."""

WORLD = "WORLD"
"""Key of the world-average row."""


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
    from importlib import resources  # only when the table is first needed

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
