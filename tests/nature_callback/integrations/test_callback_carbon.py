"""Carbon intensity inside a real Trainer run: live values used, failures never raise or slow
training, and the API key appears in nothing the run writes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nature_callback import NatureCallback
from nature_callback._lightning import LIGHTNING_NAMESPACES
from nature_callback.carbon import ElectricityMaps, EmbeddedTable
from tests.nature_callback.callbacks.test_lightning_callback import (
    loaders,
    make_module,
    make_trainer,
    read_scalars,
)
from tests.nature_callback.carbon.conftest import FAST, TOKEN
from tests.nature_callback.carbon.fake_services import FakeService, Reply, em_latest

LATEST = "/v3/carbon-intensity/latest"


@pytest.fixture
def service() -> FakeService:
    fake = FakeService()
    yield fake
    fake.close()


def fit_with(
    provider: ElectricityMaps, tmp_path: Path, wait_for_live: bool = False
) -> tuple[dict[str, list[float]], dict, float]:
    """Fit two epochs; with ``wait_for_live``, training starts once the first live value is in
    effect (on a loaded machine the lookup can outlast both short epochs)."""
    namespace = LIGHTNING_NAMESPACES[0]
    callback = NatureCallback(pue=1.0, carbon=provider, verbose=False)

    class WaitForLiveValue(namespace.Callback):
        def on_train_start(self, trainer: object, pl_module: object) -> None:
            assert callback.tracker is not None and callback.tracker._monitor is not None
            deadline_s = time.monotonic() + 10.0
            while (not callback.tracker._monitor.current().source.startswith(provider.name)
                   and time.monotonic() < deadline_s):
                time.sleep(0.01)

    extra = [WaitForLiveValue()] if wait_for_live else []
    trainer = make_trainer(namespace, tmp_path, callback, epochs=2, callbacks=[callback, *extra])
    started = time.perf_counter()
    trainer.fit(make_module(namespace), *loaders())
    elapsed_s = time.perf_counter() - started
    summary = json.loads((Path(trainer.log_dir) / "nature_summary.json").read_text())
    return read_scalars(Path(trainer.log_dir)), summary, elapsed_s


def assert_key_written_nowhere(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"API key found in {path}"


def test_live_value_is_used_for_the_epochs(service: FakeService, tmp_path: Path) -> None:
    service.route(LATEST, Reply(em_latest(value=123, zone="DE")))
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    scalars, summary, _ = fit_with(provider, tmp_path, wait_for_live=True)
    assert scalars["nature/carbon_intensity_g_per_kwh"] == [pytest.approx(123.0)] * 2
    assert summary["epoch_records"][-1]["carbon_source"].startswith("electricitymaps")
    assert service.requests_to(LATEST)[0].headers.get("auth-token") == TOKEN
    assert_key_written_nowhere(tmp_path)


@pytest.mark.parametrize("reply", [
    Reply(em_latest(), delay_s=5.0),                       # hangs past the read timeout
    Reply({"error": "internal"}, status=500),
    Reply({"error": "bad token " + TOKEN}, status=401),    # a server echoing the key back
    Reply("{not json"),
    Reply(em_latest(value=-40)),
], ids=["slow", "500", "401-echo", "malformed", "negative"])
def test_a_failing_service_falls_back_without_raising_or_blocking(
    service: FakeService, tmp_path: Path, reply: Reply
) -> None:
    service.route(LATEST, reply)
    provider = ElectricityMaps(token=TOKEN, zone="DE", base_url=service.url, http=FAST)
    table_g_per_kwh = EmbeddedTable("DE").intensity().g_per_kwh
    scalars, summary, elapsed_s = fit_with(provider, tmp_path)
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert scalars["nature/carbon_intensity_g_per_kwh"] == [pytest.approx(table_g_per_kwh)] * 2
    assert "embedded" in summary["carbon_source"]
    # training never waited on the network: a hang costs at most the monitor's bounded close
    assert elapsed_s < 1.0 + FAST.connect_timeout_s + FAST.read_timeout_s + 5.0
    assert_key_written_nowhere(tmp_path)
