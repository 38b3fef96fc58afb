"""NvmlMeter against a fake pynvml module (the hardware boundary) and real threads."""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings

import pytest
from tests.nature_callback.meters.fakes import (
    NVML_CONSTANTS,
    NVML_ERRORS,
    FakeClock,
    FakeGpu,
    make_fake_nvml,
    meter_threads,
)

from nature_callback.exceptions import ConfigurationError, MeterWarning
from nature_callback.meters import NvmlMeter, probe_nvml
from nature_callback.meters.nvml import MAX_CONSECUTIVE_FAILED_READS, SAMPLER_THREAD_NAME

TIMEOUT = NVML_ERRORS["NVML_ERROR_TIMEOUT"]
GPU_IS_LOST = NVML_ERRORS["NVML_ERROR_GPU_IS_LOST"]


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

    for name, value in {**NVML_ERRORS, **NVML_CONSTANTS}.items():
        assert getattr(pynvml, name) == value, name
    fake = make_fake_nvml([])
    for function in ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                     "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetIndex", "nvmlDeviceGetName",
                     "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo", "nvmlDeviceGetMigMode",
                     "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", "nvmlDeviceGetC2cModeInfoV",
                     "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage",
                     "nvmlDeviceGetFieldValues"):
        assert hasattr(pynvml, function) and hasattr(fake, function), function


def test_counter_gpu_reports_exact_joules_without_a_thread(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=5_000_000)
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock)
    meter.start()
    try:
        assert meter_threads() == []
        gpu.energy_mj += 12_345
        (reading,) = meter.read()
        assert reading.energy_j == pytest.approx(12.345, abs=1e-12)
        assert reading.device == "gpu0" and reading.kind == "gpu" and reading.ok
        assert reading.source == "measured" and reading.scope == "device"
        assert reading.uuid == gpu.uuid and reading.failed_reads == 0
        assert reading.description == ("NVIDIA A100-SXM4-40GB (NVML energy counter; "
                                       "instantaneous power between its updates)")
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
        _wait_until(lambda: nvml.calls["nvmlDeviceGetFieldValues"] >= 6)  # the thread samples
        before_read = time.monotonic()
        (reading,) = meter.read()
        after_read = time.monotonic()
    finally:
        meter.stop()
    assert meter_threads() == []
    # constant 150 W: the integral lies between 150 W × the shortest and the longest span
    assert 150 * (before_read - after_start) <= reading.energy_j <= 150 * (after_read - before_start)
    assert reading.ok and reading.source == "measured"
    assert reading.description == ("NVIDIA A100-SXM4-40GB (NVML instantaneous power, "
                                   "sampled at 100 Hz)")
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 0  # the 1 s average is not used
    frozen = meter.read()[0].energy_j
    time.sleep(0.02)
    assert meter.read()[0].energy_j == frozen  # stopped: no more samples


def test_sampling_falls_back_to_average_power_where_the_field_is_missing(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=100_000, instant_field=False)
    nvml = make_fake_nvml([gpu])
    meter = NvmlMeter(sample_interval_s=30.0, nvml=nvml, clock=clock)
    meter.start()
    clock.advance(2.0)
    (reading,) = meter.read()
    meter.stop()
    assert reading.energy_j == pytest.approx(200.0)
    assert "1 s average" in reading.description and nvml.calls["nvmlDeviceGetPowerUsage"] >= 2


def test_sampling_skips_readings_at_or_below_zero_and_counts_them(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=100_000)
    meter = NvmlMeter(sample_interval_s=30.0, nvml=make_fake_nvml([gpu]), clock=clock)
    meter.start()
    clock.advance(1.0)
    gpu.power_mw = 0  # a glitch: integrating it would pull the trapezoids down
    (reading,), messages = _record(meter.read)
    assert reading.energy_j == 0.0 and reading.failed_reads == 1 and reading.ok
    assert len(messages) == 1 and "0 W" in messages[0] and "retried" in messages[0]
    clock.advance(1.0)
    gpu.power_mw = 100_000
    (reading,) = meter.read()
    meter.stop()
    assert reading.energy_j == pytest.approx(200.0) and reading.ok  # the gap is bridged


def test_power_stuck_at_zero_ends_in_a_failure_not_a_silent_zero(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=None, power_mw=0)
    meter = NvmlMeter(sample_interval_s=30.0, nvml=make_fake_nvml([gpu]), clock=clock)
    _, messages = _record(meter.start)  # the first sample is skipped already
    assert len(messages) == 1 and "0 W" in messages[0]
    for _ in range(MAX_CONSECUTIVE_FAILED_READS - 1):
        (reading,), messages = _record(meter.read)
    meter.stop()
    assert not reading.ok and reading.failed_reads == MAX_CONSECUTIVE_FAILED_READS
    assert any("consecutive reads failed" in m for m in messages)


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
        _wait_until(lambda: sum(len(g.field_scopes) for g in gpus[:3]) >= 12)  # 3 GPUs, 3 rounds
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


