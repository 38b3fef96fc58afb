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

import os
import threading
import time
from abc import abstractmethod
from typing import Callable

import psutil

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

DRAM_W_PER_GB = 0.3725
"""W per GB of memory in use: Green Algorithms (Lannelongue, Grealey & Inouye, Adv. Sci. 8,
2100707, 2021; data/v2.2/referenceValues.csv "memoryPower"), from DDR4 DIMM measurements.
GB here is 2**30 bytes, as memory sizes are quoted."""

BYTES_PER_GB = 2**30
"""Memory sizes are quoted in binary gigabytes."""


def _child_pids_from_proc(pid: int) -> list[int] | None:
    """Direct children of ``pid`` from Linux's ``/proc/PID/task/TID/children`` files.

    Much cheaper than scanning every process's parent (what ``psutil.children``
    does, milliseconds on a busy host); None where the kernel lacks these files.
    """
    try:
        children: list[int] = []
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children", encoding="ascii") as handle:
                children.extend(int(field) for field in handle.read().split())
        return children
    except (OSError, ValueError):
        return None


MEMBERS_REFRESH_S = 1.0
"""How often the list of descendant processes is rebuilt (it costs a /proc scan per thread).
A child that appears in between is counted from the next rebuild on with all the CPU time it
has used (the counters are cumulative); one that ends in between reaches its parent's
``children_*`` times once reaped. So the estimate lags by at most this long, losing nothing."""


OPEN_RESCAN_AFTER_S = 0.1
"""A meter that starts rebuilds the list of descendants unless it is younger than this, so a
child started before the run is in its baseline (the CPU and DRAM meters, started together,
share one rebuild)."""


class _ProcessTree:
    """CPU time and resident memory of one process and all its descendants (psutil)."""

    _of_pid: dict[int, "_ProcessTree"] = {}

    def __init__(self, process: psutil.Process | None = None) -> None:
        self.process = process or psutil.Process()
        self._max_cpu_s = 0.0
        self._known: dict[int, psutil.Process] = {}
        self._members_cache: list[psutil.Process] = []
        self._members_at_s = -float("inf")
        self._lock = threading.Lock()

    @classmethod
    def of_this_process(cls) -> "_ProcessTree":
        """The tree of the current process, shared by its meters and runs (one psutil handle,
        one scan of /proc per refresh), its list of descendants at most
        ``OPEN_RESCAN_AFTER_S`` old."""
        pid = os.getpid()
        tree = cls._of_pid.get(pid)
        if tree is None:
            tree = cls._of_pid[pid] = cls()
        with tree._lock:
            tree._members(max_age_s=OPEN_RESCAN_AFTER_S)
        return tree

    def _descendants_fast(self) -> list[psutil.Process] | None:
        pids: list[int] = []
        frontier = [self.process.pid]
        while frontier:
            children = _child_pids_from_proc(frontier.pop())
            if children is None:
                return None
            pids.extend(children)
            frontier.extend(children)
        processes = []
        for pid in pids:
            if pid not in self._known:
                try:
                    self._known[pid] = psutil.Process(pid)
                except psutil.NoSuchProcess:
                    continue
            processes.append(self._known[pid])
        self._known = {process.pid: process for process in processes}
        return processes

    def _members(self, max_age_s: float | None = None) -> list[psutil.Process]:
        """The process and its descendants, rebuilt when older than ``max_age_s`` (default
        ``MEMBERS_REFRESH_S``); the caller holds the lock."""
        now_s = time.monotonic()
        if now_s - self._members_at_s >= (MEMBERS_REFRESH_S if max_age_s is None else max_age_s):
            self._members_cache = self._scan_members()
            self._members_at_s = now_s
        return self._members_cache

    def _scan_members(self) -> list[psutil.Process]:
        try:
            children = self._descendants_fast()
            if children is None:
                children = self.process.children(recursive=True)
            return [self.process, *children]
        except psutil.Error as err:
            raise MeterError(f"cannot list the processes of pid {self.process.pid}: {err}") from err

    def cpu_time_s(self) -> float:
        """User + system CPU seconds of the tree, reaped children included; never decreases.

        A child appears either live (its own times, plus its reaped children's) or,
        once this process has reaped it, in this process's ``children_*`` times.
        A child that exits between the two looks (the parent's times, then the list
        of children) is briefly missed; the running maximum hides that dip.
        """
        total_s = self._sum(_cpu_time_s, "CPU times")
        with self._lock:
            self._max_cpu_s = max(self._max_cpu_s, total_s)
            return self._max_cpu_s

    def rss_bytes(self) -> int:
        """Resident set size of the tree (shared pages counted in each process)."""
        return int(self._sum(_rss_bytes, "memory"))

    def _sum(self, read: Callable[[psutil.Process], float], what: str) -> float:
        """``read`` summed over the tree; a process that is gone or hidden is skipped."""
        total: float = 0
        with self._lock:
            members = self._members()
        for member in members:
            try:
                total += read(member)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            except psutil.Error as err:
                raise MeterError(f"cannot read {what} of pid {member.pid}: {err}") from err
        return total


