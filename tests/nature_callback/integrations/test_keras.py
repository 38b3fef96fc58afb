"""``NatureKerasCallback`` in a real Keras 3 ``fit`` (torch backend): a small MLP on generated
data, on a fake meter and a fake clock that a helper callback moves, so that every figure is
exact."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"  # read when keras is first imported
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - keras imported earlier elsewhere
    pytest.skip("keras was imported with another backend", allow_module_level=True)

from nature_callback.integrations.keras import NatureKerasCallback  # noqa: E402
from nature_callback.run_files import read_run  # noqa: E402
from tests.nature_callback.conftest import POWER_W  # noqa: E402
from tests.nature_callback.fakes import FakeClock  # noqa: E402
from tests.nature_callback.integrations.helpers import (  # noqa: E402
    A_J,
    BATCHES,
    EPOCH_J,
    EPOCH_S,
    FACTOR,
    GRID_LOSS,
    INTENSITY,
    N_EXP,
    PUE,
    REL,
    SETUP_S,
    STEP_S,
    assert_metrics,
    expected_epoch,
)

pytestmark = pytest.mark.filterwarnings(  # Keras 3.x on numpy 2.x, inside Keras
    "ignore:__array__ implementation:DeprecationWarning")

BATCH = 8
VAL_STEP_S = 0.25
"""Fake seconds of one validation batch."""
VAL_BATCHES = 2
VAL_J = POWER_W * FACTOR * VAL_STEP_S * VAL_BATCHES


class Ticker(keras.callbacks.Callback):  # type: ignore[misc]
    """Moves the fake clock: ``SETUP_S`` at train begin (after the nature callback, so in A),
    ``STEP_S`` per training batch, ``VAL_STEP_S`` per validation batch; raises at training
    batch ``crash_at_batch`` (counted over the run)."""

    def __init__(self, clock: FakeClock, crash_at_batch: int | None) -> None:
        super().__init__()
        self.clock = clock
        self.crash_at_batch = crash_at_batch
        self.batches = 0

    def on_train_begin(self, logs: Any = None) -> None:
        self.clock.advance(SETUP_S)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self.batches == self.crash_at_batch:
            raise RuntimeError("simulated failure")
        self.batches += 1
        self.clock.advance(STEP_S)

    def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.clock.advance(VAL_STEP_S)


def make_callback(tmp_path: Path, **options: Any) -> NatureKerasCallback:
    """The callback under test: fixed carbon, records in ``tmp_path / "records"``."""
    return NatureKerasCallback(pue=PUE, grid_loss=GRID_LOSS, carbon=INTENSITY, n_exp=N_EXP,
                               verbose=False, ledger_path=tmp_path / "ledger.sqlite",
                               output_dir=tmp_path / "records", **options)


def fit(tmp_path: Path, clock: FakeClock, callback: NatureKerasCallback, epochs: int = 3,
        validation: bool = True, crash_at_batch: int | None = None) -> keras.callbacks.History:
    """``fit`` a small MLP for ``epochs`` epochs of ``BATCHES`` batches, with ``callback``,
    then the ticker and a CSVLogger (to ``tmp_path / "epochs.csv"``)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCHES * BATCH, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    logger = keras.callbacks.CSVLogger(str(tmp_path / "epochs.csv"))
    return model.fit(
        x, y, batch_size=BATCH, epochs=epochs, verbose=0,
        validation_data=(x[:VAL_BATCHES * BATCH], y[:VAL_BATCHES * BATCH]) if validation else None,
        callbacks=[callback, Ticker(clock, crash_at_batch), logger])


def test_epochs_and_validation_reach_the_logs_of_later_callbacks(
    tmp_path: Path, fake_clock: FakeClock,
) -> None:
    callback = make_callback(tmp_path)
    history = fit(tmp_path, fake_clock, callback)
    tracker = callback.tracker
    assert tracker is not None and tracker.status == "completed"
    assert [r.terms.epoch_time_s for r in tracker.records] == [pytest.approx(EPOCH_S)] * 3
    # validation runs inside each epoch, as a window of its own: the epoch pauses
    assert [(w.name, w.energy_j) for w in tracker.window_records] == [
        ("validation", pytest.approx(VAL_J, rel=REL))] * 3
    expected = [expected_epoch(index, a_j=A_J + (index + 1) * VAL_J) for index in range(3)]
    with (tmp_path / "epochs.csv").open() as file:
        rows = list(csv.DictReader(file))
    for index, row in enumerate(rows):
        logged = {name: float(value) for name, value in row.items() if name.startswith("nature/")}
        assert_metrics(logged, expected[index] | {"nature/validation_energy_j": VAL_J}, REL)
        assert "val_loss" in row
    assert_metrics({name: values[-1] for name, values in history.history.items()}, expected[-1],
                   REL)
    run = read_run(tmp_path / "records")
    assert len(run.epochs) == 3 and len(run.windows) == 3 and run.summary is not None
    assert run.summary["energy_j"] == pytest.approx(A_J + 3 * (EPOCH_J + VAL_J), rel=REL)
    assert run.header is not None and run.header["config"]["planned_epochs"] == 3


