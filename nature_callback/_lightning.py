"""Import Lightning from whichever namespace is installed.

``pytorch_lightning`` (a runtime dependency) and ``lightning.pytorch`` (the
unified package) define distinct ``Callback`` classes, and a Trainer rejects a
callback derived from the other namespace's class. The callback therefore
derives from every ``Callback`` base that is importable (see
``callbacks/lightning.py``).
"""

from __future__ import annotations

import importlib
from types import ModuleType


def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


LIGHTNING_NAMESPACES: tuple[ModuleType, ...] = tuple(
    module for module in (_try_import("lightning.pytorch"), _try_import("pytorch_lightning")) if module
)
"""Every importable Lightning namespace, the unified ``lightning.pytorch`` first."""

if not LIGHTNING_NAMESPACES:  # pragma: no cover - pytorch-lightning is a dependency
    raise ImportError(
        "nature_callback needs PyTorch Lightning: pip install pytorch-lightning (or lightning)."
    )

pl: ModuleType = LIGHTNING_NAMESPACES[0]
"""The preferred Lightning namespace (used for Trainer, LightningModule in the demo)."""


class CallbackBase(*(namespace.Callback for namespace in LIGHTNING_NAMESPACES)):  # type: ignore[misc]
    """A ``Callback`` that every installed Lightning namespace's Trainer accepts."""
