"""Column codes back to layer outputs: the digital shift-and-add and sign subtraction.

A layer's decode is a (groups·physical columns, C_out) matrix D, the ADC step of each row
group folded in: y = codes·D for the codes of one read, laid out (N, groups, columns).
:class:`ColumnDecoder` applies it densely to every code, or sparsely to the few codes read
noise changed (a column feeds one output with the differential encoding; an offset
reference column feeds every output of its crossbar), so a read repeated with fresh noise
costs only its changes.
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
    """Flat index into the (N, C_out) outputs."""
    weight: torch.Tensor
    """Output per unit code change (the decode entry)."""

    def select(self, positions: torch.Tensor) -> DecodeTargets:
        """The targets of a subset of the changes (one entry per change only)."""
        if self.source is not None:
            raise ValueError("select() needs one decode entry per change (source=None).")
        return DecodeTargets(
            None, self.target.index_select(0, positions), self.weight.index_select(0, positions)
        )


class ColumnDecoder(nn.Module):
    """Applies a layer's decode D to column codes, densely or to sparse changes."""

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

    def targets(self, index: torch.Tensor) -> DecodeTargets:
        """Decode entries of the codes at flat ``index`` into (N, groups, columns)."""
        per_row, out_features = self.matrix.shape
        row = index.div(per_row, rounding_mode="floor")
        key = index - row * per_row
        if self.one_entry_per_column:
            entry = self.entry_start.index_select(0, key)
            return DecodeTargets(
                None,
                row * out_features + self.entry_output.index_select(0, entry),
                self.entry_weight.index_select(0, entry),
            )
        count = self.entry_count.index_select(0, key)
        source = torch.repeat_interleave(torch.arange(len(key), device=key.device), count)
        first = (count.cumsum(0) - count).index_select(0, source)
        entry = self.entry_start.index_select(0, key).index_select(0, source) + (
            torch.arange(len(source), device=key.device) - first
        )
        return DecodeTargets(
            source,
            row.index_select(0, source) * out_features + self.entry_output.index_select(0, entry),
            self.entry_weight.index_select(0, entry),
        )

    @staticmethod
    def add(outputs: torch.Tensor, targets: DecodeTargets, delta: torch.Tensor) -> None:
        """``outputs`` (N, C_out, contiguous) += D applied to the code changes ``delta``."""
        values = delta if targets.source is None else delta.index_select(0, targets.source)
        outputs.view(-1).index_add_(0, targets.target, values * targets.weight)
