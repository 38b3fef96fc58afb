"""Carbon intensity inside a real Trainer run: live values used, failures never raise nor
reach the training thread, and the API key appears in nothing the run writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nature_callback.carbon import ElectricityMaps, EmbeddedTable
from nature_callback.run_files import read_run
from tests.nature_callback.carbon.conftest import FAST, TOKEN
from tests.nature_callback.carbon.fake_services import FakeService, Reply, em_latest
from tests.nature_callback.fakes import FakeClock
from tests.nature_callback.integrations.helpers import (
    DEFAULT,
    make_callback,
    make_module,
    make_trainer,
    read_scalars,
    train_loader,
    values,
)

LATEST = "/v3/carbon-intensity/latest"


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()
    yield fake
    fake.close()


@pytest.fixture
def provider(service: FakeService, monkeypatch: pytest.MonkeyPatch) -> ElectricityMaps:
    """Electricity Maps on the fake service; each lookup notes whether it ran on the training
    (main) thread in ``provider.on_training_thread``."""
    em = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    lookup = em.intensity
    on_training_thread: list[bool] = []

    def intensity() -> Any:
        on_training_thread.append(threading.current_thread() is threading.main_thread())
        return lookup()

    monkeypatch.setattr(em, "intensity", intensity)
    em.on_training_thread = on_training_thread  # type: ignore[attr-defined]
    return em


def fit_with(provider: ElectricityMaps, tmp_path: Path, clock: FakeClock,
             wait_for_live: bool = False) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Fit two epochs; with ``wait_for_live``, training starts once the first live lookup has
    finished (on a loaded machine it can outlast both short epochs)."""
    callback = make_callback(tmp_path, pue=1.0, carbon=provider)

    class WaitForLiveValue(DEFAULT.Callback):  # type: ignore[misc, name-defined]
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            assert callback.tracker is not None and callback.tracker._monitor is not None
            assert callback.tracker._monitor.wait_for_refresh(timeout_s=10.0)

    extra = [WaitForLiveValue()] if wait_for_live else []
    trainer = make_trainer(tmp_path, callback, epochs=2, logger="tensorboard",
                           callbacks=[callback, *extra])
    trainer.fit(make_module(clock), train_loader())
    scalars = read_scalars(Path(trainer.log_dir))
    summary = read_run(trainer.log_dir).summary
    assert summary is not None
    return {name: values(series) for name, series in scalars.items()}, summary


def assert_key_written_nowhere(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"API key found in {path}"


def test_the_live_value_is_used_for_the_epochs(
    service: FakeService, provider: ElectricityMaps, tmp_path: Path, fake_clock: FakeClock
) -> None:
    service.route(LATEST, Reply(em_latest(value=123, zone="DE")))
    scalars, summary = fit_with(provider, tmp_path, fake_clock, wait_for_live=True)
    assert scalars["nature/carbon_intensity_g_per_kwh"] == [pytest.approx(123.0)] * 2
    assert summary["carbon_source"].startswith("electricitymaps")
    assert service.requests_to(LATEST)[0].headers.get("auth-token") == TOKEN
    assert provider.on_training_thread == [False]  # type: ignore[attr-defined]
    assert_key_written_nowhere(tmp_path)


@pytest.mark.parametrize("reply", [
    Reply(em_latest(), delay_s=5.0),                       # hangs past the read timeout
    Reply({"error": "internal"}, status=500),
    Reply({"error": "bad token " + TOKEN}, status=401),    # a server echoing the key back
    Reply("{not json"),
    Reply(em_latest(value=-40)),
], ids=["slow", "500", "401-echo", "malformed", "negative"])
def test_a_failing_service_falls_back_without_raising_or_blocking(
    service: FakeService, provider: ElectricityMaps, tmp_path: Path, fake_clock: FakeClock,
    reply: Reply
) -> None:
    service.route(LATEST, reply)
    table_g_per_kwh = EmbeddedTable("DE").intensity().g_per_kwh
    scalars, summary = fit_with(provider, tmp_path, fake_clock)
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert scalars["nature/carbon_intensity_g_per_kwh"] == [pytest.approx(table_g_per_kwh)] * 2
    assert "embedded" in summary["carbon_source"]
    # lookups, failing or hanging, run in the monitor's thread only: training never waits
    assert not any(provider.on_training_thread)  # type: ignore[attr-defined]
    assert_key_written_nowhere(tmp_path)
