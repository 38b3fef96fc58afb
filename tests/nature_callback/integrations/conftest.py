"""Fixtures of the integration tests: fake hardware for every tracker a callback builds."""

from __future__ import annotations

from typing import Any

import pytest

from nature_callback.config import NatureConfig
from nature_callback.tracker import NatureTracker
from tests.nature_callback.fakes import FakeClock, FakeMeter


def patch_fake_hardware(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Make every ``NatureTracker.from_config`` (what the callback builds its tracker with)
    meter a ``FakeMeter`` (80 W package + 20 W DRAM) and time on one ``FakeClock``."""
    clock = FakeClock()
    build = NatureTracker.from_config.__func__  # type: ignore[attr-defined]

    def from_config(cls: type[NatureTracker], config: NatureConfig,
                    **kwargs: Any) -> NatureTracker:
        kwargs.setdefault("meter", FakeMeter(clock))
        kwargs.setdefault("clock", clock)
        return build(cls, config, **kwargs)

    monkeypatch.setattr(NatureTracker, "from_config", classmethod(from_config))
    return clock


@pytest.fixture()
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock of the fake hardware; pass it to ``make_module`` so training moves it."""
    return patch_fake_hardware(monkeypatch)
