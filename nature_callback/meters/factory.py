"""Build the meters this machine supports, with the fallbacks said once.

* GPUs: an ``NvmlMeter`` when NVML works and ``gpus`` is not None/empty. Without
  NVML the GPUs asked for are listed explicitly as ``unmetered`` (``gpu`` for
  ``gpus="visible"``, ``gpu<i>`` for indices; 0 J) by an ``UnmeteredMeter``: one
  info-level log line for ``"visible"`` (normal on a laptop or a CPU node), one
  ``MeterWarning`` for indices. NVML working but no GPU visible: nothing, one info line.
* A superchip GPU whose counter covers the CPU (GH200/GB200, ``covers_cpu``): no CPU or
  DRAM *estimate* is added beside it (it would count the Grace CPU twice).
* CPU and DRAM, only with ``node_level=True`` (the node's local rank 0; the
  counters cover the whole node, so every rank metering them would count them N
  times): a ``RaplMeter`` when the RAPL counters are readable; otherwise, after
  one ``MeterWarning`` when they exist but cannot be read (saying how to grant
  access), ``CpuEstimateMeter`` and ``DramEstimateMeter``. RAPL without a DRAM
  zone (most desktops, AMD) leaves DRAM unmetered (one info line) rather than
  mixing a measured package with an estimated DRAM figure.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nature_callback.exceptions import ConfigurationError, MeterWarning
from nature_callback.meters._validate import (
    check_cpu_tdp_w,
    check_gpus,
    check_sample_interval_s,
)
from nature_callback.meters._clock import Clock
from nature_callback.meters.base import EnergyMeter, MeterGroup, UnmeteredMeter
from nature_callback.meters.estimate import CpuEstimateMeter, DramEstimateMeter
from nature_callback.meters.nvml import NvmlMeter, probe_nvml
from nature_callback.meters.rapl import RaplMeter, probe_rapl, resolve_powercap_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeterConfig:
    """What ``build_meters`` is asked to meter; validated on construction."""

    gpus: Literal["visible"] | tuple[int, ...] | None = "visible"
    """``"visible"``, visible (torch) GPU indices, or None for no GPU metering."""
    node_level: bool = True
    """True in the node's local rank 0: it reads the node-wide counters (RAPL). Where RAPL
    cannot be read, every rank estimates its own process tree instead."""
    exclude_pids: tuple[int, ...] = ()
    """Processes left out of the CPU and DRAM estimates (other ranks on this node)."""
    cpu_tdp_w: float | None = None
    """TDP of one CPU package in W for the CPU estimate; None uses the embedded table."""
    sample_interval_s: float = 0.1
    """Power sampling period for GPUs without an energy counter (0.1 s = 10 Hz)."""
    powercap_root: Path | None = None
    """Powercap tree; None uses $NATURE_POWERCAP_ROOT, else /sys/class/powercap."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", check_gpus(self.gpus, allow_none=True))
        if not isinstance(self.node_level, bool):
            raise ConfigurationError(
                f"node_level={self.node_level!r} is invalid: pass True in the node's local rank 0 "
                "(meters CPU and DRAM) and False in every other rank."
            )
        if self.cpu_tdp_w is not None:
            check_cpu_tdp_w(self.cpu_tdp_w)
        check_sample_interval_s(self.sample_interval_s)
        if self.powercap_root is not None:
            if not isinstance(self.powercap_root, (str, Path)):
                raise ConfigurationError(
                    f"powercap_root={self.powercap_root!r} is invalid: give a path or None."
                )
            object.__setattr__(self, "powercap_root", Path(self.powercap_root))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {"gpus": list(self.gpus) if isinstance(self.gpus, tuple) else self.gpus,
                "node_level": self.node_level, "cpu_tdp_w": self.cpu_tdp_w,
                "sample_interval_s": self.sample_interval_s,
                "powercap_root": str(self.powercap_root) if self.powercap_root else None}


