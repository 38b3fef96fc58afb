"""The demo's Lightning training: ``DigitsCNN`` on the embedded digits with a TensorBoard logger."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nature_callback._lightning import CallbackBase, pl
from nature_callback.demo.digits import DigitsCNN, DigitsSplits


TENSORBOARD_QUEUE = 100
"""Events TensorBoard's writer may hold before the training thread waits for it. Its default,
10, is less than one epoch's scalars here (Lightning's and NATURE's), so each epoch end would
wait for the writer thread to encode and checksum them."""


class DigitsClassifier(pl.LightningModule):  # type: ignore[misc, name-defined]
    """The demo's LightningModule: ``DigitsCNN`` with cross-entropy and Adam."""

    def __init__(self, learning_rate: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = DigitsCNN()
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = self.loss(self(images), labels)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.log("val_loss", self.loss(logits, labels), prog_bar=False)
        self.log("val_acc", (logits.argmax(1) == labels).float().mean(), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def accuracy(model: nn.Module, loader: Any) -> float:
    """Top-1 accuracy of ``model`` over ``loader``."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((model(images).argmax(1) == labels).sum())
            total += len(labels)
    return correct / max(total, 1)


def train_stage(
    splits: DigitsSplits, out_dir: Path, epochs: int, callback: CallbackBase | None,
    tensorboard: bool = True,
) -> tuple[DigitsClassifier, Any]:
    """Train the demo model with ``callback`` and a TensorBoard logger; returns (model, trainer).

    ``callback=None`` trains the same way without it, ``tensorboard=False`` without a logger
    (both for the overhead benchmark).
    """
    train_loader, val_loader, _ = splits.loaders()
    module = DigitsClassifier()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="auto",
        devices=1,
        logger=(pl.loggers.TensorBoardLogger(str(out_dir), name="digits",
                                             max_queue=TENSORBOARD_QUEUE)
                if tensorboard else False),
        default_root_dir=str(out_dir),
        callbacks=[callback] if callback is not None else [],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        log_every_n_steps=5,
        deterministic=True,
    )
    trainer.fit(module, train_loader, val_loader)
    return module, trainer


def quiet_lightning() -> None:
    """Keep the demo's output to its own tables: Lightning's start-up notes go to WARNING."""
    for name in ("lightning.pytorch", "pytorch_lightning", "lightning.fabric", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
