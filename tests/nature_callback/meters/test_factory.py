"""build_meters: which meters a machine gets, and the fallbacks said once."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

from nature_callback.exceptions import ConfigurationError, MeterWarning
from nature_callback.meters import (
    CpuEstimateMeter,
    DramEstimateMeter,
    MeterConfig,
    MeterGroup,
    NvmlMeter,
    RaplMeter,
    UnmeteredMeter,
    build_meters,
)
from tests.nature_callback.meters.fakes import (
    NVML_ERRORS,
    FakeClock,
    FakeGpu,
    FakePowercap,
    make_fake_nvml,
    run_as_nobody,
)

NO_NVML = make_fake_nvml([], init_error=NVML_ERRORS["NVML_ERROR_LIBRARY_NOT_FOUND"])


def _types(group: MeterGroup) -> list[type]:
    return [type(m) for m in group.meters]


def _package_with_dram(powercap: FakePowercap) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=0)
    powercap.add_zone("intel-rapl:0:2", "dram", energy_uj=0)


def _no_meter_warnings(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeterWarning)
        return fn()


def test_gpu_and_rapl_measured(powercap: FakePowercap, clock: FakeClock) -> None:
    _package_with_dram(powercap)
    gpu = FakeGpu()
    group = _no_meter_warnings(lambda: build_meters(powercap_root=powercap.root,
                                                    nvml=make_fake_nvml([gpu]), clock=clock))
    assert _types(group) == [NvmlMeter, RaplMeter]
    group.start()
    gpu.energy_mj += 2_000
    powercap.set_energy("intel-rapl:0", 3_000_000)
    readings = {r.device: r for r in group.read()}
    group.stop()
    assert {d: r.energy_j for d, r in readings.items()} == pytest.approx(
        {"gpu0": 2.0, "cpu0": 3.0, "dram0": 0.0})
    assert {r.source for r in readings.values()} == {"measured"}


def test_rapl_without_dram_meters_the_package_only(powercap: FakePowercap,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    powercap.add_zone("intel-rapl:0", "package-0", energy_uj=0)
    with caplog.at_level(logging.INFO, logger="nature_callback.meters"):
        group = _no_meter_warnings(lambda: build_meters(gpus=None, powercap_root=powercap.root))
    assert _types(group) == [RaplMeter]
    assert any("DRAM energy is not metered" in r.getMessage() for r in caplog.records)


def test_no_rapl_and_no_gpu_fall_back_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="nature_callback.meters"):
        group = _no_meter_warnings(lambda: build_meters(powercap_root=tmp_path, nvml=NO_NVML,
                                                        cpu_tdp_w=65.0))
    assert _types(group) == [UnmeteredMeter, CpuEstimateMeter, DramEstimateMeter]
    cpu = group.meters[1]
    assert cpu.full_load_power_w == pytest.approx(65.0 * cpu.topology.packages)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("No GPU metered" in m for m in messages) == 1
    assert sum("estimated" in m for m in messages) == 1
    group.start()
    readings = group.read()
    group.stop()
    assert [r.source for r in readings] == ["unmetered", "estimated", "estimated"]
    gpu = readings[0]  # NVML absent: an explicit entry, not a missing one
    assert (gpu.device, gpu.kind, gpu.energy_j, gpu.ok) == ("gpu", "gpu", 0.0, False)
    assert "NVML Shared Library Not Found" in gpu.description
    assert sum(r.energy_j for r in readings) >= 0.0  # sums over devices still work


def _denied_outcome(root: str) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        group = build_meters(gpus=None, powercap_root=root)
        group.start()
        group.read()
        group.stop()
    return {"types": [type(m).__name__ for m in group.meters],
            "warnings": [str(w.message) for w in caught if issubclass(w.category, MeterWarning)]}


def test_rapl_permission_denied_warns_once_then_estimates(shared_powercap: FakePowercap) -> None:
    _package_with_dram(shared_powercap)
    (shared_powercap.zones["intel-rapl:0"] / "energy_uj").chmod(0o000)
    root = str(shared_powercap.root)
    outcome = run_as_nobody(lambda: _denied_outcome(root))
    assert outcome["types"] == ["CpuEstimateMeter", "DramEstimateMeter"]
    assert len(outcome["warnings"]) == 1
    assert "permission denied" in outcome["warnings"][0] and "sudo chmod a+r" in outcome["warnings"][0]


def test_not_node_level_leaves_rapl_to_local_rank_0_but_estimates_its_own_processes(
    powercap: FakePowercap, tmp_path: Path,
) -> None:
    _package_with_dram(powercap)
    group = build_meters(node_level=False, powercap_root=powercap.root,
                         nvml=make_fake_nvml([FakeGpu()]))
    assert _types(group) == [NvmlMeter]  # the node's RAPL is local rank 0's
    estimates = build_meters(node_level=False, gpus=None, powercap_root=tmp_path / "none",
                             exclude_pids=(12345,))
    assert _types(estimates) == [CpuEstimateMeter, DramEstimateMeter]
    assert all(meter.exclude_pids == (12345,) for meter in estimates.meters)


def test_gpus_none_never_touches_nvml(tmp_path: Path) -> None:
    nvml = make_fake_nvml([FakeGpu()])
    group = build_meters(gpus=None, powercap_root=tmp_path, nvml=nvml)
    assert NvmlMeter not in _types(group) and nvml.calls["nvmlInit"] == 0
    assert NvmlMeter not in _types(build_meters(gpus=[], powercap_root=tmp_path, nvml=nvml))


def test_requested_gpus_without_nvml_warn(tmp_path: Path) -> None:
    with pytest.warns(MeterWarning, match=r"gpus=\[0, 2\].*NVML Shared Library Not Found"):
        group = build_meters(gpus=[0, 2], powercap_root=tmp_path, nvml=NO_NVML)
    assert NvmlMeter not in _types(group)
    assert [(r.device, r.source) for r in group.meters[0].read()] == [
        ("gpu0", "unmetered"), ("gpu2", "unmetered")]


def test_all_gpus_hidden_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    group = _no_meter_warnings(lambda: build_meters(powercap_root=tmp_path,
                                                    nvml=make_fake_nvml([FakeGpu()])))
    assert NvmlMeter not in _types(group)


def test_a_malformed_visible_device_list_starts_as_cuda_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,7")  # "7" ends the list, as in CUDA
    with pytest.warns(MeterWarning, match="'7'"):
        group = build_meters(powercap_root=tmp_path, nvml=make_fake_nvml([FakeGpu()]),
                             clock=clock)
        group.start()
    assert [r.device for r in group.read() if r.kind == "gpu"] == ["gpu0"]
    group.stop()


def test_an_index_this_process_does_not_see_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"gpus=\[3\]"):
        build_meters(gpus=[3], powercap_root=tmp_path, nvml=make_fake_nvml([FakeGpu()]))


def test_a_superchip_gets_no_cpu_estimate_beside_it(tmp_path: Path, clock: FakeClock,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    gh200 = FakeGpu(name="NVIDIA GH200 480GB", c2c=True)
    with caplog.at_level(logging.INFO, logger="nature_callback.meters"):
        group = build_meters(powercap_root=tmp_path, nvml=make_fake_nvml([gh200]), clock=clock)
    assert _types(group) == [NvmlMeter]
    assert any("superchip" in r.getMessage() for r in caplog.records)
    discrete = build_meters(powercap_root=tmp_path, nvml=make_fake_nvml([FakeGpu()]), clock=clock)
    assert _types(discrete) == [NvmlMeter, CpuEstimateMeter, DramEstimateMeter]


def test_powercap_root_from_environment(powercap: FakePowercap, monkeypatch: pytest.MonkeyPatch) -> None:
    _package_with_dram(powercap)
    monkeypatch.setenv("NATURE_POWERCAP_ROOT", str(powercap.root))
    group = build_meters(gpus=None)
    assert _types(group) == [RaplMeter]
    assert group.meters[0].powercap_root == powercap.root


@pytest.mark.parametrize("kwargs, name", [
    ({"cpu_tdp_w": -65.0}, "cpu_tdp_w"),
    ({"cpu_tdp_w": 0}, "cpu_tdp_w"),
    ({"cpu_tdp_w": float("nan")}, "cpu_tdp_w"),
    ({"sample_interval_s": 0}, "sample_interval_s"),
    ({"sample_interval_s": -0.1}, "sample_interval_s"),
    ({"gpus": "all"}, "gpus"),
    ({"gpus": [0, -1]}, "gpus"),
    ({"node_level": "yes"}, "node_level"),
    ({"powercap_root": 42}, "powercap_root"),
])
def test_invalid_parameters_name_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        build_meters(**kwargs)


def test_config_round_trip() -> None:
    config = MeterConfig(gpus=(0, 1), cpu_tdp_w=120, powercap_root="/tmp/x")  # type: ignore[arg-type]
    assert config.to_dict() == {"gpus": [0, 1], "node_level": True, "cpu_tdp_w": 120,
                                "sample_interval_s": 0.1, "powercap_root": "/tmp/x"}
