"""Shared lifecycle of meters built from per-device channels.

A channel advances one device's cumulative energy when asked; the meter asks at
``read()``, at ``stop()`` and, for channels marked ``threaded``, from one
background thread every ``poll_interval_s``. A channel that raises
``MeterError`` is marked ``ok=False`` (energy frozen) after one warning.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from nature_callback.exceptions import MeterError
from nature_callback.meters._device import DeviceState
from nature_callback.meters._warn import OnceWarner
from nature_callback.meters._worker import PeriodicWorker
from nature_callback.meters.base import DeviceEnergy, EnergyMeter


class Channel(ABC):
    """One device's energy source."""

    threaded = False
    """True when the background thread must update it (power sampling, wrap-around polls)."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state

    @abstractmethod
    def update(self) -> None:
        """Advance ``state.energy_j`` to now; raise ``MeterError`` when the device fails."""


class ChannelMeter(EnergyMeter):
    """start/read/stop over channels; subclasses say how to open and close the source."""

    thread_name = "nature-meter"
    """Name of the background thread (unique per meter type)."""

    def __init__(self, poll_interval_s: float) -> None:
        self.poll_interval_s = poll_interval_s
        self._warner = OnceWarner()
        self._lock = threading.Lock()
        self._channels: list[Channel] = []
        self._states: list[DeviceState] = []
        self._worker: PeriodicWorker | None = None
        self._open = False

    @abstractmethod
    def _open_channels(self) -> list[Channel | DeviceState]:
        """Open the source; return working channels and the states of failed devices."""

    def _close_channels(self) -> None:
        """Release the source; called once, after the last update."""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """(Re)start from zero energy; start the background thread if a channel needs it."""
        self.stop()
        opened = self._open_channels()
        with self._lock:
            self._channels = [o for o in opened if isinstance(o, Channel) and o.state.ok]
            self._states = [o.state if isinstance(o, Channel) else o for o in opened]
            self._open = True
        if any(c.threaded for c in self._channels):
            self._worker = PeriodicWorker(
                self.thread_name, self.poll_interval_s, self._tick, self._thread_died
            )
            self._worker.start()
        self._warner.flush()

    def read(self) -> list[DeviceEnergy]:
        """Energy per device since ``start()``; never raises."""
        with self._lock:
            if self._open:
                self._update(self._channels)
            readings = [state.reading() for state in self._states]
        self._warner.flush()
        return readings

    def stop(self) -> None:
        """Join the thread, take a last reading, close the source; idempotent."""
        worker, self._worker = self._worker, None
        try:
            timeout_s = max(2.0, 5 * self.poll_interval_s)
            if worker is not None and not worker.stop(timeout_s):
                self._warner.note(
                    self.thread_name, "thread_hung",
                    f"the {self.thread_name} thread did not end within {timeout_s:.1f} s (a read "
                    "hangs?); it is left as a daemon thread and this meter's energy stops here.",
                )
        finally:
            with self._lock:
                was_open, self._open = self._open, False
                if was_open:
                    self._update(self._channels)
                    self._close_channels()
            self._warner.flush()

    # ------------------------------------------------------------------ failures
    def fail(self, state: DeviceState, kind: str, reason: str) -> None:
        """Mark ``state`` failed (energy frozen) and note one warning for (device, kind)."""
        state.ok = False
        self._warner.note(
            state.device, kind,
            f"{state.device} ({state.description}): {reason}. Its energy is frozen at "
            f"{state.energy_j:.3f} J and reported with ok=False; training goes on.",
        )

    def _update(self, channels: list[Channel]) -> None:
        """Advance every working channel; the caller holds the lock."""
        for channel in channels:
            if channel.state.ok:
                try:
                    channel.update()
                except MeterError as err:
                    self.fail(channel.state, getattr(err, "kind", type(err).__name__), str(err))
                except Exception as err:  # noqa: BLE001 - read() must never raise; reported
                    self.fail(channel.state, type(err).__name__, f"unexpected error {err!r}")

    def _tick(self) -> None:
        with self._lock:
            if self._open:
                self._update([c for c in self._channels if c.threaded])

    def _thread_died(self, err: Exception) -> None:
        with self._lock:
            for channel in self._channels:
                if channel.threaded and channel.state.ok:
                    self.fail(channel.state, "thread_crashed",
                              f"the {self.thread_name} thread stopped on an unexpected error "
                              f"({err!r})")
