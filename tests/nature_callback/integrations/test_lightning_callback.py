"""NatureCallback in real Lightning Trainers on CPU, with what the loggers wrote read back.

Only the hardware is replaced: a fake meter on a fake clock that the module moves (see
``helpers``), so every logged figure is known exactly. One test meters a fake RAPL tree
through the real meters.
"""

from __future__ import annotations

import csv
import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from nature_callback import NatureCallback
from nature_callback.exceptions import ConfigurationError
from nature_callback.ledger import RunLedger
from nature_callback.records import ALL_METRICS
from nature_callback.run_files import read_run
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.fakes import FakeClock
from tests.nature_callback.integrations.helpers import (
    A_J,
    BATCHES,
    CARBON_FLAGS,
    DEFAULT,
    EPOCH_J,
    FACTOR,
    NAMESPACES,
    PUE,
    README_METRICS,
    REL,
    REL_F32,
    assert_metrics,
    expected_epoch,
    make_callback,
    make_module,
    make_trainer,
    patch_fake_hardware,
    read_scalars,
    train_loader,
    val_loader,
    values,
)
from tests.nature_callback.powercap import LivePowercap


@dataclass
class LoggedRun:
    """A 3-epoch fit logging to TensorBoard and CSV, with the progress bar on."""

    trainer: Any
    callback: NatureCallback
    tensorboard_dir: Path
    csv_dir: Path


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> LoggedRun:
    tmp_path = tmp_path_factory.mktemp("logged_run")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("NATURE_LEDGER", str(tmp_path / "default-ledger.sqlite"))
        clock = patch_fake_hardware(monkeypatch)
        callback = make_callback(tmp_path)
        tensorboard = DEFAULT.loggers.TensorBoardLogger(str(tmp_path / "tb"), name="run")
        csv_logger = DEFAULT.loggers.CSVLogger(str(tmp_path / "csv"), name="run")
        trainer = make_trainer(tmp_path, callback, epochs=3, logger=[tensorboard, csv_logger],
                               enable_progress_bar=True)
        trainer.fit(make_module(clock), train_loader())
    return LoggedRun(trainer, callback, Path(tensorboard.log_dir), Path(csv_logger.log_dir))


def test_every_readme_metric_is_in_callback_metrics_after_fit(logged_run: LoggedRun) -> None:
    metrics = {name: value.item() for name, value in logged_run.trainer.callback_metrics.items()}
    assert_metrics(metrics, expected_epoch(2), rel=REL_F32)  # Lightning keeps float32
    assert set(README_METRICS) <= set(metrics)


def test_tensorboard_holds_every_metric_once_per_epoch(logged_run: LoggedRun) -> None:
    scalars = read_scalars(logged_run.tensorboard_dir)
    steps = [BATCHES * (epoch + 1) for epoch in range(3)]  # logged at each epoch's last step
    for name in sorted(set(README_METRICS) - set(CARBON_FLAGS)):
        assert [step for step, _ in scalars[name]] == steps, name
        assert values(scalars[name]) == [
            pytest.approx(expected_epoch(epoch)[name], rel=REL_F32) for epoch in range(3)], name
    # flags that never change are logged once, at the first epoch (README)
    for name in CARBON_FLAGS:
        assert scalars[name] == [(steps[0], 0.0)], name
    assert values(scalars["nature/cpu0_power_w"]) == [pytest.approx(0.8 * POWER_W)] * 3


