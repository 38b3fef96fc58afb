"""Train a Lightning model, convert it to a spiking network, and compare the two.

Runs offline on scikit-learn's bundled digits, in seconds on a CPU:

    python examples/convert_lightning_model.py --epochs 15 --out snn_example

Two ways are shown. ``SpikingConversionCallback`` converts at the end of ``fit`` and logs the
SNN's accuracy and spike statistics under ``spiking/`` (here to a CSV logger). Afterwards the
trained module is converted again with ``spiking.convert`` directly, saved, loaded back, and its
per-layer statistics and compute-energy estimate printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import spiking
from nature_callback._lightning import pl
from nature_callback.demo.digits import load_digits_splits
from nature_callback.demo.training import DigitsClassifier
from spiking.lightning import SpikingConversionCallback


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--out", default="snn_example", help="folder for logs and the saved SNN")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    out = Path(args.out)
    splits = load_digits_splits()
    train_loader, val_loader, test_loader = splits.loaders(batch_size=64)

    callback = SpikingConversionCallback(train_loader, val_loader, timesteps=args.timesteps, verbose=False)
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        callbacks=[callback],
        logger=pl.loggers.CSVLogger(out, name="digits"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = DigitsClassifier(learning_rate=1e-2)
    trainer.fit(model, train_loader)
    assert callback.report is not None
    print("At the end of fit (validation split), logged under spiking/ to", trainer.logger.log_dir)
    print(callback.report.to_table())

    # The same by hand, on the test split: convert, save, load, evaluate, count.
    snn = spiking.convert(model, train_loader, method="rate", mode="99.9%", timesteps=max(args.timesteps))
    snn.save(out / "digits_snn.pt")
    snn = spiking.load(out / "digits_snn.pt")
    result = snn.evaluate(test_loader, timesteps=args.timesteps, progress=False)
    print("\nTest split:")
    print(result.to_table())
    chosen = result.smallest_timesteps(max_drop_points=1.0) or max(args.timesteps)
    stats = snn.statistics(test_loader, timesteps=chosen)
    print()
    print(stats.to_table())
    print(stats.energy("fp32").statement())
    print(f"\nSaved the spiking model to {out / 'digits_snn.pt'}")


if __name__ == "__main__":
    main()
