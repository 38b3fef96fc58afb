"""Read noise and the ADC: the aggregated column noise and the repeated-read sampler have the
distributions of the per-cell, per-conversion model they replace.

Statistical checks use fixed seeds (so they are deterministic) and a tolerance of 5 standard
errors of the compared statistic: a correct sampler fails one such check with probability
below 6·10⁻⁷, while the errors they guard against (a missing or doubled noise term, a tail
event rate off by a factor) shift the statistic by tens of standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch

from neuromorphic_sim import map_matrix, presets
from neuromorphic_sim.adc_sampling import (
    TAIL_THRESHOLDS,
    sample_code_changes,
    split_conversions,
)
from neuromorphic_sim.column_decode import ColumnDecoder
from neuromorphic_sim.column_read import ColumnReader

SIGMAS = 5.0
"""Tolerance, in standard errors, of every statistical comparison here."""


def _noisy_hardware(c2c: float = 0.05, adc_bits: int | None = None, encoding: str = "differential"):
    hw = presets.RERAM.with_parameter("c2c_read_noise", c2c).with_parameter("adc_bits", adc_bits)
    return hw.with_parameter("rows", 8).with_parameter("signed_encoding", encoding)


def _mapped(hw, out_features: int = 2, rows: int = 20):
    weight = torch.linspace(-1.0, 1.0, out_features * rows, dtype=torch.float64)
    weight = weight[torch.randperm(weight.numel(), generator=torch.Generator().manual_seed(3))]
    generator = torch.Generator().manual_seed(4)
    return map_matrix(weight.view(out_features, rows), hw, kernel_area=1, generator=generator)


def _per_cell_columns(
    mapped, x: torch.Tensor, c2c: float, reads: int, generator: torch.Generator
) -> torch.Tensor:
    """Column currents (reads, N, groups, columns) with an independent Gaussian per cell read:
    G·(1 + c2c·Z) for every cell, every read (float64)."""
    groups, group_rows, columns = mapped.conductance_s.shape
    padded = torch.zeros(x.shape[0], groups * group_rows, dtype=torch.float64)
    padded[:, : x.shape[1]] = x.double()
    per_group = padded.view(x.shape[0], groups, group_rows)
    cells = mapped.conductance_s.unsqueeze(0) * (
        1.0
        + c2c
        * torch.randn(reads, groups, group_rows, columns, generator=generator, dtype=torch.float64)
    )
    return torch.einsum("ngr,sgrc->sngc", per_group, cells)


@pytest.mark.parametrize("amplitude", [False, True], ids=["bit planes", "DAC amplitudes"])
def test_column_noise_matches_the_per_cell_simulation(amplitude: bool) -> None:
    c2c, reads = 0.05, 3000
    hw = _noisy_hardware(c2c)
    mapped = _mapped(hw)
    reader = ColumnReader(mapped, hw, seed=7)
    x = torch.tensor(
        [[1.0] * 20, [1.0, 0.0] * 10, [0.0] * 9 + [1.0] * 11], dtype=torch.float32
    )  # all rows, every other row, the last group and a half
    if amplitude:
        x = x * torch.linspace(0.1, 1.0, 20)
    cells = _per_cell_columns(mapped, x, c2c, reads, torch.Generator().manual_seed(8))

    # The aggregate: mean Σ x·G and σ² = c2c²·Σ (x·G)², per column (ideal ADC: step 1 S).
    currents = reader.column_reads(x)
    mean, spread = currents.mean, currents.spread
    assert spread is not None
    standard_error = cells.std(dim=0) / math.sqrt(reads)
    assert ((cells.mean(dim=0) - mean.double()).abs() <= SIGMAS * standard_error + 1e-12).all()
    variance_error = spread.double().square() * math.sqrt(2.0 / (reads - 1))
    assert ((cells.var(dim=0) - spread.double().square()).abs() <= SIGMAS * variance_error).all()

    # Decoded layer outputs: the aggregated sampler against the per-cell simulation.
    repeated = x.repeat(reads, 1)  # every row an independent read
    aggregated = reader.read_once(repeated).double().view(reads, x.shape[0], -1)
    per_cell = cells.reshape(reads, x.shape[0], -1) @ reader.decoder.matrix.double()
    pooled_error = torch.sqrt((aggregated.var(dim=0) + per_cell.var(dim=0)) / reads)
    assert (
        (aggregated.mean(dim=0) - per_cell.mean(dim=0)).abs() <= SIGMAS * pooled_error
    ).all()
    ratio_error = math.sqrt(2.0 * 2.0 / (reads - 1))  # of the ratio of two sample variances
    ratio = aggregated.var(dim=0) / per_cell.var(dim=0)
    assert ((ratio - 1.0).abs() <= SIGMAS * ratio_error).all()


def _exact_codes(mean: torch.Tensor, spread: torch.Tensor, levels: int):
    """E[code] and Var[code] of clamp(round(μ + σZ), 0, L), from the normal CDF (float64;
    σ = 0: the rounded mean, ties to even like torch.round)."""
    codes = torch.arange(levels + 1, dtype=torch.float64).view(-1, 1)
    mu, sigma = mean.double().view(1, -1), spread.double().view(1, -1).clamp(min=1e-300)
    upper = torch.special.ndtr((torch.where(codes == levels, torch.inf, codes + 0.5) - mu) / sigma)
    lower = torch.special.ndtr((torch.where(codes == 0, -torch.inf, codes - 0.5) - mu) / sigma)
    probability = upper - lower
    expected = (codes * probability).sum(0)
    variance = (codes.square() * probability).sum(0) - expected.square()
    still = spread == 0
    expected[still] = mean[still].double().round().clamp(0, levels)
    variance[still] = 0.0
    return expected, variance.clamp(min=0.0)


def _repeated_codes(mean: torch.Tensor, spread: torch.Tensor, levels: int, reads: int, seed: int):
    """Codes of ``reads`` repeated noisy reads, (reads, conversions), via the split sampler."""
    split = split_conversions(mean, spread, levels)
    base = mean.round().clamp(0, levels)
    generator = torch.Generator().manual_seed(seed)
    out = base.repeat(reads, 1)
    for read in range(reads):
        changes = sample_code_changes(split, generator)
        out[read].index_add_(0, split.uncertain, changes.uncertain_delta)
        out[read].index_add_(0, changes.tail_index, changes.tail_delta)
    return out


def test_repeated_reads_have_the_per_conversion_code_distribution() -> None:
    # Means across [−0.7, L + 0.7] (both clamps), σ from none to larger than a step.
    levels, reads = 5, 1500
    mean = torch.linspace(-0.7, levels + 0.7, 131).repeat(5)
    spread = torch.tensor([0.0, 0.01, 0.05, 0.2, 0.6]).repeat_interleave(131)
    codes = _repeated_codes(mean, spread, levels, reads, seed=11)
    expected, variance = _exact_codes(mean, spread, levels)
    error = (codes.double().mean(dim=0) - expected).abs()
    # 5 standard errors, plus two counts of slack for conversions that rarely change (a
    # Poisson count of mean λ ≤ 0.1 exceeds 2 + 5√λ with probability below 5·10⁻⁶).
    assert (error <= SIGMAS * (variance / reads).sqrt() + 2.0 / reads).all()
    still = spread == 0
    assert torch.equal(codes[:, still], mean[still].round().clamp(0, levels).expand(reads, -1))


@pytest.mark.parametrize(
    ("distance_in_sigma", "tier"),
    [(3.0, "between the thresholds"), (4.0, "beyond the last threshold")],
)
def test_certain_conversions_change_at_the_tail_rate(distance_in_sigma: float, tier: str) -> None:
    # d/σ puts every conversion in one certain tier: it changes only through tail events.
    assert TAIL_THRESHOLDS[0] < 3.0 < TAIL_THRESHOLDS[-1] < 4.0, tier
    conversions, reads, sigma = 100_000, 40, 0.1
    mean = torch.full((conversions,), 2.5 - distance_in_sigma * sigma)  # boundary 2.5 above
    spread = torch.full((conversions,), sigma)
    split = split_conversions(mean, spread, levels=255)
    assert split.uncertain.numel() == 0
    generator = torch.Generator().manual_seed(12)
    changes = 0
    for _ in range(reads):
        sampled = sample_code_changes(split, generator)
        changes += int((sampled.tail_delta != 0).sum())
    # Code 2; P(change) = P(Z > d/σ) (up to 3) + P(Z < −(1 − d)/σ) (down to 1), d = 2.5 − μ.
    far = (1.0 - distance_in_sigma * sigma) / sigma
    probability = 0.5 * math.erfc(distance_in_sigma / math.sqrt(2)) + 0.5 * math.erfc(
        far / math.sqrt(2)
    )
    trials = conversions * reads
    expected = trials * probability
    assert abs(changes - expected) <= SIGMAS * math.sqrt(expected * (1 - probability))


@pytest.mark.parametrize("encoding", ["differential", "offset"])
def test_sparse_decoding_equals_dense_decoding(encoding: str) -> None:
    hw = _noisy_hardware(adc_bits=8, encoding=encoding)
    decoder = ColumnDecoder(ColumnReader(_mapped(hw, out_features=5), hw, seed=0).decoder.matrix)
    assert decoder.one_entry_per_column == (encoding == "differential")
    generator = torch.Generator().manual_seed(5)
    groups = 3
    columns = decoder.matrix.shape[0] // groups
    codes = torch.randint(0, 256, (6, groups, columns), generator=generator).float()
    index = torch.randperm(codes.numel(), generator=generator)[:40]
    delta = torch.randint(-2, 3, (40,), generator=generator).float()
    outputs = decoder.dense(codes)
    decoder.add(outputs, decoder.targets(index), delta)
    changed = codes.clone().view(-1).index_add_(0, index, delta).view_as(codes)
    torch.testing.assert_close(outputs, decoder.dense(changed), rtol=1e-5, atol=1e-5)


def test_a_noisy_layer_is_reproducible_and_constant_inputs_differ_per_read() -> None:
    from torch import nn

    from neuromorphic_sim import build_crossbar_network

    conv = nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.linspace(-1.0, 1.0, 36).view(4, 1, 3, 3))
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    hw = presets.RERAM.with_parameter("c2c_read_noise", 0.05)

    def reads() -> list[torch.Tensor]:
        layer = build_crossbar_network(nn.Sequential(conv), hw).layers["0"]
        with torch.no_grad():
            return [layer(x) for _ in range(4)]  # first read, split, then repeats

    first, again = reads(), reads()
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], first[2]) and not torch.equal(first[0], first[1])


def _noisy_layer(c2c: float, **overrides):
    """A 2→4 channel 3×3 convolution on crossbars of 8 rows (two row groups), ideal ADC."""
    from torch import nn

    from neuromorphic_sim import build_crossbar_network

    conv = nn.Conv2d(2, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.linspace(-1.0, 1.0, 72).view(4, 2, 3, 3))
        conv.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
    hw = presets.RERAM.with_parameter("c2c_read_noise", c2c).with_parameter("adc_bits", None)
    hw = hw.with_parameter("rows", 8)
    for name, value in overrides.items():
        hw = hw.with_parameter(name, value)
    return build_crossbar_network(nn.Sequential(conv), hw).layers["0"]


@pytest.mark.parametrize("input_driver", ["bit_serial", "dac"])
def test_output_noise_variance_is_the_decoded_column_variance(input_driver: str) -> None:
    # Ideal ADC: the per-output σ² must equal Σ_planes w²·Σ_columns D²·σ_column², computed
    # here from the column-resolved read of the same planes.
    layer = _noisy_layer(0.05, input_driver=input_driver)
    assert layer.output_noise and not layer.resolve_columns
    x = torch.rand(3, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    prepared = layer._prepare(x)
    assert prepared.noise_std is not None and prepared.mean is not None
    encoded = layer.encoding.encode(x)
    n_planes = encoded.planes.shape[0]
    planes = encoded.planes.reshape(n_planes * 3, 2, 5, 5)
    rows = torch.nn.functional.unfold(planes, 3, padding=1).transpose(1, 2).reshape(-1, 18)
    spread = layer.reader.column_reads(rows).spread
    assert spread is not None
    decode = layer.reader.decoder.matrix.double()
    per_read = spread.double().square().reshape(rows.shape[0], -1) @ decode.square()
    per_plane = per_read.view(n_planes, 3, 25, 4)
    expected = torch.einsum("pblo,pb->bol", per_plane, encoded.plane_weight.double().square())
    torch.testing.assert_close(
        prepared.noise_std.double().square().reshape(3, 4, 25), expected, rtol=1e-4, atol=1e-12
    )
    if input_driver == "bit_serial":
        assert n_planes > 1  # several planes, so the plane weights are exercised


@pytest.mark.slow
def test_output_noise_has_the_distribution_of_column_resolved_reads() -> None:
    reads = 3000
    x = torch.rand(2, 2, 5, 5, generator=torch.Generator().manual_seed(2))
    fast = _noisy_layer(0.05)
    columns = _noisy_layer(0.05)
    columns.output_noise, columns.resolve_columns = False, True  # the per-conversion path
    with torch.no_grad():
        fast_reads = torch.stack([fast(x) for _ in range(reads)]).double()
        column_reads = torch.stack([columns(x) for _ in range(reads)]).double()
    pooled_error = torch.sqrt((fast_reads.var(dim=0) + column_reads.var(dim=0)) / reads)
    difference = (fast_reads.mean(dim=0) - column_reads.mean(dim=0)).abs()
    assert (difference <= SIGMAS * pooled_error + 1e-6).all()
    ratio = fast_reads.var(dim=0) / column_reads.var(dim=0)
    assert ((ratio - 1.0).abs() <= SIGMAS * math.sqrt(2.0 * 2.0 / (reads - 1))).all()
    # and the noise is really there: a read differs from the next one
    assert not torch.equal(fast_reads[0], fast_reads[1])


@pytest.mark.parametrize("encoding", ["differential", "offset"])
def test_repeated_reads_of_a_constant_input_have_the_distribution_of_first_reads(
    encoding: str,
) -> None:
    # The repeated path adds the changed codes straight into the layer output (planes weighted,
    # positions and channels laid out); the first read decodes every conversion per plane.
    # Offset encoding: a reference column feeds several outputs (decoded per changed code).
    from torch import nn

    from neuromorphic_sim import build_crossbar_network

    conv = nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.linspace(-1.0, 1.0, 54).view(3, 2, 3, 3))
        conv.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    hw = _noisy_hardware(adc_bits=8, encoding=encoding)
    layer = build_crossbar_network(nn.Sequential(conv), hw).layers["0"]
    assert layer.reader.decoder.one_entry_per_column == (encoding == "differential")
    x = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    reads = 600
    with torch.no_grad():
        repeated = torch.stack([layer(x) for _ in range(reads)])[1:].double()  # one input
        first = []
        for _ in range(reads):
            layer.clear_cache()
            first.append(layer(x))
    first_reads = torch.stack(first).double()
    assert layer.encoding.encode(x).planes.shape[0] == 8  # bit-serial: plane weights matter
    pooled_error = torch.sqrt((repeated.var(dim=0) + first_reads.var(dim=0)) / reads)
    difference = (repeated.mean(dim=0) - first_reads.mean(dim=0)).abs()
    assert (difference <= SIGMAS * pooled_error + 1e-6).all()
    ratio = repeated.var(dim=0) / first_reads.var(dim=0)
    assert ((ratio - 1.0).abs() <= SIGMAS * math.sqrt(2.0 * 2.0 / (reads - 1))).all()
