"""Energy meters: NVML for GPUs, RAPL for CPU and DRAM, estimates where nothing can be read."""

from nature_callback.meters.base import DeviceEnergy, EnergyMeter, MeterGroup, NullMeter

__all__ = ["DeviceEnergy", "EnergyMeter", "MeterGroup", "NullMeter"]
