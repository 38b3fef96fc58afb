"""NatureCallback on a real NVIDIA GPU (``gpu`` marker; skipped where there is none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nature_callback import NatureCallback
from nature_callback._lightning import LIGHTNING_NAMESPACES
from tests.nature_callback.callbacks.test_lightning_callback import loaders, make_module, read_scalars


@pytest.mark.gpu
def test_trainer_on_a_gpu_logs_measured_gpu_power(tmp_path: Path) -> None:
    namespace = LIGHTNING_NAMESPACES[0]
    callback = NatureCallback(pue=1.0, carbon=400.0, verbose=False)
    trainer = namespace.Trainer(
        max_epochs=2, accelerator="gpu", devices=1, callbacks=[callback],
        logger=namespace.loggers.TensorBoardLogger(str(tmp_path), name="gpu"),
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(make_module(namespace), *loaders())
    scalars = read_scalars(Path(trainer.log_dir))
    index = torch.cuda.current_device()
    gpu_power_w = scalars[f"nature/gpu{index}_power_w"]
    assert len(gpu_power_w) == 2
    # any powered GPU draws more than 1 W and less than 1.5 kW
    assert all(1.0 < p < 1500.0 for p in gpu_power_w)
    summary = json.loads((Path(trainer.log_dir) / "nature_summary.json").read_text())
    gpu_meters = [m for m in summary["meters"] if m["kind"] == "gpu"]
    assert gpu_meters and all(m["source"] == "measured" and m["ok"] for m in gpu_meters)
