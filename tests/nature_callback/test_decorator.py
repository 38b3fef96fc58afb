"""``track``: each call of a decorated function is one run with one named window."""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback import track
from nature_callback.exceptions import ConfigurationError
from nature_callback.ledger import RunLedger
from nature_callback.run_files import read_run
from tests.nature_callback.fakes import FakeClock, FakeMeter


def test_each_call_is_a_run_with_one_window(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = tmp_path / "ledger.sqlite"

    @track(carbon=300.0, pue=1.0, grid_loss=0.0, output_dir=tmp_path / "runs",
           ledger_path=ledger, meter=FakeMeter(clock, {"cpu0": 50.0}), clock=clock,
           project="inference")
    def predict(seconds: float) -> str:
        clock.advance(seconds)
        return "done"

    assert predict.last_run is None and predict.last_window is None
    assert predict(2.0) == "done"
    assert predict.last_window.window_time_s == pytest.approx(2.0)
    assert predict.last_window.power_by_device_w == {"cpu0": pytest.approx(50.0)}
    first = predict.last_run
    assert predict(4.0) == "done"
    second = predict.last_run
    assert first.windows["predict"]["energy_j"] == pytest.approx(100.0)
    assert second.windows["predict"]["energy_j"] == pytest.approx(200.0)
    assert second.energy_j == pytest.approx(200.0) and second.epochs == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("predict_") for f in folders)
    assert read_run(folders[1]).windows[0]["window_time_s"] == pytest.approx(4.0)
    assert [run.project for run in RunLedger(ledger).runs()] == ["inference", "inference"]


def test_a_failing_call_is_recorded_as_crashed_and_raises(tmp_path: Path) -> None:
    @track(window="load_data", carbon=300.0, output_dir=tmp_path, ledger_path=False,
           gpus=None)
    def load() -> None:
        raise ValueError("missing file")

    with pytest.raises(ValueError, match="missing file"):
        load()
    (folder,) = tmp_path.iterdir()
    summary = read_run(folder).summary
    assert summary is not None and summary["status"] == "crashed"
    assert summary["windows"]["load_data"]["count"] == 1


def test_bad_options_fail_at_decoration() -> None:
    with pytest.raises(ConfigurationError, match="pue"):
        track(pue=0.5)
