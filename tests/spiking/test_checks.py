"""Pre-conversion checks: every unsupported part is named, max pooling of spikes is warned about."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spiking
from spiking import SpikePoolingWarning, UnsupportedModelError


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class Messy(nn.Module):
    """One of each unsupported kind, at different depths."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU6())
        self.block = Block()
        self.features = nn.Sequential(nn.Conv2d(4, 4, 1), nn.LeakyReLU(), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.norm = nn.LayerNorm([4, 8, 8])
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(256, 10), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(self.block(self.stem(x)))))


def test_one_error_names_every_unsupported_module_with_its_path_type_and_fix() -> None:
    with pytest.raises(UnsupportedModelError) as caught:
        spiking.convert(Messy(), torch.rand(4, 1, 8, 8))
    message = str(caught.value)
    assert "5 unsupported part(s)" in message
    expected = [
        "stem.1 (ReLU6)",
        "block (Block.forward) (torch.nn.functional.relu): only nn.ReLU modules become spiking neurons",
        "features.1 (LeakyReLU)",
        "norm (LayerNorm)",
        "head.2 (Sigmoid)",
    ]
    for part in expected:
        assert part in message, f"{part!r} missing from:\n{message}"
    assert "features.3" not in message  # the nn.ReLU is fine


def test_unsupported_parts_are_available_as_data() -> None:
    parts = spiking.find_unsupported_parts(spiking.checks.trace(Messy()))
    assert [(p.path, p.kind) for p in parts] == [
        ("stem.1", "ReLU6"),
        ("block (Block.forward)", "torch.nn.functional.relu"),
        ("features.1", "LeakyReLU"),
        ("norm", "LayerNorm"),
        ("head.2", "Sigmoid"),
    ]


def test_tensor_relu_method_and_relu_subclass_are_reported() -> None:
    class MyReLU(nn.ReLU):
        pass

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = MyReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.fc(x).relu())

    with pytest.raises(UnsupportedModelError) as caught:
        spiking.convert(Net(), torch.rand(2, 4))
    assert "<root> (Net.forward) (Tensor.relu())" in str(caught.value)
    # a ReLU subclass is traced through: its F.relu call is reported inside it
    assert "act (MyReLU.forward) (torch.nn.functional.relu)" in str(caught.value)


def test_a_model_without_relu_or_untraceable_is_rejected() -> None:
    with pytest.raises(UnsupportedModelError, match="no nn.ReLU module"):
        spiking.convert(nn.Sequential(nn.Linear(4, 2)), torch.rand(2, 4))

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow
                return self.act(self.fc(x))
            return x

    with pytest.raises(UnsupportedModelError, match="cannot be traced by torch.fx"):
        spiking.convert(Branchy(), torch.rand(2, 4))


def _pooled(pool: nn.Module) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), pool, nn.Flatten(), nn.Linear(64, 10)
    ).eval()


def test_max_pooling_after_a_relu_warns_and_names_the_alternatives() -> None:
    with pytest.warns(SpikePoolingWarning, match=r"2 \(MaxPool2d\).*nn.AvgPool2d.*method='ltb'.*pre_spike_maxpool=True"):
        spiking.convert(_pooled(nn.MaxPool2d(2)), torch.rand(8, 1, 8, 8))


@pytest.mark.parametrize(
    ("pool", "settings"),
    [
        (nn.AvgPool2d(2), {}),
        (nn.MaxPool2d(2), {"method": "ltb"}),
        (nn.MaxPool2d(2), {"channel_wise": True, "pre_spike_maxpool": True}),
    ],
    ids=["avgpool", "ltb", "pre-spike-maxpool"],
)
def test_no_pooling_warning_with_the_supported_alternatives(pool: nn.Module, settings: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpikePoolingWarning)
        spiking.convert(_pooled(pool), [torch.rand(8, 1, 8, 8) for _ in range(10)], **settings)
