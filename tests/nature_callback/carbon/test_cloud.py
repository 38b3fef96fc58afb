"""Cloud regions: the embedded region table, carbon="aws:eu-west-1", and the live zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback import NatureTracker
from nature_callback.carbon import (
    CarbonMonitor,
    ElectricityMaps,
    EmbeddedTable,
    IntensityCache,
    grid_loss_for,
    load_table,
    resolve_provider,
)
from nature_callback.carbon.cloud import (
    CLOUD_PROVIDERS,
    CloudRegionElectricityMaps,
    CloudRegionTable,
    cloud_region_provider,
    find_cloud_region,
    load_cloud_regions,
)
from nature_callback.exceptions import CarbonWarning, ConfigurationError
from tests.nature_callback.carbon.conftest import FAST, TOKEN
from tests.nature_callback.carbon.fake_services import FakeService, Reply, em_latest
from tests.nature_callback.fakes import FakeClock, FakeMeter

LATEST = "/v3/carbon-intensity/latest"
ROWS = list(load_cloud_regions().values())


def test_every_row_is_valid() -> None:
    countries = load_table()
    assert {row.provider for row in ROWS} == set(CLOUD_PROVIDERS)
    for row in ROWS:
        assert row.country in countries and row.country != "WORLD", row.spec
        assert row.source.startswith("https://"), row.spec
        assert row.region == row.region.strip().lower() and " " not in row.region, row.spec
        assert row.location.strip(), row.spec
        if row.electricitymaps_zone:  # a zone lies in the row's country (US-CAL-CISO -> US)
            assert row.electricitymaps_zone.split("-")[0] == row.country, row.spec
        # a row that differs from a cross-check says why
        if row.codecarbon_country and row.codecarbon_country != row.country:
            assert row.note, row.spec
        if row.gsf_zone and row.gsf_zone != row.zone:
            assert row.note, row.spec


def test_no_duplicate_regions_and_each_provider_is_covered() -> None:
    from importlib import resources

    text = resources.files("nature_callback.carbon").joinpath("data/cloud_regions.csv") \
        .read_text("utf-8")
    data = [line for line in text.splitlines() if line and not line.startswith("#")][1:]
    specs = [":".join(line.split(",")[:2]) for line in data]
    assert len(specs) == len(set(specs)) == len(ROWS)
    counts = {provider: sum(row.provider == provider for row in ROWS)
              for provider in CLOUD_PROVIDERS}
    assert counts["aws"] >= 30 and counts["gcp"] >= 40 and counts["azure"] >= 50, counts


def test_the_documented_row_counts_match_the_table() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "carbon.md").read_text("utf-8")
    counts = {provider: sum(row.provider == provider for row in ROWS)
              for provider in CLOUD_PROVIDERS}
    assert (f"({len(ROWS)} rows: AWS {counts['aws']}, Google Cloud {counts['gcp']}, "
            f"Azure {counts['azure']})") in " ".join(docs.split())


@pytest.mark.parametrize(("spec", "country", "zone"), [
    ("aws:eu-west-1", "IE", "IE"),
    ("gcp:europe-west4", "NL", "NL"),
    ("azure:westeurope", "NL", "NL"),
    ("aws:us-east-1", "US", "US-MIDA-PJM"),
    ("aws:us-west-1", "US", "US-CAL-CISO"),
    ("gcp:us-central1", "US", "US-MIDW-MISO"),
    ("azure:northeurope", "IE", "IE"),
    ("aws:ap-northeast-1", "JP", "JP-TK"),
])
def test_known_mappings(spec: str, country: str, zone: str) -> None:
    row = find_cloud_region(spec)
    assert (row.country, row.zone) == (country, zone)


def test_offline_a_region_is_its_countrys_table_row_and_grid_loss() -> None:
    provider = resolve_provider("aws:eu-west-1")
    assert isinstance(provider, CloudRegionTable) and not provider.is_live
    value = provider.intensity()
    table = EmbeddedTable("IE").intensity()
    assert (value.g_per_kwh, value.zone, value.country) == (table.g_per_kwh, "IE", "IE")
    assert value.source.startswith("aws:eu-west-1 → IE (Dublin), embedded table IE (")
    assert grid_loss_for(value) == grid_loss_for("IE")
    assert provider.describe() == {"provider": "embedded-table", "country": "IE",
                                   "cloud_region": "aws:eu-west-1"}


@pytest.mark.parametrize("spec", [" AWS:eu-west-1 ", "Aws : EU-West-1", "\tgcp:europe-west4\n",
                                  "AZURE:West Europe"])
def test_provider_case_and_whitespace_are_accepted(spec: str) -> None:
    assert find_cloud_region(spec).spec in {"aws:eu-west-1", "gcp:europe-west4",
                                            "azure:westeurope"}


def test_an_unknown_region_lists_close_matches() -> None:
    with pytest.raises(ConfigurationError, match="aws:eu-west-2") as error:
        resolve_provider("aws:eu-west-7")
    assert "'eu-west-7'" in str(error.value) and "country code" in str(error.value)
    with pytest.raises(ConfigurationError, match="gcp:europe-west4"):
        resolve_provider("gcp:europe-west44")
    with pytest.raises(ConfigurationError, match="azure:westeurope"):
        resolve_provider("azure:westeuropa")
    with pytest.raises(ConfigurationError, match="no close match"):
        resolve_provider("aws:zzzz")
    with pytest.raises(ConfigurationError, match="Government and China"):
        resolve_provider("aws:us-gov-west-1")


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="'oracle'.*aws, azure, gcp"):
        resolve_provider("oracle:eu-frankfurt-1")
    with pytest.raises(ConfigurationError, match="known providers"):
        resolve_provider(":eu-west-1")


def test_a_bare_region_name_says_which_prefix_to_add() -> None:
    with pytest.raises(ConfigurationError, match="'aws:eu-west-1'"):
        resolve_provider("eu-west-1")
    assert resolve_provider("de").intensity().zone == "DE"  # country codes are unchanged


def test_with_a_key_the_region_goes_live_for_its_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", TOKEN)
    provider = resolve_provider("aws:us-west-1")
    assert isinstance(provider, ElectricityMaps) and provider.is_live
    assert (provider.zone, provider.country) == ("US-CAL-CISO", "US")
    assert provider.describe()["cloud_region"] == "aws:us-west-1"
    assert TOKEN not in repr(provider) and TOKEN not in str(provider.describe())
    assert resolve_provider("azure:swedencentral").zone == "SE"  # no zone in the row: country


def test_live_values_come_from_the_regions_zone(service: FakeService,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", TOKEN)
    service.route(LATEST, Reply(em_latest(212, zone="US-CAL-CISO")))
    provider = cloud_region_provider("aws:us-west-1", base_url=service.url, http=FAST)
    assert isinstance(provider, CloudRegionElectricityMaps)
    value = provider.intensity()
    [request] = service.requests
    assert request.query == {"zone": ["US-CAL-CISO"]}
    assert request.headers["auth-token"] == TOKEN
    assert (value.g_per_kwh, value.zone, value.country) == (212.0, "US-CAL-CISO", "US")
    assert value.source == ("aws:us-west-1 → US-CAL-CISO (Northern California), "
                            "electricitymaps (lifecycle)")
    assert grid_loss_for(value).zone == "US"


def test_a_failing_service_falls_back_to_the_regions_country(
        service: FakeService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", TOKEN)
    service.route(LATEST, Reply(b"", status=404))
    provider = cloud_region_provider("gcp:europe-west4", base_url=service.url, http=FAST)
    monitor = CarbonMonitor(provider, cache=IntensityCache(tmp_path))
    before = monitor.current()  # not looked up yet: the table, labelled with the region
    assert before.source.startswith("gcp:europe-west4 → NL (Eemshaven), embedded table NL")
    with pytest.warns(CarbonWarning, match="electricitymaps failed"):
        value = monitor.refresh_now()
    assert value.zone == "NL" and value.source.startswith("gcp:europe-west4 → NL (Eemshaven)")
    assert "fallback, electricitymaps unavailable" in value.source
    assert service.requests[0].query == {"zone": ["NL"]}


def test_the_tracker_records_the_region(tmp_path: Path) -> None:
    clock = FakeClock()
    with NatureTracker(carbon="azure:westeurope", pue=1.0, output_dir=tmp_path,
                       ledger_path=False, meter=FakeMeter(clock), clock=clock) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
    params = tracker.hyperparameters()
    assert params["nature/carbon/cloud_region"] == "azure:westeurope"
    assert params["nature/carbon_zone"] == "NL"
    assert params["nature/carbon_source"].startswith("azure:westeurope → NL (Netherlands)")
    assert tracker.grid_loss == pytest.approx(load_table()["NL"].grid_loss_fraction)
