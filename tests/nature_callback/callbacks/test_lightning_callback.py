"""NatureCallback in real Lightning Trainers on CPU, with logs read back from disk.

The only thing replaced is the hardware: RAPL files in a temporary powercap tree
whose package counter advances at a known 100 W.
"""

from __future__ import annotations

import json
import math
import signal
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nature_callback import NatureCallback
from nature_callback._lightning import LIGHTNING_NAMESPACES
from nature_callback.exceptions import ConfigurationError
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.powercap import LivePowercap

PUE = 1.5
INTENSITY = 400.0
GRID_LOSS = 0.1
STEP_SLEEP_S = 0.01
NAMES = [
    "epoch_time_s", "power_w", "facility_w", "grid_loss_w", "epoch_energy_j",
    "carbon_intensity_g_per_kwh", "epoch_co2e_g", "energy_j", "co2e_kg", "nature_energy_j",
    "nature_co2e_kg", "forecast_co2e_kg",
]


def make_module(namespace: Any, crash_at_epoch: int | None = None,
                interrupt: bool = False) -> Any:
    """A small regression LightningModule of ``namespace`` (optionally failing mid-run)."""

    class Regression(namespace.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if crash_at_epoch is not None and self.current_epoch == crash_at_epoch and batch_idx == 1:
                if interrupt:
                    raise KeyboardInterrupt
                raise RuntimeError("simulated failure in training_step")
            time.sleep(STEP_SLEEP_S)  # lets the fake counter's writer thread keep pace
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Regression()


def loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=generator)
    y = x.sum(1, keepdim=True)
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=16), DataLoader(data, batch_size=64)


def make_callback(tmp_path: Path, **overrides: Any) -> NatureCallback:
    options: dict[str, Any] = dict(pue=PUE, grid_loss=GRID_LOSS, carbon=INTENSITY, n_exp=2,
                                   verbose=False)
    options.update(overrides)
    return NatureCallback(**options)


def make_trainer(namespace: Any, tmp_path: Path, callback: NatureCallback, epochs: int = 3,
                 logger: Any = "tensorboard", **kwargs: Any) -> Any:
    if logger == "tensorboard":
        logger = namespace.loggers.TensorBoardLogger(str(tmp_path / "logs"), name="run")
    options: dict[str, Any] = dict(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=logger, callbacks=[callback],
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
        default_root_dir=str(tmp_path), log_every_n_steps=1,
    )
    options.update(kwargs)
    return namespace.Trainer(**options)


