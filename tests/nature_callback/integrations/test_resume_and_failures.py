"""Checkpoints, resumed fits, second fits and fits that fail: the totals continue without
double counting, and whatever was measured is on disk."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from nature_callback.run_files import read_run
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.fakes import FakeClock
from tests.nature_callback.integrations.helpers import (
    A_J,
    DEFAULT,
    EPOCH_J,
    EPOCH_S,
    FACTOR,
    REL,
    STEP_S,
    assert_metrics,
    expected_epoch,
    make_callback,
    make_module,
    make_trainer,
    record_metrics,
    train_loader,
)

MID_EPOCH_STEP = 6
"""A step-based checkpoint here cuts epoch 1 in half (4 steps per epoch)."""


def checkpointed_fit(tmp_path: Path, clock: FakeClock, checkpoint: object,
                     epochs: int) -> list[dict]:
    """Fit ``epochs`` epochs from scratch with ``checkpoint``; the epochs it recorded."""
    callback = make_callback(tmp_path, output_dir=tmp_path / "first")
    trainer = make_trainer(tmp_path, callback, epochs=epochs, enable_checkpointing=True,
                           callbacks=[callback, checkpoint])
    trainer.fit(make_module(clock), train_loader())
    assert callback.tracker is not None
    return [record.to_dict() for record in callback.tracker.records]


def resumed_fit(tmp_path: Path, clock: FakeClock, ckpt_path: Path, epochs: int) -> tuple:
    """A new callback and Trainer resuming from ``ckpt_path`` up to ``epochs``."""
    callback = make_callback(tmp_path, output_dir=tmp_path / "second")
    trainer = make_trainer(tmp_path, callback, epochs=epochs)
    trainer.fit(make_module(clock), train_loader(), ckpt_path=str(ckpt_path))
    assert callback.tracker is not None
    return callback.tracker, trainer


def test_resume_from_an_end_of_epoch_checkpoint_continues_the_totals(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    checkpoint = DEFAULT.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"), save_last=True, save_on_train_epoch_end=True)
    first = checkpointed_fit(tmp_path, fake_clock, checkpoint, epochs=2)
    tracker, _ = resumed_fit(tmp_path, fake_clock, tmp_path / "ckpt" / "last.ckpt", epochs=4)
    records = [record.to_dict() for record in tracker.records]
    assert [record["terms"]["epoch"] for record in records] == [0, 1, 2, 3]
    assert records[:2] == first  # carried from the checkpoint, not measured again
    # each fit's set-up is in A once; each epoch once
    assert tracker.a_energy_j == pytest.approx(2 * A_J, rel=REL)
    assert tracker.energy_j == pytest.approx(2 * A_J + 4 * EPOCH_J, rel=REL)
    run = read_run(tmp_path / "second")
    assert run.summary is not None and run.summary["epochs"] == 4
    assert run.summary["energy_j"] == pytest.approx(tracker.energy_j, rel=REL)
    assert run.epochs == records


def mid_epoch_checkpoint(tmp_path: Path, clock: FakeClock) -> tuple[list[dict], Path]:
    """Fit 3 epochs saving a checkpoint in the middle of epoch 1 (and none at epoch ends)."""
    checkpoint = DEFAULT.callbacks.ModelCheckpoint(
        dirpath=str(tmp_path / "ckpt"), every_n_train_steps=MID_EPOCH_STEP,
        save_on_train_epoch_end=False, save_top_k=-1)
    first = checkpointed_fit(tmp_path, clock, checkpoint, epochs=3)
    return first, tmp_path / "ckpt" / f"epoch=1-step={MID_EPOCH_STEP}.ckpt"


def test_resume_from_a_mid_epoch_checkpoint_continues_the_totals(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    first, ckpt_path = mid_epoch_checkpoint(tmp_path, fake_clock)
    tracker, trainer = resumed_fit(tmp_path, fake_clock, ckpt_path, epochs=3)
    assert trainer.global_step == 3 * 4 and tracker.status == "completed"
    # both fits' set-up in A, the three epochs' steps once each: nothing lost or counted twice
    assert tracker.a_energy_j == pytest.approx(2 * A_J, rel=REL)
    assert tracker.energy_j == pytest.approx(2 * A_J + 3 * EPOCH_J, rel=REL)
    assert tracker.records[-1].terms.epoch_time_s == pytest.approx(EPOCH_S, rel=REL)
    run = read_run(tmp_path / "second")
    assert run.summary is not None and run.summary["status"] == "completed"
    assert run.summary["energy_j"] == pytest.approx(tracker.energy_j, rel=REL)
    assert run.epochs[0] == first[0]  # the epoch completed before the checkpoint is carried


def test_resume_from_a_mid_epoch_checkpoint_records_each_epoch_once(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """The epoch cut by the checkpoint is one epoch of the run, not two."""
    _, ckpt_path = mid_epoch_checkpoint(tmp_path, fake_clock)
    tracker, trainer = resumed_fit(tmp_path, fake_clock, ckpt_path, epochs=3)
    records = tracker.records
    assert [record.terms.epoch for record in records] == list(range(trainer.current_epoch))
    assert sum(record.terms.epoch_energy_j for record in records) == pytest.approx(
        3 * EPOCH_J, rel=REL)
    # the forecast reaches the figure itself only at the planned last epoch
    assert records[-2].forecast_co2e_kg > records[-2].nature_co2e_kg  # type: ignore[operator]
    assert read_run(tmp_path / "second").summary["epochs"] == 3  # type: ignore[index]


def test_a_second_fit_with_the_same_callback_continues_the_totals(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    callback = make_callback(tmp_path, output_dir=tmp_path / "rec")
    module = make_module(fake_clock)
    make_trainer(tmp_path, callback, epochs=1).fit(module, train_loader())
    assert callback.tracker is not None
    assert callback.tracker.energy_j == pytest.approx(A_J + EPOCH_J, rel=REL)
    make_trainer(tmp_path, callback, epochs=2).fit(module, train_loader())
    records = callback.tracker.records
    assert [record.terms.epoch for record in records] == [0, 1, 2]  # 1 epoch, then 2 more
    assert [record.terms.power_w for record in records] == [pytest.approx(POWER_W, rel=REL)] * 3
    assert callback.tracker.energy_j == pytest.approx(2 * A_J + 3 * EPOCH_J, rel=REL)
    assert len(read_run(tmp_path / "rec").epochs) == 3


@pytest.mark.parametrize(("interrupt", "status"), [(False, "crashed"), (True, "interrupted")])
def test_a_failure_mid_fit_leaves_the_partial_record(
    tmp_path: Path, fake_clock: FakeClock, interrupt: bool, status: str
) -> None:
    callback = make_callback(tmp_path, output_dir=tmp_path / "record")
    trainer = make_trainer(tmp_path, callback, epochs=5)
    module = make_module(fake_clock, crash_at_epoch=2, interrupt=interrupt)
    if interrupt:
        # Lightning turns Ctrl+C into a graceful stop and sys.exit(1), ignoring SIGINT after it
        sigint_handler = signal.getsignal(signal.SIGINT)
        try:
            with pytest.raises((KeyboardInterrupt, SystemExit)):
                trainer.fit(module, train_loader())
        finally:
            signal.signal(signal.SIGINT, sigint_handler)
    else:
        with pytest.raises(RuntimeError, match="simulated failure"):
            trainer.fit(module, train_loader())
    run = read_run(tmp_path / "record")
    assert run.summary is not None and run.summary["status"] == status
    # the two completed epochs, then the one cut after its first step
    assert run.summary["epochs"] == 3
    for index in (0, 1):
        assert_metrics(record_metrics(run.epochs[index]),
                       expected_epoch(index, planned_epochs=5), rel=REL)
    assert run.epochs[2]["terms"]["epoch_time_s"] == pytest.approx(STEP_S, rel=REL)
    assert run.summary["energy_j"] == pytest.approx(
        A_J + 2 * EPOCH_J + POWER_W * FACTOR * STEP_S, rel=REL)
    assert not any(".tmp" in path.name for path in (tmp_path / "record").iterdir())
