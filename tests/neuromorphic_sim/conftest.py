"""Fixtures of the crossbar tests: a small trained digits CNN and its spiking conversion."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from spikingjelly.activation_based import ann2snn
from torch import fx, nn

import spiking
from nature_callback.digits import DigitsCNN, DigitsSplits, load_digits_splits
from neuromorphic_sim import HardwareConfig, presets


@dataclass(frozen=True)
class Trained:
    """A trained ANN, its SpikingModel, and the data."""

    ann: nn.Module
    model: spiking.SpikingModel
    splits: DigitsSplits


def _train(splits: DigitsSplits) -> nn.Module:
    """15 epochs of Adam on the digits (~1 s, ~95 % test accuracy), fixed seed."""
    torch.manual_seed(0)
    model = DigitsCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs, labels = splits.train.tensors
    generator = torch.Generator().manual_seed(0)
    for _ in range(15):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), 32):
            batch = order[start : start + 32]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
            optimiser.step()
    return model.eval()


@pytest.fixture(scope="session")
def trained() -> Trained:
    """The trained digits CNN converted with spiking.convert (rate coding, 99.9 %, T = 16)."""
    torch.set_num_threads(1)
    splits = load_digits_splits()
    ann = _train(splits)
    model = spiking.convert(ann, splits.train, timesteps=16)
    return Trained(ann, model, splits)


@pytest.fixture(scope="session")
def random_graph() -> fx.GraphModule:
    """An untrained digits CNN converted by spikingjelly directly (a bare GraphModule)."""
    torch.manual_seed(1)
    splits = load_digits_splits()
    inputs = splits.train.tensors[0][:256]
    loader = torch.utils.data.DataLoader(inputs, batch_size=128)
    return ann2snn.Converter(ann2snn.RateCodingRecipe(loader, mode="99.9%")).convert(DigitsCNN())


def first_samples(trained: Trained, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` test samples and labels."""
    inputs, labels = trained.splits.test.tensors
    return inputs[:count], labels[:count]


@pytest.fixture
def quiet_reram() -> HardwareConfig:
    """The ReRAM preset with an ideal ADC and no read noise (static non-idealities only: fast)."""
    return presets.RERAM.with_parameter("adc_bits", None).with_parameter("c2c_read_noise", 0.0)
