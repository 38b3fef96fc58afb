"""Mapping torch's visible GPU indices to NVML devices (pure functions)."""

from __future__ import annotations

import pytest

from nature_callback.exceptions import ConfigurationError
from nature_callback.meters.cuda_visible import (
    GpuIdentity,
    order_may_differ,
    select_gpus,
    visible_gpus,
)

GPUS = [
    GpuIdentity(0, "GPU-3f2a1b00-aaaa-bbbb-cccc-000000000000", "00000000:07:00.0", "NVIDIA A100"),
    GpuIdentity(1, "GPU-3f2a9c11-aaaa-bbbb-cccc-111111111111", "00000000:0F:00.0", "NVIDIA A100"),
    GpuIdentity(2, "GPU-8d00e522-aaaa-bbbb-cccc-222222222222", "00000000:3B:00.0", "NVIDIA A100"),
]


def _indices(env: str | None) -> list[int]:
    return [gpu.nvml_index for gpu in visible_gpus(env, GPUS)]


@pytest.mark.parametrize("env, expected", [
    (None, [0, 1, 2]),
    ("", []),
    ("2,0", [2, 0]),
    (" 1 ", [1]),
    ("0,-1,1", [0]),  # CUDA stops at a negative entry
    ("-1", []),
    ("GPU-8d00e522-aaaa-bbbb-cccc-222222222222", [2]),  # full UUID
    ("gpu-8D00", [2]),  # unambiguous prefix, any case
    ("GPU-3f2a9,GPU-3f2a1", [1, 0]),
    ("0000:3b:00.0", [2]),  # PCI bus id, short domain
    ("0f:00.0,00000000:07:00.0", [1, 0]),
])
def test_visible_order(env: str | None, expected: list[int]) -> None:
    assert _indices(env) == expected


@pytest.mark.parametrize("env, fragment", [
    ("3", "'3'"),
    ("GPU-ffff", "'GPU-ffff'"),
    ("GPU-3f2a", "prefix shared"),
    ("MIG-GPU-3f2a1b00/1/0", "MIG"),
    ("0,,1", "''"),
    ("0,0", "twice"),
    ("00:3c:00.0", "'00:3c:00.0'"),
    ("banana", "'banana'"),
])
def test_bad_entries_raise_naming_the_entry(env: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        visible_gpus(env, GPUS)
    assert fragment in str(info.value)
    if "does not name" in str(info.value):
        assert "gpus=None" in str(info.value) and GPUS[0].uuid in str(info.value)


def test_select_requested_indices() -> None:
    visible = visible_gpus("2,0", GPUS)
    chosen = select_gpus([1], visible)
    assert [(g.visible_index, g.identity.nvml_index, g.device_key) for g in chosen] == [(1, 0, "gpu1")]
    assert [g.visible_index for g in select_gpus("visible", visible)] == [0, 1]
    with pytest.raises(ConfigurationError, match=r"gpus=\[2\].*sees 2 GPU"):
        select_gpus([2], visible)


def test_order_may_differ_only_for_integer_indices_on_mixed_models() -> None:
    mixed = [GPUS[0], GpuIdentity(1, "GPU-t4", "00000000:10:00.0", "Tesla T4")]
    assert order_may_differ(None, None, mixed)
    assert order_may_differ("FASTEST_FIRST", "1,0", mixed)
    assert not order_may_differ("PCI_BUS_ID", None, mixed)
    assert not order_may_differ(None, "GPU-t4", mixed)
    assert not order_may_differ(None, None, GPUS)
