"""Cell physics: drift, variation, stuck cells, and the statistical PCM model."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from neuromorphic_sim import ConfigurationError, PCMNoiseModel, drift_factor, presets
from neuromorphic_sim.device import (
    pcm_drift_exponents,
    pcm_drift_statistics,
    pcm_programming_sigma_s,
    pcm_read_noise_sigma,
    program_cells,
)

PCM = presets.PCM.device
G_MAX_S = PCM.g_max_s
HOUR_S, YEAR_S = 3600.0, 365 * 86400.0
MODEL = PCMNoiseModel()


def _program(device, target_s: torch.Tensor, seed: int = 0):  # type: ignore[no-untyped-def]
    mask = torch.ones_like(target_s, dtype=torch.bool)
    return program_cells(target_s, mask, device, torch.Generator().manual_seed(seed))


def _pcm_only(**scales: float):  # type: ignore[no-untyped-def]
    """The PCM device with the named effects' scales changed (0 switches one off)."""
    return dataclasses.replace(PCM, pcm=dataclasses.replace(MODEL, **scales))


# ------------------------------------------------------------------ ENERGY_MODELS.md checks
@pytest.mark.parametrize(
    ("time_s", "expected"), [(HOUR_S, 0.775), (86400.0, 0.664), (YEAR_S, 0.497)]
)
def test_one_drift_exponent_at_g_max(time_s: float, expected: float) -> None:
    device = dataclasses.replace(PCM, pcm=None, drift_nu=0.049, drift_time_s=time_s)
    cells = _program(device, torch.full((4,), G_MAX_S, dtype=torch.float64))
    assert drift_factor(time_s, 0.049, 20.0) == pytest.approx(expected, abs=5e-4)
    assert (cells.read_s / G_MAX_S).tolist() == pytest.approx([expected] * 4, abs=5e-4)
    assert torch.equal(cells.programmed_s, torch.full((4,), G_MAX_S, dtype=torch.float64))


def test_no_drift_at_time_zero() -> None:
    assert drift_factor(0.0, 0.1, 20.0) == 1.0


def test_pcm_check_values() -> None:
    g_s = torch.tensor([1.0, 0.1], dtype=torch.float64) * G_MAX_S
    sigma_us = (pcm_programming_sigma_s(g_s, G_MAX_S, MODEL) / 1e-6).tolist()
    # c0 + c1 + c2 and c0 + 0.1·c1 + 0.01·c2; ENERGY_MODELS.md quotes 1.055 and 0.449 µS.
    assert sigma_us == pytest.approx([1.05538, 0.448249], rel=1e-12)
    assert sigma_us == pytest.approx([1.055, 0.449], abs=1e-3)
    assert sigma_us[0] / 25.0 == pytest.approx(0.042, abs=5e-4)  # 4.2 % of g_max
    assert sigma_us[1] / 2.5 == pytest.approx(0.18, abs=5e-3)  # 18 % of g at 0.1·g_max
    mean, std = pcm_drift_statistics(g_s, G_MAX_S, MODEL)
    assert mean.tolist() == pytest.approx([0.049, 0.0601], abs=1e-4)
    assert std.tolist() == pytest.approx([0.008, 0.0229], abs=1e-4)
    one_hour = float(pcm_read_noise_sigma(g_s[:1], G_MAX_S, HOUR_S, 20.0, MODEL))
    assert one_hour == pytest.approx(0.0419, abs=1e-4)
    q_s = one_hour / math.sqrt(math.log((HOUR_S + 20.0 + 250e-9) / 500e-9))
    assert q_s == pytest.approx(0.0088, rel=1e-12)


def test_programming_noise_scales_with_g_max() -> None:
    g_r = torch.tensor([0.5], dtype=torch.float64)
    at_25 = pcm_programming_sigma_s(g_r * 25e-6, 25e-6, MODEL)
    at_50 = pcm_programming_sigma_s(g_r * 50e-6, 50e-6, MODEL)
    assert float(at_50) == pytest.approx(2 * float(at_25), rel=1e-12)


def _folded_normal(mean: float, std: float) -> tuple[float, float]:
    """Mean and standard deviation of |N(mean, std²)|."""
    z = mean / std
    folded_mean = std * math.sqrt(2 / math.pi) * math.exp(-z * z / 2) + mean * math.erf(
        z / math.sqrt(2)
    )
    return folded_mean, math.sqrt(mean**2 + std**2 - folded_mean**2)


@pytest.mark.parametrize("g_relative", [1.0, 0.3, 0.1, 0.02])
def test_drift_exponents_have_the_measured_mean_and_spread(g_relative: float) -> None:
    draws = 100_000
    target = torch.full((draws,), g_relative * G_MAX_S, dtype=torch.float64)
    nu = pcm_drift_exponents(target, G_MAX_S, MODEL, torch.Generator().manual_seed(1))
    log_g = math.log(g_relative)
    mean = min(max(-0.0155 * log_g + 0.0244, 0.049), 0.1)  # the published fit, by hand
    std = min(max(-0.0125 * log_g - 0.0059, 0.008), 0.045)
    expected_mean, expected_std = _folded_normal(mean, std)
    assert float(nu.mean()) == pytest.approx(expected_mean, abs=5 * expected_std / draws**0.5)
    assert float(nu.std()) == pytest.approx(expected_std, rel=0.02)
    assert float(nu.min()) >= 0.0


