"""NatureCallback under DDP: two CPU processes (gloo) on one node.

Each rank meters its own devices; the node's CPU package (a fake RAPL tree
drawing 100 W) is metered by local rank 0 only, totals are summed through the
strategy, and one record is written. Counting the package on both ranks would
report 200 W.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nature_callback import NatureCallback
from nature_callback._lightning import pl
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.powercap import LivePowercap



class TinyRegression(pl.LightningModule):  # type: ignore[misc, name-defined]
    """Picklable (module level) for ddp_spawn."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.slow
def test_ddp_two_cpu_ranks_sum_once_and_write_one_record(tmp_path: Path,
                                                         powercap: LivePowercap) -> None:
    x = torch.randn(128, 8, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    record_dir = tmp_path / "record"
    callback = NatureCallback(pue=1.0, grid_loss=0.0, carbon=500.0, output_dir=record_dir,
                              verbose=False, progress_bar=False)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=2, strategy="ddp_spawn", logger=False,
        callbacks=[callback], enable_checkpointing=False, enable_model_summary=False,
        enable_progress_bar=False, default_root_dir=str(tmp_path),
    )
    trainer.fit(TinyRegression(), loader)  # the spawned ranks inherit NATURE_POWERCAP_ROOT

    files = sorted(p.name for p in record_dir.iterdir())
    assert files == ["nature_summary.json"], files
    summary = json.loads((record_dir / "nature_summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs"] == 2
    assert sorted(m["device"] for m in summary["meters"]) == ["cpu0", "dram0"]
    for record in summary["epoch_records"]:
        # summed over both ranks, the node's package counted once: 100 W, not 200 W
        assert record["terms"]["power_w"] == pytest.approx(POWER_W, rel=0.3)
        assert record["power_by_device_w"] == {}
        assert record["power_by_kind_w"]["cpu"] == pytest.approx(0.8 * POWER_W, rel=0.3)
