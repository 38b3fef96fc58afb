"""Cell physics: drift, variation, stuck cells."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorphic_sim import drift_factor, presets
from neuromorphic_sim.device import programmed_conductance

PCM = presets.PCM.device


@pytest.mark.parametrize(
    ("time_s", "expected"), [(3600.0, 0.775), (86400.0, 0.664), (365 * 86400.0, 0.497)]
)
def test_pcm_drift_at_g_max(time_s: float, expected: float) -> None:
    device = dataclasses.replace(PCM, drift_time_s=time_s, d2d_variation=0.0)
    target = torch.full((4,), device.g_max_s, dtype=torch.float64)
    read = programmed_conductance(
        target, torch.ones(4, dtype=torch.bool), device, torch.Generator().manual_seed(0)
    )
    assert drift_factor(time_s, 0.049, 20.0) == pytest.approx(expected, abs=5e-4)
    assert (read / device.g_max_s).tolist() == pytest.approx([expected] * 4, abs=5e-4)


def test_no_drift_at_time_zero() -> None:
    assert drift_factor(0.0, 0.1, 20.0) == 1.0


def test_variation_has_the_configured_spread_and_is_seeded() -> None:
    device = dataclasses.replace(presets.RERAM.device, d2d_variation=0.1)
    target = torch.full((200_000,), 30e-6, dtype=torch.float64)
    mask = torch.ones_like(target, dtype=torch.bool)
    first = programmed_conductance(target, mask, device, torch.Generator().manual_seed(3))
    again = programmed_conductance(target, mask, device, torch.Generator().manual_seed(3))
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
    target = torch.full((100_000,), 20e-6, dtype=torch.float64)
    read = programmed_conductance(
        target, torch.ones_like(target, dtype=torch.bool), device, torch.Generator().manual_seed(0)
    )
    assert float((read == device.g_min_s).double().mean()) == pytest.approx(0.09, abs=0.003)
    assert float((read == device.g_max_s).double().mean()) == pytest.approx(0.01, abs=0.001)
    assert float((read == 20e-6).double().mean()) == pytest.approx(0.90, abs=0.004)


def test_cells_that_do_not_exist_stay_at_zero() -> None:
    device = dataclasses.replace(presets.RERAM.device, stuck_at_lrs_fraction=0.5)
    target = torch.full((10,), 20e-6, dtype=torch.float64)
    mask = torch.tensor([True] * 5 + [False] * 5)
    read = programmed_conductance(target, mask, device, torch.Generator().manual_seed(0))
    assert torch.all(read[5:] == 0) and torch.all(read[:5] > 0)
