"""Overhead of NatureCallback on the digits demo model.

Trains the same model with and without the callback, interleaved (A B A B ...)
so that machine noise hits both alike, and prints the median wall-time ratio and the
overhead per epoch in milliseconds. Target: ≤ 1.01 (1 % overhead).

    python benchmarks/callback_overhead.py --repeats 7 --epochs 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from nature_callback import NatureCallback
from nature_callback._lightning import pl
from nature_callback.demo import DigitsClassifier
from nature_callback.digits import load_digits_splits


def train_once(epochs: int, with_callback: bool, root: str) -> float:
    """Wall time (s) of one ``Trainer.fit`` of the demo model."""
    pl.seed_everything(0, verbose=False)
    train_loader, val_loader, _ = load_digits_splits().loaders()
    callbacks = [NatureCallback(pue=1.0, carbon=400.0, output_dir=root, ledger_path=False,
                                verbose=False, progress_bar=False)] if with_callback else []
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
        default_root_dir=root,
    )
    started = time.perf_counter()
    trainer.fit(DigitsClassifier(), train_loader, val_loader)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        train_once(1, True, root)  # warm-up: imports, first meter start
        without_s, with_s = [], []
        for _ in range(args.repeats):
            without_s.append(train_once(args.epochs, False, root))
            with_s.append(train_once(args.epochs, True, root))
    ratios = [w / b for w, b in zip(with_s, without_s)]
    print(f"without callback: median {statistics.median(without_s):.3f} s  {['%.3f' % t for t in without_s]}")
    print(f"with callback:    median {statistics.median(with_s):.3f} s  {['%.3f' % t for t in with_s]}")
    ratio = statistics.median(ratios)
    print(f"median ratio with/without: {ratio:.4f} (overhead {100 * (ratio - 1):+.2f} %, target <= +1 %)")
    per_epoch_ms = 1000 * (statistics.median(with_s) - statistics.median(without_s)) / args.epochs
    epoch_s = statistics.median(without_s) / args.epochs
    print(f"overhead per epoch: {per_epoch_ms:.2f} ms on {1000 * epoch_s:.0f} ms epochs; "
          f"1 % is reached for epochs of {per_epoch_ms / 10:.2f} s or longer")


if __name__ == "__main__":
    main()
