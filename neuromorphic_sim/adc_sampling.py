"""Repeated noisy ADC conversions, sampled exactly, drawing noise only where it can matter.

A column current of mean μ (in ADC steps) read with Gaussian cycle-to-cycle noise of
standard deviation σ converts to the code ``clamp(round(μ + σZ), 0, L)``, Z ~ N(0, 1),
independently for every conversion and read. When the same currents are read again and
again (a constant input held on the word lines over T steps), most conversions cannot change
code unless |Z| is large: in the ReRAM preset σ is 0.2–15 % of an ADC step. Let d be the
distance from μ to the nearest rounding boundary (½ − |μ − round(μ)|). With thresholds
t₁ < … < t_m (``TAIL_THRESHOLDS``) the conversions are split once into tiers:

* d < t₁σ, *uncertain*: Z is drawn at every read;
* t_k σ ≤ d (< t_{k+1}σ): for |Z| ≤ t_k the code is ``round(μ)`` whatever Z is. |Z| exceeds
  t_k with probability p_k = erfc(t_k/√2), independently per conversion and read, so the
  conversions where it does are a Bernoulli(p_k) process over the tier, sampled as geometric
  gaps (one draw per event, not per conversion); each event draws Z from the tail |Z| > t_k
  by inversion and converts ``clamp(round(μ + σZ))``. The last tier (d ≥ t_m σ) runs its
  process over all conversions and keeps the events that fall in it.

For a conversion in tier k the law of Z is the mixture (1 − p_k)·N(0, 1)|{|Z| ≤ t_k} +
p_k·N(0, 1)|{|Z| > t_k}, and under the first component it reads round(μ); so every code has
exactly the distribution of ``clamp(round(μ + σZ))``, independent across conversions and
reads, with the same float32 evaluation of μ + σZ (the tier tests keep a margin of a few
float32 ulps of μ). Only the random draws differ from drawing Z for every conversion.

Splitting costs several passes over every conversion, more than one Gaussian draw each, so
it pays only for currents read repeatedly; :mod:`neuromorphic_sim.column_read` draws Z per
conversion for a read it does once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

TAIL_THRESHOLDS = (2.5, 3.5)
"""t₁ < … < t_m, in units of σ. A speed setting, not a model parameter: any increasing
positive thresholds give the same distribution."""


SPLIT_BLOCK = 1 << 21
"""Conversions whose tier is found at once: the temporaries of one block stay small."""


@dataclass(frozen=True)
class TailTier:
    """Conversions with t·σ ≤ d: they change code only when |Z| > t."""

    threshold: float
    """t."""
    members: torch.Tensor | None
    """Their flat indices; None for the last tier (every conversion with ``is_far``)."""


@dataclass(frozen=True)
class SplitConversions:
    """One read's conversions (flattened), split into tiers by how close they are to a
    rounding boundary."""

    mean: torch.Tensor
    """μ of every conversion, ADC steps (float32, flat): tail events look it up."""
    spread: torch.Tensor
    """σ of every conversion, ADC steps (float32, flat)."""
    uncertain: torch.Tensor
    """Flat indices (int64) of the conversions that draw Z at every read."""
    uncertain_mean: torch.Tensor
    """μ of each uncertain conversion (contiguous)."""
    uncertain_spread: torch.Tensor
    """σ of each uncertain conversion."""
    uncertain_codes: torch.Tensor
    """``clamp(round(μ), 0, L)`` of each uncertain conversion."""
    tiers: tuple[TailTier, ...]
    """The certain conversions, nearest tier first."""
    is_far: torch.Tensor
    """Boolean mask of the last tier."""
    margin: float
    """Slack on the tier tests: four float32 ulps of the largest |μ|, at least 2⁻²⁰."""
    levels: int
    """L: the largest code."""


@dataclass(frozen=True)
class CodeChanges:
    """Conversions of one noisy read that may differ from ``clamp(round(μ), 0, L)``, and by how
    much (a change of 0 is harmless: decoding adds nothing)."""

    uncertain_delta: torch.Tensor
    """Noisy code − noise-free code of every uncertain conversion, in the order of
    ``SplitConversions.uncertain`` (float32; 0 for most)."""
    tail_index: torch.Tensor
    """Flat indices of certain conversions whose |Z| exceeded their tier's threshold."""
    tail_delta: torch.Tensor
    """Noisy code − noise-free code of each."""


def adc_codes(mean: torch.Tensor, levels: int) -> torch.Tensor:
    """Noise-free codes ``clamp(round(μ), 0, L)`` (a new tensor)."""
    return mean.round().clamp_(0, levels)


def tail_probability(threshold: float) -> float:
    """p_t = P(|Z| > t) for Z ~ N(0, 1)."""
    return math.erfc(threshold / math.sqrt(2.0))


