"""A run's place in a ``torch.distributed`` job, for the tracker: ranks, the reducer that sums
figures over them, the gather that shares meters at start, and the other ranks' process ids.

Torch is imported when :func:`torch_distributed` is called, not with this module.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from nature_callback.runtime import Distributed, Reducer

__all__ = ["gather_objects", "torch_distributed"]


def torch_distributed(device: Any = None, reduce: Reducer | None = None) -> Distributed:
    """This process's place in the initialised default process group; ``Distributed()`` when
    there is none or it has one process. A collective call: make it on every rank.

    Figures are summed over ranks with ``reduce``, by default ``all_reduce`` of a float64
    tensor on ``device`` (default: the current CUDA device under NCCL, else the CPU). Every
    rank's meters are gathered when the tracker starts, so that a GPU several ranks share is
    metered by the lowest of them only and the record lists all of them; each rank's CPU and
    DRAM estimate leaves out the other ranks on its node (they estimate their own).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() <= 1:
        return Distributed()
    rank = dist.get_rank()
    return Distributed(rank=rank, world_size=dist.get_world_size(), is_writer=rank == 0,
                       reduce=reduce or _all_reduce_sum(device),
                       gather=gather_objects, local_peer_pids=_local_peer_pids())


def gather_objects(value: Any) -> list[Any]:
    """``value`` of every rank, in rank order (a collective call)."""
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def _local_peer_pids() -> tuple[int, ...]:
    """Process ids of the other ranks on this host (a collective call)."""
    me = (socket.gethostname(), os.getpid())
    return tuple(pid for host, pid in gather_objects(me) if host == me[0] and pid != me[1])


def _all_reduce_sum(device: Any) -> Reducer:
    """A reducer summing a float vector over every rank with ``all_reduce`` on ``device``."""
    import torch
    import torch.distributed as dist

    if device is None:
        on_cuda = "nccl" in str(dist.get_backend()).lower() and torch.cuda.is_available()
        device = torch.device("cuda", torch.cuda.current_device()) if on_cuda else "cpu"

    def reduce(values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return [float(value) for value in tensor.tolist()]

    return reduce
