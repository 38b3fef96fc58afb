"""Which GPUs a run meters: the ``gpus`` parameter and the CUDA device in use."""

from __future__ import annotations

import os
import sys

from nature_callback.exceptions import ConfigurationError
from nature_callback.meters._validate import check_gpus

GpuChoice = str | list[int] | None
"""``"auto"``, ``"visible"``, torch device indices, or None."""


def check_tracker_gpus(gpus: GpuChoice) -> GpuChoice:
    """Validate ``gpus`` at construction: its form, and that each index is a visible GPU."""
    if gpus == "auto":
        return "auto"
    normalised = check_gpus(gpus, allow_none=True)
    if isinstance(normalised, tuple):
        try:
            import torch
        except ImportError:  # no torch (a JAX or TensorFlow process): NVML checks at start
            return list(normalised)
        visible = torch.cuda.device_count()
        missing = [index for index in normalised if index >= visible]
        if missing:
            raise ConfigurationError(
                f"gpus={gpus!r} is invalid: this process sees {visible} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}), so "
                f"{missing} do not exist. Pass visible indices, \"auto\", \"visible\" or None."
            )
        return list(normalised)
    return normalised


def cuda_devices_in_use() -> list[int] | None:
    """The CUDA devices this process uses, if it has initialised CUDA (through torch): the
    current device and every device holding memory of this process (``nn.DataParallel``'s
    replicas, a model spread over GPUs); else None: a CPU-only loop is not charged for the
    GPUs of its node."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    holding = {index for index in range(torch.cuda.device_count())
               if torch.cuda.memory_allocated(index) > 0}
    return sorted(holding | {torch.cuda.current_device()})


def synchronize_cuda(devices: list[int]) -> None:
    """Wait for the GPU work queued on ``devices`` (torch is loaded when this is non-empty)."""
    if devices:
        torch = sys.modules["torch"]
        for index in devices:
            torch.cuda.synchronize(index)
