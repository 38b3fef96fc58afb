"""Estimated CPU and DRAM energy of this process, for machines where RAPL cannot be read.

Both meters report ``source="estimated"`` and say their constant and its source in
``description``. Neither needs a thread:

* ``CpuEstimateMeter``: CPU energy = CPU seconds used by this process and its
  children (DataLoader workers included) × watts per busy logical CPU. The CPU
  seconds are cumulative counters (psutil), so the utilisation between two reads
  is integrated exactly, however rarely ``read()`` is called. Watts per busy
  logical CPU = TDP of a package / its physical cores / threads per core; at full
  load on every logical CPU this is "fraction of the machine's logical cores ×
  TDP of all packages". The TDP comes from ``cpu_tdp_w`` (W per package), else the
  embedded table (``cpu_tdp.CPU_TDP_TABLE``), else 12 W per core (Green
  Algorithms' default). Idle power of the machine is not charged to the run.
* ``DramEstimateMeter``: DRAM energy = resident memory (RSS) of this process and
  its children × 0.3725 W/GB (Green Algorithms, Lannelongue et al. 2021), per
  process, not the whole host's RAM. RSS is sampled at ``start()`` and each
  ``read()`` and integrated with the trapezoid rule between them, so a peak
  between two reads is not seen; pages shared between processes (e.g. with
  forked DataLoader workers) are counted once per process (an over-estimate).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import TYPE_CHECKING

from nature_callback.exceptions import MeterError
from nature_callback.meters._channels import Channel, ChannelMeter
from nature_callback.meters._device import DeviceState
from nature_callback.meters._integrate import TrapezoidIntegrator
from nature_callback.meters._validate import check_cpu_tdp_w
from nature_callback.meters.base import DeviceKind
from nature_callback.meters.cpu_tdp import (
    DEFAULT_TDP_PER_CORE_W,
    CpuTopology,
    cpu_model_name,
    lookup_tdp,
)

if TYPE_CHECKING:
    from nature_callback.meters._process_tree import ProcessTree

DRAM_W_PER_GB = 0.3725
"""W per GB of memory in use: Green Algorithms (Lannelongue, Grealey & Inouye, Adv. Sci. 8,
2100707, 2021; data/v2.2/referenceValues.csv "memoryPower"), from DDR4 DIMM measurements.
GB here is 2**30 bytes, as memory sizes are quoted."""

BYTES_PER_GB = 2**30
"""Memory sizes are quoted in binary gigabytes."""


class _CpuTimeChannel(Channel):
    def __init__(self, state: DeviceState, tree: ProcessTree, w_per_cpu_s: float) -> None:
        super().__init__(state)
        self.tree = tree
        self.w_per_cpu_s = w_per_cpu_s
        self.base_cpu_s = tree.cpu_time_s()

    def update(self) -> None:
        self.state.energy_j = (self.tree.cpu_time_s() - self.base_cpu_s) * self.w_per_cpu_s


class _RssChannel(Channel):
    def __init__(self, state: DeviceState, tree: ProcessTree, w_per_gb: float) -> None:
        super().__init__(state)
        self.tree = tree
        self.w_per_gb = w_per_gb
        self.integrator = TrapezoidIntegrator(time.monotonic(), tree.rss_bytes() / BYTES_PER_GB)

    def update(self) -> None:
        gb_s = self.integrator.add(time.monotonic(), self.tree.rss_bytes() / BYTES_PER_GB)
        self.state.energy_j = gb_s * self.w_per_gb


class _TreeEstimateMeter(ChannelMeter):
    """One estimated device fed from this process tree, updated at reads only (no thread)."""

    device_key: str
    device_kind: DeviceKind
    description: str

    def __init__(self, exclude_pids: tuple[int, ...] = ()) -> None:
        super().__init__(poll_interval_s=1.0)
        self.exclude_pids = exclude_pids
        """Processes (with their descendants) left out: other ranks that meter themselves."""

    @abstractmethod
    def _new_channel(self, state: DeviceState, tree: ProcessTree) -> Channel:
        """The channel of this meter's device, with its baseline taken now."""

    def _open_channels(self) -> list[Channel | DeviceState]:
        from nature_callback.meters._process_tree import ProcessTree  # imports psutil

        state = DeviceState(self.device_key, self.device_kind, self.description, "estimated")
        try:
            tree = ProcessTree.of_this_process()
            if self.exclude_pids:
                tree.exclude(self.exclude_pids)
            return [self._new_channel(state, tree)]
        except MeterError as err:
            self.fail(state, "psutil", str(err))
            return [state]


class CpuEstimateMeter(_TreeEstimateMeter):
    """Estimated CPU energy of this process tree; device key ``cpu``, ``source="estimated"``.

    ``cpu_tdp_w``: TDP of one CPU package in W (overrides the table). ``topology``
    and ``model_name`` default to this machine's.
    """

    device_key = "cpu"
    device_kind = "cpu"

    def __init__(
        self,
        cpu_tdp_w: float | None = None,
        *,
        topology: CpuTopology | None = None,
        model_name: str | None = None,
        exclude_pids: tuple[int, ...] = (),
    ) -> None:
        super().__init__(exclude_pids)
        self.topology = topology or CpuTopology.detect()
        self.model_name = cpu_model_name() if model_name is None else model_name
        if cpu_tdp_w is not None:
            tdp_w = check_cpu_tdp_w(cpu_tdp_w)
            self.w_per_core = tdp_w / self.topology.cores_per_package
            self.basis = (f"cpu_tdp_w={tdp_w:g} W per package (user parameter) / "
                          f"{self.topology.cores_per_package:g} cores")
        else:
            row = lookup_tdp(self.model_name)
            if row is not None:
                self.w_per_core = row.w_per_core
                self.basis = f"TDP {row.tdp_w:g} W / {row.cores} cores, {row.source}"
            else:
                self.w_per_core = DEFAULT_TDP_PER_CORE_W
                self.basis = (f"CPU not in the TDP table: {DEFAULT_TDP_PER_CORE_W:g} W per core, "
                              "Green Algorithms default (Lannelongue et al. 2021)")
        self.w_per_logical_cpu = self.w_per_core / self.topology.threads_per_core
        self.description = (
            f"{self.model_name or 'CPU'} (ESTIMATED: CPU seconds of this process and its children "
            f"x {self.w_per_logical_cpu:.3g} W per busy logical CPU; {self.basis})"
        )

    @property
    def full_load_power_w(self) -> float:
        """Estimated power with every logical CPU of the machine busy for this process tree."""
        return self.w_per_logical_cpu * self.topology.logical_cpus

    def _new_channel(self, state: DeviceState, tree: ProcessTree) -> Channel:
        return _CpuTimeChannel(state, tree, self.w_per_logical_cpu)


class DramEstimateMeter(_TreeEstimateMeter):
    """Estimated DRAM energy of this process tree's resident memory; device key ``dram``."""

    device_key = "dram"
    device_kind = "dram"

    def __init__(self, exclude_pids: tuple[int, ...] = ()) -> None:
        super().__init__(exclude_pids)
        self.w_per_gb = DRAM_W_PER_GB
        self.description = (
            f"DRAM (ESTIMATED: resident memory of this process and its children, sampled at each "
            f"read, x {DRAM_W_PER_GB} W/GB, Green Algorithms, Lannelongue et al. 2021)"
        )

    def _new_channel(self, state: DeviceState, tree: ProcessTree) -> Channel:
        return _RssChannel(state, tree, self.w_per_gb)
