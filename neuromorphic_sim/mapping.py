"""Weights onto crossbars: quantise, bit-slice, encode the sign, tile, and decode back.

A layer's weights form a matrix W of shape (C_out, K), K = C_in·k·k for a convolution
(im2col order: channel, then kernel row, then kernel column) or K = in_features.

Magnitudes are quantised to Q = 2**(weight_bits − 1) − 1 steps and written in base L (the
cell's levels) over ``n_slices`` cells, most significant cell last. Signs use a G+/G− pair of
columns (``differential``) or one column shifted by Q against a reference column per
crossbar (``offset``). Rows are cut into groups (one crossbar of ``rows`` rows, or SpikeSim's
k² crossbars of ``rows`` input channels); columns into crossbars of ``columns``. The digital
decode matrix D turns column currents back into weighted sums: y = Σ_columns I·D; where the
cells drift, D also carries the layer's global drift compensation gain.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from neuromorphic_sim.config import HardwareConfig
from neuromorphic_sim.device import program_cells, target_conductance
from neuromorphic_sim.exceptions import ConfigurationError


@dataclass(frozen=True)
class WeightCode:
    """How one signed weight becomes cell levels (pure arithmetic, no tensors)."""

    magnitude_steps: int | None
    """Q: quantisation steps of |w| (None: unquantised, continuous cells only)."""
    n_slices: int
    """Cells per weight per sign column (bit slices)."""
    base: int
    """Radix of the slices (the cell's levels); 1 for a single continuous cell."""
    digit_max: int
    """The digit stored at g_max in one slice."""
    columns_per_weight: int
    """2 for a differential pair, 1 for the offset encoding."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return asdict(self)


def weight_code(hw: HardwareConfig) -> WeightCode:
    """The weight code implied by the cell levels, the weight precision and the sign encoding."""
    levels = hw.device.levels
    weight_bits = hw.crossbar.weight_bits
    offset = hw.crossbar.signed_encoding == "offset"
    columns_per_weight = 1 if offset else 2
    if weight_bits is not None:
        steps: int | None = 2 ** (weight_bits - 1) - 1
    elif levels is not None:
        steps = (levels - 1) // 2 if offset else levels - 1
        if steps < 1:
            raise ConfigurationError(
                "CrossbarConfig.weight_bits=None is invalid with offset encoding on 1-bit cells: "
                "a cell then cannot hold a signed weight; set weight_bits or use 'differential'."
            )
    else:
        steps = None
    if steps is None:  # continuous cell, continuous weight
        return WeightCode(None, 1, 1, 2 if offset else 1, columns_per_weight)
    max_count = 2 * steps if offset else steps
    if levels is None:  # one continuous cell holds every step
        return WeightCode(steps, 1, 1, max_count, columns_per_weight)
    n_slices = 1
    while levels**n_slices <= max_count:
        n_slices += 1
    return WeightCode(steps, n_slices, levels, levels - 1, columns_per_weight)


@dataclass
class MappedMatrix:
    """One layer's arrays, as tensors ready for the replay (float64, CPU)."""

    conductance_s: torch.Tensor
    """(groups, group_rows, physical_columns): what each cell reads, non-idealities applied."""
    decode: torch.Tensor
    """(physical_columns, C_out): column current (S, per unit input) → weighted sum."""
    input_rows: int
    """K: logical rows (inputs) of the weight matrix."""
    group_rows: int
    """Rows summed into one column current before the ADC."""
    physical_columns: int
    """Columns read per group (data and reference columns)."""
    column_tiles: int
    """Crossbars side by side along the columns."""
    row_crossbars: int
    """Crossbars stacked along the rows (k² per group for ``kernel_split``)."""
    programmed_cells: int
    """Cells holding a weight or a reference."""
    code: WeightCode
    """The weight code used."""
    drift_compensation_gain: float = 1.0
    """Global drift compensation: the digital gain on the layer's outputs (folded into
    ``decode``), mean|y(0)| / mean|y(t)| for one-hot inputs; 1 where it is off or nothing
    drifts."""

    @property
    def crossbars(self) -> int:
        """Crossbars this layer occupies."""
        return self.row_crossbars * self.column_tiles

    def effective_weight(self) -> torch.Tensor:
        """(C_out, K): the weights the arrays compute with, decoded from the conductances."""
        return _decoded_weight(self.conductance_s, self.decode, self.input_rows)


def _decoded_weight(conductance_s: torch.Tensor, decode: torch.Tensor, rows: int) -> torch.Tensor:
    """(C_out, K) weights read back from conductances (any shape ending in physical columns):
    the outputs for one-hot inputs on each of the ``rows`` word lines."""
    return (conductance_s.reshape(-1, decode.shape[0]) @ decode)[:rows].T


def drift_compensation_gain(
    programmed_s: torch.Tensor, read_s: torch.Tensor, decode: torch.Tensor, rows: int
) -> float:
    """Global drift compensation (aihwkit ``GlobalDriftCompensation``): mean|y| over one-hot
    reference inputs right after programming, divided by the same at the read time. The
    reference reads go through the ideal periphery (no ADC rounding, no read noise)."""
    reference = _decoded_weight(programmed_s, decode, rows).abs().mean()
    now = _decoded_weight(read_s, decode, rows).abs().mean()
    return float(reference / now.clamp(min=torch.finfo(now.dtype).tiny))


def _slice_fractions(counts: torch.Tensor, code: WeightCode) -> torch.Tensor:
    """counts (…) → fractions of the conductance range per slice, shape (n_slices, …)."""
    if code.n_slices == 1:
        return (counts / code.digit_max).unsqueeze(0)
    digits = [
        torch.div(counts, code.base**s, rounding_mode="floor") % code.base
        for s in range(code.n_slices)
    ]
    return torch.stack(digits) / code.digit_max


def _column_layout(
    hw: HardwareConfig, code: WeightCode, out_features: int
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Where each (slice, output, sign) data column sits, and the reference columns.

    Returns (data_index, reference_index, physical_columns, column_tiles): ``data_index`` has
    shape (n_slices, C_out, columns_per_weight); ``reference_index`` (n_slices, C_out) gives, for
    the offset encoding, the reference column serving each data column (else empty).
    """
    width = hw.crossbar.columns
    per_slice = out_features * code.columns_per_weight
    data_columns = code.n_slices * per_slice
    logical = torch.arange(data_columns).reshape(
        code.n_slices, out_features, code.columns_per_weight
    )
    if code.columns_per_weight == 2:
        tiles = math.ceil(data_columns / width)
        return logical, torch.empty(0, dtype=torch.long), data_columns, tiles
    data_per_tile = width - code.n_slices
    if data_per_tile < 1:
        raise ConfigurationError(
            f"CrossbarConfig.columns={width} is invalid for the offset encoding with "
            f"{code.n_slices} slices: each crossbar needs {code.n_slices} reference columns "
            "and at least one data column."
        )
    tiles = math.ceil(data_columns / data_per_tile)
    tile_of = logical // data_per_tile
    physical = tile_of * width + logical % data_per_tile
    slice_of = torch.arange(code.n_slices).reshape(-1, 1, 1).expand_as(logical)
    reference = tile_of * width + data_per_tile + slice_of
    # Compact the physical index space (the last crossbar may be partly used).
    used = torch.cat([physical.flatten(), reference.flatten()]).unique()
    remap = torch.full((tiles * width,), -1, dtype=torch.long)
    remap[used] = torch.arange(used.numel())
    return remap[physical], remap[reference[..., 0]], used.numel(), tiles


def map_matrix(
    weight: torch.Tensor,
    hw: HardwareConfig,
    *,
    kernel_area: int,
    generator: torch.Generator,
) -> MappedMatrix:
    """Program ``weight`` (C_out, K) onto crossbars of ``hw`` and read back its conductances.

    ``kernel_area`` is k·k of a convolution (1 for a linear layer); with ``kernel_split`` a
    group spans ``rows`` input channels × k² rows.
    """
    weight = weight.to(torch.float64)
    out_features, k_rows = weight.shape
    code = weight_code(hw)
    rows = hw.crossbar.rows
    group_rows = rows * kernel_area if hw.crossbar.conv_mapping == "kernel_split" else rows
    groups = math.ceil(k_rows / group_rows)
    row_crossbars = groups * kernel_area if hw.crossbar.conv_mapping == "kernel_split" else groups

    w_max = float(weight.abs().max()) or 1.0
    steps = code.magnitude_steps
    offset = code.columns_per_weight == 1
    if steps is None:
        signed_counts = weight / w_max  # continuous: count 1 ↔ w_max
        scale = w_max
    else:
        signed_counts = torch.round(weight / w_max * steps)
        scale = w_max / steps
    if offset:
        fractions = _slice_fractions(signed_counts + (steps or 1), code)  # (S, C_out, K)
        fractions = fractions.unsqueeze(2)  # (S, C_out, 1, K)
        reference_fraction = _slice_fractions(
            torch.tensor(float(steps or 1), dtype=torch.float64), code
        )  # (S,)
    else:
        fractions = torch.stack(
            [
                _slice_fractions(signed_counts.clamp(min=0), code),
                _slice_fractions((-signed_counts).clamp(min=0), code),
            ],
            dim=2,
        )  # (S, C_out, 2, K)

    data_index, reference_index, physical_columns, column_tiles = _column_layout(
        hw, code, out_features
    )
    delta_g = hw.device.g_max_s - hw.device.g_min_s
    slice_weight = torch.tensor(
        [scale * code.digit_max * code.base**s / delta_g for s in range(code.n_slices)],
        dtype=torch.float64,
    )

    target = torch.zeros(groups * group_rows, physical_columns, dtype=torch.float64)
    target[:k_rows, data_index.flatten()] = (
        target_conductance(fractions, hw.device).permute(3, 0, 1, 2).reshape(k_rows, -1)
    )
    decode = torch.zeros(physical_columns, out_features, dtype=torch.float64)
    outputs = torch.arange(out_features)
    signs = (1.0,) if offset else (1.0, -1.0)  # per sign column of a weight
    for s in range(code.n_slices):
        for c, signed in enumerate(signs):
            decode[data_index[s, :, c], outputs] = signed * slice_weight[s]
        if offset:
            target[:k_rows, reference_index[s].unique()] = float(
                target_conductance(reference_fraction[s], hw.device)
            )
            decode.index_put_(
                (reference_index[s], outputs),
                -slice_weight[s].expand(out_features),
                accumulate=True,
            )

    mask = torch.zeros_like(target, dtype=torch.bool)
    mask[:k_rows] = True
    cells = program_cells(target, mask, hw.device, generator)
    gain = 1.0
    if hw.periphery.drift_compensation and hw.device.drifts:
        gain = drift_compensation_gain(cells.programmed_s, cells.read_s, decode, k_rows)
        decode = decode * gain
    return MappedMatrix(
        conductance_s=cells.read_s.reshape(groups, group_rows, physical_columns),
        decode=decode,
        input_rows=k_rows,
        group_rows=group_rows,
        physical_columns=physical_columns,
        column_tiles=column_tiles,
        row_crossbars=row_crossbars,
        programmed_cells=k_rows * physical_columns,
        code=code,
        drift_compensation_gain=gain,
    )
