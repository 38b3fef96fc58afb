"""The embedded digits data set and the small CNN used by the demo, tests and benchmarks.

scikit-learn ships the 1,797 8×8 handwritten digits (UCI ML hand-written digits,
Alpaydin & Kaynak 1998) inside its wheel, so nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass(frozen=True)
class DigitsSplits:
    """Train, validation and test splits of the digits, as tensors of shape [N, 1, 8, 8]."""

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset

    def loaders(self, batch_size: int = 64) -> tuple[DataLoader, DataLoader, DataLoader]:
        """Train (shuffled), validation and test loaders."""
        generator = torch.Generator().manual_seed(0)
        return (
            DataLoader(self.train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(self.val, batch_size=batch_size),
            DataLoader(self.test, batch_size=batch_size),
        )


def load_digits_splits(seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15) -> DigitsSplits:
    """Load scikit-learn's digits, scale pixels to [0, 1] and split deterministically."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images, labels = images[order], labels[order]
    n_test = int(len(labels) * test_fraction)
    n_val = int(len(labels) * val_fraction)
    n_train = len(labels) - n_val - n_test
    return DigitsSplits(
        train=TensorDataset(images[:n_train], labels[:n_train]),
        val=TensorDataset(images[n_train : n_train + n_val], labels[n_train : n_train + n_val]),
        test=TensorDataset(images[n_train + n_val :], labels[n_train + n_val :]),
    )


class DigitsCNN(nn.Sequential):
    """Two conv blocks and a two-layer classifier; ReLU modules and average pooling only,
    so it converts to a spiking network without changes."""

    def __init__(self, channels: tuple[int, int] = (16, 32), hidden: int = 64) -> None:
        c1, c2 = channels
        super().__init__(
            nn.Conv2d(1, c1, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * 2 * 2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )
