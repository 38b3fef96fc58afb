"""The embedded table: it loads, covers the big producers, and its values are plausible."""

from __future__ import annotations

import math

import pytest

from nature_callback.carbon import (
    WORLD_AVERAGE_G_PER_KWH,
    WORLD_GRID_LOSS,
    EmbeddedTable,
    GridLoss,
    grid_loss_for,
    load_table,
)
from nature_callback.carbon.base import CarbonIntensity
from nature_callback.carbon.table import country_of_zone, find_country
from nature_callback.exceptions import ConfigurationError


def countries() -> list:
    return [row for code, row in load_table().items() if code != "WORLD"]


def test_table_loads_world_row_and_every_country_with_year_and_source() -> None:
    table = load_table()
    assert len(countries()) == 213
    world = table["WORLD"]  # the constants state the data file's figures to their decimals
    assert world.g_per_kwh == pytest.approx(WORLD_AVERAGE_G_PER_KWH, abs=0.005)
    assert world.grid_loss_fraction == pytest.approx(WORLD_GRID_LOSS, abs=5e-5)
    for row in countries():
        assert len(row.iso_alpha2) == 2 and len(row.iso_alpha3) == 3, row
        assert row.carbon_year is not None and 2009 <= row.carbon_year <= 2023, row
        assert "Ember" in row.carbon_source and "CC BY 4.0" in row.carbon_source
        if row.grid_loss_fraction is not None:
            assert row.grid_loss_year in (2022, 2023), row
            assert "EG.ELC.LOSS.ZS" in row.grid_loss_source
        else:
            assert row.grid_loss_year is None and row.grid_loss_source == ""


def test_world_average_is_the_generation_weighted_mean_of_the_rows() -> None:
    rows = countries()
    total_twh = sum(row.generation_twh for row in rows)
    weighted = sum(row.g_per_kwh * row.generation_twh for row in rows) / total_twh
    assert weighted == pytest.approx(WORLD_AVERAGE_G_PER_KWH, abs=0.01)
    assert load_table()["WORLD"].generation_twh == pytest.approx(total_twh, abs=0.01)


def test_every_country_over_one_percent_of_world_generation_has_both_figures() -> None:
    rows = countries()
    total_twh = sum(row.generation_twh for row in rows)
    big = {row.iso_alpha2: row for row in rows if row.generation_twh / total_twh > 0.01}
    # the 15 producers above 1 % in the seed data (Ember / Energy Institute 2022-2023)
    assert set(big) == {"CN", "US", "IN", "RU", "JP", "BR", "CA", "KR", "FR", "DE", "SA", "IR",
                        "MX", "ID", "TR"}
    assert all(row.grid_loss_fraction is not None for row in big.values())
    covered_twh = sum(row.generation_twh for row in rows if row.grid_loss_fraction is not None)
    assert covered_twh / total_twh > 0.95


def test_values_are_plausible() -> None:
    for row in load_table().values():
        assert math.isfinite(row.g_per_kwh) and 0 <= row.g_per_kwh <= 1400, row
        assert row.generation_twh >= 0
        if row.grid_loss_fraction is not None:
            assert 0 <= row.grid_loss_fraction < 0.7, row
    table = load_table()
    # well-known orders of magnitude: hydro/nuclear-heavy vs coal-heavy grids
    assert table["FR"].g_per_kwh < 100 < table["DE"].g_per_kwh < table["IN"].g_per_kwh
    assert 0.03 < table["US"].grid_loss_fraction < 0.08
    assert 0.10 < table["IN"].grid_loss_fraction < 0.25


def test_lookup_by_alpha2_alpha3_any_case_and_zone() -> None:
    assert find_country("de").iso_alpha2 == "DE"
    assert find_country("DEU").iso_alpha2 == "DE"
    assert find_country("NA").country == "Namibia"  # not parsed as a missing value
    assert find_country("XX") is None
    assert country_of_zone("US-CAL-CISO") == "US"
    assert country_of_zone("CAISO_NORTH") is None


def test_embedded_table_provider() -> None:
    value = EmbeddedTable("de").intensity()
    assert value.g_per_kwh == load_table()["DE"].g_per_kwh
    assert value.zone == "DE" and value.country == "DE"
    assert value.is_estimated and not value.is_stale
    assert value.source.startswith("embedded table DE (Ember")
    assert "2023" in value.source


def test_unknown_country_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="'XX'"):
        EmbeddedTable("XX")


def test_grid_loss_of_a_country_a_zone_and_an_intensity() -> None:
    germany = grid_loss_for("DE")
    assert isinstance(germany, GridLoss)
    assert germany.fraction == load_table()["DE"].grid_loss_fraction
    assert (germany.zone, germany.year) == ("DE", load_table()["DE"].grid_loss_year)
    assert "EG.ELC.LOSS.ZS" in germany.source and "DE" in germany.source
    assert grid_loss_for("US-NY-NYIS").zone == "US"
    value = CarbonIntensity(400, zone="CAISO_NORTH", source="watttime", country="US")
    assert grid_loss_for(value).zone == "US"
    assert germany.to_dict()["fraction"] == germany.fraction


@pytest.mark.parametrize("where", [None, "CAISO_NORTH", "AF"])
def test_grid_loss_falls_back_to_the_world_figure_and_says_why(where: str | None) -> None:
    loss = grid_loss_for(where)
    assert loss.fraction == pytest.approx(WORLD_GRID_LOSS, abs=5e-5)
    assert loss.zone == "WORLD" and loss.year == 2022
    assert ("location unknown" if where is None else f"no figure for {where!r}") in loss.source
