"""NATURE for a real training run: a CNN on MNIST with Lightning, logged to TensorBoard or W&B.

    python examples/lightning_mnist.py --epochs 5 --country GB --pue 1.2
    python examples/lightning_mnist.py --logger wandb --project my-project

MNIST is downloaded by torchvision on first use (``--data``). ``--fake-data`` uses
torchvision's FakeData instead (no download), to try the script offline.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

try:
    import lightning.pytorch as L
except ImportError:  # the unified package is optional; pytorch_lightning is a dependency
    import pytorch_lightning as L  # type: ignore[no-redef]

from nature_callback import NatureCallback


class MnistCNN(L.LightningModule):
    """A small CNN: two conv blocks and a linear classifier."""

    def __init__(self, learning_rate: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def datasets(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from torchvision import datasets as tv_datasets
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    if args.fake_data:
        make = lambda n: tv_datasets.FakeData(n, (1, 28, 28), 10, transform=transforms.ToTensor())  # noqa: E731
        return make(256), make(64)
    train = tv_datasets.MNIST(args.data, train=True, download=True, transform=transform)
    test = tv_datasets.MNIST(args.data, train=False, download=True, transform=transform)
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data", default="data", help="MNIST download folder")
    parser.add_argument("--fake-data", action="store_true", help="torchvision FakeData, no download")
    parser.add_argument("--logger", choices=["tensorboard", "wandb"], default="tensorboard")
    parser.add_argument("--project", default="nature-mnist")
    parser.add_argument("--country", default=None, help="ISO country code (default: automatic)")
    parser.add_argument("--pue", type=float, default=1.56)
    parser.add_argument("--n-exp", default="1", help="an integer, or 'ledger' to count recorded runs")
    parser.add_argument("--out", default="lightning_logs_mnist")
    parser.add_argument("--limit-batches", type=float, default=1.0)
    args = parser.parse_args()

    train, test = datasets(args)
    if args.logger == "wandb":
        logger = L.loggers.WandbLogger(project=args.project, save_dir=args.out)
    else:
        logger = L.loggers.TensorBoardLogger(args.out, name=args.project)
    n_exp = args.n_exp if args.n_exp == "ledger" else int(args.n_exp)
    trainer = L.Trainer(
        max_epochs=args.epochs,
        logger=logger,
        callbacks=[NatureCallback(pue=args.pue, carbon=args.country, n_exp=n_exp, project=args.project)],
        limit_train_batches=args.limit_batches,
        limit_val_batches=args.limit_batches,
    )
    trainer.fit(
        MnistCNN(),
        DataLoader(train, batch_size=args.batch_size, shuffle=True, num_workers=2),
        DataLoader(test, batch_size=args.batch_size, num_workers=2),
    )


if __name__ == "__main__":
    main()
