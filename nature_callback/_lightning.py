"""Import one Lightning namespace: ``lightning.pytorch`` when the unified ``lightning`` package
is installed, else ``pytorch_lightning``.

Both Trainers accept a callback derived from either namespace's ``Callback`` (they call its
hooks by name), so one import is enough.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

INSTALL_HINT = 'pip install "nature-callback[lightning]"'


def _import_lightning() -> ModuleType:
    for package, module in (("lightning", "lightning.pytorch"),
                            ("pytorch_lightning", "pytorch_lightning")):
        if importlib.util.find_spec(package) is not None:
            return importlib.import_module(module)
    raise ImportError(
        f"NatureCallback needs PyTorch Lightning, which is not installed: {INSTALL_HINT} "
        "(or pip install lightning). NatureTracker works without it."
    )


pl: ModuleType = _import_lightning()
"""The Lightning namespace in use."""

CallbackBase = pl.Callback
"""The ``Callback`` base class of that namespace."""
