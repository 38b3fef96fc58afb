"""A background thread that calls a function periodically and stops promptly."""

from __future__ import annotations

import threading
from typing import Callable


class PeriodicWorker:
    """Calls ``tick()`` every ``interval_s`` on one daemon thread until ``stop()``.

    The wait is ``threading.Event.wait``, so ``stop()`` wakes the thread at once
    instead of waiting for the interval to end. An exception from ``tick`` ends the
    thread after ``on_error(err)`` is called with it (it is never lost silently).
    """

    def __init__(
        self,
        name: str,
        interval_s: float,
        tick: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._tick = tick
        self._on_error = on_error
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Ask the thread to end and join it; True when it has ended within ``timeout_s``."""
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def _run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self._tick()
            except Exception as err:  # noqa: BLE001 - reported through on_error, thread ends
                self._on_error(err)
                return
