"""Location: parameter -> NATURE_COUNTRY -> time zone -> world (one warning); IP on request."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from nature_callback.carbon import country_from_timezone, locate_by_ip, resolve_location
from nature_callback.carbon.location import system_timezone
from nature_callback.exceptions import CarbonError, CarbonWarning, ConfigurationError
from tests.nature_callback.carbon.fake_services import FakeService, Reply


@pytest.mark.parametrize(("zone", "country"), [
    ("Europe/Berlin", "DE"), ("Europe/London", "GB"), ("Europe/Paris", "FR"),
    ("America/New_York", "US"), ("America/Los_Angeles", "US"), ("America/Sao_Paulo", "BR"),
    ("Asia/Kolkata", "IN"), ("Asia/Shanghai", "CN"), ("Asia/Tokyo", "JP"),
    ("Asia/Seoul", "KR"), ("Australia/Sydney", "AU"), ("America/Toronto", "CA"),
    ("Europe/Zurich", "CH"), ("Asia/Singapore", "SG"),
    # aliases, resolved through the links of tzdata.zi
    ("Asia/Calcutta", "IN"), ("US/Eastern", "US"), ("Europe/Kiev", "UA"), ("GB", "GB"),
])
def test_common_time_zones_map_to_their_country(zone: str, country: str) -> None:
    assert country_from_timezone(zone) == country


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Etc/GMT+3", "", None, "Mars/Olympus"])
def test_zones_without_a_country_map_to_none(zone: str | None) -> None:
    assert country_from_timezone(zone) is None


def test_system_timezone_reads_tz_then_etc_timezone_then_localtime_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", ":Europe/Paris")
    assert system_timezone(tmp_path) == "Europe/Paris"
    monkeypatch.delenv("TZ")
    (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert system_timezone(tmp_path) == "Asia/Tokyo"
    (tmp_path / "timezone").write_text("Europe/Madrid\n")
    assert system_timezone(tmp_path) == "Europe/Madrid"


def test_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.setenv("NATURE_COUNTRY", "fr")
    explicit = resolve_location("de")
    assert (explicit.country, explicit.source) == ("DE", "parameter")
    from_env = resolve_location()
    assert (from_env.country, from_env.source) == ("FR", "environment")
    monkeypatch.delenv("NATURE_COUNTRY")
    from_zone = resolve_location()
    assert (from_zone.country, from_zone.source, from_zone.detail) == \
        ("JP", "timezone", "Asia/Tokyo")


def test_bad_nature_country_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATURE_COUNTRY", "Germany")
    with pytest.raises(ConfigurationError, match="NATURE_COUNTRY='Germany'"):
        resolve_location()


def test_unknown_location_warns_once_with_how_to_set_it() -> None:
    with pytest.warns(CarbonWarning, match="NATURE_COUNTRY") as record:
        first = resolve_location()
        second = resolve_location()
    assert first.country is None and first.source == "none" and second.country is None
    assert sum(issubclass(w.category, CarbonWarning) for w in record) == 1


def test_ip_geolocation_only_when_asked(service: FakeService,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    service.route("/json", Reply({"ip": "203.0.113.7", "country": "NZ"}))
    with pytest.warns(CarbonWarning):
        assert resolve_location(ip_url=service.url + "/json").country is None
    assert service.requests == []
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # asked for, IP comes before the time zone
    located = resolve_location(ip_geolocation=True, ip_url=service.url + "/json")
    assert (located.country, located.source) == ("NZ", "ip")
    monkeypatch.setenv("NATURE_COUNTRY", "FR")  # ... but after an explicit setting
    assert resolve_location(ip_geolocation=True, ip_url=service.url + "/json").country == "FR"
    monkeypatch.delenv("NATURE_COUNTRY")
    service.route("/json", Reply({"country_code": "CL"}))
    assert locate_by_ip(service.url + "/json") == "CL"


def test_ip_geolocation_has_its_own_timeout_and_falls_back(
        service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    service.route("/json", Reply({"country": "NZ"}, delay_s=30))
    started = time.perf_counter()
    with pytest.raises(CarbonError, match="timed out"):
        locate_by_ip(service.url + "/json", timeout_s=0.2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        located = resolve_location(ip_geolocation=True, ip_url=service.url + "/json",
                                   ip_timeout_s=0.2)
    assert located.country is None
    assert any("IP geolocation failed" in str(w.message) for w in record)
    assert time.perf_counter() - started < 3.0  # two 0.2 s timeouts, not the 30 s delay
    monkeypatch.setenv("TZ", "Europe/Rome")
    fallback = resolve_location(ip_geolocation=True, ip_url=service.url + "/json",
                                ip_timeout_s=0.2)
    assert (fallback.country, fallback.source) == ("IT", "timezone")
