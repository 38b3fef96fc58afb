"""spiking.convert on the demo CNN and on small models: accuracy, data forms, caller's model untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from spikingjelly.activation_based import neuron
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import spiking
import spiking.calibration
from spiking import CalibrationDataError, InvalidInputError, SpikingModel
from tests.spiking.conftest import TrainedDigits


def test_digits_snn_reaches_ann_accuracy_within_two_points_at_t32(digits: TrainedDigits) -> None:
    train_loader, _, test_loader = digits.splits.loaders(batch_size=128)
    model = spiking.convert(digits.model, train_loader, method="rate", mode="99.9%")
    result = model.evaluate(test_loader, timesteps=[32], progress=False)
    drop = result.drop_points(32)
    print(f"measured: ANN {100 * result.ann_accuracy:.2f} %, SNN at T=32 {100 * result.accuracy_at(32):.2f} %, "
          f"drop {drop:.2f} points on {result.samples} test samples")
    assert result.ann_accuracy > 0.9, "the fixture's CNN did not train"
    assert drop <= 2.0, f"SNN at T=32 is {drop:.2f} points below the ANN (limit 2)"


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "rate", "mode": "max"},
        {"method": "rate", "mode": "99.9%"},
        {"method": "rate", "mode": 0.9},
        {"method": "rate", "mode": "99%", "channel_wise": True},
        {"method": "ltb"},
    ],
    ids=["max", "percentile", "scaled-max", "channel-wise", "ltb"],
)
def test_every_recipe_mode_converts_and_stays_accurate(digits: TrainedDigits, settings: dict) -> None:
    x, y = digits.splits.test.tensors
    calibration = DataLoader(digits.splits.train, batch_size=32)  # LTB needs many batches
    model = spiking.convert(digits.model, calibration, timesteps=64, **settings)
    neurons = [m for m in model.snn.modules() if isinstance(m, neuron.BaseNode)]
    assert len(neurons) == 3  # one per ReLU of DigitsCNN
    accuracy = (model.run(x).argmax(1) == y).float().mean().item()
    ann_accuracy = (digits.model(x).argmax(1) == y).float().mean().item()
    print(f"{settings}: ANN {ann_accuracy:.4f}, SNN at T=64 {accuracy:.4f}")
    assert accuracy >= ann_accuracy - 0.05


def test_ltb_on_few_batches_warns(digits: TrainedDigits) -> None:
    with pytest.warns(spiking.SpikingWarning, match="calibrated on only 1 batch"):
        spiking.convert(digits.model, digits.splits.train.tensors[0][:200], method="ltb")


def test_the_callers_model_is_not_modified(digits: TrainedDigits) -> None:
    model = copy.deepcopy(digits.model).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = spiking.convert(model, digits.splits.train.tensors[0][:64])
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    callers = {id(p) for p in model.parameters()}
    assert not callers & {id(p) for p in converted.ann.parameters()}
    assert not callers & {id(p) for p in converted.snn.parameters()}
    assert not converted.ann.training


def test_calibration_data_may_be_a_loader_tensors_pairs_or_batches(digits: TrainedDigits) -> None:
    x, y = digits.splits.train.tensors
    x, y = x[:200], y[:200]
    forms = {
        "tensor": x,
        "pair": (x, y),
        "list of tensors": [x[:100], x[100:]],
        "list of (x, y)": [(x[:100], y[:100]), (x[100:], y[100:])],
        "dataloader": DataLoader(TensorDataset(x, y), batch_size=50),
        "dataset": TensorDataset(x, y),
        "dicts": [{"x": x, "y": y}],
    }
    thresholds = {}
    for name, data in forms.items():
        model = spiking.convert(digits.model, data, mode="max", momentum=0.0 if name != "dataloader" else 0.1)
        assert isinstance(model, SpikingModel), name
        assert model.input_shape == (1, 8, 8)
        thresholds[name] = float(model.snn.get_submodule("spiking_0.scaler1").scale)
    # 'max' with momentum 0 keeps the first batch's maximum: same data first, same threshold
    assert thresholds["tensor"] == thresholds["pair"] == thresholds["dataset"] == thresholds["dicts"]


def test_empty_calibration_data_is_a_clear_error(digits: TrainedDigits) -> None:
    for empty in ([], torch.empty(0, 1, 8, 8), DataLoader(TensorDataset(torch.empty(0, 1, 8, 8)), batch_size=4)):
        with pytest.raises(CalibrationDataError, match="calibration_data is empty"):
            spiking.convert(digits.model, empty)


def test_wrong_calibration_shapes_are_clear_errors(digits: TrainedDigits) -> None:
    with pytest.raises(InvalidInputError, match=r"cannot run on calibration inputs of shape \[B, 3, 8, 8\]"):
        spiking.convert(digits.model, torch.rand(4, 3, 8, 8))
    with pytest.raises(InvalidInputError, match="all samples must share one shape"):
        spiking.convert(digits.model, [torch.rand(4, 1, 8, 8), torch.rand(4, 1, 9, 9)])
    with pytest.raises(CalibrationDataError, match="inputs of type str"):
        spiking.convert(digits.model, [("not", "a tensor")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timesteps": 0}, "timesteps must be an int >= 1"),
        ({"mode": "median"}, "not a rate-coding mode"),
        ({"mode": 1.5}, "not a rate-coding mode"),
        ({"method": "ttfs"}, "method='ttfs' is unknown"),
        ({"pre_spike_maxpool": True}, "needs channel_wise=True"),
        ({"calibration_batches": 0}, "calibration_batches must be None or an int >= 1"),
    ],
)
def test_bad_settings_are_rejected_before_converting(digits: TrainedDigits, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        spiking.convert(digits.model, digits.splits.train.tensors[0][:8], **kwargs)


def _wide_conv() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)
    ).eval()


@pytest.mark.slow
def test_percentile_calibration_on_a_batch_above_2_to_the_24_elements_works() -> None:
    model = _wide_conv()
    batch = torch.rand(70, 1, 64, 64)  # ReLU output: 70 x 64 x 64 x 64 = 18.4 M elements > 2^24
    converted = spiking.convert(model, batch, mode="99.9%")
    scale = float(converted.snn.get_submodule("spiking_0.scaler1").scale)
    with torch.no_grad():
        activations = model[1](model[0](batch))
    # the threshold lies between the activations' 99th percentile and their maximum
    assert torch.quantile(activations[:30].flatten(), 0.99) < scale <= activations.max()


def _record_quantile_sizes(monkeypatch: pytest.MonkeyPatch, limit: int) -> list[int]:
    """Stand in for a torch whose quantile refuses more than ``limit`` elements (torch before the
    limit was lifted; torch 2.14, installed here, has none) and record every call's size."""
    sizes: list[int] = []
    real_quantile = torch.quantile

    def limited_quantile(values: torch.Tensor, q: float, *args: object, **kwargs: object) -> torch.Tensor:
        sizes.append(values.numel())
        if values.numel() > limit:
            raise RuntimeError("quantile() input tensor is too large")
        return real_quantile(values, q, *args, **kwargs)

    monkeypatch.setattr(torch, "quantile", limited_quantile)
    monkeypatch.setattr("spiking.calibration.PERCENTILE_ELEMENT_LIMIT", limit)
    monkeypatch.setattr("spiking.config.PERCENTILE_ELEMENT_LIMIT", limit)
    spiking.calibration.quantile_size_limited.cache_clear()
    return sizes


def test_where_quantile_is_size_limited_calibration_batches_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _record_quantile_sizes(monkeypatch, limit=64 * 16 * 16 * 10)  # 10 samples of 64x16x16
    try:
        assert spiking.calibration.quantile_size_limited()
        converted = spiking.convert(_wide_conv(), torch.rand(45, 1, 16, 16), mode="99.9%")
    finally:
        spiking.calibration.quantile_size_limited.cache_clear()
    calibration_sizes = sizes[1:]  # the first call is the limit probe
    assert calibration_sizes == [64 * 16 * 16 * 10] * 4 + [64 * 16 * 16 * 5]
    assert isinstance(converted, SpikingModel)


def test_a_single_sample_above_the_quantile_limit_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _record_quantile_sizes(monkeypatch, limit=1000)
    try:
        with pytest.raises(CalibrationDataError, match=r"activation of 1 has 65,536 elements .* mode='max'"):
            spiking.convert(_wide_conv(), torch.rand(2, 1, 32, 32), mode="99.9%")
        # max mode computes no quantile, so it has no limit
        assert isinstance(spiking.convert(_wide_conv(), torch.rand(2, 1, 32, 32), mode="max"), SpikingModel)
    finally:
        spiking.calibration.quantile_size_limited.cache_clear()
