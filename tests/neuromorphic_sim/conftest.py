"""Fixtures of the crossbar tests: the trained digits CNN and its spiking conversion."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from spikingjelly.activation_based import ann2snn
from torch import fx, nn

import spiking
from nature_callback.demo.digits import DigitsCNN, DigitsSplits, load_digits_splits
from neuromorphic_sim import HardwareConfig, presets
from tests.spiking.conftest import train_digits


@dataclass(frozen=True)
class Trained:
    """A trained ANN, its SpikingModel, and the data."""

    ann: nn.Module
    model: spiking.SpikingModel
    splits: DigitsSplits


@pytest.fixture(scope="session")
def trained() -> Trained:
    """The spiking tests' trained digits CNN (the same object), converted with spiking.convert
    (rate coding, 99.9 %, T = 16)."""
    torch.set_num_threads(1)
    digits = train_digits()
    model = spiking.convert(digits.model, digits.splits.train, timesteps=16)
    return Trained(digits.model, model, digits.splits)


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