def test_pcm_cells_drift_each_by_their_own_exponent() -> None:
    """W(t)/W(0) varies from cell to cell, and low conductances drift more (larger ν)."""
    device = dataclasses.replace(
        _pcm_only(programming_noise_scale=0.0, read_noise_scale=0.0), drift_time_s=HOUR_S
    )
    high = _program(device, torch.full((50_000,), G_MAX_S, dtype=torch.float64), seed=2)
    low = _program(device, torch.full((50_000,), 0.1 * G_MAX_S, dtype=torch.float64), seed=3)
    high_ratio, low_ratio = high.read_s / high.programmed_s, low.read_s / low.programmed_s
    assert float(high_ratio.std()) > 0.005  # not one global gain
    elapsed = (HOUR_S + 20.0) / 20.0
    nu_high = float(-high_ratio.log().mean()) / math.log(elapsed)
    nu_low = float(-low_ratio.log().mean()) / math.log(elapsed)
    assert nu_high == pytest.approx(_folded_normal(0.049, 0.008)[0], rel=0.01)
    assert nu_low == pytest.approx(_folded_normal(0.0601, 0.0229)[0], rel=0.01)


def test_pcm_programming_noise_is_additive_and_depends_on_g() -> None:
    device = _pcm_only(drift_scale=0.0, read_noise_scale=0.0)
    for g_relative, sigma_us in ((1.0, 1.055), (0.1, 0.448)):
        target = torch.full((100_000,), g_relative * G_MAX_S, dtype=torch.float64)
        cells = _program(device, target, seed=4)
        assert float((cells.programmed_s - target).std()) / 1e-6 == pytest.approx(
            sigma_us, rel=0.02
        )
        assert torch.equal(cells.read_s, cells.programmed_s)  # ν = 0, no 1/f noise


def test_pcm_read_noise_accumulates_with_log_time() -> None:
    target = torch.full((100_000,), G_MAX_S, dtype=torch.float64)
    for time_s, sigma in ((HOUR_S, 0.0419), (YEAR_S, 0.0496)):
        device = dataclasses.replace(
            _pcm_only(programming_noise_scale=0.0, drift_scale=0.0), drift_time_s=time_s
        )
        cells = _program(device, target, seed=5)
        assert float((cells.read_s / target - 1).std()) == pytest.approx(sigma, rel=0.02)


def test_pcm_draws_are_seeded() -> None:
    device = dataclasses.replace(PCM, drift_time_s=YEAR_S)
    target = torch.linspace(0.0, G_MAX_S, 1000, dtype=torch.float64)
    first, again = _program(device, target, seed=6), _program(device, target, seed=6)
    assert torch.equal(first.read_s, again.read_s)
    assert torch.equal(first.programmed_s, again.programmed_s)
    assert float(first.read_s.min()) >= 0.0


def test_pcm_model_excludes_the_generic_variation_and_drift() -> None:
    for field in ("d2d_variation", "drift_nu"):
        with pytest.raises(ConfigurationError, match=field):
            dataclasses.replace(PCM, **{field: 0.05})
    with pytest.raises(ConfigurationError, match="drift_std_bounds"):
        PCMNoiseModel(drift_std_bounds=(0.05, 0.01))


# ------------------------------------------------------------------------- generic model
def test_variation_has_the_configured_spread_and_is_seeded() -> None:
    device = dataclasses.replace(presets.RERAM.device, d2d_variation=0.1)
    target = torch.full((200_000,), 30e-6, dtype=torch.float64)
    first = _program(device, target, seed=3).read_s
    again = _program(device, target, seed=3).read_s
    assert torch.equal(first, again)
    relative = first / 30e-6 - 1
    assert float(relative.std()) == pytest.approx(0.1, rel=0.02)
    assert float(relative.mean()) == pytest.approx(0.0, abs=2e-3)


def test_stuck_cells_read_the_range_ends_in_the_given_fractions() -> None:
    device = dataclasses.replace(
        presets.RERAM.device,
        d2d_variation=0.0,
        stuck_at_hrs_fraction=0.09,
        stuck_at_lrs_fraction=0.01,
    )
    read = _program(device, torch.full((100_000,), 20e-6, dtype=torch.float64)).read_s
    assert float((read == device.g_min_s).double().mean()) == pytest.approx(0.09, abs=0.003)
    assert float((read == device.g_max_s).double().mean()) == pytest.approx(0.01, abs=0.001)
    assert float((read == 20e-6).double().mean()) == pytest.approx(0.90, abs=0.004)


def test_cells_that_do_not_exist_stay_at_zero() -> None:
    for device in (dataclasses.replace(presets.RERAM.device, stuck_at_lrs_fraction=0.5), PCM):
        target = torch.full((10,), 20e-6, dtype=torch.float64)
        mask = torch.tensor([True] * 5 + [False] * 5)
        cells = program_cells(target, mask, device, torch.Generator().manual_seed(0))
        for read in (cells.programmed_s, cells.read_s):
            assert torch.all(read[5:] == 0) and torch.all(read[:5] > 0)