def _gpu_meters(config: MeterConfig, nvml: Any | None, torch: Any | None,
                clock: Clock | None) -> tuple[list[EnergyMeter], bool]:
    """The GPU meter (or the unmetered entries), and whether a metered GPU covers the CPU."""
    if not config.gpus:
        log.info("GPU energy not metered: gpus=%r.", config.gpus)
        return [], False
    probe = probe_nvml(config.gpus, nvml=nvml, torch=torch)
    if not probe.available:
        if config.gpus == "visible":
            log.info("No GPU metered: %s", probe.reason)
            keys = ["gpu"]
        else:
            warnings.warn(f"GPU energy is not metered for gpus={list(config.gpus)}: "
                          f"{probe.reason}.", MeterWarning, stacklevel=3)
            keys = [f"gpu{i}" for i in config.gpus]
        return [UnmeteredMeter([(key, "gpu") for key in keys],
                               f"GPU not metered: {probe.reason}")], False
    if not probe.gpus and not probe.unmetered:
        log.info("No GPU metered: NVML works but this process sees no GPU "
                 "(CUDA_VISIBLE_DEVICES hides them all).")
        return [], False
    meter = NvmlMeter(config.gpus, sample_interval_s=config.sample_interval_s, nvml=nvml,
                      torch=torch, clock=clock)
    return [meter], probe.covers_cpu


def _node_meters(config: MeterConfig, cpu_covered: bool) -> list[EnergyMeter]:
    root = resolve_powercap_root(config.powercap_root)
    probe = probe_rapl(root)
    if probe.readable and not config.node_level:
        log.info("CPU and DRAM not metered in this process: node_level=False (the node's local "
                 "rank 0 reads its RAPL counters).")
        return []
    if probe.readable:
        if not probe.has_dram:
            log.info("RAPL has no DRAM zone under %s (usual on desktops and AMD CPUs): DRAM "
                     "energy is not metered; CPU package energy is measured.", root)
        return [RaplMeter(root)]
    if cpu_covered:
        log.info("CPU and DRAM are not estimated: the GPU's energy counter covers the whole "
                 "superchip module (GPU, Grace CPU and memory).")
        return []
    if probe.status == "absent":
        log.info("CPU and DRAM energy are estimated: %s.", probe.message)
    else:
        warnings.warn(f"RAPL: {probe.message}", MeterWarning, stacklevel=3)
    return [CpuEstimateMeter(config.cpu_tdp_w, exclude_pids=config.exclude_pids),
            DramEstimateMeter(exclude_pids=config.exclude_pids)]


def build_meters(
    *,
    gpus: Literal["visible"] | list[int] | None = "visible",
    node_level: bool = True,
    cpu_tdp_w: float | None = None,
    sample_interval_s: float = 0.1,
    powercap_root: str | Path | None = None,
    nvml: Any | None = None,
    torch: Any | None = None,
    clock: Clock | None = None,
    exclude_pids: tuple[int, ...] = (),
) -> MeterGroup:
    """Every meter this process should run, as one group (not started).

    ``nvml``, ``torch``: ``pynvml``- and torch-like modules to use instead of the real
    ones; ``clock``: the GPU meter's time source (tests). ``exclude_pids``: processes (other
    ranks) left out of the CPU and DRAM estimates. Raises ``ConfigurationError``
    for an invalid parameter or a GPU index this process does not see; everything else
    (no GPU, no NVML, MIG, unreadable RAPL) falls back with at most one message per cause.
    """
    config = MeterConfig(
        gpus=tuple(gpus) if isinstance(gpus, list) else gpus,
        node_level=node_level,
        cpu_tdp_w=cpu_tdp_w,
        sample_interval_s=sample_interval_s,
        powercap_root=Path(powercap_root) if isinstance(powercap_root, str) else powercap_root,
        exclude_pids=tuple(exclude_pids),
    )
    gpu_meters, cpu_covered = _gpu_meters(config, nvml, torch, clock)
    return MeterGroup(gpu_meters + _node_meters(config, cpu_covered))
