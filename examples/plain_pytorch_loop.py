"""NatureTracker as a context manager in a plain PyTorch training loop (no Lightning).

Runs offline on scikit-learn's bundled digits:

    python examples/plain_pytorch_loop.py --epochs 3 --country DE
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from nature_callback import NatureTracker
from nature_callback.demo.digits import DigitsCNN, load_digits_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--country", default=None, help="ISO country code for carbon intensity")
    parser.add_argument("--pue", type=float, default=1.0)
    parser.add_argument("--out", default="nature_plain_loop")
    args = parser.parse_args()

    torch.manual_seed(0)
    train_loader, _, test_loader = load_digits_splits().loaders()
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()

    with NatureTracker(pue=args.pue, carbon=args.country, planned_epochs=args.epochs,
                       output_dir=args.out, project="plain-loop-example") as tracker:
        for _ in range(args.epochs):
            with tracker.epoch():
                model.train()
                for images, labels in train_loader:
                    optimizer.zero_grad()
                    loss_fn(model(images), labels).backward()
                    optimizer.step()
            record = tracker.last_epoch
            assert record is not None
            print(f"epoch {record.terms.epoch}: T={record.terms.epoch_time_s:.2f} s, "
                  f"E={record.terms.power_w:.1f} W, NATURE={record.nature_co2e_kg:.3e} kg CO2e")

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in test_loader)
    summary = tracker.summary()
    print(f"test accuracy {correct / len(test_loader.dataset):.3f}; "
          f"NATURE {summary.nature_co2e_kg:.3e} kg CO2e ({summary.nature_energy_kwh:.3e} kWh)"
          f"{' [E partly estimated]' if summary.estimated else ''}; record: {tracker.summary_path}")


if __name__ == "__main__":
    main()
