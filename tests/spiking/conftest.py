"""Fixtures of the spiking tests: the digits CNN trained once per session with plain torch."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from nature_callback.demo.digits import DigitsSplits, load_digits_splits
from spiking.demo import train_digits_cnn


@dataclass(frozen=True)
class TrainedDigits:
    """A trained DigitsCNN (eval mode) and the splits it was trained on."""

    model: nn.Module
    splits: DigitsSplits


@functools.cache
def train_digits(epochs: int = 20, seed: int = 0) -> TrainedDigits:
    """Train the demo CNN on the digits training split (plain torch, fixed seed), once per
    session: the spiking and the crossbar tests share it and must not change it."""
    splits = load_digits_splits()
    return TrainedDigits(train_digits_cnn(splits, epochs=epochs, seed=seed), splits)


@pytest.fixture(scope="session")
def digits() -> TrainedDigits:
    """The demo CNN trained once for the whole test session."""
    torch.set_num_threads(1)
    return train_digits()


@pytest.fixture(scope="session")
def digits_snn(digits: TrainedDigits):  # type: ignore[no-untyped-def]
    """The trained CNN converted once (rate coding, 99.9 %), shared read-only by tests."""
    import spiking

    return spiking.convert(digits.model, digits.splits.train.tensors[0], timesteps=32)