def test_csv_logger_gets_the_metrics_and_the_hyperparameters(logged_run: LoggedRun) -> None:
    with open(logged_run.csv_dir / "metrics.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["nature/energy_j"]]
    assert [float(row["nature/energy_j"]) for row in rows] == [
        pytest.approx(expected_epoch(epoch)["nature/energy_j"], rel=REL_F32) for epoch in range(3)]
    assert [int(row["step"]) for row in rows] == [BATCHES, 2 * BATCHES, 3 * BATCHES]
    hparams = (logged_run.csv_dir / "hparams.yaml").read_text()
    for line in ("nature/pue: 1.5", "nature/grid_loss: 0.1",
                 "nature/grid_loss_source: user parameter grid_loss",
                 "nature/carbon_source: fixed (user parameter)", "nature/n_exp: 2",
                 "nature/meter/cpu0: 'measured: fake cpu0'",
                 "nature/meter/dram0: 'measured: fake dram0'"):
        assert line in hparams


def test_record_files_go_to_the_first_loggers_folder(logged_run: LoggedRun) -> None:
    tracker = logged_run.callback.tracker
    assert tracker is not None
    assert tracker.summary_path == logged_run.tensorboard_dir / "nature_summary.json"
    run = read_run(logged_run.tensorboard_dir)
    assert run.summary is not None and run.header is not None and run.skipped_lines == 0
    assert run.summary["status"] == "completed"
    assert run.summary["epochs"] == 3
    assert "epoch_records" not in run.summary
    assert run.summary["a_energy_j"] == pytest.approx(A_J, rel=REL)
    assert run.summary["energy_j"] == pytest.approx(A_J + 3 * EPOCH_J, rel=REL)
    assert run.summary["nature_energy_j"] == pytest.approx(2 * (A_J + 3 * EPOCH_J), rel=REL)
    assert run.header["run_id"] == run.summary["run_id"] == tracker.run_id
    assert run.epochs == [json.loads(json.dumps(r.to_dict())) for r in tracker.records]


def test_progress_bar_shows_nature(logged_run: LoggedRun) -> None:
    assert logged_run.trainer.progress_bar_metrics["CO2e_kg"] == pytest.approx(
        expected_epoch(2)["nature/nature_co2e_kg"], rel=REL_F32)


def test_forecast_projects_max_epochs_from_the_first_epoch(logged_run: LoggedRun) -> None:
    tracker = logged_run.callback.tracker
    assert tracker is not None
    forecasts = [record.forecast_co2e_kg for record in tracker.records]
    assert forecasts == [pytest.approx(expected_epoch(epoch)["nature/forecast_co2e_kg"], rel=REL)
                         for epoch in range(3)]
    # at the planned end the forecast is the figure itself
    assert forecasts[-1] == pytest.approx(tracker.records[-1].nature_co2e_kg, rel=REL)


def test_nothing_goes_through_log_when_nothing_monitors(logged_run: LoggedRun) -> None:
    assert not [name for name in logged_run.trainer.logged_metrics if name.startswith("nature/")]


def test_checkpoint_and_early_stopping_monitor_nature_metrics(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    callback = make_callback(tmp_path)
    checkpoint = DEFAULT.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"), monitor="nature/energy_j", mode="min",
        save_on_train_epoch_end=True)
    # a carbon budget between the first and the second epoch's NATURE: two epochs run
    budget_kg = (expected_epoch(0)["nature/nature_co2e_kg"]
                 + expected_epoch(1)["nature/nature_co2e_kg"]) / 2
    early_stopping = DEFAULT.callbacks.EarlyStopping(
        monitor="nature/nature_co2e_kg", mode="min", divergence_threshold=budget_kg,
        check_on_train_epoch_end=True, patience=100)
    trainer = make_trainer(tmp_path, callback, epochs=5, enable_checkpointing=True,
                           callbacks=[callback, checkpoint, early_stopping])
    trainer.fit(make_module(fake_clock), train_loader(), val_loader())
    assert callback.tracker is not None and len(callback.tracker.records) == 2
    assert trainer.should_stop and trainer.current_epoch == 2
    assert float(checkpoint.best_model_score) == pytest.approx(
        expected_epoch(0)["nature/energy_j"], rel=REL_F32)
    assert Path(checkpoint.best_model_path).name.startswith("epoch=0")
    # the monitored metrics went through LightningModule.log_dict, the others did not
    assert {"nature/energy_j", "nature/nature_co2e_kg"} <= set(trainer.logged_metrics)
    assert "nature/power_w" not in trainer.logged_metrics
    assert trainer.callback_metrics["nature/power_w"].item() == pytest.approx(POWER_W,
                                                                              rel=REL_F32)


def test_a_plateau_scheduler_can_monitor_a_term(tmp_path: Path, fake_clock: FakeClock) -> None:
    module = make_module(fake_clock)

    def configure_optimizers() -> dict[str, Any]:
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "nature/epoch_co2e_g"}}

    module.configure_optimizers = configure_optimizers
    callback = make_callback(tmp_path)
    trainer = make_trainer(tmp_path, callback, epochs=2)
    trainer.fit(module, train_loader())
    assert "nature/epoch_co2e_g" in trainer.logged_metrics  # monitored: routed through log
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.best == pytest.approx(  # type: ignore[attr-defined]
        expected_epoch(0)["nature/epoch_co2e_g"], rel=REL_F32)


