"""Measure the energy and carbon of training and log the NATURE metric.

    from nature_callback import NatureTracker          # plain PyTorch, no Lightning needed
    from nature_callback import NatureCallback         # Lightning (the "lightning" extra)

``NatureCallback`` is imported on first use, so ``import nature_callback`` loads neither torch
nor Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.records import EpochRecord, RunSummary
from nature_callback.tracker import Distributed, NatureTracker

if TYPE_CHECKING:
    from nature_callback.integrations.lightning import NatureCallback

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PUE",
    "Distributed",
    "EpochRecord",
    "NatureCallback",
    "NatureConfig",
    "NatureTracker",
    "RunSummary",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "NatureCallback":
        from nature_callback.integrations.lightning import NatureCallback

        return NatureCallback
    raise AttributeError(f"module 'nature_callback' has no attribute {name!r}")
