"""``track``: measure each call of a function as a run with one named window.

    @track(carbon="DE", project="inference")
    def predict(batch):
        ...

Each call is one run: its records go to ``<output_dir>/<window>_<time>/`` (``output_dir``
defaults to ``nature_logs``) and its ledger row to the run ledger. ``predict.last_run`` holds
the last call's ``RunSummary``, ``predict.last_window`` its ``WindowRecord`` (time, energy,
power by device kind and device).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from nature_callback.tracker import NatureTracker

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_OUTPUT_DIR = Path("nature_logs")


def window_name(name: str) -> str:
    """A function's or program's name as a window name: lower case, other characters as
    underscores."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower()) or "call"


def run_folder(base_dir: Path, window: str) -> Path:
    """The folder of one measured call: ``<base_dir>/<window>_<UTC time to the µs>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S_%f")
    return base_dir / f"{window}_{stamp}"


def track(function: F | None = None, *, window: str | None = None,
          **tracker_options: Any) -> Any:
    """Decorate a function so that each call is measured by a ``NatureTracker`` (options as
    for ``NatureTracker``; ``output_dir`` is the folder the runs' folders go in)."""
    base_dir = Path(tracker_options.pop("output_dir", None) or DEFAULT_OUTPUT_DIR)
    NatureTracker(**tracker_options, output_dir=base_dir)  # every option checked now

    def decorate(target: F) -> F:
        name = window or window_name(target.__name__)

        @functools.wraps(target)
        def measured(*args: Any, **kwargs: Any) -> Any:
            tracker = NatureTracker(**tracker_options, output_dir=run_folder(base_dir, name))
            with tracker:
                with tracker.window(name):
                    result = target(*args, **kwargs)
            measured.last_run = tracker.summary()  # type: ignore[attr-defined]
            measured.last_window = tracker.window_records[-1]  # type: ignore[attr-defined]
            return result

        measured.last_run = measured.last_window = None  # type: ignore[attr-defined]
        return measured  # type: ignore[return-value]

    return decorate(function) if function is not None else decorate


__all__ = ["track"]
