"""What a run needs to know about the process it runs in: its place in a distributed run, its
clock, and how the run ended (a SIGTERM included)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from nature_callback.exceptions import TerminatedBySignal

Reducer = Callable[[list[float]], list[float]]
"""Sums a vector of floats over every process of a distributed run (identity when alone)."""

Status = Literal["running", "completed", "crashed", "interrupted", "terminated"]


def identity(values: list[float]) -> list[float]:
    """The reducer of a single process."""
    return values


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a distributed run (defaults: a single process)."""

    rank: int = 0
    """Global rank."""
    world_size: int = 1
    is_writer: bool = True
    """Whether this process writes the records and the ledger row (global rank zero)."""
    reduce: Reducer = field(default=identity, compare=False)
    """Sums a float vector over every rank (a collective call: every rank makes it)."""
    gather: Callable[[Any], list[Any]] | None = field(default=None, compare=False)
    """Gathers one picklable object from every rank, in rank order (a collective call); used
    at start to meter a GPU shared by several ranks once and to list every rank's meters."""
    local_peer_pids: tuple[int, ...] = ()
    """Process ids of the other ranks on this node: left out of this rank's CPU and DRAM
    estimates (each rank estimates its own processes)."""

    @property
    def is_distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1


class Clock(Protocol):
    """Time source: a monotonic clock for durations, the wall clock for carbon lookups."""

    def monotonic_s(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wall_s(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    """``time.perf_counter`` and ``time.time``."""

    def monotonic_s(self) -> float:
        """Seconds on the performance counter."""
        return time.perf_counter()

    def wall_s(self) -> float:
        """``time.time()``."""
        return time.time()


def now_iso() -> str:
    """The current time (UTC) in ISO 8601."""
    return datetime.now(timezone.utc).isoformat()


def status_of(error: BaseException | None) -> Status:
    """How a run that ended with ``error`` is recorded."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    # Lightning turns SIGTERM into its own SIGTERMException
    if isinstance(error, TerminatedBySignal) or type(error).__name__ == "SIGTERMException":
        return "terminated"
    return "crashed"


class SigtermGuard:
    """Where nothing else handles SIGTERM, turns it into ``TerminatedBySignal`` (a
    ``SystemExit``) while runs are being tracked, so that their records are written and say
    ``terminated``; the process still exits as SIGTERM asks.

    One handler per process, shared by every tracker that runs at once (a tracker left
    running keeps it). A signal that arrives inside ``critical()`` (an epoch's figures being
    added and written) is raised when that section ends, so the records on disk match the
    totals."""

    _users = 0
    _previous: Any = None
    _installed = False
    _depth = 0
    _pending: int | None = None

    def __init__(self) -> None:
        self._holding = False

    def install(self) -> None:
        """Count this run in; take SIGTERM over if it has its default action (main thread)."""
        if self._holding or threading.current_thread() is not threading.main_thread():
            return
        self._holding = True
        cls = SigtermGuard
        cls._users += 1
        current = signal.getsignal(signal.SIGTERM)
        if not cls._installed and current is _handle_sigterm:  # left by a run on another thread
            cls._previous, cls._installed = signal.SIG_DFL, True
        elif not cls._installed and current is signal.SIG_DFL:
            cls._previous = signal.signal(signal.SIGTERM, _handle_sigterm)
            cls._installed = True

    def restore(self) -> None:
        """Count this run out; the last one gives SIGTERM back its previous action (from the
        main thread; otherwise the next run started there takes the handler over)."""
        if not self._holding:
            return
        self._holding = False
        cls = SigtermGuard
        cls._users -= 1
        if (cls._users == 0 and cls._installed
                and threading.current_thread() is threading.main_thread()):
            if signal.getsignal(signal.SIGTERM) is _handle_sigterm:
                signal.signal(signal.SIGTERM, cls._previous)
            cls._installed = False

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Hold a SIGTERM back until the end of the block."""
        cls = SigtermGuard
        cls._depth += 1
        try:
            yield
        finally:
            cls._depth -= 1
            if not cls._depth and cls._pending is not None:
                signum, cls._pending = cls._pending, None
                raise TerminatedBySignal(128 + signum)


def _handle_sigterm(signum: int, frame: Any) -> None:
    if SigtermGuard._depth:
        SigtermGuard._pending = signum
        return
    raise TerminatedBySignal(128 + signum)
