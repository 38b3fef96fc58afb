"""Validation, test and step figures from a real Trainer; the carbon budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback import CarbonBudget
from nature_callback.exceptions import ConfigurationError
from nature_callback.run_files import read_run
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.fakes import FakeClock
from tests.nature_callback.integrations.helpers import (
    A_J,
    EPOCH_J,
    EPOCH_S,
    FACTOR,
    INTENSITY,
    N_EXP,
    REL,
    REL_F32,
    make_callback,
    make_module,
    make_trainer,
    read_scalars,
    train_loader,
    val_loader,
)

VAL_S = 1.0
"""Fake seconds of one validation pass (one batch)."""
VAL_J = POWER_W * FACTOR * VAL_S


def test_validation_is_a_named_window_apart_from_the_epochs(tmp_path: Path,
                                                           fake_clock: FakeClock) -> None:
    callback = make_callback(tmp_path)
    trainer = make_trainer(tmp_path, callback, epochs=2, logger="tensorboard")
    trainer.fit(make_module(fake_clock, val_step_s=VAL_S), train_loader(), val_loader())
    tracker = callback.tracker
    assert tracker is not None
    assert [r.terms.epoch_time_s for r in tracker.records] == [pytest.approx(EPOCH_S)] * 2
    assert [r.terms.epoch_energy_j for r in tracker.records] == [pytest.approx(EPOCH_J)] * 2
    windows = tracker.window_records
    assert [(w.name, w.index) for w in windows] == [("validation", 0), ("validation", 1)]
    assert all(w.energy_j == pytest.approx(VAL_J, rel=REL) for w in windows)
    assert tracker.energy_j == pytest.approx(A_J + 2 * EPOCH_J + 2 * VAL_J, rel=REL)
    assert float(trainer.callback_metrics["nature/validation_energy_j"]) == pytest.approx(
        VAL_J, rel=REL_F32)
    scalars = read_scalars(Path(trainer.log_dir))
    assert len(scalars["nature/validation_energy_j"]) == 2
    run = read_run(tracker.summary_path)
    assert len(run.windows) == 2 and run.summary is not None
    assert run.summary["windows"]["validation"]["count"] == 2


def test_running_figures_every_n_steps(tmp_path: Path, fake_clock: FakeClock) -> None:
    callback = make_callback(tmp_path, log_every_n_steps=2)
    trainer = make_trainer(tmp_path, callback, epochs=2, logger="tensorboard")
    trainer.fit(make_module(fake_clock), train_loader())
    assert callback.tracker is not None
    steps = read_run(callback.tracker.summary_path).steps
    assert [s["step"] for s in steps] == [2, 4, 6, 8]
    # at step 2: A and half of the first epoch
    assert steps[0]["energy_j"] == pytest.approx(A_J + EPOCH_J / 2, rel=REL)
    assert steps[1]["energy_j"] == pytest.approx(A_J + EPOCH_J, rel=REL)
    series = dict(read_scalars(Path(trainer.log_dir))["nature/energy_j"])
    assert {2, 4, 6, 8} <= set(series)  # the loggers' step axis
    assert series[6] == pytest.approx(A_J + 1.5 * EPOCH_J, rel=REL_F32)


def test_trainer_test_is_recorded_as_a_run_of_its_own(tmp_path: Path,
                                                      fake_clock: FakeClock) -> None:
    callback = make_callback(tmp_path)
    trainer = make_trainer(tmp_path, callback, epochs=1)
    module = make_module(fake_clock, val_step_s=VAL_S)
    trainer.fit(module, train_loader())
    module.test_step = module.validation_step
    trainer.test(module, val_loader())
    assert callback.stage_tracker is not None
    run = read_run(callback.stage_tracker.summary_path)
    assert callback.stage_tracker.summary_path.parent.name == "nature_test"
    assert run.summary is not None and run.summary["status"] == "completed"
    assert run.summary["epochs"] == 0
    assert run.summary["windows"]["test"]["energy_j"] == pytest.approx(VAL_J, rel=REL)
    assert callback.tracker is not None and callback.tracker.status == "completed"


def _nature_kg(epochs: int) -> float:
    return N_EXP * (A_J + epochs * EPOCH_J) / 3.6e6 * INTENSITY / 1000


@pytest.mark.parametrize(("use_forecast", "expected_epochs"), [(True, 2), (False, 3)])
def test_the_carbon_budget_stops_training_at_the_budget(
    tmp_path: Path, fake_clock: FakeClock, use_forecast: bool, expected_epochs: int,
) -> None:
    budget_kg = (_nature_kg(2) + _nature_kg(3)) / 2  # between the 2nd and the 3rd epoch
    callback = make_callback(tmp_path)
    budget = CarbonBudget(max_co2e_kg=budget_kg, use_forecast=use_forecast)
    trainer = make_trainer(tmp_path, callback, epochs=6, callbacks=[budget, callback])
    trainer.fit(make_module(fake_clock), train_loader())
    assert callback.tracker is not None
    assert len(callback.tracker.records) == expected_epochs
    assert budget.verdict is not None and budget.verdict.stop
    assert f"epoch {expected_epochs - 1}" in budget.verdict.message
    if use_forecast:  # stopped before passing it
        assert callback.tracker.records[-1].nature_co2e_kg < budget_kg
        assert "one more epoch" in budget.verdict.message
    else:
        assert callback.tracker.records[-1].nature_co2e_kg >= budget_kg


def test_a_run_under_the_budget_runs_to_the_end(tmp_path: Path, fake_clock: FakeClock) -> None:
    callback = make_callback(tmp_path)
    budget = CarbonBudget(max_co2e_kg=10 * _nature_kg(4))
    trainer = make_trainer(tmp_path, callback, epochs=4, callbacks=[callback, budget])
    trainer.fit(make_module(fake_clock), train_loader())
    assert callback.tracker is not None and len(callback.tracker.records) == 4
    assert budget.verdict is None


def test_the_carbon_budget_checks_its_arguments_and_needs_the_callback(tmp_path: Path) -> None:
    for bad in (0.0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ConfigurationError, match="max_co2e_kg"):
            CarbonBudget(max_co2e_kg=bad)  # type: ignore[arg-type]
    trainer = make_trainer(tmp_path, make_callback(tmp_path), epochs=1,
                           callbacks=[CarbonBudget(1.0)])
    with pytest.raises(ConfigurationError, match="needs a NatureCallback"):
        trainer.fit(make_module(), train_loader())


def test_the_modules_hyperparameters_go_with_the_run(tmp_path: Path,
                                                     fake_clock: FakeClock) -> None:
    from nature_callback.ledger import RunLedger

    module = make_module(fake_clock)
    module.save_hyperparameters({"lr": 0.01, "hidden": 16, "optimizer": object()})
    callback = make_callback(tmp_path)
    make_trainer(tmp_path, callback, epochs=1).fit(module, train_loader())
    (row,) = RunLedger(tmp_path / "ledger.sqlite").runs()
    assert row.params is not None
    assert row.params["lr"] == 0.01 and row.params["hidden"] == 16
    assert row.params["optimizer"].startswith("<object object")  # kept as text
