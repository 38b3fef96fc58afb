"""Cell physics as pure functions: programming, variation, stuck cells, drift and 1/f noise.

Conductances are float64 tensors in siemens. Cells that do not exist (padding rows of a
partly filled crossbar) are marked by ``mask`` and keep conductance 0.

Two device models:

* generic (``DeviceConfig.pcm`` is None): Gaussian variation relative to the target
  (``d2d_variation``) and one drift exponent for every cell (``drift_nu``);
* PCM (``DeviceConfig.pcm``, a :class:`~neuromorphic_sim.config.PCMNoiseModel`): the
  statistical model of Nandakumar et al. (ICECS 2019) as aihwkit's ``PCMLikeNoiseModel``
  draws it, every effect per device and dependent on the conductance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neuromorphic_sim.config import DeviceConfig, PCMNoiseModel

MICROSIEMENS = 1e-6
"""One microsiemens in siemens (aihwkit's PCM constants are in µS)."""


def drift_factor(time_s: float, nu: float, t0_s: float) -> float:
    """G(t)/G0 = ((t + t0)/t0)^−ν: the conductance left ``time_s`` seconds after programming.

    >>> round(drift_factor(3600.0, 0.049, 20.0), 3)
    0.775
    """
    return float(((time_s + t0_s) / t0_s) ** (-nu))


def target_conductance(fraction: torch.Tensor, device: DeviceConfig) -> torch.Tensor:
    """The conductance a cell is programmed to for ``fraction`` ∈ [0, 1] of its range."""
    return device.g_min_s + fraction * (device.g_max_s - device.g_min_s)


# ------------------------------------------------------------------------------ PCM model
def pcm_programming_sigma_s(
    target_s: torch.Tensor, g_max_s: float, model: PCMNoiseModel
) -> torch.Tensor:
    """σ_prog of each cell, siemens: (c0 + c1·g_r + c2·g_r²) µS × g_max / 25 µS, g_r = g/g_max.

    >>> model = PCMNoiseModel()
    >>> [round(float(pcm_programming_sigma_s(torch.tensor([r * 25e-6]), 25e-6, model)) * 1e6, 3)
    ...  for r in (1.0, 0.1)]
    [1.055, 0.448]
    """
    relative = target_s / g_max_s
    c0, c1, c2 = model.programming_coefficients_us
    sigma_us = c0 + c1 * relative + c2 * relative.square()
    return sigma_us * MICROSIEMENS * (g_max_s / model.programming_reference_g_max_s)


def pcm_drift_statistics(
    target_s: torch.Tensor, g_max_s: float, model: PCMNoiseModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_ν, σ_ν) of the drift exponent for cells programmed to ``target_s``:
    μ_ν = clip(−0.0155·ln g_r + 0.0244, 0.049, 0.1), σ_ν = clip(−0.0125·ln g_r − 0.0059,
    0.008, 0.045), g_r = |g|/g_max clipped at 1e-7 (aihwkit's constants).

    >>> mean, std = pcm_drift_statistics(torch.tensor([25e-6, 2.5e-6]), 25e-6, PCMNoiseModel())
    >>> [round(v, 4) for v in mean.tolist()], [round(v, 4) for v in std.tolist()]
    ([0.049, 0.0601], [0.008, 0.0229])
    """
    log_relative = (target_s.abs() / g_max_s).clamp(min=model.g_relative_floor).log()
    mean_slope, mean_offset = model.drift_mean_coefficients
    std_slope, std_offset = model.drift_std_coefficients
    mean = (mean_slope * log_relative + mean_offset).clamp(*model.drift_mean_bounds)
    std = (std_slope * log_relative + std_offset).clamp(*model.drift_std_bounds)
    return mean, std


def pcm_drift_exponents(
    target_s: torch.Tensor, g_max_s: float, model: PCMNoiseModel, generator: torch.Generator
) -> torch.Tensor:
    """One drift exponent per cell, ν = |μ_ν + σ_ν·N(0, 1)| × ``drift_scale``."""
    mean, std = pcm_drift_statistics(target_s, g_max_s, model)
    noise = torch.randn(target_s.shape, generator=generator, dtype=target_s.dtype)
    return (mean + std * noise).abs() * model.drift_scale


def pcm_read_noise_sigma(
    programmed_s: torch.Tensor, g_max_s: float, time_s: float, t0_s: float, model: PCMNoiseModel
) -> torch.Tensor:
    """σ_1f of each cell, relative to its drifted conductance, ``time_s`` after programming:
    Q_s·√ln((t + t0 + t_read)/(2·t_read)), Q_s = min(0.2, 0.0088 / max(1e-3, g_r^0.65)),
    g_r = |g_prog|/g_max (aihwkit evaluates at t_inference + t0).

    >>> sigma = pcm_read_noise_sigma(torch.tensor([25e-6]), 25e-6, 3600.0, 20.0, PCMNoiseModel())
    >>> round(float(sigma), 4)
    0.0419
    """
    relative = (programmed_s.abs() / g_max_s) ** model.read_noise_exponent
    q_s = (model.read_noise_coefficient / relative.clamp(min=model.read_noise_floor)).clamp(
        max=model.read_noise_max
    )
    elapsed_s = time_s + t0_s
    growth = math.sqrt(math.log((elapsed_s + model.read_time_s) / (2 * model.read_time_s)))
    return q_s * growth * model.read_noise_scale


# ---------------------------------------------------------------------------- programming
@dataclass(frozen=True)
class ProgrammedCells:
    """The cells of one array right after programming and when the network is read."""

    programmed_s: torch.Tensor
    """Right after programming: target, programming noise or variation, stuck cells."""
    read_s: torch.Tensor
    """At ``DeviceConfig.drift_time_s``: drifted, with the accumulated 1/f noise of PCM."""


def _programming_noise(
    target_s: torch.Tensor, device: DeviceConfig, generator: torch.Generator
) -> torch.Tensor:
    """Target + Gaussian noise (PCM: additive, σ_prog(g); generic: relative σ), clipped at 0."""
    if device.pcm is not None:
        sigma_s = device.pcm.programming_noise_scale * pcm_programming_sigma_s(
            target_s, device.g_max_s, device.pcm
        )
    elif device.d2d_variation > 0:
        sigma_s = device.d2d_variation * target_s
    else:
        return target_s.clone()
    noise = torch.randn(target_s.shape, generator=generator, dtype=target_s.dtype)
    return (target_s + sigma_s * noise).clamp_(min=0.0)


def _stick(
    conductance_s: torch.Tensor, device: DeviceConfig, generator: torch.Generator
) -> torch.Tensor:
    """Cells stuck at high resistance read g_min_s, those stuck at low resistance g_max_s."""
    stuck_total = device.stuck_at_hrs_fraction + device.stuck_at_lrs_fraction
    if stuck_total == 0:
        return conductance_s
    draw = torch.rand(conductance_s.shape, generator=generator, dtype=conductance_s.dtype)
    stuck_hrs = draw < device.stuck_at_hrs_fraction
    stuck_lrs = (draw >= device.stuck_at_hrs_fraction) & (draw < stuck_total)
    conductance_s = torch.where(
        stuck_hrs, torch.full_like(conductance_s, device.g_min_s), conductance_s
    )
    return torch.where(stuck_lrs, torch.full_like(conductance_s, device.g_max_s), conductance_s)


def _at_read_time(
    programmed_s: torch.Tensor,
    target_s: torch.Tensor,
    device: DeviceConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """The programmed cells ``device.drift_time_s`` later: drift (PCM: ν per cell from its
    target, then accumulated 1/f noise; generic: one ν)."""
    time_s, t0_s = device.drift_time_s, device.drift_t0_s
    if device.pcm is None:
        if device.drift_nu > 0 and time_s > 0:
            return programmed_s * drift_factor(time_s, device.drift_nu, t0_s)
        return programmed_s
    nu = pcm_drift_exponents(target_s, device.g_max_s, device.pcm, generator)
    drifted = programmed_s * ((time_s + t0_s) / t0_s) ** (-nu)
    sigma = pcm_read_noise_sigma(programmed_s, device.g_max_s, time_s, t0_s, device.pcm)
    noise = torch.randn(programmed_s.shape, generator=generator, dtype=programmed_s.dtype)
    return (drifted + drifted.abs() * sigma * noise).clamp_(min=0.0)


def program_cells(
    target_s: torch.Tensor, mask: torch.Tensor, device: DeviceConfig, generator: torch.Generator
) -> ProgrammedCells:
    """Program ``target_s`` and read the cells back right away and at ``device.drift_time_s``.

    Programming adds noise (PCM: σ_prog(g); generic: ``d2d_variation`` relative to the
    target), then stuck cells read g_min_s (high-resistance state) or g_max_s (low-resistance
    state). By the read time the cells drift (PCM: ν per cell drawn from its target; generic:
    one ``drift_nu``), and PCM cells carry the 1/f noise accumulated since programming. Draws
    come from ``generator`` in a fixed order, so a seed reproduces the same arrays.
    """
    programmed = _stick(_programming_noise(target_s, device, generator), device, generator)
    read = _at_read_time(programmed, target_s, device, generator)
    zeros = torch.zeros_like(target_s)
    return ProgrammedCells(torch.where(mask, programmed, zeros), torch.where(mask, read, zeros))
