"""``torch_distributed()``: a real gloo process group, one process and two."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

from nature_callback import Distributed, torch_distributed
from tests.nature_callback.postgres import free_port


def test_without_a_process_group_it_is_a_single_process() -> None:
    assert not dist.is_initialized()
    assert torch_distributed() == Distributed()


def _rank(rank: int, port: int, out: Path) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    try:
        place = torch_distributed()
        found = {"rank": place.rank, "world_size": place.world_size,
                 "is_writer": place.is_writer, "pid": os.getpid(),
                 "peers": list(place.local_peer_pids),
                 "sum": place.reduce([float(rank + 1), 0.5]),
                 "gathered": place.gather(f"rank {rank}") if place.gather else None}
        (out / f"rank{rank}.json").write_text(json.dumps(found))
    finally:
        dist.destroy_process_group()


def test_two_ranks_sum_gather_and_know_each_other(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(free_port(), tmp_path), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (rank0["rank"], rank0["world_size"], rank0["is_writer"]) == (0, 2, True)
    assert (rank1["rank"], rank1["world_size"], rank1["is_writer"]) == (1, 2, False)
    assert rank0["sum"] == rank1["sum"] == [3.0, 1.0]
    assert rank0["gathered"] == rank1["gathered"] == ["rank 0", "rank 1"]
    assert rank0["peers"] == [rank1["pid"]] and rank1["peers"] == [rank0["pid"]]
