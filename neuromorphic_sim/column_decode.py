"""Column codes back to layer outputs: the digital shift-and-add and sign subtraction.

A layer's decode is a (groups·physical columns, C_out) matrix D, the ADC step of each row
group folded in: y = codes·D for the codes of one read, laid out (N, groups, columns).
:class:`ColumnDecoder` applies it densely to every code, or sparsely to the few codes read
noise changed (a column feeds one output with the differential encoding; an offset
reference column feeds every output of its crossbar), so a read repeated with fresh noise
costs only its changes. Sparse changes can land directly in the layer output (an
:class:`OutputLayout` folds in the bit planes' weights), skipping the per-plane outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DecodeTargets:
    """Where sparse code changes land: ``outputs.view(-1)[target] += delta[source]·weight``."""

    source: torch.Tensor | None
    """Which change each entry decodes (None: entry i decodes change i)."""
    target: torch.Tensor
    """Flat index into the (N, C_out) outputs, or into a layer output (:class:`OutputLayout`)."""
    weight: torch.Tensor
    """Output per unit code change (the decode entry)."""

    def values(self, delta: torch.Tensor) -> torch.Tensor:
        """What each entry adds to its target for the code changes ``delta``."""
        changes = delta if self.source is None else delta.index_select(0, self.source)
        return changes * self.weight


@dataclass(frozen=True)
class OutputLayout:
    """Where the decoded outputs of each read row land in a layer's output: output feature o
    of row r adds ``weight[r]``·y to ``output.view(-1)[start[r] + o·feature_stride]`` (the
    bit planes' weights and the (B, C_out, H, W) layout folded in)."""

    start: torch.Tensor
    """(N,) flat index of each row's feature 0 (int64)."""
    feature_stride: int
    """Distance between consecutive features of a row."""
    weight: torch.Tensor
    """(N,) each row's weight in the output."""

    def rows(self, rows: slice) -> OutputLayout:
        """The layout of a slice of the rows."""
        return OutputLayout(self.start[rows], self.feature_stride, self.weight[rows])


class ColumnDecoder(nn.Module):
    """Applies a layer's decode D to column codes, densely or to sparse changes."""

    matrix: torch.Tensor
    entry_count: torch.Tensor
    entry_start: torch.Tensor
    entry_output: torch.Tensor
    entry_weight: torch.Tensor

    def __init__(self, decode: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", decode.to(torch.float32).contiguous())
        rows, targets = self.matrix.nonzero(as_tuple=True)  # row-major: a column's entries
        counts = torch.bincount(rows, minlength=self.matrix.shape[0])
        self.register_buffer("entry_count", counts)
        self.register_buffer("entry_start", counts.cumsum(0) - counts)
        self.register_buffer("entry_output", targets)
        self.register_buffer("entry_weight", self.matrix[rows, targets])
        self.one_entry_per_column = bool((counts == 1).all())

    def dense(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, groups, columns) codes → (N, C_out) outputs."""
        return codes.reshape(codes.shape[0], -1) @ self.matrix

    def targets(self, index: torch.Tensor, layout: OutputLayout | None = None) -> DecodeTargets:
        """Decode entries of the codes at flat ``index`` into (N, groups, columns), landing in
        the (N, C_out) decoded outputs, or in a layer output laid out by ``layout``."""
        per_row, out_features = self.matrix.shape
        row = index.div(per_row, rounding_mode="floor")
        key = index - row * per_row
        entry = self.entry_start.index_select(0, key)
        source = None
        if not self.one_entry_per_column:
            count = self.entry_count.index_select(0, key)
            source = torch.repeat_interleave(torch.arange(len(key), device=key.device), count)
            first = (count.cumsum(0) - count).index_select(0, source)
            entry = entry.index_select(0, source) + (
                torch.arange(len(source), device=key.device) - first
            )
            row = row.index_select(0, source)
        feature = self.entry_output.index_select(0, entry)
        weight = self.entry_weight.index_select(0, entry)
        if layout is None:
            return DecodeTargets(source, row * out_features + feature, weight)
        return DecodeTargets(
            source,
            layout.start.index_select(0, row) + feature * layout.feature_stride,
            weight * layout.weight.index_select(0, row),
        )

    @staticmethod
    def add(outputs: torch.Tensor, targets: DecodeTargets, delta: torch.Tensor) -> None:
        """``outputs`` (N, C_out, contiguous) += D applied to the code changes ``delta``."""
        outputs.view(-1).index_add_(0, targets.target, targets.values(delta))
