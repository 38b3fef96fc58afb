"""Model files: nothing in a file runs code on load; malformed files are a clear ModelFileError."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

import spiking
from spiking import ModelFileError, SpikingModel
from spiking.checks import trace
from spiking.persistence import FORMAT, PICKLED_GRAPH_VERSION
from spiking.safe_graph import SAFE_MODULE_TYPES
from tests.spiking.conftest import TrainedDigits


class _Payload:
    """Unpickling this object creates ``marker`` (what a malicious file would do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker, crafted = tmp_path / "marker", tmp_path / "crafted.pt"
    torch.save({"format": FORMAT, "version": 2, "snn": _Payload(marker)}, crafted)
    with pytest.raises(ModelFileError, match=r"crafted\.pt .*refers to (io|builtins)\.open.*trusted=True"):
        spiking.load(crafted)
    assert not marker.exists()
    # the payload is real: trusted loading unpickles without restriction and runs it
    with pytest.raises(ModelFileError, match="crafted.pt"):
        spiking.load(crafted, trusted=True)
    assert marker.exists()


def _saved_payload(model: SpikingModel, path: Path) -> dict[str, Any]:
    model.save(path)
    with torch.serialization.safe_globals(list(SAFE_MODULE_TYPES)):
        return torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target", "builtins.eval", "calls 'builtins.eval', which is not an allowed function"),
        ("op", "call_method", "which is not an allowed method"),
        ("name", "x; import os", "is not a new identifier"),
    ],
)
def test_a_graph_outside_the_allow_lists_is_refused(
    digits_snn: SpikingModel, tmp_path: Path, field: str, value: str, message: str
) -> None:
    path = tmp_path / "tampered.pt"
    payload = _saved_payload(digits_snn, path)
    node = payload["snn"]["nodes"][1]  # the first layer's call
    node[field] = value
    if field == "target":
        node["op"] = "call_function"
    if field == "op":
        node["target"] = "__reduce_ex__"
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match=rf"tampered\.pt is malformed: the 'snn' graph: .*{message}"):
        spiking.load(path)


def test_a_module_with_a_hook_is_refused(digits_snn: SpikingModel, tmp_path: Path) -> None:
    path = tmp_path / "hooked.pt"
    payload = _saved_payload(digits_snn, path)
    payload["snn"]["attributes"]["0"]._forward_hooks[0] = torch.nn.Identity()  # an allowed type, as a hook
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match=r"hooked\.pt is malformed: .*module '0' carries hooks"):
        spiking.load(path)


def _damaged(saved: bytes, kind: str) -> bytes:
    noise = random.Random(0).randbytes(4096)
    return {
        "truncated": saved[: len(saved) // 2],
        "random bytes": noise,
        "random bytes after a zip header": b"PK\x03\x04" + noise,
        "empty": b"",
    }[kind]


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "random bytes after a zip header", "empty"])
def test_a_damaged_file_raises_model_file_error_naming_it(digits_snn: SpikingModel, tmp_path: Path, kind: str) -> None:
    saved = tmp_path / "model.pt"
    digits_snn.save(saved)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(_damaged(saved.read_bytes(), kind))
    with pytest.raises(ModelFileError) as caught:
        spiking.load(damaged)
    assert str(caught.value).startswith(f"{damaged} is not a readable spiking model file: ")


def test_format_1_files_load_only_when_trusted(digits_snn: SpikingModel, digits: TrainedDigits, tmp_path: Path) -> None:
    path = tmp_path / "old.pt"  # the layout earlier releases wrote: pickled GraphModules
    torch.save(
        {"format": FORMAT, "version": PICKLED_GRAPH_VERSION, "ann": trace(digits_snn.ann), "snn": digits_snn.snn,
         "timesteps": 32, "input_shape": [1, 8, 8], "config": digits_snn.config.to_dict()},
        path,
    )
    with pytest.raises(ModelFileError, match=r"old\.pt .*reduce_graph_module.*trusted=True"):
        spiking.load(path)
    x = digits.splits.test.tensors[0][:16]
    assert torch.equal(spiking.load(path, trusted=True).run(x, timesteps=10), digits_snn.run(x, timesteps=10))
