"""The disk cache: every entry is checked on load like a live payload; bad ones are dropped."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from nature_callback.carbon import (
    CarbonIntensity,
    CarbonMonitor,
    ElectricityMaps,
    IntensityCache,
    load_table,
)
from nature_callback.carbon.cache import CACHE_FILE, MAX_CLOCK_SKEW_S
from nature_callback.exceptions import CarbonWarning
from tests.nature_callback.carbon.conftest import TOKEN

A_YEAR_S = 365 * 24 * 3600.0


def good_entry(**changes: Any) -> dict[str, Any]:
    """A valid disk entry fetched a minute ago; ``changes`` replace its intensity fields."""
    intensity = CarbonIntensity(250.0, zone="DE", source="electricitymaps (lifecycle)",
                                country="DE").to_dict()
    return {"intensity": {**intensity, **changes}, "fetched_at": time.time() - 60.0}


def write_cache(folder: Path, entries: dict[str, Any]) -> Path:
    path = folder / CACHE_FILE
    path.write_text(json.dumps({"version": 1, "entries": entries}))  # NaN written as NaN
    return path


INVALID = {
    "value is a string": (good_entry(g_per_kwh="abc"), "'g_per_kwh' should be int or float"),
    "NaN value": (good_entry(g_per_kwh=math.nan), "g_per_kwh=nan is not a finite number"),
    "negative value": (good_entry(g_per_kwh=-500), "outside the plausible range"),
    "absurd value": (good_entry(g_per_kwh=1e308), "outside the plausible range"),
    "entry is a string": ("abc", "expected 'fetched_at' in a str"),
    "zone missing": ({"intensity": {"g_per_kwh": 250.0, "source": "x"},
                      "fetched_at": time.time()}, "expected 'zone'"),
    "bad timestamp": (good_entry(timestamp="yesterday"), "not an ISO 8601 time"),
    "fetched a year ahead": ({**good_entry(), "fetched_at": time.time() + A_YEAR_S},
                             "in the future"),
    "fetched at NaN": ({**good_entry(), "fetched_at": math.nan}, "not a finite time"),
    "fetched at a string": ({**good_entry(), "fetched_at": "now"},
                            "'fetched_at' should be int or float"),
}


@pytest.mark.parametrize("name", INVALID)
def test_an_invalid_entry_is_dropped_with_one_warning(name: str, tmp_path: Path) -> None:
    entry, error = INVALID[name]
    path = write_cache(tmp_path, {"bad": entry, "good": good_entry()})
    cache = IntensityCache(tmp_path)
    with pytest.warns(CarbonWarning) as record:
        assert cache.get("bad") is None
    assert cache.get("good").intensity.g_per_kwh == 250.0  # the other entries are kept
    [warning] = record
    message = str(warning.message)
    assert str(path) in message and "entry 'bad'" in message and error in message


def test_several_invalid_entries_give_one_warning(tmp_path: Path) -> None:
    write_cache(tmp_path, {key: entry for key, (entry, _) in INVALID.items()})
    with pytest.warns(CarbonWarning) as record:
        assert IntensityCache(tmp_path).get("NaN value") is None
    assert len(record) == 1
    assert "and 5 more" in str(record[0].message)


def test_a_small_clock_skew_is_tolerated(tmp_path: Path) -> None:
    ahead = {**good_entry(), "fetched_at": time.time() + MAX_CLOCK_SKEW_S / 2}
    write_cache(tmp_path, {"ahead": ahead})
    assert IntensityCache(tmp_path).get("ahead").intensity.g_per_kwh == 250.0


@pytest.mark.parametrize(("content", "error"), [
    (b"[" * 20_000, "nested too deeply"),
    (b'{"version": 1, "entries": "\xff"}', "not UTF-8 text"),
    (b'{"version": 1, "entries": []}', "'entries' should be dict, got list"),
    (b"[1, 2]", "expected a JSON object"),
])
def test_an_unreadable_file_is_one_warning(content: bytes, error: str, tmp_path: Path) -> None:
    (tmp_path / CACHE_FILE).write_bytes(content)
    with pytest.warns(CarbonWarning, match=error) as record:
        assert IntensityCache(tmp_path).get("any") is None
    assert len(record) == 1 and str(tmp_path / CACHE_FILE) in str(record[0].message)


@pytest.mark.parametrize("name", ["value is a string", "NaN value", "fetched a year ahead"])
def test_a_monitor_never_starts_from_an_invalid_entry(name: str, tmp_path: Path) -> None:
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url="https://api.example.org")
    write_cache(tmp_path, {provider.cache_key: INVALID[name][0]})
    with pytest.warns(CarbonWarning, match="carbon cache"):
        value = CarbonMonitor(provider, cache=IntensityCache(tmp_path)).current()
    assert value.g_per_kwh == load_table()["DE"].g_per_kwh
    assert value.source.endswith("until electricitymaps answers")