def test_step_records_and_the_budget(tmp_path: Path, fake_clock: FakeClock) -> None:
    one_epoch_kg = N_EXP * (A_J + EPOCH_J) / 3.6e6 * INTENSITY / 1000
    callback = make_callback(tmp_path, log_every_n_steps=2, max_co2e_kg=2.5 * one_epoch_kg)
    history = fit(tmp_path, fake_clock, callback, epochs=5, validation=False)
    tracker = callback.tracker
    assert tracker is not None and callback.verdict is not None
    # NATURE after k epochs ∝ A + k epochs (500 + 333 k J): one more after the 4th would pass
    assert len(tracker.records) == len(history.history["loss"]) == 4
    assert "after epoch 3" in callback.verdict.message
    assert [s["step"] for s in read_run(tmp_path / "records").steps] == list(
        range(2, BATCHES * len(tracker.records) + 1, 2))


def test_evaluate_and_predict_outside_fit_are_runs_of_their_own(
    tmp_path: Path, fake_clock: FakeClock,
) -> None:
    callback = make_callback(tmp_path)
    fit(tmp_path, fake_clock, callback, epochs=1, validation=False)
    assert callback.tracker is not None and callback.tracker.status == "completed"
    x, y = np.zeros((VAL_BATCHES * BATCH, 8), "float32"), np.zeros((VAL_BATCHES * BATCH, 1))
    returned = callback.model.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True,
                                       callbacks=[callback, Ticker(fake_clock, None)])
    assert set(returned) == {"loss"}  # what evaluate returns is left alone
    callback.model.predict(x, batch_size=BATCH, verbose=0, callbacks=[callback])
    assert callback.tracker.window_records == []  # the fit's run had ended: not charged
    for stage, time_s in (("evaluate", VAL_STEP_S * VAL_BATCHES), ("predict", 0.0)):
        run = read_run(tmp_path / "records" / f"nature_{stage}")
        assert run.summary is not None and run.summary["status"] == "completed"
        assert run.summary["epochs"] == 0
        (window,) = run.windows
        assert window["name"] == stage
        assert window["window_time_s"] == pytest.approx(time_s, abs=REL)
        assert window["energy_j"] == pytest.approx(POWER_W * FACTOR * time_s, rel=REL, abs=REL)
    assert callback.stage_tracker is not None and callback.stage_tracker.status == "completed"
    assert callback.abort(RuntimeError("late")) is None  # no training run is going on


def test_a_crash_keeps_the_finished_epochs_and_abort_records_it(
    tmp_path: Path, fake_clock: FakeClock,
) -> None:
    callback = make_callback(tmp_path)
    with pytest.raises(RuntimeError, match="simulated") as failure:
        fit(tmp_path, fake_clock, callback, validation=False, crash_at_batch=BATCHES + 2)
    assert len(read_run(tmp_path / "records").epochs) == 1
    summary = callback.abort(failure.value)  # the cut epoch is recorded as measured
    assert summary is not None and summary.status == "crashed" and summary.epochs == 2


class _Mesh:
    """A ``keras.distribution.DeviceMesh`` as far as ``_backend_gpus`` reads it."""

    def __init__(self, devices: list[str]) -> None:
        self.devices = np.array(devices)


def _on_backend(monkeypatch: pytest.MonkeyPatch, backend: str, distribution: Any = None,
                devices: list[str] | Exception = ()) -> None:
    """Keras as a JAX or TensorFlow process with these devices would answer (this machine's
    Keras runs on torch, without GPUs): the backend's device discovery is the boundary."""

    def list_devices(device_type: str | None = None) -> list[str]:
        if isinstance(devices, Exception):
            raise devices
        return [name for name in devices if name.startswith(f"{device_type}:")]

    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    monkeypatch.setattr(keras.distribution, "distribution", lambda: distribution)
    monkeypatch.setattr(keras.distribution, "list_devices", list_devices)


def test_gpus_auto_follows_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from nature_callback.integrations.keras import _backend_gpus

    assert _backend_gpus("auto") == "auto"  # torch: the tracker finds the CUDA device in use
    assert _backend_gpus([1]) == [1] and _backend_gpus(None) is None  # given: kept
    _on_backend(monkeypatch, "jax", devices=["gpu:0", "gpu:1", "gpu:2"])
    assert _backend_gpus("auto") == [0]  # no distribution: the default (first) GPU
    _on_backend(monkeypatch, "jax", SimpleNamespace(device_mesh=_Mesh(["gpu:2", "gpu:3"])),
                devices=["gpu:0", "gpu:1", "gpu:2", "gpu:3"])
    assert _backend_gpus("auto") == [2, 3]  # keras.distribution.DataParallel over two GPUs
    _on_backend(monkeypatch, "tensorflow", devices=["cpu:0"])
    assert _backend_gpus("auto") is None  # no GPU
    _on_backend(monkeypatch, "jax", devices=RuntimeError("Unknown backend: 'gpu'"))
    assert _backend_gpus("auto") is None


def test_gpus_is_checked_at_construction() -> None:
    from nature_callback.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="gpus"):
        NatureKerasCallback(gpus="all")
    assert NatureKerasCallback(gpus=None).gpus is None
