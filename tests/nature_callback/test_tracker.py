"""NatureTracker in a plain loop, on a fake clock and a fake meter (energy = power × fake time):
windows, A, records on disk, crashes, checkpoints, the ledger. A few tests run the real RAPL
meter over a live fake powercap tree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nature_callback import NatureTracker
from nature_callback.exceptions import ConfigurationError, NatureError, NatureWarning
from nature_callback.ledger import RunLedger
from nature_callback.records import WindowRecord
from nature_callback.run_files import read_run
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.fakes import FakeClock, FakeMeter
from tests.nature_callback.powercap import LivePowercap

FACTOR = 1.2 / (1 - 0.05)
"""PUE / (1 − λ) of ``make_tracker``."""


def make_tracker(tmp_path: Path, clock: FakeClock, **overrides: object) -> NatureTracker:
    options: dict[str, object] = dict(
        pue=1.2, grid_loss=0.05, carbon=300.0, n_exp=1, output_dir=tmp_path / "rec",
        planned_epochs=2, ledger_path=tmp_path / "ledger.sqlite", meter=FakeMeter(clock),
        clock=clock)
    options.update(overrides)
    return NatureTracker(**options)  # type: ignore[arg-type]


def test_epochs_and_the_time_between_them(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock, extra_energy_j=1000.0) as tracker:
        for seconds in (2.0, 3.0):
            clock.advance(0.5)  # outside the epoch: counts in A
            with tracker.epoch():
                clock.advance(seconds)
        clock.advance(0.25)
    first, second = tracker.records
    assert first.terms.epoch_time_s == pytest.approx(2.0)
    assert second.terms.epoch_time_s == pytest.approx(3.0)
    for record in (first, second):
        assert record.terms.power_w == pytest.approx(100.0, rel=1e-9)
        assert record.terms.epoch_energy_j == pytest.approx(
            100.0 * FACTOR * record.terms.epoch_time_s, rel=1e-9)
        assert record.power_by_kind_w == {"cpu": pytest.approx(80.0), "dram": pytest.approx(20.0)}
        assert record.power_by_device_w == {"cpu0": pytest.approx(80.0),
                                            "dram0": pytest.approx(20.0)}
    # A = 1.25 s at 100 W outside epochs, × PUE/(1 − λ), + extra_energy_j
    assert tracker.a_energy_j == pytest.approx(125.0 * FACTOR + 1000.0, rel=1e-9)
    assert tracker.energy_j == pytest.approx(tracker.a_energy_j + 500.0 * FACTOR, rel=1e-9)
    assert tracker.co2e_kg == pytest.approx(tracker.energy_j / 3.6e6 * 300.0 / 1000, rel=1e-9)


def test_the_record_files_hold_the_header_every_epoch_and_the_totals(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock, planned_epochs=3) as tracker:
        start = read_run(tmp_path / "rec")
        assert start.summary is not None and start.summary["status"] == "running"
        assert start.header is not None and start.header["run_id"] == tracker.run_id
        for _ in range(3):
            with tracker.epoch():
                clock.advance(1.0)
            # each epoch's line is on disk as soon as the epoch ends
            assert len(read_run(tmp_path / "rec").epochs) == len(tracker.records)
    run = read_run(tracker.epochs_path)
    assert run.summary is not None and run.summary["status"] == "completed"
    assert run.summary["epochs"] == 3 and "epoch_records" not in run.summary
    assert run.summary["energy_j"] == pytest.approx(
        run.summary["a_energy_j"] + sum(e["terms"]["epoch_energy_j"] for e in run.epochs),
        rel=1e-12)
    assert run.epochs == [record.to_dict() for record in tracker.records]
    header = run.header
    assert header is not None and header["config"]["pue"] == 1.2
    assert [m["device"] for m in header["meters"]] == ["cpu0", "dram0"]
    assert header["carbon"]["source"] == run.summary["carbon_source"]
    assert header["n_exp_source"] == "parameter"


def test_an_exception_in_the_loop_writes_a_crashed_record(tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="boom"):
        with make_tracker(tmp_path, clock) as tracker:
            with tracker.epoch():
                clock.advance(1.0)
            with tracker.epoch():
                clock.advance(0.5)
                raise ValueError("boom")
    run = read_run(tmp_path / "rec")
    assert run.summary is not None and run.summary["status"] == "crashed"
    assert run.summary["epochs"] == 2 and len(run.epochs) == 2
    assert run.epochs[1]["terms"]["epoch_time_s"] == pytest.approx(0.5)
    (row,) = RunLedger(tmp_path / "ledger.sqlite").runs()
    assert row.status == "crashed" and row.epochs == 2


def test_keyboard_interrupt_is_recorded_as_interrupted(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with make_tracker(tmp_path, FakeClock()) as tracker:
            with tracker.epoch():
                raise KeyboardInterrupt
    assert json.loads(tracker.summary_path.read_text())["status"] == "interrupted"
    assert tracker.status == "interrupted"


def test_state_round_trip_continues_totals(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as first:
        with first.epoch():
            clock.advance(1.0)
        clock.advance(0.5)
        state = first.state_dict()
    resumed = make_tracker(tmp_path / "b", clock)
    resumed.load_state_dict(json.loads(json.dumps(state)))  # survives serialisation
    with resumed:
        with resumed.epoch():
            clock.advance(2.0)
    assert [r.terms.epoch for r in resumed.records] == [0, 1]
    assert resumed.records[0].terms == first.records[0].terms
    # the 0.5 s after the epoch was in the open window when the state was taken: it is in A
    assert resumed.a_energy_j == pytest.approx(50.0 * FACTOR, rel=1e-9)
    assert resumed.energy_j == pytest.approx(first.energy_j + 200.0 * FACTOR, rel=1e-9)
    assert len(read_run(resumed.epochs_path).epochs) == 2  # the carried epoch is in the file


def test_state_taken_inside_an_epoch_closes_that_epoch_on_load(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as first:
        with first.epoch():
            clock.advance(2.0)
            state = first.state_dict()
    assert state["open_epoch"]["hardware_energy_j"] == pytest.approx(200.0)
    resumed = make_tracker(tmp_path / "b", clock)
    resumed.load_state_dict(state)
    with resumed:
        pass
    assert len(resumed.records) == 1
    assert resumed.records[0].terms.power_w == pytest.approx(100.0)


def test_misuse_of_windows_raises_clearly(tmp_path: Path) -> None:
    with make_tracker(tmp_path, FakeClock()) as tracker:
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
])
def test_invalid_tracker_parameters_raise_at_construction(kwargs: dict[str, object],
                                                         name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NatureTracker(**kwargs)  # type: ignore[arg-type]


def test_the_ledger_row_appears_at_start_and_gets_the_final_totals(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = RunLedger(tmp_path / "ledger.sqlite")
    with make_tracker(tmp_path, clock) as tracker:
        (row,) = ledger.runs()
        assert row.run_id == tracker.run_id and row.status == "running"
        with tracker.epoch():
            clock.advance(1.0)
    (row,) = ledger.runs()
    assert row.status == "completed" and row.epochs == 1 and row.ended_at is not None
    assert row.energy_j == pytest.approx(tracker.energy_j, rel=1e-12)


def test_n_exp_from_the_ledger_counts_this_projects_runs(tmp_path: Path) -> None:
    clock = FakeClock()
    for expected in (1, 2, 3):
        with make_tracker(tmp_path / str(expected), clock, n_exp="ledger", project="search",
                          ledger_path=tmp_path / "ledger.sqlite") as tracker:
            assert tracker.n_exp == expected and tracker.n_exp_source == "ledger"
    with make_tracker(tmp_path / "other", clock, n_exp="ledger", project="other",
                      ledger_path=tmp_path / "ledger.sqlite") as other:
        assert other.n_exp == 1
    with pytest.warns(NatureWarning, match="disabled"):
        with make_tracker(tmp_path / "off", clock, n_exp="ledger", ledger_path=False) as off:
            assert off.n_exp == 1 and off.n_exp_source == "fallback"


def test_an_unwritable_output_folder_falls_back_with_one_warning(tmp_path: Path) -> None:
    clock = FakeClock()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.warns(NatureWarning) as caught:
        with make_tracker(tmp_path, clock, output_dir=blocker / "rec",
                          ledger_path=blocker / "l.sqlite") as tracker:
            for _ in range(3):
                with tracker.epoch():
                    clock.advance(1.0)
    messages = [str(w.message) for w in caught if issubclass(w.category, NatureWarning)]
    (folder_warning,) = [m for m in messages if "records" in m]
    assert str(blocker / "rec") in folder_warning and "output_dir=" in folder_warning
    assert str(tracker.summary_path.parent) in folder_warning
    (ledger_warning,) = [m for m in messages if "ledger" in m]
    assert "ledger_path=" in ledger_warning
    assert tracker.status == "completed" and len(tracker.records) == 3
    run = read_run(tracker.summary_path.parent)
    assert run.summary is not None and run.summary["status"] == "completed"
    assert len(run.epochs) == 3


def test_a_file_that_fails_mid_run_warns_once_and_the_rest_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nature_callback import recorder

    clock = FakeClock()
    tracker = make_tracker(tmp_path, clock).start()
    calls = 0

    def failing_line(record: object) -> str:
        nonlocal calls
        calls += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder, "record_line", failing_line)
    with pytest.warns(NatureWarning, match="No space left") as caught:
        for _ in range(3):
            with tracker.epoch():
                clock.advance(1.0)
        tracker.stop()
    assert len([w for w in caught if "epochs" in str(w.message)]) == 1
    assert calls == 1  # the failed file is not tried again
    run = read_run(tmp_path / "rec")
    assert run.summary is not None and run.summary["status"] == "completed"
    assert run.summary["epochs"] == 3
    (row,) = RunLedger(tmp_path / "ledger.sqlite").runs()
    assert row.status == "completed" and row.epochs == 3


def test_a_torn_last_line_is_skipped_by_the_reader(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as tracker:
        for _ in range(2):
            with tracker.epoch():
                clock.advance(1.0)
    with tracker.epochs_path.open("a") as file:
        file.write('{"type": "epoch", "terms": {"epo')  # what a kill mid-write leaves
    run = read_run(tmp_path / "rec")
    assert len(run.epochs) == 2 and run.skipped_lines == 1


@pytest.mark.slow
def test_rapl_meter_over_a_live_powercap_tree(tmp_path: Path, powercap: LivePowercap) -> None:
    """The real meter path: RAPL counters that a background process advances at 100 W."""
    with NatureTracker(pue=1.0, grid_loss=0.0, carbon=300.0, output_dir=tmp_path,
                       ledger_path=False, gpus=None) as tracker:
        with tracker.epoch():
            time.sleep(0.5)
    (record,) = tracker.records
    assert 0.5 * POWER_W < record.terms.power_w < 1.5 * POWER_W  # a late fake counter is fine
    assert not record.estimated
    assert {m["device"] for m in tracker.summary().meters} >= {"cpu0", "dram0"}


def test_a_resumed_run_keeps_its_id_and_ledger_row(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = RunLedger(tmp_path / "ledger.sqlite")
    with make_tracker(tmp_path, clock, n_exp="ledger") as first:
        with first.epoch():
            clock.advance(1.0)
        state = first.state_dict()
    for loaded_before_start in (True, False):  # plain use; Lightning loads after start
        resumed = make_tracker(tmp_path / str(loaded_before_start), clock, n_exp="ledger",
                               ledger_path=ledger.path)
        if loaded_before_start:
            resumed.load_state_dict(state)
        with resumed:
            if not loaded_before_start:
                resumed.load_state_dict(state)
            assert resumed.n_exp == 1  # one experiment, resumed: not a second one
            with resumed.epoch():
                clock.advance(1.0)
        assert resumed.run_id == first.run_id
        run = read_run(resumed.summary_path)  # the files follow the restored run id
        assert run.summary is not None and run.summary["run_id"] == first.run_id
        assert len(run.epochs) == 2 and len(list(resumed.summary_path.parent.iterdir())) == 2
        (row,) = ledger.runs()
        assert row.status == "completed" and row.epochs == 2
        assert row.energy_j == pytest.approx(resumed.energy_j, rel=1e-12)


def test_a_resume_with_another_pue_warns_and_keeps_earlier_epochs(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as first:
        with first.epoch():
            clock.advance(1.0)
        state = first.state_dict()
    resumed = make_tracker(tmp_path / "b", clock, pue=1.5)
    with pytest.warns(NatureWarning, match="pue 1.2 → 1.5"):
        resumed.load_state_dict(state)
        resumed.start()
    with resumed:
        with resumed.epoch():
            clock.advance(1.0)
    assert resumed.records[0].terms == first.records[0].terms
    assert resumed.records[1].terms.facility_w == pytest.approx(0.5 * 100.0)


def test_a_locked_ledger_does_not_hold_up_training_and_gets_its_row_later(
    tmp_path: Path,
) -> None:
    import sqlite3

    clock = FakeClock()
    ledger = RunLedger(tmp_path / "ledger.sqlite")
    ledger.count("p")  # make the file
    holder = sqlite3.connect(ledger.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for as long as it likes
    started = time.perf_counter()
    with pytest.warns(NatureWarning, match="N_exp = 1"):
        tracker = make_tracker(tmp_path, clock, n_exp="ledger").start()
    with tracker.epoch():
        clock.advance(1.0)
    assert time.perf_counter() - started < 2.0  # each try waits 30 ms: a 5× margin and more
    assert tracker.n_exp == 1 and tracker.n_exp_source == "fallback"
    holder.execute("COMMIT")  # the lock goes: the next epoch end writes the row
    with tracker.epoch():
        clock.advance(1.0)
    (row,) = ledger.runs()
    assert row.status == "running" and row.epochs == 2
    holder.execute("BEGIN EXCLUSIVE")
    tracker.stop()  # locked again at the end: a thread writes the final row once it can
    assert tracker.status == "completed"
    holder.execute("COMMIT")
    holder.close()
    assert tracker._recorder is not None and tracker._recorder.retry_thread is not None
    tracker._recorder.retry_thread.join(timeout=30)
    (row,) = ledger.runs()
    assert row.status == "completed" and row.epochs == 2


def test_runs_sharing_a_folder_each_keep_their_own_files(tmp_path: Path) -> None:
    clock = FakeClock()
    trackers = [make_tracker(tmp_path, clock, ledger_path=False) for _ in range(4)]
    with pytest.warns(NatureWarning, match="already holds the records") as caught:
        for tracker in trackers:
            tracker.start()
    assert len(caught) == 3
    for tracker in trackers:
        with tracker.epoch():
            clock.advance(1.0)
        tracker.stop()
    paths = {tracker.summary_path for tracker in trackers}
    assert len(paths) == 4 and all(path.exists() for path in paths)
    for tracker in trackers:
        run = read_run(tracker.epochs_path)
        assert run.summary is not None and run.summary["run_id"] == tracker.run_id
        assert run.header is not None and run.header["run_id"] == tracker.run_id
        assert len(run.epochs) == 1


def test_orphan_temporaries_are_removed_and_a_planted_link_is_not_followed(
    tmp_path: Path,
) -> None:
    import os

    folder = tmp_path / "rec"
    folder.mkdir()
    orphan = folder / ".nature_summary.json.k1ll3d.tmp"
    orphan.write_text("{")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))  # an hour old
    fresh = folder / ".nature_summary.json.wr1t1ng.tmp"  # another process writing right now
    fresh.write_text("{")
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (folder / "nature_epochs.jsonl").symlink_to(victim)
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
    assert not orphan.exists() and fresh.exists()
    assert victim.read_text() == "keep me"
    assert not tracker.epochs_path.is_symlink() and len(read_run(folder).epochs) == 1


def test_auto_gpus_meter_nothing_on_cpu_and_each_device_once_cuda_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nature_callback import tracker as tracker_module

    clock = FakeClock()
    asked: list[object] = []

    def meters_for(self: NatureTracker, gpus: object, node_level: bool) -> FakeMeter:
        asked.append((gpus, node_level))
        power_w = {f"gpu{index}": 300.0 for index in gpus} if isinstance(gpus, list) else {}
        return FakeMeter(clock, power_w if gpus else {"cpu0": 80.0, "dram0": 20.0})

    monkeypatch.setattr(NatureTracker, "_meters_for", meters_for)
    in_use: list[int] | None = None
    monkeypatch.setattr(tracker_module, "cuda_devices_in_use", lambda: in_use)
    tracker = NatureTracker(carbon=300.0, output_dir=tmp_path, ledger_path=False, clock=clock)
    with tracker:
        with tracker.epoch():  # a CPU-only epoch: no GPU charged
            clock.advance(1.0)
        in_use = [0]  # the model moved to cuda:0 after the tracker started
        with tracker.epoch():
            clock.advance(1.0)
        in_use = [0, 1]  # nn.DataParallel put a replica on cuda:1
        with tracker.window("inference"):
            clock.advance(1.0)
        with tracker.epoch():
            clock.advance(1.0)
    assert asked == [(None, True), ([0], False), ([1], False)]  # each device metered once
    first, second, third = tracker.records
    assert first.power_by_kind_w == {"cpu": pytest.approx(80.0), "dram": pytest.approx(20.0)}
    assert second.power_by_kind_w["gpu"] == pytest.approx(300.0)
    assert second.terms.power_w == pytest.approx(400.0)
    assert third.power_by_device_w["gpu1"] == pytest.approx(300.0)
    assert third.power_by_kind_w["gpu"] == pytest.approx(600.0)
    (window,) = tracker.window_records
    assert window.power_by_kind_w["gpu"] == pytest.approx(600.0)


def test_cuda_devices_in_use_are_the_current_one_and_those_holding_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from nature_callback.gpu_choice import cuda_devices_in_use

    allocated = {0: 0, 1: 0, 2: 0, 3: 0}
    cuda = types.SimpleNamespace(is_initialized=lambda: True, device_count=lambda: 4,
                                 current_device=lambda: 0,
                                 memory_allocated=lambda index: allocated[index])
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert cuda_devices_in_use() == [0]  # CUDA initialised, nothing allocated yet
    allocated.update({1: 2**20, 3: 2**30})  # a model spread over cuda:1 and cuda:3
    assert cuda_devices_in_use() == [0, 1, 3]
    cuda.is_initialized = lambda: False
    assert cuda_devices_in_use() is None  # a CPU-only process


def test_a_named_window_inside_an_epoch_is_recorded_apart_and_pauses_the_epoch(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as tracker:
        clock.advance(0.5)  # A
        with tracker.epoch():
            clock.advance(2.0)
            with tracker.window("validation"):
                clock.advance(1.0)
            clock.advance(1.0)
        with tracker.window("inference"):  # outside epochs: not in A
            clock.advance(3.0)
    (epoch,) = tracker.records
    assert epoch.terms.epoch_time_s == pytest.approx(3.0)  # validation's second left out
    assert epoch.terms.epoch_energy_j == pytest.approx(300.0 * FACTOR, rel=1e-9)
    validation, inference = tracker.window_records
    assert (validation.name, validation.window_time_s) == ("validation", pytest.approx(1.0))
    assert validation.energy_j == pytest.approx(100.0 * FACTOR, rel=1e-9)
    assert validation.power_w == pytest.approx(100.0)
    assert inference.energy_j == pytest.approx(300.0 * FACTOR, rel=1e-9)
    assert tracker.a_energy_j == pytest.approx(50.0 * FACTOR, rel=1e-9)
    assert tracker.energy_j == pytest.approx((50.0 + 300.0 + 400.0) * FACTOR, rel=1e-9)
    run = read_run(tmp_path / "rec")
    assert [w["name"] for w in run.windows] == ["validation", "inference"]
    assert run.summary is not None
    assert run.summary["windows"]["inference"]["energy_j"] == pytest.approx(
        300.0 * FACTOR, rel=1e-9)
    assert run.summary["windows_energy_j"] == pytest.approx(400.0 * FACTOR, rel=1e-9)
    assert validation.metrics()["nature/validation_energy_j"] == validation.energy_j


def test_a_named_window_splits_its_power_by_device_kind_and_device(tmp_path: Path) -> None:
    clock = FakeClock()
    meter = FakeMeter(clock, {"gpu0": 50.0, "cpu0": 80.0, "dram0": 20.0})
    with make_tracker(tmp_path, clock, meter=meter) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
            with tracker.window("inference"):
                clock.advance(1.0)  # GPU at 50 W, then 350 W for 3 s: 275 W on average
                meter.set_power("gpu0", 350.0)
                clock.advance(3.0)
            meter.set_power("gpu0", 50.0)
            clock.advance(1.0)
    (window,) = tracker.window_records
    assert window.power_by_kind_w == {"gpu": pytest.approx(275.0), "cpu": pytest.approx(80.0),
                                      "dram": pytest.approx(20.0)}
    assert window.power_by_device_w == {"gpu0": pytest.approx(275.0),
                                        "cpu0": pytest.approx(80.0), "dram0": pytest.approx(20.0)}
    assert window.power_w == pytest.approx(375.0)
    (epoch,) = tracker.records  # the epoch's GPU power leaves the window out
    assert epoch.power_by_kind_w["gpu"] == pytest.approx(50.0)
    metrics = window.metrics()
    assert metrics["nature/inference_gpu_power_w"] == pytest.approx(275.0)
    assert metrics["nature/inference_gpu0_power_w"] == pytest.approx(275.0)
    assert metrics["nature/inference_dram_power_w"] == pytest.approx(20.0)
    (written,) = read_run(tmp_path / "rec").windows
    assert written["power_by_kind_w"]["gpu"] == pytest.approx(275.0)
    assert written["power_by_device_w"]["gpu0"] == pytest.approx(275.0)
    assert WindowRecord.from_dict(written) == window


def test_window_records_written_without_a_power_split_still_load() -> None:
    written = {"name": "validation", "index": 0, "window_time_s": 2.0, "power_w": 100.0,
               "energy_j": 250.0, "co2e_g": 0.02, "carbon_intensity_g_per_kwh": 300.0,
               "estimated": False, "carbon_source": "fixed"}
    record = WindowRecord.from_dict(written)
    assert record.power_by_kind_w == {} and record.power_by_device_w == {}
    assert set(record.metrics()) == {"nature/validation_time_s", "nature/validation_power_w",
                                     "nature/validation_energy_j", "nature/validation_co2e_g"}


def test_window_names_and_nesting_are_checked(tmp_path: Path) -> None:
    with make_tracker(tmp_path, FakeClock()) as tracker:
        with pytest.raises(ConfigurationError, match="Validation Loss"):
            tracker.start_window("Validation Loss")
        with tracker.window("a"):
            with pytest.raises(NatureError, match="close it first"):
                tracker.start_window("b")
        with pytest.raises(NatureError, match="without start_window"):
            tracker.end_window()


def test_step_records_show_the_running_epoch_without_closing_it(tmp_path: Path) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as tracker:
        with tracker.epoch():
            clock.advance(1.0)
            first = tracker.step(10)
            clock.advance(1.0)
            second = tracker.step(20)
    assert (first.epoch, first.epoch_time_s) == (0, pytest.approx(1.0))
    assert first.power_w == pytest.approx(100.0)
    assert second.energy_j - first.energy_j == pytest.approx(100.0 * FACTOR, rel=1e-9)
    (epoch,) = tracker.records
    assert epoch.energy_j == pytest.approx(second.energy_j, rel=1e-9)  # same figures at the end
    assert [s["step"] for s in read_run(tmp_path / "rec").steps] == [10, 20]
    with pytest.raises(NatureError, match="outside an epoch"):
        tracker.step(30)


def test_state_taken_during_validation_keeps_the_epoch_and_puts_the_window_in_a(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with make_tracker(tmp_path, clock) as first:
        with first.epoch():
            clock.advance(2.0)
            with first.window("validation"):
                clock.advance(1.0)
                state = first.state_dict()
    assert state["open_epoch"]["epoch_time_s"] == pytest.approx(2.0)
    assert state["open_epoch"]["hardware_energy_j"] == pytest.approx(200.0)
    assert state["a_hw_j"] == pytest.approx(100.0)  # the open window's energy so far


def test_a_gpu_two_ranks_share_is_metered_by_the_lower_rank_only(tmp_path: Path) -> None:
    from nature_callback import Distributed

    clock = FakeClock()
    shared = {"gpu0": "GPU-aaaa"}
    rank0_meters = [{"device": "gpu0", "kind": "gpu", "description": "fake gpu0",
                     "source": "measured", "ok": True, "uuid": "GPU-aaaa"}]

    def gather(mine: object) -> list[object]:  # what all_gather_object gives rank 1
        return [rank0_meters, mine]

    rank1 = Distributed(rank=1, world_size=2, is_writer=False, reduce=lambda v: v,
                        gather=gather)
    tracker = make_tracker(tmp_path, clock, distributed=rank1, meter=FakeMeter(
        clock, {"gpu0": 300.0, "cpu0": 50.0}, uuids=shared))
    with tracker:
        with tracker.epoch():
            clock.advance(1.0)
    (record,) = tracker.records
    assert record.power_by_kind_w == {"cpu": pytest.approx(50.0)}  # rank 0 counts the GPU
    assert record.devices_metered == 1
    listed = {(m["rank"], m["device"]): m["metered_by_rank"] for m in tracker.summary().meters}
    assert listed == {(0, "gpu0"): 0, (1, "gpu0"): 0, (1, "cpu0"): 1}


def test_the_runs_hyperparameters_reach_its_ledger_row(tmp_path: Path) -> None:
    clock = FakeClock()
    tracker = make_tracker(tmp_path, clock)
    tracker.params = {"lr": 0.1, "layers": 3}
    with tracker:
        with tracker.epoch():
            clock.advance(1.0)
    (row,) = RunLedger(tmp_path / "ledger.sqlite").runs()
    assert row.params == {"lr": 0.1, "layers": 3}
    assert read_run(tmp_path / "rec").summary["params"] == {"lr": 0.1, "layers": 3}


def test_a_sigterm_while_an_epoch_is_written_is_raised_once_it_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    from nature_callback import recorder
    from nature_callback.exceptions import TerminatedBySignal

    from nature_callback.runtime import SigtermGuard

    clock = FakeClock()
    line = recorder.record_line
    runs_before = SigtermGuard._users  # trackers other tests left running hold the handler

    def line_then_signal(record: object) -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives between the totals and the write
        return line(record)  # type: ignore[arg-type]

    with pytest.raises(TerminatedBySignal):
        with make_tracker(tmp_path, clock) as tracker:
            with tracker.epoch():
                clock.advance(1.0)
                monkeypatch.setattr(recorder, "record_line", line_then_signal)
            monkeypatch.setattr(recorder, "record_line", line)
            clock.advance(5.0)  # never reached
    run = read_run(tmp_path / "rec")
    assert run.summary is not None and run.summary["status"] == "terminated"
    assert run.summary["epochs"] == len(run.epochs) == 1
    assert SigtermGuard._users == runs_before  # this run let go of the handler
    if runs_before == 0:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handed back
