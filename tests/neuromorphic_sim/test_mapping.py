"""Weights onto crossbars: quantisation, bit slicing, sign encodings, tiling."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorphic_sim import ConfigurationError, HardwareConfig, map_matrix, presets, weight_code


def _hardware(
    *,
    bits_per_cell: int | None = 2,
    weight_bits: int | None = 8,
    encoding: str = "differential",
    rows: int = 128,
    columns: int = 128,
    mapping: str = "unrolled",
) -> HardwareConfig:
    base = presets.RERAM
    return dataclasses.replace(
        base,
        device=dataclasses.replace(
            base.device, bits_per_cell=bits_per_cell, d2d_variation=0.0, c2c_read_noise=0.0
        ),
        crossbar=dataclasses.replace(
            base.crossbar,
            weight_bits=weight_bits,
            signed_encoding=encoding,
            rows=rows,
            columns=columns,
            conv_mapping=mapping,
        ),
    )


def _map(weight: torch.Tensor, hw: HardwareConfig, kernel_area: int = 1):
    return map_matrix(
        weight, hw, kernel_area=kernel_area, generator=torch.Generator().manual_seed(0)
    )


def _quantised(weight: torch.Tensor, steps: int) -> torch.Tensor:
    w_max = weight.abs().max()
    return torch.round(weight / w_max * steps) * w_max / steps


@pytest.mark.parametrize(
    ("bits_per_cell", "weight_bits", "encoding", "slices", "digit_max", "steps"),
    [
        (2, 8, "differential", 4, 3, 127),  # 127 needs four base-4 digits
        (1, 4, "differential", 3, 1, 7),
        (2, 8, "offset", 4, 3, 127),  # 254 still fits four base-4 digits
        (None, 8, "differential", 1, 127, 127),  # one analog cell holds every step
        (None, None, "differential", 1, 1, None),
        (2, None, "differential", 1, 3, 3),  # the cell's own four levels
    ],
)
def test_weight_code(bits_per_cell, weight_bits, encoding, slices, digit_max, steps) -> None:
    code = weight_code(
        _hardware(bits_per_cell=bits_per_cell, weight_bits=weight_bits, encoding=encoding)
    )
    assert (code.n_slices, code.digit_max, code.magnitude_steps) == (slices, digit_max, steps)


def test_offset_on_one_bit_cells_needs_weight_bits() -> None:
    with pytest.raises(ConfigurationError, match="weight_bits"):
        weight_code(_hardware(bits_per_cell=1, weight_bits=None, encoding="offset"))


@pytest.mark.parametrize("encoding", ["differential", "offset"])
@pytest.mark.parametrize(("bits_per_cell", "weight_bits"), [(2, 8), (1, 5), (None, 6), (3, 7)])
def test_decoded_weights_equal_the_quantised_weights(
    encoding: str, bits_per_cell: int | None, weight_bits: int
) -> None:
    weight = torch.randn(7, 300, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mapped = _map(
        weight, _hardware(bits_per_cell=bits_per_cell, weight_bits=weight_bits, encoding=encoding)
    )
    expected = _quantised(weight, 2 ** (weight_bits - 1) - 1)
    torch.testing.assert_close(mapped.effective_weight(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("encoding", ["differential", "offset"])
def test_continuous_cells_reproduce_the_weights(encoding: str) -> None:
    weight = torch.randn(5, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mapped = _map(weight, _hardware(bits_per_cell=None, weight_bits=None, encoding=encoding))
    torch.testing.assert_close(mapped.effective_weight(), weight, rtol=0, atol=1e-12)


def test_conductances_stay_in_the_device_range() -> None:
    hw = _hardware()
    mapped = _map(torch.randn(10, 50, dtype=torch.float64), hw)
    real = mapped.conductance_s.reshape(-1, mapped.physical_columns)[:50]
    assert (
        float(real.min()) >= hw.device.g_min_s - 1e-18
        and float(real.max()) <= hw.device.g_max_s + 1e-18
    )


def test_tiling_counts_crossbars_and_columns() -> None:
    # 300 rows → 3 row tiles of 128; 10 outputs × 4 slices × 2 = 80 columns → one column tile.
    mapped = _map(torch.randn(10, 300, dtype=torch.float64), _hardware())
    assert (
        mapped.row_crossbars,
        mapped.column_tiles,
        mapped.crossbars,
        mapped.physical_columns,
    ) == (3, 1, 3, 80)
    # 40 outputs × 8 = 320 columns → 3 column tiles of 128.
    wide = _map(torch.randn(40, 100, dtype=torch.float64), _hardware())
    assert (wide.row_crossbars, wide.column_tiles, wide.physical_columns) == (1, 3, 320)


def test_offset_adds_a_reference_column_per_slice_present_in_each_crossbar() -> None:
    # 40 outputs × 4 slices = 160 data columns, slice-major; 124 fit beside 4 references per
    # crossbar: the first holds slices 0–3 (4 references), the second only slice 3 (1 reference).
    mapped = _map(torch.randn(40, 20, dtype=torch.float64), _hardware(encoding="offset"))
    assert mapped.column_tiles == 2 and mapped.physical_columns == 160 + 4 + 1


def test_kernel_split_groups_input_channels_times_kernel() -> None:
    # 100 input channels × 3×3 on 64-row crossbars: 2 channel tiles × 9 crossbars each.
    mapped = _map(
        torch.randn(8, 900, dtype=torch.float64),
        _hardware(rows=64, columns=64, mapping="kernel_split"),
        kernel_area=9,
    )
    assert (
        mapped.group_rows == 64 * 9
        and mapped.conductance_s.shape[0] == 2
        and mapped.row_crossbars == 18
    )
