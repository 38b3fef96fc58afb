"""CUDA: conversion, runs and counts on the GPU agree with the CPU (skipped without a GPU)."""

from __future__ import annotations

import copy

import pytest

import spiking
from tests.spiking.conftest import TrainedDigits


@pytest.mark.gpu
def test_conversion_and_statistics_on_cuda_match_cpu(digits: TrainedDigits) -> None:
    x, y = digits.splits.test.tensors
    calibration = digits.splits.train.tensors[0]
    on_cpu = spiking.convert(digits.model, calibration, mode="max", timesteps=16)
    gpu_model = copy.deepcopy(digits.model).cuda()
    on_gpu = spiking.convert(gpu_model, calibration, mode="max", timesteps=16)  # CPU batches, moved
    assert on_gpu.device.type == "cuda" and next(gpu_model.parameters()).is_cuda
    assert on_gpu.run(x).device.type == "cuda"
    accuracy_gpu = on_gpu.evaluate((x, y), timesteps=[16], progress=False).accuracy_at(16)
    accuracy_cpu = on_cpu.evaluate((x, y), timesteps=[16], progress=False).accuracy_at(16)
    assert abs(accuracy_gpu - accuracy_cpu) <= 0.01
    stats_gpu, stats_cpu = on_gpu.statistics((x, y)), on_cpu.statistics((x, y))
    assert stats_gpu.ann_macs_per_sample == stats_cpu.ann_macs_per_sample
    # thresholds differ in the last bits between devices, so spike counts may differ slightly
    assert stats_gpu.synops_per_sample == pytest.approx(stats_cpu.synops_per_sample, rel=0.02)
    device_model = spiking.convert(digits.model, calibration, device="cuda")
    assert device_model.device.type == "cuda"
