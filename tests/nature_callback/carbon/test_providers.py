"""The three live services, against a real local HTTP server serving their shapes."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from nature_callback.carbon import ElectricityMaps, UKGrid, WattTime, load_table
from nature_callback.carbon import watttime as watttime_module
from nature_callback.carbon.ukgrid import outward_code
from nature_callback.exceptions import CarbonError, ConfigurationError
from tests.nature_callback.carbon.conftest import FAST, TOKEN, WT_PASSWORD, WT_USER
from tests.nature_callback.carbon.fake_services import (
    FakeService,
    Reply,
    em_latest,
    uk_national,
    uk_regional,
    wt_points,
)

LATEST = "/v3/carbon-intensity/latest"


def em(service: FakeService, **kwargs: object) -> ElectricityMaps:
    kwargs.setdefault("zone", "DE")
    return ElectricityMaps(token=TOKEN, base_url=service.url, http=FAST, **kwargs)


def test_electricitymaps_latest_by_zone(service: FakeService) -> None:
    service.route(LATEST, Reply(em_latest(466, zone="DE")))
    value = em(service).intensity()
    assert (value.g_per_kwh, value.zone, value.country) == (466.0, "DE", "DE")
    assert value.source == "electricitymaps (lifecycle)"
    assert value.is_estimated and not value.is_stale
    assert value.timestamp == datetime(2026, 5, 3, 10, 0, tzinfo=timezone.utc)
    [request] = service.requests
    assert request.query == {"zone": ["DE"]}
    assert request.headers["auth-token"] == TOKEN


def test_electricitymaps_by_coordinates_and_token_from_environment(
        service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", TOKEN)
    service.route(LATEST, Reply(em_latest(120, zone="FR", isEstimated=False)))
    provider = ElectricityMaps(lat=48.85, lon=2.35, base_url=service.url, http=FAST)
    value = provider.intensity()
    assert (value.g_per_kwh, value.zone, value.is_estimated) == (120.0, "FR", False)
    assert service.requests[0].query == {"lat": ["48.85"], "lon": ["2.35"]}
    assert service.requests[0].headers["auth-token"] == TOKEN


def test_electricitymaps_history(service: FakeService) -> None:
    service.route("/v3/carbon-intensity/history", Reply(
        {"zone": "DE", "history": [em_latest(300), em_latest(310)]}))
    assert [v.g_per_kwh for v in em(service).history()] == [300.0, 310.0]


def test_electricitymaps_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="ELECTRICITYMAPS_API_KEY"):
        ElectricityMaps(zone="DE")
    with pytest.raises(ConfigurationError, match="lat and lon"):
        ElectricityMaps(token=TOKEN, lat=1.0)
    with pytest.raises(ConfigurationError, match="lat=91"):
        ElectricityMaps(token=TOKEN, lat=91, lon=0)
    with pytest.raises(ConfigurationError, match="needs a location"), \
            pytest.warns(match="world average"):
        ElectricityMaps(token=TOKEN)
    monkeypatch.setenv("NATURE_COUNTRY", "PL")
    assert ElectricityMaps(token=TOKEN).zone == "PL"


def test_https_by_default_and_no_credentials_over_plain_http() -> None:
    assert ElectricityMaps(token=TOKEN, zone="DE").base_url.startswith("https://")
    assert UKGrid().base_url.startswith("https://")
    with pytest.raises(ConfigurationError, match="unencrypted"):
        ElectricityMaps(token=TOKEN, zone="DE", base_url="http://mirror.example.org")
    with pytest.raises(ConfigurationError, match="http"):
        UKGrid(base_url="ftp://example.org")
    assert UKGrid(base_url="http://mirror.example.org/").base_url == "http://mirror.example.org"


def test_ukgrid_national_actual_then_forecast(service: FakeService) -> None:
    service.route("/intensity", Reply(uk_national(actual=263, forecast=266)),
                  Reply(uk_national(actual=None, forecast=266)))
    provider = UKGrid(base_url=service.url, http=FAST)
    measured = provider.intensity()
    assert (measured.g_per_kwh, measured.zone, measured.is_estimated) == (263.0, "GB", False)
    assert measured.source == "ukgrid national, actual"
    assert measured.timestamp == datetime(2026, 5, 3, 10, 0, tzinfo=timezone.utc)
    forecast = provider.intensity()
    assert (forecast.g_per_kwh, forecast.is_estimated) == (266.0, True)
    assert forecast.source == "ukgrid national, forecast"


def test_ukgrid_regional_by_postcode_sends_only_the_outward_code(service: FakeService) -> None:
    service.route("/regional/postcode/RG10", Reply(uk_regional(126)))
    value = UKGrid("rg10 9xx", base_url=service.url, http=FAST).intensity()
    assert (value.g_per_kwh, value.zone, value.country) == (126.0, "GB-South England", "GB")
    assert value.is_estimated and "regional RG10" in value.source
    assert [r.path for r in service.requests] == ["/regional/postcode/RG10"]


def test_ukgrid_forecasts(service: FakeService) -> None:
    slots = uk_national(actual=None, forecast=200)["data"] * 3
    service.route("/intensity/2026-05-03T10:00Z/fw24h", Reply({"data": slots}))
    start = datetime(2026, 5, 3, 10, 0, tzinfo=timezone.utc)
    values = UKGrid(base_url=service.url, http=FAST).forecast_24h(start)
    assert [v.g_per_kwh for v in values] == [200.0] * 3
    region = uk_regional(90)["data"][0]
    service.route("/regional/intensity/2026-05-03T10:00Z/fw24h/postcode/RG10", Reply(
        {"data": region}))
    [value] = UKGrid("RG10", base_url=service.url, http=FAST).forecast_24h(start)
    assert value.g_per_kwh == 90.0


@pytest.mark.parametrize(("postcode", "outward"), [
    ("RG10", "RG10"), ("sw1a 1aa", "SW1A"), ("M11AE", "M1"), ("EC1A1BB", "EC1A")])
def test_outward_code(postcode: str, outward: str) -> None:
    assert outward_code(postcode) == outward


@pytest.mark.parametrize("postcode", ["", "12345", "RG10 9XX 1", "!!"])
def test_bad_postcode_is_a_configuration_error(postcode: str) -> None:
    with pytest.raises(ConfigurationError, match="postcode="):
        UKGrid(postcode)


def wt(service: FakeService, **kwargs: object) -> WattTime:
    kwargs.setdefault("region", "CAISO_NORTH")
    kwargs.setdefault("country", "US")
    return WattTime(WT_USER, WT_PASSWORD, base_url=service.url, http=FAST, **kwargs)


def login_replies(*tokens: str) -> list[Reply]:
    return [Reply({"token": token}) for token in tokens]


def test_watttime_logs_in_with_basic_auth_and_converts_lbs_per_mwh(service: FakeService) -> None:
    service.route("/login", *login_replies("bearer-1"))
    service.route("/v3/forecast", Reply(wt_points(1000.0)))
    value = wt(service).intensity()
    assert value.g_per_kwh == pytest.approx(453.59237)  # 1000 lbs/MWh
    assert (value.zone, value.country, value.signal_index_percent) == ("CAISO_NORTH", "US", None)
    assert "marginal" in value.source and "lbs_co2_per_mwh" in value.source
    login, forecast = service.requests
    expected = base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
    assert login.headers["Authorization"] == f"Basic {expected}"
    assert forecast.headers["Authorization"] == "Bearer bearer-1"
    assert forecast.query == {"region": ["CAISO_NORTH"], "signal_type": ["co2_moer"],
                              "horizon_hours": ["0"]}


def test_watttime_reuses_its_token_and_renews_it_on_401(service: FakeService) -> None:
    service.route("/login", *login_replies("bearer-1", "bearer-2"))
    service.route("/v3/forecast", Reply(wt_points(800.0)),
                  Reply({"error": "expired"}, status=401), Reply(wt_points(900.0)))
    provider = wt(service)
    assert provider.intensity().g_per_kwh == pytest.approx(800 * 0.45359237)
    assert provider.intensity().g_per_kwh == pytest.approx(900 * 0.45359237)
    assert len(service.requests_to("/login")) == 2
    tokens = [r.headers["Authorization"] for r in service.requests_to("/v3/forecast")]
    assert tokens == ["Bearer bearer-1", "Bearer bearer-1", "Bearer bearer-2"]


def test_watttime_renews_an_expired_token_before_the_request(
        service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watttime_module, "TOKEN_LIFETIME_S", watttime_module.TOKEN_RENEW_MARGIN_S)
    service.route("/login", *login_replies("bearer-1", "bearer-2"))
    service.route("/v3/forecast", Reply(wt_points(800.0)))
    provider = wt(service)
    provider.intensity()
    provider.intensity()
    assert len(service.requests_to("/login")) == 2
    assert service.requests_to("/v3/forecast")[1].headers["Authorization"] == "Bearer bearer-2"


def test_watttime_gives_up_after_a_second_401(service: FakeService) -> None:
    service.route("/login", *login_replies("bearer-1", "bearer-2"))
    service.route("/v3/forecast", Reply({"error": "no"}, status=401))
    with pytest.raises(CarbonError, match="HTTP 401"):
        wt(service).intensity()
    assert len(service.requests_to("/login")) == 2


def test_watttime_percentile_only_account_is_labelled_as_such(service: FakeService) -> None:
    service.route("/login", *login_replies("bearer-1"))
    service.route("/v3/forecast", Reply({"error": "no access"}, status=403))
    service.route("/v3/signal-index", Reply(wt_points(37.0, units="percentile")))
    value = wt(service).intensity()
    assert value.signal_index_percent == 37.0
    assert value.g_per_kwh == load_table()["US"].g_per_kwh
    assert value.is_estimated
    assert "percentile only" in value.source and "embedded table US" in value.source


def test_watttime_region_from_coordinates(service: FakeService) -> None:
    service.route("/login", *login_replies("bearer-1"))
    service.route("/v3/region-from-loc", Reply(
        {"region": "PJM_DC", "region_full_name": "PJM DC", "signal_type": "co2_moer"}))
    service.route("/v3/forecast", Reply(wt_points(1000.0, region="PJM_DC")))
    provider = WattTime(WT_USER, WT_PASSWORD, lat=38.9, lon=-77.0, country="US",
                        base_url=service.url, http=FAST)
    assert provider.intensity().zone == "PJM_DC"
    assert service.requests_to("/v3/region-from-loc")[0].query["latitude"] == ["38.9"]
    assert service.requests_to("/v3/forecast")[0].query["region"] == ["PJM_DC"]


def test_watttime_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="WATTTIME_USERNAME"):
        WattTime(region="CAISO_NORTH")
    monkeypatch.setenv("WATTTIME_USERNAME", WT_USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", WT_PASSWORD)
    with pytest.raises(ConfigurationError, match="region"):
        WattTime(country="US")
    assert WattTime(region="DE").country == "DE"
