"""NvmlMeter against a fake pynvml module (the hardware boundary) and real threads."""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings

import pytest
from tests.nature_callback.meters.fakes import NVML_ERRORS, FakeGpu, make_fake_nvml, meter_threads

from nature_callback.exceptions import ConfigurationError, MeterWarning
from nature_callback.meters import NvmlMeter, probe_nvml
from nature_callback.meters.nvml import SAMPLER_THREAD_NAME


def _record(fn):
    """Run ``fn`` and return (its result, the MeterWarning messages it emitted)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught if issubclass(w.category, MeterWarning)]


def _wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_fake_nvml_matches_real_module() -> None:
    spec = importlib.util.find_spec("pynvml")
    if spec is None:
        pytest.skip("nvidia-ml-py is not installed")
    import pynvml

    for name, value in NVML_ERRORS.items():
        assert getattr(pynvml, name) == value, name
    fake = make_fake_nvml([])
    for function in ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                     "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo",
                     "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"):
        assert hasattr(pynvml, function) and hasattr(fake, function), function


def test_counter_gpu_reports_exact_joules_without_a_thread() -> None:
    gpu = FakeGpu(energy_mj=5_000_000)
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]))
    meter.start()
    try:
        assert meter_threads() == []
        gpu.energy_mj += 12_345
        (reading,) = meter.read()
        assert reading.energy_j == pytest.approx(12.345, abs=1e-12)
        assert reading.device == "gpu0" and reading.kind == "gpu" and reading.ok
        assert reading.source == "measured"
        assert reading.description == "NVIDIA A100-SXM4-40GB (NVML energy counter)"
        gpu.energy_mj += 1_000
        assert meter.read()[0].energy_j == pytest.approx(13.345, abs=1e-12)
    finally:
        meter.stop()


def test_sampling_gpu_integrates_power_and_joins_its_thread() -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=150_000)
    nvml = make_fake_nvml([gpu])
    meter = NvmlMeter(sample_interval_s=0.01, nvml=nvml)
    before_start = time.monotonic()
    meter.start()
    after_start = time.monotonic()
    try:
        assert meter_threads() == [SAMPLER_THREAD_NAME]
        _wait_until(lambda: nvml.calls["nvmlDeviceGetPowerUsage"] >= 6)  # the thread samples
        before_read = time.monotonic()
        (reading,) = meter.read()
        after_read = time.monotonic()
    finally:
        meter.stop()
    assert meter_threads() == []
    # constant 150 W: the integral lies between 150 W × the shortest and the longest span
    assert 150 * (before_read - after_start) <= reading.energy_j <= 150 * (after_read - before_start)
    assert reading.ok and reading.source == "measured"
    assert reading.description == "NVIDIA A100-SXM4-40GB (NVML power sampling at 100 Hz)"
    frozen = meter.read()[0].energy_j
    time.sleep(0.02)
    assert meter.read()[0].energy_j == frozen  # stopped: no more samples


def test_stop_returns_promptly_with_a_long_interval() -> None:
    meter = NvmlMeter(sample_interval_s=30.0, nvml=make_fake_nvml([FakeGpu(energy_mj=None)]))
    meter.start()
    started = time.monotonic()
    meter.stop()
    assert time.monotonic() - started < 1.0
    assert meter_threads() == []


def test_one_thread_samples_every_sampled_gpu() -> None:
    gpus = [FakeGpu(energy_mj=None, uuid=f"GPU-{i}aaa", power_mw=100_000 * (i + 1)) for i in range(3)]
    gpus.append(FakeGpu(uuid="GPU-counter"))
    nvml = make_fake_nvml(gpus)
    meter = NvmlMeter(sample_interval_s=0.01, nvml=nvml)
    before_start = time.monotonic()
    meter.start()
    after_start = time.monotonic()
    try:
        assert meter_threads() == [SAMPLER_THREAD_NAME]
        _wait_until(lambda: nvml.calls["nvmlDeviceGetPowerUsage"] >= 12)  # 3 GPUs, 3 rounds
        before_read = time.monotonic()
        readings = meter.read()
        after_read = time.monotonic()
        assert [r.device for r in readings] == ["gpu0", "gpu1", "gpu2", "gpu3"]
        # constant 100, 200 and 300 W: each integral lies between the power times the
        # shortest and the longest span the meter can have integrated over
        for reading, power_w in zip(readings, (100.0, 200.0, 300.0)):
            assert power_w * (before_read - after_start) <= reading.energy_j
            assert reading.energy_j <= power_w * (after_read - before_start)
        assert "energy counter" in readings[3].description
    finally:
        meter.stop()


def test_gpu_lost_mid_run_warns_once_and_freezes() -> None:
    gpu = FakeGpu()
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]))
    meter.start()
    gpu.energy_mj += 7_000
    assert meter.read()[0].energy_j == pytest.approx(7.0)
    gpu.fail_code = NVML_ERRORS["NVML_ERROR_GPU_IS_LOST"]
    gpu.energy_mj += 3_000
    (reading,), messages = _record(meter.read)
    assert not reading.ok and reading.energy_j == pytest.approx(7.0)
    assert len(messages) == 1
    assert "gpu0" in messages[0] and "GPU is lost" in messages[0] and "ok=False" in messages[0]
    (again,), messages = _record(meter.read)
    assert messages == [] and again.energy_j == pytest.approx(7.0) and not again.ok
    _, messages = _record(meter.stop)
    assert messages == []


def test_sampled_gpu_failing_in_the_thread_warns_at_the_next_read() -> None:
    gpu = FakeGpu(energy_mj=None)
    nvml = make_fake_nvml([gpu])
    meter = NvmlMeter(sample_interval_s=0.005, nvml=nvml)
    meter.start()
    try:
        gpu.fail_code = NVML_ERRORS["NVML_ERROR_GPU_IS_LOST"]
        _wait_until(lambda: nvml.calls["failed"] >= 1)  # the sampler thread hit the error
        time.sleep(0.02)
        failures = nvml.calls["failed"]
        assert failures == 1  # a failed device is not polled again
        (reading,), messages = _record(meter.read)
        assert not reading.ok
        assert len(messages) == 1 and "GPU is lost" in messages[0]
    finally:
        meter.stop()


def test_counter_reset_warns_once_and_resumes() -> None:
    gpu = FakeGpu(energy_mj=900_000)
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]))
    meter.start()
    gpu.energy_mj = 910_000
    assert meter.read()[0].energy_j == pytest.approx(10.0)
    gpu.energy_mj = 500  # driver reloaded: the counter restarted
    (reading,), messages = _record(meter.read)
    assert reading.energy_j == pytest.approx(10.0) and reading.ok
    assert len(messages) == 1 and "backwards" in messages[0] and "lower bound" in messages[0]
    gpu.energy_mj = 2_500
    (reading,), messages = _record(meter.read)
    assert reading.energy_j == pytest.approx(12.0) and messages == []
    meter.stop()


def test_gpu_without_counter_or_power_is_reported_failed() -> None:
    meter = NvmlMeter(nvml=make_fake_nvml([FakeGpu(energy_mj=None, power_mw=None)]))
    _, messages = _record(meter.start)
    (reading,) = meter.read()
    meter.stop()
    assert not reading.ok and reading.energy_j == 0.0
    assert len(messages) == 1 and "supports neither" in messages[0]
    assert meter_threads() == []


def test_nvml_library_missing_warns_once() -> None:
    nvml = make_fake_nvml([], init_error=NVML_ERRORS["NVML_ERROR_LIBRARY_NOT_FOUND"])
    meter = NvmlMeter(nvml=nvml)
    _, messages = _record(meter.start)
    assert len(messages) == 1 and "NVML Shared Library Not Found" in messages[0]
    assert "NVML_ERROR_LIBRARY_NOT_FOUND" in messages[0]  # the code's name, looked up once
    assert meter.read() == []
    explicit = NvmlMeter(gpus=[0, 1], nvml=nvml)
    _, messages = _record(explicit.start)
    readings = explicit.read()
    assert [(r.device, r.ok, r.energy_j) for r in readings] == [("gpu0", False, 0.0),
                                                               ("gpu1", False, 0.0)]
    meter.stop()
    explicit.stop()


def test_pynvml_not_installed_warns_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    meter = NvmlMeter()
    _, messages = _record(meter.start)
    meter.stop()
    assert len(messages) == 1 and "nvidia-ml-py" in messages[0]


def test_restart_counts_from_zero_and_stop_shuts_nvml_down() -> None:
    gpu = FakeGpu()
    nvml = make_fake_nvml([gpu])
    meter = NvmlMeter(nvml=nvml)
    meter.start()
    gpu.energy_mj += 1_000
    meter.stop()
    assert nvml.initialised == 0
    calls = nvml.calls["nvmlDeviceGetTotalEnergyConsumption"]
    assert meter.read()[0].energy_j == pytest.approx(1.0)
    assert nvml.calls["nvmlDeviceGetTotalEnergyConsumption"] == calls  # no NVML call after stop
    meter.start()
    assert meter.read()[0].energy_j == 0.0
    meter.stop()
    meter.stop()  # idempotent


def test_visible_index_follows_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [FakeGpu(uuid=f"GPU-{i}{i}{i}-uuid", pci_bus_id=f"00000000:0{i}:00.0") for i in range(3)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-222,0")
    meter = NvmlMeter(gpus=[0], nvml=make_fake_nvml(gpus))
    meter.start()
    gpus[2].energy_mj += 4_000
    gpus[0].energy_mj += 9_000
    (reading,) = meter.read()
    meter.stop()
    assert reading.device == "gpu0" and reading.energy_j == pytest.approx(4.0)


def test_unknown_visible_device_raises_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-nope")
    nvml = make_fake_nvml([FakeGpu()])
    with pytest.raises(ConfigurationError, match="GPU-nope"):
        NvmlMeter(nvml=nvml).start()
    assert nvml.initialised == 0  # NVML shut down again
    with pytest.raises(ConfigurationError, match="GPU-nope"):
        probe_nvml(nvml=nvml)


def test_mixed_gpu_models_without_pci_order_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [FakeGpu(name="NVIDIA A100", uuid="GPU-a"), FakeGpu(name="NVIDIA T4", uuid="GPU-b")]
    meter = NvmlMeter(nvml=make_fake_nvml(gpus))
    _, messages = _record(meter.start)
    meter.stop()
    assert len(messages) == 1 and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in messages[0]
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    _, messages = _record(meter.start)
    meter.stop()
    assert messages == []


def test_probe_reports_availability() -> None:
    probe = probe_nvml(nvml=make_fake_nvml([FakeGpu(), FakeGpu(uuid="GPU-2")]))
    assert probe.available and [g.visible_index for g in probe.gpus] == [0, 1]
    assert probe.to_dict()["gpus"][1]["identity"]["uuid"] == "GPU-2"
    missing = probe_nvml(nvml=make_fake_nvml([], init_error=NVML_ERRORS["NVML_ERROR_DRIVER_NOT_LOADED"]))
    assert not missing.available and "Driver Not Loaded" in missing.reason


@pytest.mark.parametrize("kwargs, name", [
    ({"sample_interval_s": 0}, "sample_interval_s"),
    ({"sample_interval_s": -1.0}, "sample_interval_s"),
    ({"sample_interval_s": float("nan")}, "sample_interval_s"),
    ({"gpus": "all"}, "gpus"),
    ({"gpus": [0, 0]}, "gpus"),
    ({"gpus": [-1]}, "gpus"),
])
def test_invalid_parameters_name_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NvmlMeter(**kwargs)
