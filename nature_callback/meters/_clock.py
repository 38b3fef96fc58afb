"""The time source of the GPU meter: monotonic seconds and a sleep (a fake one in tests)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time in seconds, and a way to wait."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class MonotonicClock:
    """``time.monotonic`` and ``time.sleep``."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        time.sleep(seconds)


MONOTONIC = MonotonicClock()
"""The clock every meter uses unless told otherwise."""
