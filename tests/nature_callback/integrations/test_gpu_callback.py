"""NatureCallback on a real NVIDIA GPU (``gpu`` marker; skipped where there is none)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nature_callback.run_files import read_run
from tests.nature_callback.integrations import helpers


@pytest.mark.gpu
def test_trainer_on_a_gpu_logs_measured_gpu_power(tmp_path: Path) -> None:
    callback = helpers.make_callback(tmp_path, pue=1.0)
    trainer = helpers.make_trainer(tmp_path, callback, epochs=2, logger="tensorboard",
                                   accelerator="gpu")
    trainer.fit(helpers.make_module(), helpers.train_loader(samples=1024))
    index = torch.cuda.current_device()
    scalars = helpers.read_scalars(Path(trainer.log_dir))
    for name in (f"nature/gpu{index}_power_w", "nature/gpu_power_w"):
        # any powered GPU draws more than 1 W and less than 1.5 kW
        power_w = helpers.values(scalars[name])
        assert len(power_w) == 2 and all(1.0 < p < 1500.0 for p in power_w), name
    run = read_run(trainer.log_dir)
    assert run.summary is not None and run.summary["status"] == "completed"
    gpu_meters = [m for m in run.summary["meters"] if m["kind"] == "gpu"]
    assert gpu_meters and all(m["source"] == "measured" and m["ok"] for m in gpu_meters)
    assert len(run.epochs) == 2
    assert all(epoch["power_by_kind_w"]["gpu"] > 1.0 for epoch in run.epochs)
