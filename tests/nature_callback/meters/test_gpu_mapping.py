"""Which GPU is metered: the run's own, by UUID; refused GPUs, MIG and superchips
(issue 15, items 1, 3, 4 and 9), on the fake NVML and a fake torch."""

from __future__ import annotations

import sys
import warnings

import pytest
from tests.nature_callback.meters.fakes import (
    NVML_ERRORS,
    FakeClock,
    FakeGpu,
    make_fake_nvml,
    make_fake_torch,
)

from nature_callback.exceptions import MeterWarning
from nature_callback.meters import DeviceEnergy, NvmlMeter, build_meters, probe_nvml

NO_PERMISSION = NVML_ERRORS["NVML_ERROR_NO_PERMISSION"]
T4 = FakeGpu(name="Tesla T4", uuid="GPU-4444aaaa-0000-0000-0000-000000000000",
             pci_bus_id="00000000:3B:00.0", energy_mj=1_000_000)
H100 = FakeGpu(name="NVIDIA H100 80GB HBM3", uuid="GPU-8888bbbb-0000-0000-0000-000000000000",
               pci_bus_id="00000000:5E:00.0", energy_mj=9_000_000)


def _gpus(*templates: FakeGpu) -> list[FakeGpu]:
    """Fresh copies (tests move their counters)."""
    return [FakeGpu(**{**t.__dict__, "errors": {}, "field_scopes": []}) for t in templates]


def _cuda(*gpus: FakeGpu) -> list[str]:
    """CUDA UUIDs as torch prints them: NVML's without ``GPU-``."""
    return [g.uuid.removeprefix("GPU-") for g in gpus]


def _run(meter: NvmlMeter, gpus: list[FakeGpu], add_mj: int = 1_000
         ) -> tuple[list[DeviceEnergy], list[str]]:
    """Start, move every counter by a different amount, read, stop; readings and warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meter.start()
        for i, gpu in enumerate(gpus):
            if gpu.energy_mj is not None:
                gpu.energy_mj += add_mj * (i + 1)
        readings = meter.read()
        meter.stop()
    return readings, [str(w.message) for w in caught if issubclass(w.category, MeterWarning)]


# ---------------------------------------------------------------- item 3: by UUID
def test_cuda_0_is_the_h100_even_where_nvml_lists_the_t4_first(clock: FakeClock) -> None:
    """The issue's reproduction: NVML 0 = T4, NVML 1 = H100, CUDA fastest first: cuda:0 is
    the H100. It was metered as the T4, with a warning."""
    gpus = _gpus(T4, H100)
    torch = make_fake_torch(_cuda(gpus[1], gpus[0]))
    (reading,), messages = _run(NvmlMeter(gpus=[0], nvml=make_fake_nvml(gpus), torch=torch,
                                          clock=clock), gpus)
    assert reading.device == "gpu0" and reading.uuid == H100.uuid
    assert reading.energy_j == pytest.approx(2.0)  # the H100's counter moved by 2 J
    assert "H100" in reading.description and messages == []


def test_only_the_run_gpus_are_opened(clock: FakeClock) -> None:
    """Item 1's reproduction: GPU 1 refuses NVML (device cgroups), the run is on GPU 0:
    GPU 0 is metered, GPU 1 never opened, nothing to warn about."""
    gpus = _gpus(T4, H100)
    gpus[1].open_error = NO_PERMISSION
    nvml = make_fake_nvml(gpus)
    (reading,), messages = _run(NvmlMeter(gpus=[0], nvml=nvml, torch=make_fake_torch(
        _cuda(gpus[0])), clock=clock), gpus)
    assert reading.ok and reading.energy_j == pytest.approx(1.0) and messages == []
    assert nvml.calls["nvmlDeviceGetHandleByIndex"] == 0


def test_a_refused_gpu_the_run_names_is_skipped_with_one_warning(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = _gpus(T4, H100, FakeGpu(uuid="GPU-2222"))
    gpus[1].open_error = NO_PERMISSION
    gpus[2].open_error = NO_PERMISSION
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    readings, messages = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert [(r.device, r.source, r.ok) for r in readings] == [
        ("gpu0", "measured", True), ("gpu1", "unmetered", False), ("gpu2", "unmetered", False)]
    assert readings[0].energy_j == pytest.approx(1.0)
    assert len(messages) == 1 and "gpu1" in messages[0] and "gpu2" in messages[0]
    assert "Insufficient Permissions" in messages[0]


def test_a_gpu_hidden_by_cgroups_is_not_the_runs_and_not_warned_about(clock: FakeClock) -> None:
    gpus = _gpus(T4, H100)
    gpus[0].open_error = NO_PERMISSION
    readings, messages = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert [(r.device, r.uuid) for r in readings] == [("gpu0", H100.uuid)]
    assert messages == []


@pytest.mark.parametrize("env, uuids", [
    ("0,1,", [T4.uuid, H100.uuid]),  # the reproductions: these raised before
    ("1gpu2,0", [H100.uuid, T4.uuid]),
    ("GPU-8888,GPU-4444", [H100.uuid, T4.uuid]),  # UUID prefixes
    ("1,banana,0", [H100.uuid]),  # a malformed entry ends the list
])
def test_cuda_visible_devices_without_torch(env: str, uuids: list[str], clock: FakeClock,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    gpus = _gpus(T4, H100)
    readings, _ = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert [r.uuid for r in readings] == uuids


def test_mixed_models_without_torch_or_pci_order_warn(clock: FakeClock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = _gpus(T4, H100)
    _, messages = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert len(messages) == 1 and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in messages[0]
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    _, messages = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert messages == []


def test_visible_gpus_never_import_torch(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch")
    gpus = _gpus(H100)
    group = build_meters(gpus="visible", node_level=False, nvml=make_fake_nvml(gpus), clock=clock)
    group.start()
    group.read()
    group.stop()
    assert "torch" not in sys.modules


# ---------------------------------------------------------------- item 4: MIG
def test_a_mig_instance_starts_unmetered_with_one_clear_warning(
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A MIG entry raised inside setup: training could not start."""
    gpus = _gpus(H100)
    gpus[0].mig_mode = True
    gpus[0].mig_uuids = ("MIG-1234abcd-0000-0000-0000-000000000000",)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpus[0].mig_uuids[0])
    nvml = make_fake_nvml(gpus)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        group = build_meters(node_level=False, nvml=nvml, clock=clock)
    readings, messages = _run(group.meters[0], gpus)  # type: ignore[arg-type]
    assert caught == []  # the factory itself says nothing more
    assert [(r.device, r.source, r.energy_j, r.ok) for r in readings] == [
        ("gpu0", "unmetered", 0.0, False)]
    assert "MIG-1234abcd" in readings[0].description and H100.uuid in readings[0].description
    assert len(messages) == 1 and "MIG" in messages[0] and "whole physical GPU" in messages[0]


