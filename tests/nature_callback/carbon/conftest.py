"""Fixtures of the carbon tests: a fake service, fast HTTP limits, an isolated environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nature_callback.carbon import HttpConfig, IntensityCache
from nature_callback.carbon import location as location_module
from tests.nature_callback.carbon.fake_services import FakeService

FAST = HttpConfig(connect_timeout_s=0.5, read_timeout_s=0.5, deadline_s=0.5, max_retries=2,
                  backoff_base_s=0.01, backoff_cap_s=0.02, retry_after_cap_s=0.05,
                  max_body_bytes=4096)
"""Limits that end every fault within one read timeout or deadline (0.5 s, plus one 0.05 s
drip interval past the deadline) or two short waits (0.1 s)."""

FAULT_BOUND_S = 3.0
"""Longest a request may take under FAST, whatever the fault: over 5 times FAST's slowest
outcome (0.55 s), and far below what an ignored limit would cost (the fake service's 30 s
delays, a 120 s Retry-After, a 3 s drip)."""

TOKEN = "em-SECRET-tok-5f1c9a"
WT_USER = "wt-user-SECRET-77"
WT_PASSWORD = "wt-pass-SECRET-3b9"


@pytest.fixture(autouse=True)
def _carbon_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No location, key or cache comes from the machine; the world warning can fire again."""
    for name in ("NATURE_COUNTRY", "ELECTRICITYMAPS_API_KEY", "WATTTIME_USERNAME",
                 "WATTTIME_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "Etc/UTC")
    monkeypatch.setenv("NATURE_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.setattr(location_module, "_warned_world", False)


@pytest.fixture
def service() -> Iterator[FakeService]:
    """A fresh fake service on 127.0.0.1, stopped after the test."""
    fake = FakeService()
    yield fake
    fake.close()


@pytest.fixture
def cache(tmp_path: Path) -> IntensityCache:
    """A cache writing under the test's temporary folder."""
    return IntensityCache(tmp_path / "cache")
