"""The NATURE formula and its terms, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from nature_callback import metric


def test_nature_matches_the_worked_example_of_the_spec() -> None:
    # 2 × (1000 + 60 × (50 + 10 + 250) × 3) = 2 × (1000 + 55800) = 113600
    assert metric.nature(2, 1000, 60, 50, 10, 250, 3) == 113600.0


def test_nature_with_no_epochs_is_n_exp_times_a() -> None:
    assert metric.nature(3, 500.0, 60, 1, 1, 1, 0) == 1500.0


def test_facility_and_grid_loss_terms() -> None:
    # E = 200 W, PUE 1.5 → U = 100 W; λ = 0.2 → R = 300 × 0.2 / 0.8 = 75 W
    u_w = metric.facility_power_w(200.0, 1.5)
    assert u_w == pytest.approx(100.0)
    r_w = metric.grid_loss_power_w(200.0, u_w, 0.2)
    assert r_w == pytest.approx(75.0)
    # E + U + R equals E × PUE / (1 − λ)
    assert 200.0 + u_w + r_w == pytest.approx(200.0 * metric.wall_to_plant_factor(1.5, 0.2))


def test_co2e_of_one_kwh_is_the_intensity() -> None:
    assert metric.co2e_g(3.6e6, 481.0) == pytest.approx(481.0)
    assert metric.co2e_g(1800.0, 400.0) == pytest.approx(0.2)


def test_epoch_terms_from_hardware_energy() -> None:
    # 6000 J over 60 s → E = 100 W; PUE 1.2 → U = 20 W; λ = 0.1 → R = 120/9 W
    terms = metric.epoch_terms(
        epoch=4, hardware_energy_j=6000.0, epoch_time_s=60.0, pue=1.2, grid_loss=0.1,
        carbon_intensity_g_per_kwh=300.0,
    )
    assert terms.epoch == 4
    assert terms.power_w == pytest.approx(100.0)
    assert terms.facility_w == pytest.approx(20.0)
    assert terms.grid_loss_w == pytest.approx(120.0 / 9.0)
    assert terms.epoch_energy_j == pytest.approx(60.0 * (100 + 20 + 120 / 9))  # 8000 J
    assert terms.epoch_energy_j == pytest.approx(8000.0)
    assert terms.epoch_co2e_g == pytest.approx(8000.0 / 3.6e6 * 300.0)
    assert terms.to_dict()["epoch_energy_j"] == pytest.approx(8000.0)


def test_per_epoch_sum_equals_the_paper_product_for_constant_epochs() -> None:
    terms = [
        metric.epoch_terms(epoch=i, hardware_energy_j=3000.0, epoch_time_s=30.0, pue=1.5,
                           grid_loss=0.08, carbon_intensity_g_per_kwh=481.0)
        for i in range(5)
    ]
    t = terms[0]
    paper = metric.nature(2, 700.0, t.epoch_time_s, t.facility_w, t.grid_loss_w, t.power_w, 5)
    assert 2 * (700.0 + sum(x.epoch_energy_j for x in terms)) == pytest.approx(paper)


def test_zero_length_epoch_has_zero_power_not_a_division_error() -> None:
    terms = metric.epoch_terms(epoch=0, hardware_energy_j=5.0, epoch_time_s=0.0, pue=1.0,
                               grid_loss=0.0, carbon_intensity_g_per_kwh=100.0)
    assert terms.power_w == 0.0 and terms.epoch_energy_j == 0.0


def test_forecast_charges_remaining_epochs_at_the_mean_so_far() -> None:
    # so far 0.010 kg (A included), epochs of 2 g and 4 g → mean 3 g; 8 remaining → +0.024 kg
    forecast = metric.forecast_co2e_kg(co2e_kg_so_far=0.010, epochs_done=2, epoch_co2e_g_sum=6.0,
                                       planned_epochs=10, n_exp=3)
    assert forecast == pytest.approx(3 * (0.010 + 8 * 0.003))
    assert math.isnan(metric.forecast_co2e_kg(co2e_kg_so_far=0.0, epochs_done=0,
                                              epoch_co2e_g_sum=0.0, planned_epochs=10, n_exp=1))
