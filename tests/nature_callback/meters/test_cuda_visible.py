"""CUDA_VISIBLE_DEVICES read the way CUDA reads it (pure functions, no NVML)."""

from __future__ import annotations

import pytest

from nature_callback.exceptions import ConfigurationError
from nature_callback.meters.cuda_visible import (
    GpuIdentity,
    MigSlice,
    RefusedGpu,
    order_may_differ,
    parse_visible_devices,
    resolve_visible,
    select_gpus,
    visible_gpus,
)

GPUS = [
    GpuIdentity(0, "GPU-3f2a1b00-aaaa-bbbb-cccc-000000000000", "00000000:07:00.0", "NVIDIA A100"),
    GpuIdentity(1, "GPU-3f2a9c11-aaaa-bbbb-cccc-111111111111", "00000000:0F:00.0", "NVIDIA A100"),
    GpuIdentity(2, "GPU-8d00e522-aaaa-bbbb-cccc-222222222222", "00000000:3B:00.0", "NVIDIA A100"),
]


def _indices(env: str | None, devices: list = GPUS) -> list[int]:
    return [gpu.nvml_index for gpu in visible_gpus(env, devices)]


@pytest.mark.parametrize("env, expected", [
    (None, [0, 1, 2]),
    ("", []),
    ("2,0", [2, 0]),
    (" 1 ", [1]),
    ("0,1,", [0, 1]),  # the reproduction: a trailing comma ends the list quietly
    ("1gpu2,2", [1, 2]),  # read like strtoul: the leading integer counts
    ("0,-1,1", [0]),  # CUDA stops at a negative entry
    ("-1", []),
    ("0,abc,1", [0]),  # a malformed entry ends the list
    ("0,7,1", [0]),  # so does an index past the last GPU
    ("0,0", []),  # a GPU named twice: CUDA sees none
    ("GPU-8d00e522-aaaa-bbbb-cccc-222222222222", [2]),  # full UUID
    ("gpu-8D00", []),  # a UUID list starts with GPU- exactly, else it is read as integers
    ("GPU-8d00", [2]),  # an unambiguous prefix
    ("GPU-3f2a9,GPU-3f2a1", [1, 0]),
    ("GPU-3f2a9,GPU-3f2a,GPU-8d", [1]),  # an ambiguous prefix ends the list
    ("GPU-3f2a9,GPU-ffff,GPU-8d", [1]),  # so does an unknown UUID
    ("GPU-3f2a9,1", [1]),  # and an entry of the other kind
    ("GPU-3f2a9,GPU-3f2a9c", []),  # the same GPU twice: none
])
def test_visible_order_follows_cuda(env: str | None, expected: list[int]) -> None:
    assert _indices(env) == expected


@pytest.mark.parametrize("env, ended_at", [
    ("0,1,", None), ("0,-1", None), ("0,abc", "abc"), ("0,5", "5"), ("GPU-3f2a9,GPU-ff", "GPU-ff"),
])
def test_the_entry_that_ended_the_list_is_reported(env: str, ended_at: str | None) -> None:
    assert resolve_visible(parse_visible_devices(env), GPUS)[1] == ended_at


def test_mig_entries_are_mig_slices_in_order() -> None:
    visible = visible_gpus("MIG-aaaa,MIG-bbbb,0", GPUS)
    assert visible == [MigSlice("MIG-aaaa"), MigSlice("MIG-bbbb")]


def test_a_refused_gpu_is_hidden_when_unset_and_kept_where_named() -> None:
    refused = RefusedGpu(1, "Insufficient Permissions")
    devices = [GPUS[0], refused, GPUS[2]]
    assert visible_gpus(None, devices) == [GPUS[0], GPUS[2]]  # cgroups hide it from CUDA too
    assert visible_gpus("1,2", devices) == [refused, GPUS[2]]


def test_select_requested_indices() -> None:
    visible = visible_gpus("2,0", GPUS)
    assert select_gpus([1], visible) == [(1, GPUS[0])]
    assert [index for index, _ in select_gpus("visible", visible)] == [0, 1]
    with pytest.raises(ConfigurationError, match=r"gpus=\[2\].*sees 2 GPU"):
        select_gpus([2], visible)


def test_order_may_differ_only_for_integer_indices_on_mixed_models() -> None:
    mixed = [GPUS[0], GpuIdentity(1, "GPU-t4", "00000000:10:00.0", "Tesla T4")]
    assert order_may_differ(None, parse_visible_devices(None), mixed)
    assert order_may_differ("FASTEST_FIRST", parse_visible_devices("1,0"), mixed)
    assert not order_may_differ("PCI_BUS_ID", parse_visible_devices(None), mixed)
    assert not order_may_differ(None, parse_visible_devices("GPU-t4"), mixed)
    assert not order_may_differ(None, parse_visible_devices(None), GPUS)
