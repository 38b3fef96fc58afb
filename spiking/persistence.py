"""Save a ``SpikingModel`` to one file and load it back.

The file is a ``torch.save`` archive of two ``torch.fx`` GraphModules, the converted SNN and the
ANN's trace (a GraphModule stores its generated code, so loading needs neither the model's source
nor its class; the ANN comes back as an equivalent GraphModule with the same module paths), and
the metadata needed to rebuild the ``SpikingModel``. Like any pickle, load only files you trust.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import spikingjelly
import torch

from nature_callback.files import atomic_write
from spiking.checks import trace
from spiking.config import ConversionConfig
from spiking.exceptions import ModelFileError
from spiking.model import SpikingModel

FORMAT = "spiking.SpikingModel"
"""Value of the ``format`` entry that marks a file written by ``save``."""
FORMAT_VERSION = 1
"""Layout version of the saved dictionary."""


def save(model: SpikingModel, path: str | PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "ann": trace(model.ann),
        "snn": model.snn,
        "timesteps": model.timesteps,
        "input_shape": list(model.input_shape),
        "config": model.config.to_dict(),
        "torch_version": torch.__version__,
        "spikingjelly_version": getattr(spikingjelly, "__version__", "unknown"),
    }
    try:
        atomic_write(target, lambda temporary: torch.save(payload, temporary))
    except Exception as err:
        raise ModelFileError(f"cannot write a spiking model to {target}: {err}") from err


def load(path: str | PathLike[str], map_location: str | torch.device | None = None) -> SpikingModel:
    """Read a model written by ``SpikingModel.save``; ``map_location`` as in ``torch.load``."""
    source = Path(path)
    if not source.is_file():
        raise ModelFileError(f"no spiking model file at {source}.")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=False)
    except Exception as err:  # unpickling raises many types (EOFError, UnpicklingError, ...)
        raise ModelFileError(f"{source} is not a readable spiking model file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{source} was not written by SpikingModel.save (no '{FORMAT}' marker).")
    if payload.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has layout version {payload.get('version')}; this version reads {FORMAT_VERSION}."
        )
    return SpikingModel(
        payload["ann"],
        payload["snn"],
        payload["timesteps"],
        payload["input_shape"],
        ConversionConfig(**payload["config"]),
    )