@pytest.mark.parametrize(("monitorable", "through_log"), [
    ("all", set(ALL_METRICS)),
    ("totals", {"nature/energy_j", "nature/co2e_kg", "nature/nature_energy_j",
                "nature/nature_co2e_kg", "nature/forecast_co2e_kg"}),
])
def test_monitorable_chooses_what_goes_through_log(
    tmp_path: Path, fake_clock: FakeClock, monitorable: str, through_log: set[str]
) -> None:
    callback = make_callback(tmp_path, monitorable=monitorable)
    trainer = make_trainer(tmp_path, callback, epochs=1)
    trainer.fit(make_module(fake_clock), train_loader())
    assert {name for name in trainer.logged_metrics if name.startswith("nature/")} == through_log
    # what did not go through log still reaches callback_metrics
    assert set(README_METRICS) <= set(trainer.callback_metrics)


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda namespace: namespace.__name__)
def test_the_trainer_of_each_lightning_package_accepts_the_callback(
    tmp_path: Path, fake_clock: FakeClock, namespace: Any
) -> None:
    callback = make_callback(tmp_path)
    trainer = make_trainer(tmp_path, callback, namespace=namespace, epochs=2,
                           logger="tensorboard")
    trainer.fit(make_module(fake_clock, namespace=namespace), train_loader())
    assert callback.tracker is not None
    assert [record.terms.epoch for record in callback.tracker.records] == [0, 1]
    scalars = read_scalars(Path(trainer.log_dir))
    assert values(scalars["nature/energy_j"]) == [
        pytest.approx(expected_epoch(epoch, planned_epochs=2)["nature/energy_j"], rel=REL_F32)
        for epoch in range(2)]
    run = read_run(trainer.log_dir)
    assert run.summary is not None and run.summary["status"] == "completed"
    assert len(run.epochs) == 2


def test_ledger_counts_runs_for_n_exp(tmp_path: Path, fake_clock: FakeClock) -> None:
    ledger = tmp_path / "runs.sqlite"
    n_exps = []
    for index in range(3):
        callback = make_callback(tmp_path, n_exp="ledger", project="sweep", ledger_path=ledger,
                                 output_dir=tmp_path / f"rec{index}")
        make_trainer(tmp_path, callback, epochs=1).fit(make_module(fake_clock), train_loader())
        assert callback.tracker is not None and callback.tracker.n_exp_source == "ledger"
        n_exps.append(callback.tracker.n_exp)
    assert n_exps == [1, 2, 3]
    runs = RunLedger(ledger).runs("sweep")  # written synchronously at the end of fit
    assert [run.status for run in runs] == ["completed"] * 3
    assert [run.epochs for run in runs] == [1] * 3
    assert [run.energy_j for run in runs] == [pytest.approx(A_J + EPOCH_J, rel=REL)] * 3