def read_scalars(log_dir: Path) -> dict[str, list[float]]:
    """Every scalar series in the TensorBoard event files under ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {tag: [event.value for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def assert_consistent_epoch(values: dict[str, float], n_exp: int) -> None:
    """The relations of docs/nature.md hold between the logged terms of one epoch."""
    e_w, u_w, r_w, t_s = (values[k] for k in ("power_w", "facility_w", "grid_loss_w", "epoch_time_s"))
    assert u_w == pytest.approx((PUE - 1) * e_w, rel=1e-5)
    assert r_w == pytest.approx((e_w + u_w) * GRID_LOSS / (1 - GRID_LOSS), rel=1e-5)
    assert values["epoch_energy_j"] == pytest.approx(t_s * (u_w + r_w + e_w), rel=1e-5)
    assert values["carbon_intensity_g_per_kwh"] == pytest.approx(INTENSITY)
    assert values["epoch_co2e_g"] == pytest.approx(
        values["epoch_energy_j"] / 3.6e6 * INTENSITY, rel=1e-5)
    assert values["nature_energy_j"] == pytest.approx(n_exp * values["energy_j"], rel=1e-5)
    assert values["nature_co2e_kg"] == pytest.approx(n_exp * values["co2e_kg"], rel=1e-5)


@pytest.mark.parametrize("namespace", LIGHTNING_NAMESPACES, ids=lambda ns: ns.__name__)
def test_tensorboard_receives_every_term_consistent_and_measured(
    namespace: Any, tmp_path: Path, powercap: LivePowercap
) -> None:
    callback = make_callback(tmp_path)
    trainer = make_trainer(namespace, tmp_path, callback, epochs=3)
    trainer.fit(make_module(namespace), *loaders())

    scalars = read_scalars(Path(trainer.log_dir))
    for name in NAMES:
        assert len(scalars[f"nature/{name}"]) == 3, name
    assert len(scalars["nature/cpu_power_w"]) == 3
    # flags that do not change are written once, at the first epoch
    assert scalars["nature/carbon_is_stale"] == [0.0]
    assert scalars["nature/carbon_is_estimated"] == [0.0]
    for epoch in range(3):
        values = {name: scalars[f"nature/{name}"][epoch] for name in NAMES}
        assert_consistent_epoch(values, n_exp=2)
        # the fake package draws 100 W; file rewrites every 2 ms bound the error
        assert values["power_w"] == pytest.approx(POWER_W, rel=0.1)
    energy = scalars["nature/energy_j"]
    assert energy[0] < energy[1] < energy[2]
    # the bracket = A + Σ epoch energy: A > 0 (sanity check, set-up) and below the total
    a_j = energy[-1] - sum(scalars["nature/epoch_energy_j"])
    assert 0 < a_j < energy[-1]

    summary = json.loads((Path(trainer.log_dir) / "nature_summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs"] == 3
    assert summary["meters"][0]["source"] == "measured"
    assert summary["estimated"] is False
    # after the last epoch, A grows by the teardown window only
    assert summary["energy_j"] >= energy[-1] * (1 - 1e-6)  # TensorBoard keeps float32
    assert summary["nature_co2e_kg"] == pytest.approx(
        2 * summary["energy_j"] / 3.6e6 * INTENSITY / 1000, rel=1e-6)


def test_hyperparameters_record_pue_grid_loss_and_sources(tmp_path: Path, powercap: LivePowercap) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    logger = namespace.loggers.CSVLogger(str(tmp_path / "csv"), name="run")
    callback = make_callback(tmp_path)
    trainer = make_trainer(namespace, tmp_path, callback, epochs=1, logger=logger)
    trainer.fit(make_module(namespace), *loaders())
    hparams = (Path(trainer.log_dir) / "hparams.yaml").read_text()
    assert "nature/pue: 1.5" in hparams
    assert "nature/grid_loss: 0.1" in hparams
    assert "nature/grid_loss_source: user parameter grid_loss" in hparams
    assert "nature/carbon_source: fixed (user parameter)" in hparams
    assert "nature/meter/cpu0: 'measured:" in hparams
    assert "nature/meter/dram0: 'measured:" in hparams
    metrics_csv = (Path(trainer.log_dir) / "metrics.csv").read_text()
    assert "nature/nature_co2e_kg" in metrics_csv.splitlines()[0]


def test_wandb_offline_run_files_hold_the_metrics(tmp_path: Path, powercap: LivePowercap,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    namespace = LIGHTNING_NAMESPACES[0]
    logger = namespace.loggers.WandbLogger(project="nature-test", save_dir=str(tmp_path), offline=True)
    callback = make_callback(tmp_path, output_dir=tmp_path / "record")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=2, logger=logger)
    trainer.fit(make_module(namespace), *loaders())
    import wandb

    wandb.finish()
    wait_for_wandb_exit_record(tmp_path)
    history = read_wandb_history(tmp_path)
    co2e = [row["nature/nature_co2e_kg"] for row in history if "nature/nature_co2e_kg" in row]
    powers = [row["nature/power_w"] for row in history if "nature/power_w" in row]
    assert len(co2e) == 2 and co2e[0] < co2e[1]
    assert powers == [pytest.approx(POWER_W, rel=0.1)] * 2
    config = read_wandb_config(tmp_path)
    assert config["nature/pue"] == 1.5
    summary = json.loads((tmp_path / "record" / "nature_summary.json").read_text())
    assert summary["epochs"] == 2


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


def test_resume_from_checkpoint_continues_totals_without_double_counting(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    checkpoint = namespace.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"),
                                                     save_last=True, save_on_train_epoch_end=True)
    first = make_callback(tmp_path, output_dir=tmp_path / "first")
    trainer = make_trainer(namespace, tmp_path, first, epochs=2, logger=False,
                           enable_checkpointing=True, callbacks=[first, checkpoint])
    trainer.fit(make_module(namespace), *loaders())
    assert first.tracker is not None
    first_records = first.tracker.records
    assert len(first_records) == 2

    second = make_callback(tmp_path, output_dir=tmp_path / "second")
    trainer = make_trainer(namespace, tmp_path, second, epochs=4, logger=False,
                           enable_checkpointing=True, callbacks=[second])
    started = time.perf_counter()
    trainer.fit(make_module(namespace), *loaders(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    second_fit_s = time.perf_counter() - started
    tracker = second.tracker
    assert tracker is not None
    records = tracker.records
    assert [r.terms.epoch for r in records] == [0, 1, 2, 3]
    # the first two epochs are the checkpointed ones, not re-measured
    for restored, original in zip(records[:2], first_records):
        assert restored.terms == original.terms
    assert records[1].energy_j == pytest.approx(first_records[1].energy_j)
    # what the second run adds is bounded by what it could draw: no double counting
    factor = PUE / (1 - GRID_LOSS)
    added_j = tracker.energy_j - first_records[1].energy_j
    assert 0 < added_j <= POWER_W * factor * second_fit_s * 1.1
    assert tracker.energy_j == pytest.approx(
        tracker.a_energy_j + sum(r.terms.epoch_energy_j for r in records), rel=1e-9)
    summary = json.loads((tmp_path / "second" / "nature_summary.json").read_text())
    assert summary["epochs"] == 4
    assert summary["energy_j"] == pytest.approx(tracker.energy_j)


@pytest.mark.parametrize(("interrupt", "status"), [(False, "crashed"), (True, "interrupted")])
def test_failure_mid_training_leaves_the_partial_record(
    tmp_path: Path, powercap: LivePowercap, interrupt: bool, status: str
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "record")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=5, logger=False)
    module = make_module(namespace, crash_at_epoch=2, interrupt=interrupt)
    if interrupt:
        # Lightning turns Ctrl+C into a graceful stop and sys.exit(1), ignoring SIGINT after it
        sigint_handler = signal.getsignal(signal.SIGINT)
        try:
            with pytest.raises((KeyboardInterrupt, SystemExit)):
                trainer.fit(module, *loaders())
        finally:
            signal.signal(signal.SIGINT, sigint_handler)
    else:
        with pytest.raises(RuntimeError, match="simulated failure"):
            trainer.fit(module, *loaders())
    summary = json.loads((tmp_path / "record" / "nature_summary.json").read_text())
    assert summary["status"] == status
    # two complete epochs and the interrupted one, all with measured energy
    assert summary["epochs"] == 3
    assert all(r["terms"]["power_w"] == pytest.approx(POWER_W, rel=0.2)
               for r in summary["epoch_records"][:2])
    assert summary["energy_j"] > 0
    assert not any(".tmp" in p.name for p in (tmp_path / "record").iterdir())


def test_ledger_counts_runs_for_n_exp(tmp_path: Path, powercap: LivePowercap) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    ledger = tmp_path / "ledger.sqlite"
    n_exps = []
    for _ in range(3):
        callback = make_callback(tmp_path, n_exp="ledger", project="sweep", ledger_path=ledger,
                                 output_dir=tmp_path / "rec")
        trainer = make_trainer(namespace, tmp_path, callback, epochs=1, logger=False)
        trainer.fit(make_module(namespace), *loaders())
        assert callback.tracker is not None
        callback.tracker.wait_for_ledger()  # the final row is written off the training thread
        n_exps.append(callback.tracker.n_exp)
    assert n_exps == [1, 2, 3]
    from nature_callback.ledger import RunLedger

    runs = RunLedger(ledger).runs("sweep")
    assert [run.status for run in runs] == ["completed"] * 3
    assert all(run.energy_j > 0 and run.epochs == 1 for run in runs)


def test_forecast_projects_max_epochs_from_the_first_epoch(tmp_path: Path, powercap: LivePowercap) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=3, logger=False)
    trainer.fit(make_module(namespace), *loaders())
    assert callback.tracker is not None
    first, *_, last = callback.tracker.records
    assert first.forecast_co2e_kg is not None
    assert first.forecast_co2e_kg == pytest.approx(
        2 * (first.co2e_kg + 2 * first.terms.epoch_co2e_g / 1000), rel=1e-9)
    # at the planned end the forecast is the figure itself
    assert last.forecast_co2e_kg == pytest.approx(last.nature_co2e_kg, rel=1e-9)


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
        ({"sample_interval_s": 0.0}, "sample_interval_s"),
        ({"carbon": -20.0}, "g_per_kwh"),
        ({"carbon": object()}, "carbon"),
        ({"carbon": "XX"}, "XX"),
    ],
)
def test_invalid_parameters_raise_at_construction(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NatureCallback(**kwargs)


def test_progress_bar_shows_nature(tmp_path: Path, powercap: LivePowercap) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=1, logger=False,
                           enable_progress_bar=True)
    trainer.fit(make_module(namespace), *loaders())
    assert "CO2e_kg" in trainer.progress_bar_metrics
    assert callback.tracker is not None
    assert trainer.progress_bar_metrics["CO2e_kg"] == pytest.approx(
        callback.tracker.records[0].nature_co2e_kg, rel=1e-6)
    assert math.isfinite(trainer.callback_metrics["nature/nature_co2e_kg"].item())


def test_totals_can_be_monitored_by_checkpoint_and_early_stopping(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    checkpoint = namespace.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"), monitor="nature/nature_co2e_kg", mode="min",
        save_on_train_epoch_end=True)
    # a carbon budget of zero: EarlyStopping ends the run after the first epoch
    budget = namespace.callbacks.EarlyStopping(
        monitor="nature/nature_co2e_kg", mode="min", divergence_threshold=0.0,
        check_on_train_epoch_end=True, patience=100)
    trainer = make_trainer(namespace, tmp_path, callback, epochs=5, logger=False,
                           enable_checkpointing=True, callbacks=[callback, checkpoint, budget])
    trainer.fit(make_module(namespace), *loaders())
    assert callback.tracker is not None
    assert len(callback.tracker.records) == 1
    first = callback.tracker.records[0]
    assert checkpoint.best_model_score is not None
    assert float(checkpoint.best_model_score) == pytest.approx(first.nature_co2e_kg, rel=1e-6)
    # the monitored total went through LightningModule.log; the rest were written directly
    assert "nature/nature_co2e_kg" in trainer.logged_metrics
    assert "nature/power_w" not in trainer.logged_metrics
    assert trainer.callback_metrics["nature/power_w"].item() == pytest.approx(first.terms.power_w)


def test_every_term_reaches_callback_metrics_without_log_calls_when_nothing_monitors(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=2, logger=False)
    trainer.fit(make_module(namespace), *loaders())
    assert callback.tracker is not None
    last = callback.tracker.records[-1]
    for name, value in last.metrics().items():
        assert trainer.callback_metrics[name].item() == pytest.approx(value, rel=1e-12), name
        assert name not in trainer.logged_metrics  # no LightningModule.log call was needed


def test_a_plateau_scheduler_can_monitor_a_term(tmp_path: Path, powercap: LivePowercap) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    module = make_module(namespace)

    def configure_optimizers() -> dict[str, Any]:
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "nature/epoch_co2e_g"}}

    module.configure_optimizers = configure_optimizers
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=2, logger=False)
    trainer.fit(module, *loaders())
    assert "nature/epoch_co2e_g" in trainer.logged_metrics  # routed through log: monitored
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.best == pytest.approx(  # type: ignore[attr-defined]
        min(r.terms.epoch_co2e_g for r in callback.tracker.records), rel=1e-6)


def test_monitorable_all_logs_every_term_through_the_module(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec", monitorable="all")
    trainer = make_trainer(namespace, tmp_path, callback, epochs=1, logger=False)
    trainer.fit(make_module(namespace), *loaders())
    for name in NAMES:
        assert f"nature/{name}" in trainer.callback_metrics
    with pytest.raises(ConfigurationError, match="monitorable"):
        NatureCallback(monitorable="some")  # type: ignore[arg-type]
    totals = make_callback(tmp_path, output_dir=tmp_path / "rec2", monitorable="totals")
    trainer = make_trainer(namespace, tmp_path, totals, epochs=1, logger=False)
    trainer.fit(make_module(namespace), *loaders())
    assert "nature/nature_co2e_kg" in trainer.logged_metrics
    assert "nature/power_w" not in trainer.logged_metrics


def test_a_second_fit_with_the_same_callback_continues_the_totals(
    tmp_path: Path, powercap: LivePowercap
) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    module = make_module(namespace)
    make_trainer(namespace, tmp_path, callback, epochs=1, logger=False).fit(module, *loaders())
    assert callback.tracker is not None
    first_energy_j = callback.tracker.energy_j
    make_trainer(namespace, tmp_path, callback, epochs=2, logger=False).fit(module, *loaders())
    records = callback.tracker.records
    assert [r.terms.epoch for r in records] == [0, 1, 2]  # 1 epoch, then 2 more
    assert callback.tracker.energy_j > first_energy_j
    assert all(r.terms.power_w == pytest.approx(POWER_W, rel=0.15) for r in records)


def test_callback_metrics_falls_back_to_the_public_property() -> None:
    from types import SimpleNamespace

    from nature_callback.callbacks.lightning import _callback_metrics

    public: dict[str, Any] = {}
    assert _callback_metrics(SimpleNamespace(callback_metrics=public)) is public
    inner: dict[str, Any] = {}
    trainer = SimpleNamespace(_logger_connector=SimpleNamespace(_callback_metrics=inner),
                              callback_metrics=public)
    assert _callback_metrics(trainer) is inner


@pytest.mark.parametrize("namespace", LIGHTNING_NAMESPACES, ids=lambda n: n.__name__)
def test_unused_hooks_are_skipped_but_a_subclass_keeps_its_own(
    namespace: Any, tmp_path: Path, powercap: LivePowercap
) -> None:
    batch_ends: list[int] = []

    class CountingCallback(NatureCallback):
        def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
            batch_ends.append(trainer.global_step)

    plain = make_callback(tmp_path)
    assert plain.on_train_batch_end is None and plain.on_validation_batch_end is None
    assert callable(plain.on_train_epoch_end) and callable(plain.on_save_checkpoint)
    assert NatureCallback.on_train_batch_end is not None  # the class itself is untouched

    callback = CountingCallback(pue=PUE, grid_loss=GRID_LOSS, carbon=INTENSITY, verbose=False,
                                output_dir=tmp_path / "rec")
    assert callback.on_validation_batch_end is None
    trainer = make_trainer(namespace, tmp_path, callback, epochs=2)
    trainer.fit(make_module(namespace), *loaders())
    assert len(batch_ends) == 2 * 16  # 256 samples, batches of 16, two epochs
    assert callback.tracker is not None and len(callback.tracker.records) == 2
