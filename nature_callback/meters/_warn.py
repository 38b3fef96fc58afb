"""One ``MeterWarning`` per device and failure kind, emitted from the caller's thread.

Sampler threads only *note* a failure; the meter's public methods (``start``,
``read``, ``stop``) flush the notes as warnings, so a warning always surfaces
where the user's code called the meter and never twice for the same problem.
"""

from __future__ import annotations

import threading
import warnings

from nature_callback.exceptions import MeterWarning


class OnceWarner:
    """Collects warning messages keyed by (device, kind) and emits each key once."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def note(self, device: str, kind: str, message: str) -> bool:
        """Queue ``message`` unless (device, kind) was noted before; True if queued."""
        with self._lock:
            if (device, kind) in self._seen:
                return False
            self._seen.add((device, kind))
            self._pending.append(message)
            return True

    def flush(self, stacklevel: int = 3) -> None:
        """Emit every queued message as a ``MeterWarning`` (call from the caller's thread)."""
        if not self._pending:  # the usual case, at every read: no lock needed to see it
            return
        with self._lock:
            messages, self._pending = self._pending, []
        for message in messages:
            warnings.warn(message, MeterWarning, stacklevel=stacklevel)