def test_a_gpu_in_mig_mode_is_not_metered_silently(clock: FakeClock) -> None:
    """With MIG on and CUDA_VISIBLE_DEVICES unset, the parent (every tenant) was metered."""
    gpus = _gpus(H100)
    gpus[0].mig_mode = True
    readings, messages = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert [(r.device, r.source) for r in readings] == [("gpu0", "unmetered")]
    assert "MIG mode" in readings[0].description
    assert len(messages) == 1 and "MIG" in messages[0]


def test_torch_naming_a_mig_instance(clock: FakeClock) -> None:
    gpus = _gpus(H100)
    gpus[0].mig_mode = True
    gpus[0].mig_uuids = ("MIG-5678",)
    readings, messages = _run(NvmlMeter(gpus=[0], nvml=make_fake_nvml(gpus),
                                        torch=make_fake_torch(["5678"]), clock=clock), gpus)
    assert [(r.device, r.source) for r in readings] == [("gpu0", "unmetered")]
    assert len(messages) == 1 and "MIG-5678" in messages[0]


# ---------------------------------------------------------------- item 9: superchips
def test_a_superchip_counter_is_labelled_module_scope(clock: FakeClock) -> None:
    gpus = _gpus(FakeGpu(name="NVIDIA GH200 480GB", c2c=True))
    (reading,), _ = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert reading.scope == "module" and reading.covers_cpu
    assert "superchip module" in reading.description
    assert set(gpus[0].field_scopes) == {1}  # power read at module scope too, as the counter
    assert probe_nvml(nvml=make_fake_nvml(gpus)).covers_cpu


def test_a_discrete_gpu_does_not_cover_the_cpu(clock: FakeClock) -> None:
    gpus = _gpus(H100)
    (reading,), _ = _run(NvmlMeter(nvml=make_fake_nvml(gpus), clock=clock), gpus)
    assert reading.scope == "device" and not reading.covers_cpu
    assert set(gpus[0].field_scopes) == {0}


def test_bindings_without_power_scopes_fall_back_to_average_power(clock: FakeClock) -> None:
    gpus = _gpus(FakeGpu(name="NVIDIA GH200 480GB", c2c=True, energy_mj=None))
    nvml = make_fake_nvml(gpus)

    def no_scopes(handle: FakeGpu, fields: list) -> list:
        if any(isinstance(f, tuple) for f in fields):
            raise TypeError("int expected instead of tuple")
        return []

    nvml.nvmlDeviceGetFieldValues = no_scopes
    meter = NvmlMeter(nvml=nvml, clock=clock, sample_interval_s=30.0)
    meter.start()
    clock.advance(1.0)
    (reading,) = meter.read()
    meter.stop()
    assert reading.ok and reading.energy_j == pytest.approx(250.0)
    assert "1 s average" in reading.description and reading.scope == "module"
