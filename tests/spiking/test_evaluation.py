"""Accuracy over several T, the smallest-T helper, progress bars."""

from __future__ import annotations

import pytest
import torch

from spiking import CalibrationDataError, EvaluationResult, InvalidInputError, SpikingModel
from tests.spiking.conftest import TrainedDigits


def test_accuracy_per_t_equals_separate_runs(digits_snn: SpikingModel, digits: TrainedDigits) -> None:
    x, y = digits.splits.test.tensors
    # one batch, as in the separate runs: the same kernels, so the same outputs bit for bit
    result = digits_snn.evaluate([(x, y)], timesteps=[16, 4, 8, 8], progress=False)
    assert result.timesteps == (4, 8, 16)  # sorted, distinct
    for t in result.timesteps:
        separate = (digits_snn.run(x, timesteps=t).argmax(1) == y).float().mean().item()
        assert result.accuracy_at(t) == pytest.approx(separate)
    assert result.ann_accuracy == pytest.approx((digits.model(x).argmax(1) == y).float().mean().item())
    assert result.samples == len(y)
    print(result.to_table())


def _result() -> EvaluationResult:
    return EvaluationResult(timesteps=(4, 8, 16, 32), snn_accuracy=(0.50, 0.955, 0.968, 0.97),
                            ann_accuracy=0.97, samples=100)


def test_smallest_t_within_a_drop() -> None:
    result = _result()
    assert result.smallest_timesteps(2.0) == 8  # 1.5 points below
    assert result.smallest_timesteps(1.0) == 16  # 0.2 points below
    assert result.smallest_timesteps(0.0) == 32
    assert EvaluationResult((4,), (0.5,), 0.97, 100).smallest_timesteps(1.0) is None
    assert result.drop_points(8) == pytest.approx(1.5)
    with pytest.raises(InvalidInputError, match="T = 12 was not evaluated"):
        result.accuracy_at(12)
    with pytest.raises(InvalidInputError, match="max_drop_points must be a number >= 0"):
        result.smallest_timesteps(-1)
    assert result.to_dict()["snn_accuracy"] == [0.50, 0.955, 0.968, 0.97]


def test_progress_bar_is_shown_unless_switched_off(digits_snn: SpikingModel, digits: TrainedDigits,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = digits.splits.loaders(batch_size=128)[2]
    digits_snn.evaluate(data, timesteps=[2], progress=True)
    assert "evaluating SNN" in capsys.readouterr().err
    digits_snn.evaluate(data, timesteps=[2], progress=False)
    assert "evaluating SNN" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "timesteps", "error", "message"),
    [
        (torch.rand(4, 1, 8, 8), [8], CalibrationDataError, "has no labels"),
        ([], [8], CalibrationDataError, "data is empty"),
        ((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)), [], InvalidInputError, "timesteps is empty"),
        ((torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)), [0, 8], InvalidInputError, "must be >= 1"),
        ((torch.rand(4, 2, 8, 8), torch.zeros(4, dtype=torch.long)), [8], InvalidInputError, "does not match"),
    ],
)
def test_bad_evaluation_input_is_a_clear_error(digits_snn: SpikingModel, data: object, timesteps: list,
                                               error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        digits_snn.evaluate(data, timesteps=timesteps, progress=False)  # type: ignore[arg-type]


def test_count_batches_matches_what_iter_batches_reads() -> None:
    from torch.utils.data import TensorDataset

    from spiking.data import count_batches, iter_batches

    x, y = torch.rand(10, 3), torch.arange(10)
    for data in ((x, y), x, TensorDataset(x, y), [x[:4], x[4:]]):
        assert count_batches(data, name="data", batch_size=4) == len(list(iter_batches(data, name="data", batch_size=4)))
    assert count_batches(iter([x]), name="data") is None  # no length
    with pytest.raises(CalibrationDataError, match="data of type int is not usable"):
        count_batches(42, name="data")
