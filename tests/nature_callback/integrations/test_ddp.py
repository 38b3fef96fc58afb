"""NatureCallback under DDP: two forked CPU processes (gloo) on one node.

Each rank meters its own devices; the node's CPU package (a fake RAPL tree drawing 100 W)
is metered by local rank 0 only, totals are summed through the strategy, and one record is
written. Counting the package on both ranks would report 200 W.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nature_callback.run_files import read_run
from tests.nature_callback.conftest import POWER_W
from tests.nature_callback.integrations.helpers import (
    make_callback,
    make_module,
    make_trainer,
    train_loader,
)
from tests.nature_callback.powercap import LivePowercap


def test_ddp_two_cpu_ranks_sum_once_and_write_one_record(tmp_path: Path,
                                                         powercap: LivePowercap) -> None:
    record_dir = tmp_path / "record"
    callback = make_callback(tmp_path, pue=1.0, grid_loss=0.0, carbon=500.0, n_exp=1,
                             output_dir=record_dir, progress_bar=False)
    # forked ranks inherit NATURE_POWERCAP_ROOT (and start in well under a second)
    trainer = make_trainer(tmp_path, callback, epochs=2, devices=2, strategy="ddp_fork")
    trainer.fit(make_module(), train_loader(samples=1024))  # 32 steps per rank and epoch

    files = sorted(path.name for path in record_dir.iterdir())
    assert files == ["nature_epochs.jsonl", "nature_summary.json"], files  # rank 0's only
    run = read_run(record_dir)
    assert run.summary is not None and run.header is not None
    assert run.summary["status"] == "completed"
    assert run.summary["epochs"] == 2 and len(run.epochs) == 2
    assert run.header["world_size"] == 2
    assert sorted(meter["device"] for meter in run.summary["meters"]) == ["cpu0", "dram0"]
    for record in run.epochs:
        # summed over both ranks, the node's package counted once: 100 W, not 200 W (the
        # bounds leave room for a fake counter that a loaded machine advances late)
        assert 0.5 * POWER_W < record["terms"]["power_w"] < 1.5 * POWER_W
        assert record["power_by_device_w"] == {}
        assert 0.4 * POWER_W < record["power_by_kind_w"]["cpu"] < 1.2 * POWER_W


def test_ddp_without_rapl_each_rank_estimates_its_own_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATURE_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    record_dir = tmp_path / "record"
    callback = make_callback(tmp_path, pue=1.0, grid_loss=0.0, carbon=500.0, n_exp=1,
                             output_dir=record_dir, progress_bar=False)
    trainer = make_trainer(tmp_path, callback, epochs=1, devices=2, strategy="ddp_fork")
    trainer.fit(make_module(), train_loader(samples=1024))
    run = read_run(record_dir)
    assert run.summary is not None and run.summary["status"] == "completed"
    listed = sorted((meter["rank"], meter["device"]) for meter in run.summary["meters"])
    assert listed == [(0, "cpu"), (0, "dram"), (1, "cpu"), (1, "dram")]
    (record,) = run.epochs
    assert record["devices_metered"] == 4 and record["devices_failed"] == 0
    assert record["estimated"] and record["power_by_kind_w"]["cpu"] > 0