def split_conversions(
    mean: torch.Tensor,
    spread: torch.Tensor,
    levels: int,
    thresholds: tuple[float, ...] = TAIL_THRESHOLDS,
) -> SplitConversions:
    """Sort conversions into tiers by d/σ (``mean``, ``spread`` in ADC steps, any shape).

    A conversion is in the tier of t when d − t′σ ≥ margin, t′ = t(1 + 2⁻²⁰): μ − round(μ) is
    exact in float32, and the margin covers the rounding of the test and of μ + σZ, so a
    conversion counted certain below t keeps its code for every |Z| ≤ t.
    """
    if not thresholds or any(t <= 0 for t in thresholds) or list(thresholds) != sorted(
        set(thresholds)
    ):
        raise ValueError(f"thresholds={thresholds!r} is invalid: give increasing values > 0.")
    mean = mean.reshape(-1)
    spread = spread.reshape(-1)
    largest = float(mean.abs().max()) if mean.numel() else 0.0
    margin = max(4.0 * largest * 2.0**-23, 2.0**-20)
    tier = torch.zeros(mean.shape, dtype=torch.uint8, device=mean.device)
    for block in range(0, mean.numel(), SPLIT_BLOCK):  # temporaries of one block at a time
        part = slice(block, block + SPLIT_BLOCK)
        distance = (mean[part] - mean[part].round()).abs_().neg_().add_(0.5)  # d
        for t in thresholds:  # tier = how many thresholds the conversion clears
            tier[part] += torch.add(distance, spread[part], alpha=-t * (1.0 + 2.0**-20)) >= margin
    uncertain = (tier == 0).nonzero().squeeze(1)
    tiers = tuple(
        TailTier(t, (tier == k).nonzero().squeeze(1)) for k, t in enumerate(thresholds[:-1], 1)
    )
    uncertain_mean = mean.index_select(0, uncertain)
    return SplitConversions(
        mean=mean,
        spread=spread,
        uncertain=uncertain,
        uncertain_mean=uncertain_mean,
        uncertain_spread=spread.index_select(0, uncertain),
        uncertain_codes=adc_codes(uncertain_mean, levels),
        tiers=(*tiers, TailTier(thresholds[-1], None)),
        is_far=tier == len(thresholds),
        margin=margin,
        levels=levels,
    )


def bernoulli_positions(
    count: int, probability: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Indices in [0, count) of a Bernoulli(``probability``) process, from geometric gaps.

    A gap is ⌊log(V)/log(1 − p)⌋ + 1 with V uniform on (0, 1]: P(gap = k) = p(1 − p)^(k−1),
    exactly the spacing of independent Bernoulli(p) trials. Expected draws: count·p.
    """
    if count <= 0 or probability <= 0:
        return torch.empty(0, dtype=torch.long, device=device)
    log_keep = math.log1p(-probability)
    expected = count * probability
    batch = int(expected + 6.0 * math.sqrt(expected) + 16)
    found, last = [], -1.0
    while True:
        uniform = torch.rand(batch, generator=generator, dtype=torch.float64, device=device)
        gaps = torch.log1p(uniform.neg_()).div_(log_keep).floor_().add_(1.0)  # V = 1 − U
        positions = gaps.cumsum_(0).add_(last)  # float64: exact integers below 2**53
        last = float(positions[-1])
        if last >= count:  # sorted: keep those below count
            found.append(positions[: int(torch.searchsorted(positions, float(count)))])
            return torch.cat(found).to(torch.long)
        found.append(positions)


def tail_normal(
    size: int, threshold: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Z ~ N(0, 1) conditioned on |Z| > t, by inversion: |Z| = −Φ⁻¹(u·p_t/2), u ∈ (0, 1],
    and a fair sign (float32)."""
    half_tail = 0.5 * tail_probability(threshold)
    uniform = torch.rand(2, size, generator=generator, dtype=torch.float64, device=device)
    magnitude = torch.special.ndtri(uniform[0].neg_().add_(1.0).mul_(half_tail)).neg_()
    return torch.where(uniform[1] < 0.5, -magnitude, magnitude).float()


def _noisy_delta(
    mean: torch.Tensor, spread: torch.Tensor, noise: torch.Tensor, codes: torch.Tensor, levels: int
) -> torch.Tensor:
    """``clamp(round(μ + σZ), 0, L)`` − ``codes``, evaluated as a per-conversion draw would."""
    return torch.addcmul(mean, spread, noise).round_().clamp_(0, levels).sub_(codes)


def _tail_changes(
    split: SplitConversions, tier: TailTier, generator: torch.Generator
) -> torch.Tensor:
    """Flat indices of the tier's conversions whose |Z| exceeds its threshold in this read."""
    device = split.mean.device
    if tier.members is not None:
        positions = bernoulli_positions(
            tier.members.numel(), tail_probability(tier.threshold), generator, device
        )
        return tier.members.index_select(0, positions)
    events = bernoulli_positions(
        split.mean.numel(), tail_probability(tier.threshold), generator, device
    )
    return events.index_select(0, split.is_far.index_select(0, events).nonzero().squeeze(1))


def sample_code_changes(split: SplitConversions, generator: torch.Generator) -> CodeChanges:
    """One noisy read of ``split``: the conversions whose code may differ from the
    noise-free one, and by how much."""
    device = split.mean.device
    noise = torch.randn(split.uncertain_mean.shape, generator=generator, device=device)
    uncertain_delta = _noisy_delta(
        split.uncertain_mean, split.uncertain_spread, noise, split.uncertain_codes, split.levels
    )
    tail_index, tail_delta = [], []
    for tier in split.tiers:
        index = _tail_changes(split, tier, generator)
        mean = split.mean.index_select(0, index)
        tail_index.append(index)
        tail_delta.append(
            _noisy_delta(
                mean,
                split.spread.index_select(0, index),
                tail_normal(index.numel(), tier.threshold, generator, device),
                adc_codes(mean, split.levels),
                split.levels,
            )
        )
    return CodeChanges(uncertain_delta, torch.cat(tail_index), torch.cat(tail_delta))
