"""The file format of a saved ``SpikingModel``: write its parts to one file and read them back.

The file is a ``torch.save`` archive of two ``torch.fx`` GraphModules, the converted SNN and the
ANN's trace (a GraphModule stores its generated code, so loading needs neither the model's source
nor its class; the ANN comes back as an equivalent GraphModule with the same module paths), and
the metadata needed to rebuild the ``SpikingModel``. Like any pickle, load only files you trust.

``SpikingModel.save`` and ``spiking.load`` (in ``spiking.model``) are the public entry points.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import spikingjelly
import torch
from torch import fx, nn

from nature_callback.files import atomic_write
from spiking.checks import trace
from spiking.config import ConversionConfig
from spiking.exceptions import ModelFileError

FORMAT = "spiking.SpikingModel"
"""Value of the ``format`` entry that marks a file written by ``save``."""
FORMAT_VERSION = 1
"""Layout version of the saved dictionary."""


def write_model_file(
    path: str | PathLike[str],
    *,
    ann: nn.Module,
    snn: fx.GraphModule,
    timesteps: int,
    input_shape: Sequence[int],
    config: ConversionConfig,
) -> None:
    """Write a model's parts to ``path`` atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "ann": trace(ann),
        "snn": snn,
        "timesteps": timesteps,
        "input_shape": list(input_shape),
        "config": config.to_dict(),
        "torch_version": torch.__version__,
        "spikingjelly_version": getattr(spikingjelly, "__version__", "unknown"),
    }
    try:
        atomic_write(target, lambda temporary: torch.save(payload, temporary))
    except Exception as err:
        raise ModelFileError(f"cannot write a spiking model to {target}: {err}") from err


def read_model_file(
    path: str | PathLike[str], map_location: str | torch.device | None = None
) -> dict[str, Any]:
    """The parts written by ``write_model_file``, keyed like ``SpikingModel``'s arguments
    (``ann``, ``snn``, ``timesteps``, ``input_shape``, ``config``); ``map_location`` as in
    ``torch.load``."""
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
    return {
        "ann": payload["ann"],
        "snn": payload["snn"],
        "timesteps": payload["timesteps"],
        "input_shape": payload["input_shape"],
        "config": ConversionConfig(**payload["config"]),
    }