def _cpu_time_s(process: psutil.Process) -> float:
    """User + system CPU seconds of ``process`` and of its reaped children."""
    if process.pid == os.getpid():  # one system call, the same counters as psutil reads
        own = os.times()
        return own.user + own.system + own.children_user + own.children_system
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_own_statm: tuple[int, int] | None = None
"""(pid, open descriptor of /proc/PID/statm) of this process, opened at the first read."""


def _rss_bytes(process: psutil.Process) -> int:
    """Resident set size of ``process``; this process's from /proc without psutil's overhead."""
    global _own_statm
    pid = os.getpid()
    if process.pid == pid:
        try:
            if _own_statm is None or _own_statm[0] != pid:  # first read, or a forked child
                _own_statm = (pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC))
            return int(os.pread(_own_statm[1], 128, 0).split()[1]) * _PAGE_BYTES
        except (OSError, ValueError, IndexError):  # no procfs: psutil knows other ways
            pass
    return int(process.memory_info().rss)


class _CpuTimeChannel(Channel):
    def __init__(self, state: DeviceState, tree: _ProcessTree, w_per_cpu_s: float) -> None:
        super().__init__(state)
        self.tree = tree
        self.w_per_cpu_s = w_per_cpu_s
        self.base_cpu_s = tree.cpu_time_s()

    def update(self) -> None:
        self.state.energy_j = (self.tree.cpu_time_s() - self.base_cpu_s) * self.w_per_cpu_s


class _RssChannel(Channel):
    def __init__(self, state: DeviceState, tree: _ProcessTree, w_per_gb: float) -> None:
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

    def __init__(self) -> None:
        super().__init__(poll_interval_s=1.0)

    @abstractmethod
    def _new_channel(self, state: DeviceState, tree: _ProcessTree) -> Channel:
        """The channel of this meter's device, with its baseline taken now."""

    def _open_channels(self) -> list[Channel | DeviceState]:
        state = DeviceState(self.device_key, self.device_kind, self.description, "estimated")
        try:
            return [self._new_channel(state, _ProcessTree.of_this_process())]
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
    ) -> None:
        super().__init__()
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

    def _new_channel(self, state: DeviceState, tree: _ProcessTree) -> Channel:
        return _CpuTimeChannel(state, tree, self.w_per_logical_cpu)


class DramEstimateMeter(_TreeEstimateMeter):
    """Estimated DRAM energy of this process tree's resident memory; device key ``dram``."""

    device_key = "dram"
    device_kind = "dram"

    def __init__(self) -> None:
        super().__init__()
        self.w_per_gb = DRAM_W_PER_GB
        self.description = (
            f"DRAM (ESTIMATED: resident memory of this process and its children, sampled at each "
            f"read, x {DRAM_W_PER_GB} W/GB, Green Algorithms, Lannelongue et al. 2021)"
        )

    def _new_channel(self, state: DeviceState, tree: _ProcessTree) -> Channel:
        return _RssChannel(state, tree, self.w_per_gb)
