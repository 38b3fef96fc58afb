"""Reading a layer's crossbars column by column: currents, read noise, ADC, digital decode.

For the unfolded word-line inputs of a read, x (N, K) with N = planes × samples ×
positions, every row group of every crossbar produces one current per physical column:
I = Σ_{rows of the group} x·G, in ADC steps (the step of each group folded into the
programmed conductances, once per replay). Cycle-to-cycle read noise is Gaussian and
independent per cell and read, so a column's noise is exactly Gaussian with
σ² = c2c²·Σ_rows (x·G)²: a second weighted sum, with the per-cell variances (also computed
once), instead of one draw per cell. The ADC converts ``clamp(round(I + σZ), 0, L)`` and the
decode (:mod:`neuromorphic_sim.column_decode`) shifts, adds and subtracts the codes back into
outputs.

Spiking inputs are sparse (few word lines carry a spike at any step), so the weighted sums
are ``embedding_bag`` sums over the active rows of each (row, group) rather than dense matrix
products, and a read runs in chunks of rows whose currents, noise and codes stay in cache. A
read repeated on the same inputs (a constant input over time steps) splits its conversions once
and then draws noise only where it can change a code (:mod:`neuromorphic_sim.adc_sampling`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuromorphic_sim.adc_sampling import (
    SplitConversions,
    adc_codes,
    sample_code_changes,
    split_conversions,
)
from neuromorphic_sim.column_decode import ColumnDecoder, DecodeTargets, OutputLayout
from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.mapping import MappedMatrix

CHUNK_CONVERSIONS = 1 << 19
"""Conversions per chunk of a single read: its currents, noise and codes (2 MiB each) stay in
cache, which is faster than one pass over the whole batch."""


@dataclass(frozen=True)
class ColumnCurrents:
    """Every column current of a read, (rows, groups, columns), in ADC steps."""

    mean: torch.Tensor
    """Σ_rows x·G: the noise-free current."""
    spread: torch.Tensor | None
    """σ of its read noise, c2c·√Σ_rows (x·G)² (None without read noise)."""


@dataclass(frozen=True)
class DrivenLines:
    """The driven word lines of a read, bagged by (row, group): what every column sum of a
    bag adds up."""

    word_line: torch.Tensor
    """Word line of each driven (row, word line), by row, then word line."""
    values: torch.Tensor
    """Its input (1 for a bit, the amplitude for a DAC)."""
    offsets: torch.Tensor
    """Where each (row, group) bag starts in ``word_line``."""
    counts: torch.Tensor
    """Driven word lines per bag (0: no current, no noise)."""


@dataclass(frozen=True)
class RepeatedRead:
    """What repeated noisy reads of the same inputs share."""

    decoded: torch.Tensor
    """Noise-free decoded outputs (N, C_out): the layer combines them once."""
    split: SplitConversions
    """Every conversion of the read, split into certain and uncertain ones."""
    layout: OutputLayout
    """Where each row of the read lands in the layer output."""
    targets: DecodeTargets | None
    """Decode entries of the uncertain conversions, into the layer output (one per column;
    None where a column feeds several outputs: found per read, for the changed ones only)."""


class ColumnReader(nn.Module):
    """The column-resolved read of one mapped layer (ADC and/or read noise on)."""

    read_table: torch.Tensor
    noise_table: torch.Tensor | None

    def __init__(self, mapped: MappedMatrix, hw: HardwareConfig, seed: int) -> None:
        super().__init__()
        groups, group_rows, columns = mapped.conductance_s.shape
        self.groups, self.group_rows, self.columns = groups, group_rows, columns
        self.seed = seed
        adc_bits = hw.periphery.adc_bits
        self.adc_levels = None if adc_bits is None else 2**adc_bits - 1
        # ADC full scale per group: every programmed row of the group at g_max (× the fraction).
        rows_used = (mapped.input_rows - torch.arange(groups) * group_rows).clamp(max=group_rows)
        full_scale = hw.periphery.adc_full_scale_fraction * rows_used.double() * hw.device.g_max_s
        step = (
            torch.ones(groups, dtype=torch.float64)
            if self.adc_levels is None
            else full_scale / self.adc_levels
        ).view(groups, 1, 1)
        # Per input row: its group's column currents in ADC steps per unit input, and the
        # per-cell noise variances in ADC steps² per unit input² (computed once per replay).
        self.read_noise = hw.device.c2c_read_noise
        read = (mapped.conductance_s / step).reshape(groups * group_rows, columns)
        read = read[: mapped.input_rows]
        noise = (read * self.read_noise).square() if self.read_noise > 0 else None
        self.register_buffer("read_table", read.to(torch.float32).contiguous())
        self.register_buffer("noise_table", None if noise is None else noise.to(torch.float32))
        self.out_features = mapped.decode.shape[1]
        self.decoder = ColumnDecoder((mapped.decode * step).reshape(-1, self.out_features))
        self._generator: torch.Generator | None = None

    def noise_source(self, device: torch.device) -> torch.Generator:
        """The read-noise generator (seeded once per replay, on ``device``)."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator

    def row_chunks(self, rows: int, conversions: int) -> Iterator[slice]:
        """Slices of about ``conversions`` conversions (groups × columns per row)."""
        step = max(1, conversions // (self.groups * self.columns))
        for start in range(0, rows, step):
            yield slice(start, min(rows, start + step))

    def driven_lines(self, x: torch.Tensor) -> DrivenLines:
        """The driven word lines of the unfolded inputs ``x`` (rows, K), bagged by (row, group)."""
        row, word_line = (x != 0).nonzero(as_tuple=True)  # by row, then word line (and group)
        bag = row * self.groups + word_line.div(self.group_rows, rounding_mode="floor")
        counts = torch.bincount(bag, minlength=x.shape[0] * self.groups)
        return DrivenLines(word_line, x[row, word_line], counts.cumsum(0) - counts, counts)

    def _bag_sums(
        self,
        lines: DrivenLines,
        table: torch.Tensor,
        weights: torch.Tensor,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Σ over each bag's driven word lines of weight·table[word line], (bags, columns); the
        bags of ``offsets`` (default: every bag)."""
        bags = lines.offsets if offsets is None else offsets
        return F.embedding_bag(lines.word_line, table, bags, mode="sum", per_sample_weights=weights)

    def column_reads(self, x: torch.Tensor) -> ColumnCurrents:
        """Every column current of the unfolded inputs ``x`` (rows, K), bits or DAC
        amplitudes: Σ_{active rows of each (row, group)} x·G, and its read-noise σ."""
        lines = self.driven_lines(x)
        shape = (x.shape[0], self.groups, self.columns)
        mean = self._bag_sums(lines, self.read_table, lines.values).view(shape)
        if self.noise_table is None:
            return ColumnCurrents(mean, None)
        variance = self._bag_sums(lines, self.noise_table, lines.values.square())
        return ColumnCurrents(mean, variance.sqrt_().view(shape))

    def _add_read_noise(self, current: torch.Tensor, lines: DrivenLines) -> None:
        """``current`` (rows, groups, columns) += one draw of read noise. Only bags with a
        driven word line carry current, hence noise: σ and a Gaussian are computed for them
        alone."""
        assert self.noise_table is not None
        driven = lines.counts.nonzero().squeeze(1)
        if driven.numel() == 0:
            return
        variance = self._bag_sums(
            lines, self.noise_table, lines.values.square(), lines.offsets.index_select(0, driven)
        )
        noise = torch.randn(
            variance.shape,
            generator=self.noise_source(current.device),
            device=current.device,
            dtype=current.dtype,
        )
        current.view(-1, self.columns).index_add_(0, driven, noise.mul_(variance.sqrt_()))

    def read_once(self, x: torch.Tensor) -> torch.Tensor:
        """One read of every column for the unfolded inputs ``x`` (N, K), noise drawn per
        noisy conversion, chunk by chunk: decoded outputs (N, C_out)."""
        decoded = torch.empty(x.shape[0], self.out_features, device=x.device, dtype=x.dtype)
        for rows in self.row_chunks(x.shape[0], CHUNK_CONVERSIONS):
            lines = self.driven_lines(x[rows])
            current = self._bag_sums(lines, self.read_table, lines.values)
            current = current.view(-1, self.groups, self.columns)
            if self.noise_table is not None:
                self._add_read_noise(current, lines)
            if self.adc_levels is not None:
                current.round_().clamp_(0, self.adc_levels)
            decoded[rows] = self.decoder.dense(current)
        return decoded

    def split(self, x: torch.Tensor, layout: OutputLayout) -> RepeatedRead:
        """Prepare repeated noisy reads of ``x`` (ADC and read noise on), whose rows land in
        the layer output as ``layout`` says: noise-free codes decoded once, conversions split
        into certain and uncertain ones."""
        if self.adc_levels is None or self.read_noise == 0:
            raise ValueError("split() needs an ADC and read noise; use read_once().")
        decoded = torch.empty(x.shape[0], self.out_features, device=x.device, dtype=x.dtype)
        shape = (x.shape[0], self.groups, self.columns)
        mean = torch.empty(shape, device=x.device, dtype=x.dtype)
        spread = torch.empty_like(mean)
        for rows in self.row_chunks(x.shape[0], CHUNK_CONVERSIONS):
            currents = self.column_reads(x[rows])
            assert currents.spread is not None
            mean[rows], spread[rows] = currents.mean, currents.spread
            decoded[rows] = self.decoder.dense(adc_codes(currents.mean, self.adc_levels))
        split = split_conversions(mean, spread, self.adc_levels)
        targets = (
            self.decoder.targets(split.uncertain, layout)
            if self.decoder.one_entry_per_column
            else None
        )
        return RepeatedRead(decoded, split, layout, targets)

    def read_again(self, repeated: RepeatedRead, output: torch.Tensor) -> None:
        """Another read of the inputs of ``repeated`` with fresh noise: adds the codes it
        changes to ``output``, the layer output of the noise-free read (contiguous)."""
        split = repeated.split
        changes = sample_code_changes(split, self.noise_source(output.device))
        uncertain, uncertain_delta = repeated.targets, changes.uncertain_delta
        if uncertain is None:  # decode entries of the changed codes only
            changed = uncertain_delta.nonzero().squeeze(1)
            uncertain = self.decoder.targets(
                split.uncertain.index_select(0, changed), repeated.layout
            )
            uncertain_delta = uncertain_delta.index_select(0, changed)
        tail = self.decoder.targets(changes.tail_index, repeated.layout)
        flat = output.view(-1)
        for targets, delta in ((uncertain, uncertain_delta), (tail, changes.tail_delta)):
            flat.index_add_(0, targets.target, targets.values(delta))