def test_verbose_prints_one_summary_line(tmp_path: Path, fake_clock: FakeClock,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    callback = make_callback(tmp_path, verbose=True, output_dir=tmp_path / "rec")
    make_trainer(tmp_path, callback, epochs=1).fit(make_module(fake_clock), train_loader())
    nature_kg = expected_epoch(0, planned_epochs=1)["nature/nature_co2e_kg"]
    line = f"NATURE: {nature_kg:.6g} kg CO2e, {2 * (A_J + EPOCH_J) / 3.6e6:.6g} kWh over 1 " \
           f"epochs × N_exp=2; record: {tmp_path / 'rec' / 'nature_summary.json'}"
    assert line in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"pue": -1.0}, "pue"),
        ({"pue": 0.5}, "pue"),
        ({"grid_loss": 1.0}, "grid_loss"),
        ({"grid_loss": 1.5}, "grid_loss"),
        ({"n_exp": 0}, "n_exp"),
        ({"n_exp": "many"}, "n_exp"),
        ({"extra_energy_j": -5.0}, "extra_energy_j"),
        ({"cpu_tdp_w": 0.0}, "cpu_tdp_w"),
        ({"cpu_tdp_w": float("inf")}, "cpu_tdp_w"),
        ({"sample_interval_s": 0.0}, "sample_interval_s"),
        ({"sample_interval_s": True}, "sample_interval_s"),
        ({"carbon": -20.0}, "g_per_kwh"),
        ({"carbon": object()}, "carbon"),
        ({"carbon": "XX"}, "XX"),
        ({"monitorable": "some"}, "monitorable"),
    ],
)
def test_invalid_parameters_raise_at_construction(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NatureCallback(**kwargs)


def test_rapl_counters_are_metered_through_the_real_meters(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    """End to end on the fake RAPL tree, whose counters advance in real time."""
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    trainer = make_trainer(tmp_path, callback, epochs=2)
    started = time.perf_counter()
    trainer.fit(make_module(), train_loader(samples=256))
    fit_s = time.perf_counter() - started
    tracker = callback.tracker
    assert tracker is not None
    summary = tracker.summary()
    assert summary.status == "completed" and summary.estimated is False
    assert sorted((m["device"], m["source"]) for m in summary.meters) == [
        ("cpu0", "measured"), ("dram0", "measured")]
    assert "(RAPL intel-rapl:0)" in tracker.hyperparameters()["nature/meter/cpu0"]
    for record in tracker.records:
        # real time: a loose bound that still rules out an unread or a doubled counter
        assert POWER_W / 5 < record.terms.power_w < POWER_W * 5
    # the counters advance at POWER_W: over the fit, plus the writer's period (2 ms) when
    # the first reading was of an older write, they cannot have advanced more
    assert 0 < tracker.energy_j / FACTOR <= POWER_W * (fit_s + 0.1)


# ---------------------------------------------------------------- W&B offline
@pytest.mark.slow
def test_wandb_offline_run_files_hold_the_metrics(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = DEFAULT.loggers.WandbLogger(project="nature-test", save_dir=str(tmp_path),
                                         offline=True)
    callback = make_callback(tmp_path, output_dir=tmp_path / "record")
    trainer = make_trainer(tmp_path, callback, epochs=2, logger=logger)
    trainer.fit(make_module(fake_clock), train_loader())
    import wandb

    wandb.finish()
    wait_for_wandb_exit_record(tmp_path)
    history = read_wandb_history(tmp_path)
    co2e = [row["nature/nature_co2e_kg"] for row in history if "nature/nature_co2e_kg" in row]
    powers = [row["nature/power_w"] for row in history if "nature/power_w" in row]
    assert co2e == [pytest.approx(expected_epoch(epoch, planned_epochs=2)["nature/nature_co2e_kg"],
                                  rel=REL) for epoch in range(2)]
    assert powers == [pytest.approx(POWER_W, rel=REL)] * 2
    assert read_wandb_config(tmp_path)["nature/pue"] == PUE
    assert json.loads((tmp_path / "record" / "nature_summary.json").read_text())["epochs"] == 2


def read_wandb_records(root: Path) -> list[Any]:
    """Every record of the offline run's transaction log (``run-*.wandb``).

    The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then
    32 KiB blocks of chunks, each with a 7-byte header (CRC32, length, type: 1 full,
    2 first, 3 middle, 4 last) carrying serialised ``wandb_internal_pb2.Record``s.
    """
    from wandb.proto import wandb_internal_pb2

    (run_file,) = root.glob("wandb/offline-run-*/run-*.wandb")
    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    block_size, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        if block_size - position % block_size < 7:  # block trailer padding
            position += block_size - position % block_size
            continue
        _crc, length, chunk_type = struct.unpack("<IHB", data[position:position + 7])
        position += 7
        if position + length > len(data):  # still being written
            break
        pending += data[position:position + length]
        position += length
        if chunk_type in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wait_for_wandb_exit_record(root: Path, timeout_s: float = 30.0) -> None:
    """W&B's writer process may still be flushing after ``finish()``: wait for its exit record."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(r.WhichOneof("record_type") == "exit" for r in read_wandb_records(root)):
            return
        time.sleep(0.1)
    raise AssertionError(f"the offline W&B run under {root} never recorded its exit")


def _item_key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def read_wandb_history(root: Path) -> list[dict[str, Any]]:
    """History rows (one per ``log`` call) of the offline run."""
    return [{_item_key(item): json.loads(item.value_json) for item in record.history.item}
            for record in read_wandb_records(root) if record.WhichOneof("record_type") == "history"]


def read_wandb_config(root: Path) -> dict[str, Any]:
    """The run config recorded in the offline run."""
    config: dict[str, Any] = {}
    for record in read_wandb_records(root):
        kind = record.WhichOneof("record_type")
        items = record.config.update if kind == "config" else (
            record.run.config.update if kind == "run" else [])
        for item in items:
            config[_item_key(item)] = json.loads(item.value_json)
    return config
