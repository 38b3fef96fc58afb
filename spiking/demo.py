"""The conversion stage of ``nature demo``: the trained digits CNN as a spiking network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nature_callback.demo.digits import DigitsCNN, DigitsSplits
from spiking.convert import convert
from spiking.report import ConversionReport, build_report


def conversion_stage(
    model: nn.Module,
    splits: DigitsSplits,
    timesteps: Sequence[int] = (8, 16, 32, 64),
    progress: bool = False,
    *,
    method: str = "rate",
    mode: str | float = "99.9%",
    precision: str = "fp32",
) -> ConversionReport:
    """Convert ``model`` (calibrated on the training split), then measure ANN vs SNN accuracy,
    spikes and operation counts on the test split for each T. ``report.to_table()`` prints it."""
    train_loader, _, test_loader = splits.loaders(batch_size=256)
    spiking_model = convert(
        model, train_loader, method=method, mode=mode, timesteps=max(timesteps), progress=progress  # type: ignore[arg-type]
    )
    return build_report(spiking_model, test_loader, timesteps, precision=precision, progress=progress)


def train_digits_cnn(splits: DigitsSplits, epochs: int = 20, seed: int = 0, learning_rate: float = 1e-2) -> nn.Module:
    """Train ``DigitsCNN`` on ``splits.train`` with a plain torch loop (Adam, fixed seed); returns
    it in eval mode. A quick stand-in for the demo's Lightning training, for tests and benchmarks."""
    torch.manual_seed(seed)
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    train_loader, _, _ = splits.loaders(batch_size=64)
    for _ in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    return model.eval()
