"""SpikingModel: running for T steps, state reset, input checks, save and load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import spiking
from spiking import InvalidInputError, ModelFileError, SpikingModel
from tests.spiking.conftest import TrainedDigits
from tests.spiking.helpers import assert_same_outputs


def test_run_returns_the_average_or_every_step(digits_snn: SpikingModel, digits: TrainedDigits) -> None:
    x = digits.splits.test.tensors[0][:16]
    per_step = digits_snn.run(x, timesteps=8, per_step=True)
    averaged = digits_snn.run(x, timesteps=8)
    assert per_step.shape == (8, 16, 10) and averaged.shape == (16, 10)
    assert torch.allclose(per_step.mean(0), averaged, atol=1e-6)
    assert digits_snn.run(x).shape == (16, 10)  # default T
    assert digits_snn.timesteps == 32


def test_state_is_reset_before_each_batch(digits_snn: SpikingModel, digits: TrainedDigits) -> None:
    x = digits.splits.test.tensors[0][:16]
    first = digits_snn.run(x, timesteps=5, per_step=True)
    digits_snn.run(torch.rand(3, 1, 8, 8), timesteps=3)  # leaves no state behind
    assert torch.equal(digits_snn.run(x, timesteps=5, per_step=True), first)
    # a batch's result does not depend on the batch it shares a run with (other batch sizes may
    # take other kernels, hence a tolerance)
    assert_same_outputs(digits_snn.run(x[:4], timesteps=5), digits_snn.run(x, timesteps=5)[:4])


@pytest.mark.parametrize(
    ("x", "timesteps", "message"),
    [
        (torch.rand(2, 1, 8, 8), 0, "timesteps must be >= 1"),
        (torch.rand(2, 1, 8, 8), 2.5, "timesteps must be an int"),
        (torch.rand(1, 8, 8), 4, r"unbatched sample .* x.unsqueeze\(0\)"),
        (torch.rand(2, 3, 8, 8), 4, r"\[2, 3, 8, 8\] does not match the shape seen at conversion, \[B, 1, 8, 8\]"),
        (torch.rand(0, 1, 8, 8), 4, "empty batch"),
        ([[1.0]], 4, "expected a torch.Tensor batch"),
    ],
)
def test_bad_input_is_a_clear_error(digits_snn: SpikingModel, x: object, timesteps: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        digits_snn.run(x, timesteps=timesteps)  # type: ignore[arg-type]


def test_save_and_load_round_trip(digits_snn: SpikingModel, digits: TrainedDigits, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "digits_snn.pt"
    digits_snn.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["digits_snn.pt"]  # no temporary file left
    loaded = spiking.load(path)
    x = digits.splits.test.tensors[0][:16]
    assert torch.equal(loaded.run(x, timesteps=10), digits_snn.run(x, timesteps=10))
    assert torch.equal(loaded.ann(x), digits_snn.ann(x))
    assert (loaded.timesteps, loaded.input_shape, loaded.config) == (
        digits_snn.timesteps, digits_snn.input_shape, digits_snn.config
    )
    assert loaded.statistics(x).to_dict() == digits_snn.statistics(x).to_dict()


def test_loading_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no spiking model file"):
        spiking.load(tmp_path / "missing.pt")
    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(ModelFileError, match="not written by SpikingModel.save"):
        spiking.load(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="not a readable spiking model file"):
        spiking.load(garbage)


def test_a_failed_save_leaves_no_file(digits_snn: SpikingModel, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_save(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(ModelFileError, match="disk full"):
        digits_snn.save(tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []
