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
    ``SystemExit``) for the length of a run, so that the run's records are written and say
    ``terminated``; the process still exits as SIGTERM asks.

    A signal that arrives inside ``critical()`` (an epoch's figures being added and written)
    is raised when that section ends, so the records on disk match the totals."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._depth = 0
        self._pending: int | None = None

    def install(self) -> None:
        """Take SIGTERM over if it has its default action (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous = signal.signal(signal.SIGTERM, self._handle)

    def restore(self) -> None:
        """Give SIGTERM back its previous action."""
        if self._previous is None:
            return
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) == self._handle):
            signal.signal(signal.SIGTERM, self._previous)
        self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self._depth:
            self._pending = signum
            return
        raise TerminatedBySignal(128 + signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Hold a SIGTERM back until the end of the block."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            signum, self._pending = self._pending, None
            if signum is not None and not self._depth:
                raise TerminatedBySignal(128 + signum)
