"""Accounting: epoch terms, A, running totals and checkpoint state, by hand-computed figures."""

from __future__ import annotations

import json

import pytest

from nature_callback.accounting import Accounting, DeviceCounts, OpenEpoch
from nature_callback.carbon.base import CarbonIntensity
from nature_callback.records import KINDS

INTENSITY = CarbonIntensity(g_per_kwh=360.0, zone="DE", source="test")


def make(**overrides: object) -> Accounting:
    options: dict[str, object] = dict(pue=1.5, grid_loss=0.1, n_exp=2, extra_energy_j=100.0,
                                      planned_epochs=4, start_g_per_kwh=360.0)
    options.update(overrides)
    return Accounting(**options)  # type: ignore[arg-type]


def close(accounting: Accounting, gpu_j: float, time_s: float) -> object:
    vector = accounting.epoch_vector({"gpu": gpu_j}, DeviceCounts(metered=1))
    return accounting.close_epoch(vector, epoch_time_s=time_s, intensity=INTENSITY,
                                  metered_kinds=frozenset({"gpu"}))


def test_epoch_terms_and_totals_match_the_formula_by_hand() -> None:
    accounting = make()
    accounting.add_gap(90.0, 360.0)  # 90 J outside epochs
    record = close(accounting, gpu_j=900.0, time_s=10.0)
    factor = 1.5 / (1 - 0.1)  # PUE / (1 − λ)
    # E = 90 W, U = 45 W, R = 135 × 0.1/0.9 = 15 W → 150 W × 10 s = 1500 J
    assert record.terms.power_w == pytest.approx(90.0, rel=1e-12)
    assert record.terms.facility_w == pytest.approx(45.0, rel=1e-12)
    assert record.terms.grid_loss_w == pytest.approx(15.0, rel=1e-12)
    assert record.terms.epoch_energy_j == pytest.approx(1500.0, rel=1e-12)
    assert accounting.a_energy_j == pytest.approx(90.0 * factor + 100.0, rel=1e-12)
    assert accounting.energy_j == pytest.approx(150.0 + 100.0 + 1500.0, rel=1e-12)
    assert record.nature_energy_j == pytest.approx(2 * accounting.energy_j, rel=1e-12)
    # 1750 J at 360 g/kWh = 0.175 g
    assert accounting.co2e_kg == pytest.approx(1750.0 / 3.6e6 * 360.0 / 1000, rel=1e-12)
    assert record.power_by_kind_w == {"gpu": pytest.approx(90.0)}


def test_forecast_and_epoch_numbers_follow_the_records() -> None:
    accounting = make(extra_energy_j=0.0)
    first = close(accounting, gpu_j=100.0, time_s=1.0)
    second = close(accounting, gpu_j=300.0, time_s=1.0)
    assert [first.terms.epoch, second.terms.epoch] == [0, 1]
    mean_kg = (first.terms.epoch_co2e_g + second.terms.epoch_co2e_g) / 2 / 1000
    assert second.forecast_co2e_kg == pytest.approx(2 * (second.co2e_kg + 2 * mean_kg), rel=1e-12)


def test_the_epoch_vector_carries_the_pending_gap_once() -> None:
    accounting = make()
    accounting.add_gap(10.0, 360.0)
    vector = accounting.epoch_vector({"cpu": 5.0, "dram": 1.0},
                                     DeviceCounts(estimated=1, metered=2, failed=1))
    assert vector[: len(KINDS)] == [0.0, 5.0, 1.0, 0.0]
    assert vector[len(KINDS)] == 10.0 and vector[-3:] == [1.0, 2.0, 1.0]
    assert accounting.take_gap_vector() == [0.0, 0.0]  # taken with the vector
    summed = [2 * value for value in vector]  # what two identical ranks would give
    record = accounting.close_epoch(summed, epoch_time_s=1.0, intensity=INTENSITY)
    assert record.estimated and record.terms.power_w == pytest.approx(12.0)
    assert (record.devices_metered, record.devices_failed) == (4, 2)
    assert accounting.a_hw_j == pytest.approx(20.0)


def test_state_round_trips_through_json_with_the_cut_epoch() -> None:
    accounting = make()
    accounting.add_gap(50.0, 360.0)
    close(accounting, gpu_j=200.0, time_s=2.0)
    state = json.loads(json.dumps(accounting.state_dict(OpenEpoch(1, 4.0, {"gpu": 400.0}))))
    resumed = make()
    cut = resumed.load_state_dict(state)
    assert resumed.records[0] == accounting.records[0]
    assert resumed.a_hw_j == pytest.approx(50.0)  # the pending gap is carried into A
    assert cut == OpenEpoch(1, 4.0, {"gpu": 400.0}) and len(resumed.records) == 1
    resumed.close_open_epoch(cut, INTENSITY)
    assert len(resumed.records) == 2 and resumed.records[1].terms.power_w == pytest.approx(100.0)
    assert resumed.energy_j == pytest.approx(
        accounting.energy_j + resumed.records[1].terms.epoch_energy_j, rel=1e-12)


def test_a_version_1_cut_epoch_loads_as_unsplit_energy() -> None:
    cut = OpenEpoch.from_dict({"epoch": 3, "epoch_time_s": 2.0, "hardware_energy_j": 50.0})
    assert cut.energy_by_kind_j == {"other": 50.0} and cut.hardware_energy_j == 50.0
