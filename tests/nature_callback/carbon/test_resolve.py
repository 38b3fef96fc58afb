"""resolve_provider: a provider, a country code, a number, or None (location resolution)."""

from __future__ import annotations

import pytest

from nature_callback.carbon import (
    WORLD_AVERAGE_G_PER_KWH,
    ElectricityMaps,
    EmbeddedTable,
    Fixed,
    UKGrid,
    grid_loss_for,
    resolve_provider,
)
from nature_callback.exceptions import CarbonWarning, ConfigurationError
from tests.nature_callback.carbon.conftest import TOKEN


def test_a_provider_is_used_as_is() -> None:
    provider = UKGrid()
    assert resolve_provider(provider) is provider


def test_a_number_is_a_fixed_intensity() -> None:
    provider = resolve_provider(212)
    assert isinstance(provider, Fixed) and provider.intensity().g_per_kwh == 212.0


@pytest.mark.parametrize("bad", [-1.0, 5000, float("nan"), True])
def test_an_implausible_number_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="carbon=|g_per_kwh="):
        resolve_provider(bad)


def test_a_country_code_is_the_embedded_table() -> None:
    provider = resolve_provider("fr")
    assert isinstance(provider, EmbeddedTable) and provider.intensity().zone == "FR"


def test_an_unknown_country_code_is_named() -> None:
    with pytest.raises(ConfigurationError, match="'XX'"):
        resolve_provider("XX")


def test_other_types_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="carbon="):
        resolve_provider(["DE"])  # type: ignore[arg-type]


def test_none_uses_nature_country(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATURE_COUNTRY", "NO")
    assert resolve_provider(None).intensity().zone == "NO"


def test_none_uses_the_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Warsaw")
    assert resolve_provider(None).intensity().zone == "PL"


def test_none_without_location_is_the_world_average_with_one_warning() -> None:
    with pytest.warns(CarbonWarning, match="world average") as record:
        first = resolve_provider(None).intensity()
        resolve_provider(None)
    assert first.zone == "WORLD"
    assert first.g_per_kwh == pytest.approx(WORLD_AVERAGE_G_PER_KWH, abs=0.005)
    assert sum(issubclass(w.category, CarbonWarning) for w in record) == 1


def test_none_goes_live_when_an_electricity_maps_key_is_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", TOKEN)
    monkeypatch.setenv("NATURE_COUNTRY", "DE")
    provider = resolve_provider(None)
    assert isinstance(provider, ElectricityMaps) and provider.zone == "DE"


def test_fixed_zone_names_the_loss_country() -> None:
    value = Fixed(300.0, zone="DE").intensity()
    assert value.country == "DE" and grid_loss_for(value).zone == "DE"
    assert grid_loss_for(Fixed(300.0).intensity()).zone == "WORLD"