def test_one_timeout_is_retried_and_loses_nothing(clock: FakeClock) -> None:
    """The issue's reproduction: one NVML_ERROR_TIMEOUT, then 5 kJ more: 5,100 J, ok."""
    gpu = FakeGpu()
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock)
    meter.start()
    gpu.energy_mj += 100_000
    assert meter.read()[0].energy_j == pytest.approx(100.0)
    gpu.errors["nvmlDeviceGetTotalEnergyConsumption"] = [TIMEOUT]
    (reading,), messages = _record(meter.read)
    assert reading.ok and reading.failed_reads == 1 and reading.energy_j == pytest.approx(100.0)
    assert len(messages) == 1 and "Timeout" in messages[0] and "failed_reads" in messages[0]
    gpu.energy_mj += 5_000_000
    (reading,), messages = _record(meter.read)
    meter.stop()
    assert reading.ok and reading.energy_j == pytest.approx(5_100.0) and messages == []
    assert reading.failed_reads == 1


def test_repeated_timeouts_fail_the_gpu_after_the_limit(clock: FakeClock) -> None:
    gpu = FakeGpu()
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock)
    meter.start()
    gpu.errors["nvmlDeviceGetTotalEnergyConsumption"] = [TIMEOUT] * 10
    for _ in range(MAX_CONSECUTIVE_FAILED_READS - 1):
        (reading,), _ = _record(meter.read)
        assert reading.ok
    (reading,), messages = _record(meter.read)
    meter.stop()
    assert not reading.ok and reading.failed_reads == MAX_CONSECUTIVE_FAILED_READS
    assert len(messages) == 1 and "5 consecutive reads failed" in messages[0]


def test_gpu_lost_mid_run_warns_once_and_freezes(clock: FakeClock) -> None:
    gpu = FakeGpu()
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock)
    meter.start()
    gpu.energy_mj += 7_000
    assert meter.read()[0].energy_j == pytest.approx(7.0)
    gpu.fail_code = GPU_IS_LOST
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
        gpu.fail_code = GPU_IS_LOST
        _wait_until(lambda: nvml.calls["failed"] >= 1)  # the sampler thread hit the error
        time.sleep(0.02)
        failures = nvml.calls["failed"]
        assert failures == 1  # a failed device is not polled again
        (reading,), messages = _record(meter.read)
        assert not reading.ok
        assert len(messages) == 1 and "GPU is lost" in messages[0]
    finally:
        meter.stop()


def test_counter_reset_warns_once_and_resumes(clock: FakeClock) -> None:
    gpu = FakeGpu(energy_mj=900_000)
    meter = NvmlMeter(nvml=make_fake_nvml([gpu]), clock=clock)
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


def test_nvml_library_missing_lists_the_gpus_as_unmetered() -> None:
    nvml = make_fake_nvml([], init_error=NVML_ERRORS["NVML_ERROR_LIBRARY_NOT_FOUND"])
    meter = NvmlMeter(nvml=nvml)
    _, messages = _record(meter.start)
    assert len(messages) == 1 and "NVML Shared Library Not Found" in messages[0]
    assert "NVML_ERROR_LIBRARY_NOT_FOUND" in messages[0]  # the code's name, looked up once
    assert [(r.device, r.kind, r.source, r.energy_j, r.ok) for r in meter.read()] == [
        ("gpu", "gpu", "unmetered", 0.0, False)]
    explicit = NvmlMeter(gpus=[0, 1], nvml=nvml)
    _, messages = _record(explicit.start)
    readings = explicit.read()
    assert [(r.device, r.source, r.ok, r.energy_j) for r in readings] == [
        ("gpu0", "unmetered", False, 0.0), ("gpu1", "unmetered", False, 0.0)]
    meter.stop()
    explicit.stop()


def test_pynvml_not_installed_warns_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    meter = NvmlMeter()
    _, messages = _record(meter.start)
    meter.stop()
    assert len(messages) == 1 and "nvidia-ml-py" in messages[0]


def test_restart_counts_from_zero_and_stop_shuts_nvml_down(clock: FakeClock) -> None:
    gpu = FakeGpu()
    nvml = make_fake_nvml([gpu])
    meter = NvmlMeter(nvml=nvml, clock=clock)
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


def test_probe_reports_availability() -> None:
    probe = probe_nvml(nvml=make_fake_nvml([FakeGpu(), FakeGpu(uuid="GPU-2")]))
    assert probe.available and [g.visible_index for g in probe.gpus] == [0, 1]
    assert probe.to_dict()["gpus"][1]["identity"]["uuid"] == "GPU-2"
    assert not probe.covers_cpu and probe.unmetered == ()
    missing = probe_nvml(nvml=make_fake_nvml([], init_error=NVML_ERRORS["NVML_ERROR_DRIVER_NOT_LOADED"]))
    assert not missing.available and "Driver Not Loaded" in missing.reason


def test_an_index_this_process_does_not_see_raises_naming_it() -> None:
    nvml = make_fake_nvml([FakeGpu()])
    with pytest.raises(ConfigurationError, match=r"gpus=\[3\]"):
        NvmlMeter(gpus=[3], nvml=nvml).start()
    assert nvml.initialised == 0  # NVML shut down again
    with pytest.raises(ConfigurationError, match=r"gpus=\[3\]"):
        probe_nvml([3], nvml=nvml)


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
