"""``SpikingConversionCallback`` in both Lightning namespaces, and the example that uses it.

Lightning is imported inside the tests (it takes seconds), so a run that deselects them with
``-m "not slow"`` never loads it.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import spiking
from tests.conftest import repo_root
from tests.spiking.conftest import TrainedDigits

pytestmark = pytest.mark.slow

LIGHTNING_NAMESPACES = [
    name
    for package, name in (("lightning", "lightning.pytorch"), ("pytorch_lightning", "pytorch_lightning"))
    if importlib.util.find_spec(package) is not None
]
"""Every installed Lightning namespace: the callback must be accepted by each one's Trainer."""


class _DigitsModule:
    """Builds a LightningModule class for a given Lightning namespace."""

    @staticmethod
    def make(namespace: Any) -> Any:
        class DigitsModule(namespace.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(
                    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                    nn.Flatten(), nn.Linear(128, 10),
                )

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net(x)

            def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
                x, y = batch
                return nn.functional.cross_entropy(self(x), y)

            def configure_optimizers(self) -> torch.optim.Optimizer:
                return torch.optim.Adam(self.parameters(), lr=1e-2)

        return DigitsModule()


def _memory_logger(namespace: Any) -> Any:
    class MemoryLogger(namespace.loggers.Logger):
        def __init__(self) -> None:
            super().__init__()
            self.logged: list[tuple[int | None, dict[str, float]]] = []

        @property
        def name(self) -> str:
            return "memory"

        @property
        def version(self) -> int:
            return 0

        def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
            pass

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self.logged.append((step, dict(metrics)))

    return MemoryLogger()


@pytest.mark.parametrize("name", LIGHTNING_NAMESPACES)
def test_callback_converts_at_fit_end_and_logs_spiking_metrics(name: str, digits: TrainedDigits,
                                                              tmp_path: Path) -> None:
    namespace = importlib.import_module(name)
    train_loader, val_loader, _ = digits.splits.loaders(batch_size=64)
    callback = spiking.SpikingConversionCallback(train_loader, val_loader, timesteps=(4, 8),
                                         save_path=tmp_path / "snn.pt", verbose=False)
    logger = _memory_logger(namespace)
    trainer = namespace.Trainer(max_epochs=2, logger=logger, callbacks=[callback], enable_progress_bar=False,
                                enable_checkpointing=False, enable_model_summary=False,
                                default_root_dir=tmp_path)
    module = _DigitsModule.make(namespace)
    trainer.fit(module, train_loader)
    step, metrics = logger.logged[-1]
    assert step == trainer.global_step
    assert {"spiking/ann_accuracy", "spiking/snn_accuracy_T4", "spiking/snn_accuracy_T8",
            "spiking/mean_firing_rate_T8", "spiking/synops_per_sample_T8", "spiking/energy_ratio_fp32_T8",
            "spiking/firing_rate_T8/net.spiking_0"} <= set(metrics)
    assert metrics["spiking/snn_accuracy_T8"] == callback.report.evaluation.accuracy_at(8)  # type: ignore[union-attr]
    converted = callback.spiking_model
    assert converted is not None and module.trainer is trainer  # the trained module stays attached
    assert not {id(p) for p in module.parameters()} & {id(p) for p in converted.snn.parameters()}
    assert isinstance(spiking.load(tmp_path / "snn.pt"), spiking.SpikingModel)


def test_callback_rejects_bad_settings_when_built() -> None:
    with pytest.raises(spiking.InvalidInputError, match="timesteps is empty"):
        spiking.SpikingConversionCallback([torch.rand(2, 1, 8, 8)], [torch.rand(2, 1, 8, 8)], timesteps=())
    with pytest.raises(spiking.InvalidInputError, match="not a rate-coding mode"):
        spiking.SpikingConversionCallback([torch.rand(2, 1, 8, 8)], [torch.rand(2, 1, 8, 8)], mode="median")


def test_example_converts_a_trained_lightning_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo_root() / "examples" / "convert_lightning_model.py"
    spec = importlib.util.spec_from_file_location("convert_lightning_model", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--epochs", "3", "--timesteps", "4", "16", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Test split:" in out and "SynOps" in out and "Horowitz" in out
    assert (tmp_path / "digits_snn.pt").is_file()
    metrics_csv = next(tmp_path.glob("digits/version_*/metrics.csv")).read_text()
    assert "spiking/snn_accuracy_T16" in metrics_csv
