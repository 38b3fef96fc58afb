"""Energy meters: NVML for GPUs, RAPL for CPU and DRAM, estimates where nothing can be read."""

from nature_callback.meters.base import (
    DeviceEnergy,
    DeviceKind,
    EnergyMeter,
    MeterGroup,
    NullMeter,
    Scope,
    Source,
    UnmeteredMeter,
)
from nature_callback.meters.cpu_tdp import (
    CPU_TDP_TABLE,
    DEFAULT_TDP_PER_CORE_W,
    CpuTdp,
    CpuTopology,
    cpu_model_name,
    lookup_tdp,
)
from nature_callback.meters.cuda_visible import (
    GpuIdentity,
    MigSlice,
    RefusedGpu,
    VisibleGpu,
    parse_visible_devices,
    select_gpus,
    visible_gpus,
)
from nature_callback.meters.estimate import DRAM_W_PER_GB, CpuEstimateMeter, DramEstimateMeter
from nature_callback.meters.factory import MeterConfig, build_meters
from nature_callback.meters.nvml import NvmlMeter, NvmlProbe, probe_nvml
from nature_callback.meters.rapl import (
    POWERCAP_ROOT_ENV,
    RaplMeter,
    RaplProbe,
    RaplZone,
    probe_rapl,
    rapl_permission_help,
)

__all__ = [
    "CPU_TDP_TABLE",
    "CpuEstimateMeter",
    "CpuTdp",
    "CpuTopology",
    "DEFAULT_TDP_PER_CORE_W",
    "DRAM_W_PER_GB",
    "DeviceEnergy",
    "DeviceKind",
    "DramEstimateMeter",
    "EnergyMeter",
    "GpuIdentity",
    "MeterConfig",
    "MigSlice",
    "MeterGroup",
    "NullMeter",
    "NvmlMeter",
    "NvmlProbe",
    "POWERCAP_ROOT_ENV",
    "RaplMeter",
    "RaplProbe",
    "RaplZone",
    "RefusedGpu",
    "Scope",
    "Source",
    "UnmeteredMeter",
    "VisibleGpu",
    "build_meters",
    "cpu_model_name",
    "lookup_tdp",
    "parse_visible_devices",
    "probe_nvml",
    "probe_rapl",
    "rapl_permission_help",
    "select_gpus",
    "visible_gpus",
]
