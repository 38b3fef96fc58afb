"""convert(..., constant_current=True): the analog first layer runs once per input, outputs unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import spiking
from spiking import SpikingModel
from spiking.constant_current import HeldConv2d
from tests.spiking.conftest import TrainedDigits


@pytest.fixture(scope="module")
def held(digits: TrainedDigits) -> SpikingModel:
    """The ``digits_snn`` conversion (same data and settings) with a constant input current."""
    return spiking.convert(digits.model, digits.splits.train.tensors[0], timesteps=32, constant_current=True)


def _count_computations(layer: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    compute = layer._conv_forward

    def counted(*args: object) -> torch.Tensor:
        calls.append(1)
        return compute(*args)

    monkeypatch.setattr(layer, "_conv_forward", counted)
    return calls


def test_the_first_layer_runs_once_per_input_and_outputs_do_not_change(
    held: SpikingModel, digits_snn: SpikingModel, digits: TrainedDigits, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = held.snn.get_submodule("0")
    assert isinstance(first, HeldConv2d) and "constant input current" in held.config.describe()
    calls = _count_computations(first, monkeypatch)
    x = digits.splits.test.tensors[0]
    assert torch.equal(held.run(x[:64], timesteps=16), digits_snn.run(x[:64], timesteps=16))
    assert len(calls) == 1  # not 16
    assert torch.equal(held.run(x[64:], timesteps=16), digits_snn.run(x[64:], timesteps=16))  # a new batch
    batch = x[:64].clone()
    held.run(batch, timesteps=4)
    batch.mul_(0.5)  # changed in place: the held current must not be reused
    assert torch.equal(held.run(batch, timesteps=4), digits_snn.run(batch, timesteps=4))
    assert len(calls) == 4


def test_statistics_count_the_held_layer_once(held: SpikingModel, digits_snn: SpikingModel,
                                              digits: TrainedDigits) -> None:
    x = digits.splits.test.tensors[0][:64]
    held_stats, plain_stats = held.statistics(x, timesteps=16), digits_snn.statistics(x, timesteps=16)
    held_first, plain_first = held_stats.synapses[0], plain_stats.synapses[0]
    assert (held_first.macs_per_sample, held_first.constant_current) == (7_744, True)
    assert (plain_first.macs_per_sample, plain_first.constant_current) == (7_744 * 16, False)
    assert held_stats.synops_per_sample == plain_stats.synops_per_sample
    # the energy option gives the same estimate as the conversion option, and can undo it
    assert held_stats.energy("int32") == plain_stats.energy("int32", constant_current=True)
    assert held_stats.energy("int32", constant_current=False) == plain_stats.energy("int32")


def test_a_saved_model_keeps_holding(held: SpikingModel, digits: TrainedDigits, tmp_path: Path) -> None:
    held.save(tmp_path / "held.pt")
    loaded = spiking.load(tmp_path / "held.pt")
    x = digits.splits.test.tensors[0][:32]
    assert isinstance(loaded.snn.get_submodule("0"), HeldConv2d) and loaded.config.constant_current
    assert torch.equal(loaded.run(x, timesteps=8), held.run(x, timesteps=8))
