"""The NVML meter on a real NVIDIA GPU with the real pynvml (skipped where there is none)."""

from __future__ import annotations

import time

import pytest

from nature_callback.meters import NvmlMeter, probe_nvml
from tests.nature_callback.meters.fakes import meter_threads


@pytest.mark.gpu
def test_real_gpu_energy_is_positive_and_plausible() -> None:
    probe = probe_nvml()
    if not probe.available or not probe.gpus:
        pytest.skip(f"no GPU visible through NVML: {probe.reason or 'no device'}")
    meter = NvmlMeter(sample_interval_s=0.05)
    start = time.monotonic()
    meter.start()
    time.sleep(1.0)  # an idle GPU still draws tens of watts
    readings = meter.read()
    elapsed_s = time.monotonic() - start
    meter.stop()
    assert meter_threads() == []
    assert [r.device for r in readings] == [g.device_key for g in probe.gpus]
    for reading, gpu in zip(readings, probe.gpus):
        assert reading.ok and reading.source == "measured" and reading.failed_reads == 0
        assert gpu.identity.name in reading.description
        # between 1 W and 1.5 kW per GPU (an H200's TDP is 700 W)
        assert 1.0 * elapsed_s * 0.5 < reading.energy_j < 1500.0 * elapsed_s
        if "energy counter" in reading.description:  # its update period was measured
            assert reading.update_period_s is not None and 0 < reading.update_period_s < 0.5


@pytest.mark.gpu
def test_real_cuda_0_is_metered_by_its_uuid() -> None:
    import torch

    meter = NvmlMeter(gpus=[0])
    meter.start()
    (reading,) = meter.read()
    meter.stop()
    assert reading.uuid == "GPU-" + str(torch.cuda.get_device_properties(0).uuid)


@pytest.mark.gpu
def test_real_cuda_devices_in_use_follow_this_process_allocations() -> None:
    import torch

    from nature_callback.gpu_choice import cuda_devices_in_use

    held = torch.ones(1024, device="cuda:0")
    devices = cuda_devices_in_use()
    assert devices is not None and 0 in devices
    assert all(torch.cuda.memory_allocated(index) > 0 or index == torch.cuda.current_device()
               for index in devices)
    del held
