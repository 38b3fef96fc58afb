"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from tests.nature_callback.fakes import FakeClock
from tests.nature_callback.integrations.helpers import patch_fake_hardware


@pytest.fixture()
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Fake hardware for every tracker a callback builds; pass the clock to ``make_module`` so
    that training moves it."""
    return patch_fake_hardware(monkeypatch)
