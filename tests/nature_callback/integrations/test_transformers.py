"""``NatureTrainerCallback`` in a real ``transformers.Trainer``: a one-layer BERT built from a
config (nothing downloaded) trained on generated token ids, on a fake meter and a fake clock
that a helper callback moves, so that every figure is exact."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from nature_callback.exceptions import ConfigurationError, NatureWarning  # noqa: E402
from nature_callback.integrations.transformers import NatureTrainerCallback  # noqa: E402
from nature_callback.run_files import read_run  # noqa: E402
from tests.conftest import repo_root  # noqa: E402
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
    REL_F32,
    SETUP_S,
    STEP_S,
    assert_metrics,
    expected_epoch,
    read_scalars,
)

BATCH = 4
EVAL_STEP_S = 0.25
"""Fake seconds of one evaluation batch."""
EVAL_BATCHES = 2
EVAL_J = POWER_W * FACTOR * EVAL_STEP_S * EVAL_BATCHES
"""Energy of one evaluation at the plant."""


class TokenIds(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Generated token ids and labels."""

    def __init__(self, samples: int) -> None:
        generator = torch.Generator().manual_seed(samples)
        self.ids = torch.randint(0, 64, (samples, 8), generator=generator)
        self.labels = torch.randint(0, 2, (samples,), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


class Ticker(TrainerCallback):  # type: ignore[misc]
    """Moves the fake clock: ``SETUP_S`` at train begin (added after the nature callback, so in
    A), ``STEP_S`` per optimizer step, ``EVAL_STEP_S`` per evaluation batch; raises at
    ``crash_at_step``."""

    def __init__(self, clock: FakeClock, crash_at_step: int | None = None) -> None:
        self.clock = clock
        self.crash_at_step = crash_at_step

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.advance(SETUP_S)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.crash_at_step:
            raise RuntimeError("simulated failure")
        self.clock.advance(STEP_S)

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.advance(EVAL_STEP_S)


def make_trainer(tmp_path: Path, epochs: int = 3, **arguments: Any) -> Trainer:
    """A CPU Trainer of a one-layer BERT on ``BATCHES`` batches per epoch, reporting to
    TensorBoard in ``tmp_path / "out"``."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
    options: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"), "num_train_epochs": epochs, "use_cpu": True,
        "per_device_train_batch_size": BATCH, "per_device_eval_batch_size": BATCH,
        "report_to": ["tensorboard"], "save_strategy": "no", "disable_tqdm": True,
        "logging_steps": 2, **arguments}
    return Trainer(model=BertForSequenceClassification(config),
                   args=TrainingArguments(**options), train_dataset=TokenIds(BATCHES * BATCH),
                   eval_dataset=TokenIds(EVAL_BATCHES * BATCH))


def attach(trainer: Trainer, tmp_path: Path, clock: FakeClock, crash_at_step: int | None = None,
           **options: Any) -> NatureTrainerCallback:
    """The callback under test (fixed carbon, a ledger in ``tmp_path``), then the ticker."""
    callback = NatureTrainerCallback.attach(
        trainer, **{"pue": PUE, "grid_loss": GRID_LOSS, "carbon": INTENSITY, "n_exp": N_EXP,
                    "verbose": False, "ledger_path": tmp_path / "ledger.sqlite", **options})
    trainer.add_callback(Ticker(clock, crash_at_step))
    return callback


def tensorboard_by_step(output_dir: Path) -> dict[int, dict[str, float]]:
    """The last value of each ``train/nature/...`` scalar at each step, as ``nature/...``."""
    (events,) = {path.parent for path in output_dir.rglob("events.out.tfevents.*")}
    by_step: dict[int, dict[str, float]] = {}
    for tag, series in read_scalars(events).items():
        for step, value in series:
            if tag.startswith("train/nature/"):
                by_step.setdefault(step, {})[tag.removeprefix("train/")] = value
    return by_step


def test_epochs_and_steps_reach_tensorboard_through_trainer_log(
    tmp_path: Path, fake_clock: FakeClock,
) -> None:
    trainer = make_trainer(tmp_path)
    callback = attach(trainer, tmp_path, fake_clock, log_every_n_steps=2)
    trainer.train()
    tracker = callback.tracker
    assert tracker is not None and tracker.status == "completed"
    assert [r.terms.epoch_time_s for r in tracker.records] == [pytest.approx(EPOCH_S)] * 3
    for index, record in enumerate(tracker.records):
        assert_metrics(record.metrics() | record.detail_metrics(), expected_epoch(index), REL)
    by_step = tensorboard_by_step(tmp_path / "out")
    for index in range(3):  # the epoch's figures at its last step
        assert_metrics(by_step[(index + 1) * BATCHES], expected_epoch(index), REL_F32)
    # the step records, every 2 optimizer steps: half an epoch after A
    half_j = A_J + EPOCH_J / 2
    assert by_step[2]["nature/energy_j"] == pytest.approx(half_j, rel=REL_F32)
    run = read_run(tracker.summary_path)
    assert tracker.summary_path.parent == tmp_path / "out"
    assert [s["step"] for s in run.steps] == [2, 4, 6, 8, 10, 12]
    assert len(run.epochs) == 3 and run.summary is not None
    assert run.summary["status"] == "completed"
    assert run.summary["energy_j"] == pytest.approx(A_J + 3 * EPOCH_J, rel=REL)
    assert run.header is not None and run.header["config"]["planned_epochs"] == 3
    # the Trainer's own loss logging still happens at the steps the callback logs at
    history = trainer.state.log_history
    assert [entry["step"] for entry in history if "loss" in entry] == [2, 4, 6, 8, 10, 12]
    assert sum("nature/epoch_energy_j" in entry for entry in history) == 3


@pytest.mark.parametrize(("strategy", "windows"), [("epoch", 3), ("steps", 4)])
def test_evaluation_during_training_is_a_named_window(
    tmp_path: Path, fake_clock: FakeClock, strategy: str, windows: int,
) -> None:
    # "epoch": at the start and after each of 2 epochs; "steps": at the start, at steps 3 and
    # 6 (inside epochs 0 and 1, which pause) and at the last step, 8
    trainer = make_trainer(tmp_path, epochs=2, eval_strategy=strategy, eval_steps=3,
                           eval_on_start=True)
    callback = attach(trainer, tmp_path, fake_clock)
    trainer.train()
    tracker = callback.tracker
    assert tracker is not None
    assert [(w.name, w.index) for w in tracker.window_records] == [
        ("evaluation", index) for index in range(windows)]
    # eval_on_start's window opens in on_train_begin: the set-up time after it is in it, not in A
    assert [w.energy_j for w in tracker.window_records] == [
        pytest.approx(A_J + EVAL_J, rel=REL)] + [pytest.approx(EVAL_J, rel=REL)] * (windows - 1)
    assert tracker.a_energy_j == pytest.approx(0.0, abs=1e-9)
    assert [r.terms.epoch_energy_j for r in tracker.records] == [pytest.approx(EPOCH_J)] * 2
    assert tracker.energy_j == pytest.approx(A_J + 2 * EPOCH_J + windows * EVAL_J, rel=REL)
    logged = [entry["nature/evaluation_energy_j"] for entry in trainer.state.log_history
              if "nature/evaluation_energy_j" in entry]
    assert logged == [pytest.approx(w.energy_j, rel=REL) for w in tracker.window_records]


def _nature_kg(epochs: int) -> float:
    return N_EXP * (A_J + epochs * EPOCH_J) / 3.6e6 * INTENSITY / 1000


@pytest.mark.parametrize(("budget_kg", "use_forecast", "expected_epochs"), [
    ((_nature_kg(2) + _nature_kg(3)) / 2, True, 2),   # stops before passing it
    ((_nature_kg(2) + _nature_kg(3)) / 2, False, 3),  # stops once past it
    (10 * _nature_kg(5), True, 5),                    # under it: runs to the end
], ids=["forecast", "reached", "under"])
def test_the_carbon_budget_stops_training(
    tmp_path: Path, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture, budget_kg: float,
    use_forecast: bool, expected_epochs: int,
) -> None:
    trainer = make_trainer(tmp_path, epochs=5)
    callback = attach(trainer, tmp_path, fake_clock, max_co2e_kg=budget_kg,
                      use_forecast=use_forecast)
    with caplog.at_level(logging.WARNING, logger="nature_callback"):
        trainer.train()
    assert callback.tracker is not None
    assert len(callback.tracker.records) == expected_epochs
    assert trainer.state.global_step == expected_epochs * BATCHES
    if expected_epochs == 5:
        assert callback.verdict is None and "carbon budget" not in caplog.text
        return
    assert callback.verdict is not None and callback.verdict.message in caplog.text
    assert f"epoch {expected_epochs - 1}" in callback.verdict.message
    assert (callback.tracker.records[-1].nature_co2e_kg < budget_kg) == use_forecast


def test_an_unbound_callback_warns_and_still_records(tmp_path: Path,
                                                     fake_clock: FakeClock) -> None:
    trainer = make_trainer(tmp_path, epochs=1)
    callback = NatureTrainerCallback(carbon=INTENSITY, verbose=False, ledger_path=False,
                                     output_dir=tmp_path / "records")
    trainer.add_callback(callback)
    with pytest.warns(NatureWarning, match="attach"):
        trainer.train()
    assert read_run(tmp_path / "records").summary is not None
    assert not any("nature/energy_j" in entry for entry in trainer.state.log_history)


def test_a_crash_keeps_the_finished_epochs_and_abort_records_it(
    tmp_path: Path, fake_clock: FakeClock,
) -> None:
    trainer = make_trainer(tmp_path)
    callback = attach(trainer, tmp_path, fake_clock, crash_at_step=BATCHES + 2)
    with pytest.raises(RuntimeError, match="simulated") as failure:
        trainer.train()
    assert callback.tracker is not None
    assert len(read_run(callback.tracker.epochs_path).epochs) == 1
    summary = callback.abort(failure.value)  # the cut epoch is recorded as measured
    assert summary is not None and summary.status == "crashed" and summary.epochs == 2
    assert callback.tracker.records[-1].terms.epoch_time_s == pytest.approx(2 * STEP_S)
    written = json.loads(callback.tracker.summary_path.read_text())
    assert written["status"] == "crashed"
    assert callback.abort(failure.value) is None  # nothing left to abort


def test_options_are_checked_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="log_every_n_steps"):
        NatureTrainerCallback(log_every_n_steps=0)
    with pytest.raises(ConfigurationError, match="max_co2e_kg"):
        NatureTrainerCallback(max_co2e_kg=-1.0)
    with pytest.raises(ConfigurationError, match="pue"):
        NatureTrainerCallback(pue=0.5)


def test_the_package_imports_no_framework() -> None:
    script = ("import json, sys\nimport nature_callback, nature_callback.integrations\n"
              "from nature_callback import NatureTracker, track\n"
              "print(json.dumps(sorted({'transformers', 'keras', 'torch'} & set(sys.modules))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=repo_root(), timeout=120, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []


def _arguments(device: str, n_gpu: int) -> Any:
    """What ``_gpus`` reads of ``TrainingArguments`` on a machine with GPUs (none here)."""
    from types import SimpleNamespace

    return SimpleNamespace(device=torch.device(device), n_gpu=n_gpu)


def test_the_gpus_metered_are_those_the_trainer_trains_on() -> None:
    from types import SimpleNamespace

    from nature_callback.integrations.transformers import _gpus

    plain = SimpleNamespace()
    assert _gpus(_arguments("cpu", 0), plain) is None
    assert _gpus(_arguments("cuda:0", 1), plain) == [0]
    assert _gpus(_arguments("cuda:2", 1), plain) == [2]  # a DDP rank's own GPU
    # several GPUs and no torch.distributed: the Trainer wraps the model in nn.DataParallel
    assert _gpus(_arguments("cuda:0", 4), plain) == [0, 1, 2, 3]
    # ... except a model loaded in 8 or 4 bits, which it leaves on one GPU
    assert _gpus(_arguments("cuda:0", 4), SimpleNamespace(is_loaded_in_4bit=True)) == [0]
    # a model spread by device_map="auto": every GPU it lives on, not CPU or disk offload
    spread = SimpleNamespace(hf_device_map={"embed": 0, "layers.0": "cuda:1",
                                            "layers.1": torch.device("cuda", 3),
                                            "lm_head": "cpu", "cache": "disk", "tail": "cuda"})
    assert _gpus(_arguments("cuda:0", 1), spread) == [0, 1, 3]
