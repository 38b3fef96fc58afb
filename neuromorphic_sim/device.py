"""Cell physics as pure functions: programming, variation, stuck cells and drift.

Conductances are float64 tensors in siemens. Cells that do not exist (padding rows of a
partly filled crossbar) are marked by ``mask`` and keep conductance 0.
"""

from __future__ import annotations

import torch

from neuromorphic_sim.config import DeviceConfig


def drift_factor(time_s: float, nu: float, t0_s: float) -> float:
    """G(t)/G0 = ((t + t0)/t0)^−ν: the conductance left ``time_s`` seconds after programming.

    >>> round(drift_factor(3600.0, 0.049, 20.0), 3)
    0.775
    """
    return float(((time_s + t0_s) / t0_s) ** (-nu))


def target_conductance(fraction: torch.Tensor, device: DeviceConfig) -> torch.Tensor:
    """The conductance a cell is programmed to for ``fraction`` ∈ [0, 1] of its range."""
    return device.g_min_s + fraction * (device.g_max_s - device.g_min_s)


def programmed_conductance(
    target_s: torch.Tensor, mask: torch.Tensor, device: DeviceConfig, generator: torch.Generator
) -> torch.Tensor:
    """What the cells hold when read: target + device-to-device variation, stuck cells, drift.

    Variation is Gaussian, σ relative to the target, clipped at 0 S; a stuck cell reads
    g_min_s (high-resistance state) or g_max_s (low-resistance state); every cell then drifts
    by ``drift_factor`` at ``device.drift_time_s``. Draws come from ``generator`` in a fixed
    order, so a seed reproduces the same array.
    """
    conductance = target_s.clone()
    if device.d2d_variation > 0:
        noise = torch.randn(conductance.shape, generator=generator, dtype=conductance.dtype)
        conductance = (conductance * (1.0 + device.d2d_variation * noise)).clamp_(min=0.0)
    stuck_total = device.stuck_at_hrs_fraction + device.stuck_at_lrs_fraction
    if stuck_total > 0:
        draw = torch.rand(conductance.shape, generator=generator, dtype=conductance.dtype)
        stuck_hrs = draw < device.stuck_at_hrs_fraction
        stuck_lrs = (draw >= device.stuck_at_hrs_fraction) & (draw < stuck_total)
        conductance = torch.where(
            stuck_hrs, torch.full_like(conductance, device.g_min_s), conductance
        )
        conductance = torch.where(
            stuck_lrs, torch.full_like(conductance, device.g_max_s), conductance
        )
    if device.drift_nu > 0 and device.drift_time_s > 0:
        conductance = conductance * drift_factor(
            device.drift_time_s, device.drift_nu, device.drift_t0_s
        )
    return torch.where(mask, conductance, torch.zeros_like(conductance))
