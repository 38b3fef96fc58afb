"""CPU time and resident memory of this process and all its descendants (psutil).

What the CPU and DRAM estimates read. Imported when an estimate meter starts, so that
``import nature_callback.meters`` does not load psutil.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import Callable

import psutil

from nature_callback.exceptions import MeterError


def _child_pids_from_proc(pid: int) -> list[int] | None:
    """Direct children of ``pid`` from Linux's ``/proc/PID/task/TID/children`` files.

    Cheaper than ``psutil.children``, which reads the parent of every process on the
    host; None where the kernel lacks these files.
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


class ProcessTree:
    """CPU time and resident memory of one process and all its descendants (psutil)."""

    _of_pid: dict[int, "ProcessTree"] = {}

    def __init__(self, process: psutil.Process | None = None) -> None:
        self.process = process or psutil.Process()
        self._max_cpu_s = 0.0
        self._known: dict[int, psutil.Process] = {}
        self._members_cache: list[psutil.Process] = []
        self._members_at_s = -float("inf")
        self._excluded: frozenset[int] = frozenset()
        self._lock = threading.Lock()

    def exclude(self, pids: Iterable[int]) -> None:
        """Leave out these processes and their descendants (other ranks of a distributed run
        started as this process's children meter themselves)."""
        with self._lock:
            self._excluded = frozenset(pids) - {self.process.pid}
            self._members_at_s = -float("inf")
    @classmethod
    def of_this_process(cls) -> "ProcessTree":
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
            children = [pid for pid in children if pid not in self._excluded]
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

    def _descendants_psutil(self) -> list[psutil.Process]:
        """Descendants through psutil (where /proc has no ``children`` files), without the
        excluded processes' subtrees."""
        found: list[psutil.Process] = []
        frontier = [self.process]
        while frontier:
            for child in frontier.pop().children():
                if child.pid not in self._excluded:
                    found.append(child)
                    frontier.append(child)
        return found

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
                children = self._descendants_psutil()
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
