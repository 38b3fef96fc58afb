"""Measure the energy and carbon of training and log the NATURE metric.

    from nature_callback import NatureTracker          # plain PyTorch, no Lightning needed
    from nature_callback import NatureCallback         # Lightning (the "lightning" extra)

``NatureCallback`` and ``CarbonBudget`` are imported on first use, so ``import
nature_callback`` loads neither torch nor Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.decorator import track
from nature_callback.records import EpochRecord, RunSummary
from nature_callback.distributed import torch_distributed
from nature_callback.tracker import Distributed, NatureTracker

if TYPE_CHECKING:
    from nature_callback.integrations.carbon_budget import CarbonBudget
    from nature_callback.integrations.lightning import NatureCallback

__version__ = "0.1.0"

__all__ = [
    "CarbonBudget",
    "DEFAULT_PUE",
    "Distributed",
    "EpochRecord",
    "NatureCallback",
    "NatureConfig",
    "NatureTracker",
    "RunSummary",
    "__version__",
    "torch_distributed",
    "track",
]


_LAZY = {
    "NatureCallback": "nature_callback.integrations.lightning",
    "CarbonBudget": "nature_callback.integrations.carbon_budget",
}
"""Names imported on first use (they need Lightning, or are rarely used)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nature_callback' has no attribute {name!r}")
