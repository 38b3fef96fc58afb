"""NatureTracker in a plain PyTorch loop: windows, A, crash records, checkpoint state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nature_callback import NatureTracker
from nature_callback.exceptions import ConfigurationError, NatureError
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.powercap import LivePowercap


def make_tracker(tmp_path: Path, **overrides: object) -> NatureTracker:
    options: dict[str, object] = dict(pue=1.2, grid_loss=0.05, carbon=300.0, n_exp=1,
                                      output_dir=tmp_path / "rec", planned_epochs=2)
    options.update(overrides)
    return NatureTracker(**options)  # type: ignore[arg-type]


def test_epochs_and_the_time_between_them(tmp_path: Path, powercap: LivePowercap) -> None:
    with make_tracker(tmp_path, extra_energy_j=1000.0) as tracker:
        for _ in range(2):
            time.sleep(0.1)  # outside the epoch: counts in A
            with tracker.epoch():
                time.sleep(0.2)
    first, second = tracker.records
    factor = 1.2 / (1 - 0.05)
    for record in (first, second):
        assert record.terms.epoch_time_s == pytest.approx(0.2, abs=0.1)
        assert record.terms.power_w == pytest.approx(POWER_W, rel=0.1)
        assert record.terms.epoch_energy_j == pytest.approx(
            record.terms.power_w * factor * record.terms.epoch_time_s, rel=1e-9)
    # A = metered energy outside epochs (≈ 0.2 s at 50 W) × PUE/(1 − λ) + extra_energy_j
    assert tracker.a_energy_j - 1000.0 == pytest.approx(0.2 * POWER_W * factor, rel=0.35)
    summary = json.loads((tmp_path / "rec" / "nature_summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["energy_j"] == pytest.approx(
        summary["a_energy_j"] + sum(r["terms"]["epoch_energy_j"] for r in summary["epoch_records"]))
    assert summary["co2e_kg"] == pytest.approx(summary["energy_j"] / 3.6e6 * 300.0 / 1000, rel=1e-9)


def test_an_exception_in_the_loop_writes_a_crashed_record(tmp_path: Path, powercap: LivePowercap) -> None:
    with pytest.raises(ValueError, match="boom"):
        with make_tracker(tmp_path) as tracker:
            with tracker.epoch():
                time.sleep(0.3)
            with tracker.epoch():
                raise ValueError("boom")
    summary = json.loads((tmp_path / "rec" / "nature_summary.json").read_text())
    assert summary["status"] == "crashed"
    assert summary["epochs"] == 2
    assert summary["epoch_records"][0]["terms"]["power_w"] == pytest.approx(POWER_W, rel=0.15)


def test_keyboard_interrupt_is_recorded_as_interrupted(tmp_path: Path, powercap: LivePowercap) -> None:
    with pytest.raises(KeyboardInterrupt):
        with make_tracker(tmp_path) as tracker:
            with tracker.epoch():
                raise KeyboardInterrupt
    summary = json.loads((tmp_path / "rec" / "nature_summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert tracker.status == "interrupted"


def test_state_round_trip_continues_totals(tmp_path: Path, powercap: LivePowercap) -> None:
    with make_tracker(tmp_path) as first:
        with first.epoch():
            time.sleep(0.05)
        state = first.state_dict()
    resumed = make_tracker(tmp_path / "b")
    resumed.load_state_dict(json.loads(json.dumps(state)))  # survives serialisation
    with resumed:
        with resumed.epoch():
            time.sleep(0.05)
    assert [r.terms.epoch for r in resumed.records] == [0, 1]
    assert resumed.records[0].terms == first.records[0].terms
    assert resumed.a_hw_j >= state["a_hw_j"]  # carried over, then grown by the new gaps


def test_state_taken_inside_an_epoch_closes_that_epoch_on_load(tmp_path: Path,
                                                              powercap: LivePowercap) -> None:
    with make_tracker(tmp_path) as first:
        with first.epoch():
            time.sleep(0.1)
            state = first.state_dict()
    assert state["open_epoch"]["hardware_energy_j"] == pytest.approx(0.1 * POWER_W, rel=0.3)
    resumed = make_tracker(tmp_path / "b")
    resumed.load_state_dict(state)
    assert len(resumed.records) == 1
    assert resumed.records[0].terms.power_w == pytest.approx(POWER_W, rel=0.3)


def test_misuse_of_windows_raises_clearly(tmp_path: Path, powercap: LivePowercap) -> None:
    with make_tracker(tmp_path) as tracker:
        with pytest.raises(NatureError, match="without start_epoch"):
            tracker.end_epoch()
        tracker.start_epoch()
        with pytest.raises(NatureError, match="twice"):
            tracker.start_epoch()
        tracker.end_epoch()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"gpus": [-1]}, "gpus"),
    ({"gpus": [99]}, "gpus"),
    ({"gpus": "all"}, "gpus"),
    ({"carbon": "XX"}, "XX"),
    ({"planned_epochs": 0}, "planned_epochs"),
    ({"project": ""}, "project"),
])
def test_invalid_tracker_parameters_raise_at_construction(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NatureTracker(**kwargs)  # type: ignore[arg-type]


def test_epoch_record_dicts_equal_dataclasses_asdict_and_round_trip(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    import dataclasses

    from nature_callback.records import EpochRecord

    with NatureTracker(pue=1.2, carbon=300.0, output_dir=tmp_path, ledger_path=False,
                       planned_epochs=3) as tracker:
        with tracker.epoch():
            time.sleep(0.02)
    record = tracker.records[0]
    assert record.power_by_kind_w and record.forecast_co2e_kg is not None
    as_dict = record.to_dict()
    assert as_dict == dataclasses.asdict(record)
    as_dict["power_by_kind_w"]["cpu"] = -1.0  # a copy: the frozen record is unchanged
    assert record.power_by_kind_w.get("cpu") != -1.0
    assert EpochRecord.from_dict(record.to_dict()) == record


def test_ledger_row_carries_the_start_time_and_the_final_status(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    from datetime import datetime, timezone

    from nature_callback.ledger import RunLedger

    ledger_path = tmp_path / "ledger.sqlite"
    before = datetime.now(timezone.utc)
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=ledger_path) as tracker:
        time.sleep(0.05)  # the row is inserted with the first record, not at start
        with tracker.epoch():
            time.sleep(0.02)
    tracker.wait_for_ledger()
    (run,) = RunLedger(ledger_path).runs()
    assert run.run_id == tracker.run_id and run.status == "completed" and run.epochs == 1
    started = datetime.fromisoformat(run.started_at)
    assert before <= started <= before + (datetime.fromisoformat(run.ended_at) - before) / 2

    # a run that fails before its first epoch ends is recorded too, as crashed
    crashed = NatureTracker(carbon=300.0, output_dir=tmp_path / "b", ledger_path=ledger_path)
    with pytest.raises(RuntimeError):
        with crashed:
            raise RuntimeError("failed during set-up")
    crashed.wait_for_ledger()
    statuses = {run.run_id: run.status for run in RunLedger(ledger_path).runs()}
    assert statuses[crashed.run_id] == "crashed"


def test_a_ledger_that_cannot_be_opened_is_reported_once_and_the_run_goes_on(
    tmp_path: Path, powercap: LivePowercap, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nature_callback import tracker as tracker_module

    monkeypatch.setattr(tracker_module, "RECORD_PERIOD_S", 0.0)  # a record at every epoch,
    monkeypatch.setattr(tracker_module, "RECORD_FIRST_AFTER_S", 0.0)
    monkeypatch.setattr(tracker_module, "LEDGER_PERIOD_S", 0.0)  # each trying the ledger
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the ledger's folder should be")
    with NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=blocker / "l.sqlite",
                       planned_epochs=3) as tracker:  # opened lazily: no error at start
        for _ in range(3):
            with tracker.epoch():
                time.sleep(0.01)
            tracker._writer.flush()
    tracker.wait_for_ledger()
    record = json.loads(tracker.summary_path.read_text())
    assert record["status"] == "completed" and record["epochs"] == 3
    messages = [r.getMessage() for r in caplog.records if "run ledger" in r.getMessage()]
    assert len(messages) == 1 and "cannot open the run ledger" in messages[0]
    assert "ledger_path=False" in messages[0]  # says how to fix it


def test_the_final_ledger_row_is_written_even_when_the_process_exits_at_once(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from nature_callback.ledger import RunLedger

    ledger_path = tmp_path / "ledger.sqlite"
    script = (
        "from nature_callback import NatureTracker\n"
        f"with NatureTracker(carbon=300.0, output_dir={str(tmp_path)!r}, "
        f"ledger_path={str(ledger_path)!r}, gpus=None) as tracker:\n"
        "    with tracker.epoch():\n"
        "        pass\n"
    )  # the interpreter exits right after stop(): the ledger thread must still finish
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    (run,) = RunLedger(ledger_path).runs()
    assert run.status == "completed" and run.epochs == 1 and run.ended_at is not None


def test_the_running_record_is_consistent_with_the_tracker(
    tmp_path: Path, powercap: LivePowercap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nature_callback import tracker as tracker_module

    monkeypatch.setattr(tracker_module, "RECORD_PERIOD_S", 0.0)  # write after every epoch
    monkeypatch.setattr(tracker_module, "RECORD_FIRST_AFTER_S", 0.0)
    with NatureTracker(pue=1.2, carbon=300.0, output_dir=tmp_path, ledger_path=False,
                       planned_epochs=10) as tracker:
        for _ in range(3):
            with tracker.epoch():
                time.sleep(0.02)
        tracker._writer.flush()  # the background writer has written the newest state
        record = json.loads(tracker.summary_path.read_text())
        assert record["status"] == "running" and record["epochs"] == 3
        assert record["energy_j"] == pytest.approx(tracker.energy_j, rel=1e-12)
        epochs_j = sum(r["terms"]["epoch_energy_j"] for r in record["epoch_records"])
        assert record["a_energy_j"] + epochs_j == pytest.approx(record["energy_j"], rel=1e-12)
        # the forecast from running sums equals the mean over the listed epochs
        last = record["epoch_records"][-1]
        mean_kg = sum(r["terms"]["epoch_co2e_g"] for r in record["epoch_records"]) / 3 / 1000
        assert last["forecast_co2e_kg"] == pytest.approx(last["co2e_kg"] + 7 * mean_kg, rel=1e-9)
    assert json.loads(tracker.summary_path.read_text())["status"] == "completed"
