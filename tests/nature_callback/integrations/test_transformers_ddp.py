"""``NatureTrainerCallback`` under DDP: two ``transformers.Trainer`` processes on the CPU, joined
by a real gloo process group (as ``torchrun`` starts them).

Every rank's meters are gathered at start and listed in the one record rank 0 writes, the
figures are summed over the ranks (so each rank sees the same epoch), and each rank's CPU and
DRAM estimate leaves out the other rank's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from nature_callback.run_files import read_run  # noqa: E402
from tests.conftest import repo_root  # noqa: E402
from tests.nature_callback.postgres import free_port  # noqa: E402

RANK_SCRIPT = """
import json, os, sys
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from nature_callback.integrations.transformers import NatureTrainerCallback

torch.manual_seed(0)
ids = torch.randint(0, 64, (32, 8))
labels = torch.randint(0, 2, (32,))
data = [{"input_ids": i, "labels": l} for i, l in zip(ids, labels)]
config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=16)
args = TrainingArguments(output_dir=sys.argv[1], use_cpu=True, ddp_backend="gloo",
                         num_train_epochs=2, per_device_train_batch_size=4, report_to=[],
                         save_strategy="no", logging_strategy="no", disable_tqdm=True)
trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=data)
callback = NatureTrainerCallback.attach(trainer, carbon=300.0, ledger_path=False, verbose=False,
                                        output_dir=sys.argv[2])
trainer.train()
tracker = callback.tracker
print(json.dumps({"rank": args.process_index, "pid": os.getpid(),
                  "peers": list(tracker.distributed.local_peer_pids),
                  "energy_j": [r.energy_j for r in tracker.records]}), flush=True)
torch.distributed.barrier()  # both ranks done before the group goes (else gloo may abort one)
torch.distributed.destroy_process_group()
"""


def test_two_ranks_share_meters_sum_figures_and_write_one_record(tmp_path: Path) -> None:
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    record_dir = tmp_path / "record"
    env = dict(os.environ, WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), PYTHONPATH=str(repo_root()),
               NATURE_POWERCAP_ROOT=str(tmp_path / "no-powercap"), OMP_NUM_THREADS="1")
    ranks = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "out"),
                               str(record_dir)], env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    outputs = [rank.communicate(timeout=300) for rank in ranks]
    for process, (_, stderr) in zip(ranks, outputs):
        assert process.returncode == 0, stderr[-2000:]
    rank0, rank1 = (json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs)

    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["peers"] == [rank1["pid"]] and rank1["peers"] == [rank0["pid"]]
    assert len(rank0["energy_j"]) == 2
    # each rank holds the energy summed over both (its own epoch time aside): the same sum
    assert rank1["energy_j"] == pytest.approx(rank0["energy_j"], rel=1e-9)

    assert sorted(path.name for path in record_dir.iterdir()) == [
        "nature_epochs.jsonl", "nature_summary.json"]  # rank 0's only
    run = read_run(record_dir)
    assert run.summary is not None and run.summary["status"] == "completed"
    assert run.header is not None and run.header["world_size"] == 2
    listed = sorted((meter["rank"], meter["device"]) for meter in run.summary["meters"])
    assert listed == [(0, "cpu"), (0, "dram"), (1, "cpu"), (1, "dram")]
    assert len(run.epochs) == 2
    for record in run.epochs:
        assert record["devices_metered"] == 4 and record["devices_failed"] == 0
        assert record["estimated"] and record["power_by_kind_w"]["cpu"] > 0
