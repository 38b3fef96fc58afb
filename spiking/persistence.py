"""The file format of a saved ``SpikingModel``: write its parts to one file and read them back.

The file is a ``torch.save`` archive of a dictionary: the converted SNN and the ANN's ``torch.fx``
trace, each stored by ``spiking.safe_graph`` as node records beside the modules and tensors they
use (a trace needs neither the model's source nor its class; the ANN comes back as an equivalent
GraphModule with the same module paths), and the metadata needed to rebuild the ``SpikingModel``.

Reading uses ``torch.load(weights_only=True)`` with an allow-list of module types, so a crafted
file cannot run code; the graph is rebuilt from checked parts only. Files of format version 1
(earlier releases: pickled GraphModules, whose unpickling runs the code they carry) and files of
other tools load only with ``trusted=True``, which unpickles without restriction.

``SpikingModel.save`` and ``spiking.load`` (in ``spiking.model``) are the public entry points.
"""

from __future__ import annotations

import pickle
import re
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
from spiking.safe_graph import (
    SAFE_MODULE_TYPES,
    GraphFormatError,
    decode_graph_module,
    encode_graph_module,
)

FORMAT = "spiking.SpikingModel"
"""Value of the ``format`` entry that marks a file written by ``save``."""
FORMAT_VERSION = 2
"""Layout version of the saved dictionary: 2 stores graphs as checked data (``safe_graph``)."""
PICKLED_GRAPH_VERSION = 1
"""Layout of earlier releases: pickled GraphModules, read only with ``trusted=True``."""
_ZIP_MAGIC = b"PK\x03\x04"
"""First bytes of every ``torch.save`` archive (a zip file)."""


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
    try:
        payload: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "ann": encode_graph_module(trace(ann)),
            "snn": encode_graph_module(snn),
            "timesteps": timesteps,
            "input_shape": list(input_shape),
            "config": config.to_dict(),
            "torch_version": str(torch.__version__),
            "spikingjelly_version": str(getattr(spikingjelly, "__version__", "unknown")),
        }
        atomic_write(target, lambda temporary: torch.save(payload, temporary))
    except Exception as err:
        raise ModelFileError(f"cannot write a spiking model to {target}: {err}") from err


def _load_error(source: Path, err: Exception) -> ModelFileError:
    """A ``ModelFileError`` that names ``source`` and says, in one line, what ``torch.load`` refused."""
    text = str(err)
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused:
        return ModelFileError(
            f"{source} is not a readable spiking model file: it refers to {refused.group(1)}, which safe "
            "loading refuses because unpickling it can run code. Files of earlier releases "
            "(format 1) and of other tools are such pickles: load one with spiking.load(path, trusted=True) "
            "only if you trust where it comes from."
        )
    if isinstance(err, RuntimeError) and "zip archive" in text:
        return ModelFileError(f"{source} is not a readable spiking model file: the archive is truncated or damaged.")
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return ModelFileError(f"{source} is not a readable spiking model file: {type(err).__name__}: {first_line[:200]}")


def _read_payload(source: Path, map_location: str | torch.device | None, trusted: bool) -> Any:
    if not source.is_file():
        raise ModelFileError(f"no spiking model file at {source}.")
    with source.open("rb") as handle:
        magic = handle.read(len(_ZIP_MAGIC))
    if magic != _ZIP_MAGIC:
        problem = "the file is empty" if not magic else "it is not a torch.save archive (no zip header)"
        raise ModelFileError(f"{source} is not a readable spiking model file: {problem}.")
    try:
        if trusted:
            return torch.load(source, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(list(SAFE_MODULE_TYPES)):
            return torch.load(source, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError,
            KeyError) as err:  # what a damaged archive or a refused pickle raises
        raise _load_error(source, err) from err


def _graph(payload: dict[str, Any], key: str, version: int) -> fx.GraphModule:
    stored = payload.get(key)
    if version == PICKLED_GRAPH_VERSION:  # trusted: the GraphModule itself was unpickled
        if not isinstance(stored, fx.GraphModule):
            raise GraphFormatError(f"the '{key}' entry is a {type(stored).__name__}, not a GraphModule")
        return stored
    try:
        return decode_graph_module(stored)
    except GraphFormatError as err:
        raise GraphFormatError(f"the '{key}' graph: {err}") from err


def read_model_file(
    path: str | PathLike[str], map_location: str | torch.device | None = None, *, trusted: bool = False
) -> dict[str, Any]:
    """The parts written by ``write_model_file``, keyed like ``SpikingModel``'s arguments
    (``ann``, ``snn``, ``timesteps``, ``input_shape``, ``config``); ``map_location`` as in
    ``torch.load``. ``trusted=True`` unpickles without restriction (format 1 files need it): only for
    files whose origin you trust."""
    source = Path(path)
    payload = _read_payload(source, map_location, trusted)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{source} was not written by SpikingModel.save (no '{FORMAT}' marker).")
    version = payload.get("version")
    readable = (FORMAT_VERSION, PICKLED_GRAPH_VERSION) if trusted else (FORMAT_VERSION,)
    if not isinstance(version, int) or version not in readable:
        hint = " (format 1 pickles graphs: pass trusted=True if you trust the file)" if version == 1 else ""
        raise ModelFileError(f"{source} has layout version {version!r}; this version reads {FORMAT_VERSION}{hint}.")
    try:
        timesteps, input_shape, config = payload["timesteps"], payload["input_shape"], payload["config"]
        if not isinstance(config, dict):
            raise GraphFormatError(f"the 'config' entry is a {type(config).__name__}, not a dict")
        if not isinstance(timesteps, int) or not (
            isinstance(input_shape, list) and all(isinstance(size, int) for size in input_shape)
        ):
            raise GraphFormatError("the 'timesteps' or 'input_shape' entry is not an int / a list of ints")
        return {
            "ann": _graph(payload, "ann", version),
            "snn": _graph(payload, "snn", version),
            "timesteps": timesteps,
            "input_shape": input_shape,
            "config": ConversionConfig(**config),
        }
    except KeyError as err:
        raise ModelFileError(f"{source} is incomplete: it has no {err} entry.") from err
    except (GraphFormatError, TypeError, ValueError) as err:  # ConversionConfig raises InvalidInputError (ValueError)
        raise ModelFileError(f"{source} is malformed: {err}") from err
