"""Measure the energy and carbon of training and log the NATURE metric.

    from nature_callback import NatureCallback
    trainer = Trainer(callbacks=[NatureCallback(pue=1.2, carbon="DE")])
"""

from nature_callback.callbacks.lightning import NatureCallback
from nature_callback.config import DEFAULT_PUE, NatureConfig
from nature_callback.records import EpochRecord, RunSummary
from nature_callback.tracker import NatureTracker

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PUE",
    "EpochRecord",
    "NatureCallback",
    "NatureConfig",
    "NatureTracker",
    "RunSummary",
    "__version__",
]
