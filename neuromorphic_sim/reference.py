"""The original network on conventional hardware: GPU energy measured with NVML where a GPU
is present, else the digital estimate (Horowitz 45 nm per-MAC energy × MACs), labelled so."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from spiking.counting import ann_macs_per_layer
from spiking.energy import HOROWITZ_45NM, HOROWITZ_SOURCE
from spiking.steps import module_device
from torch import nn
from tqdm.auto import tqdm

from nature_callback.meters.base import EnergyMeter
from neuromorphic_sim.data import labelled_batches
from neuromorphic_sim.exceptions import ReplayInputError
from neuromorphic_sim.report import accuracy_interval


@dataclass(frozen=True)
class DigitalReference:
    """Energy per inference of the ANN on a GPU (measured) or as a digital estimate."""

    label: str
    """Bar label, e.g. ``ANN on GPU (measured, NVML)`` or ``ANN digital (estimated, ...)``."""
    energy_per_inference_j: float
    """Joules per inference."""
    source: Literal["measured", "estimated"]
    """``measured`` (NVML energy of the whole GPU over the run) or ``estimated``."""
    method: str
    """How the figure was obtained, with its source."""
    macs_per_inference: int
    """Multiply-accumulates of one inference (Conv2d and Linear)."""
    accuracy: float
    """Top-1 accuracy of the ANN over the samples used, in [0, 1]."""
    samples: int
    """Samples evaluated for the accuracy."""

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the accuracy over the samples evaluated."""
        return accuracy_interval(self.accuracy, self.samples)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view."""
        return {**asdict(self), "accuracy_interval_95": list(self.accuracy_interval)}


def count_macs(model: nn.Module, sample: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv/Linear layer for one sample shaped like ``sample[0]``.

    Counted as ``spiking`` counts them (real connections; products with zero padding are
    not work), so the demo's conversion table and this figure agree.
    """
    return sum(ann_macs_per_layer(model, tuple(sample.shape[1:]), sample.device).values())


def _accuracy(
    model: nn.Module, data: Any, max_samples: int | None, device: torch.device, progress: bool
) -> tuple[float, int, torch.Tensor]:
    correct = samples = 0
    first: torch.Tensor | None = None
    with torch.no_grad():
        for inputs, labels in tqdm(
            labelled_batches(data, max_samples=max_samples),
            disable=not progress,
            desc="ANN",
            leave=False,
        ):
            first = inputs if first is None else first
            predictions = model(inputs.to(device, torch.float32)).argmax(dim=1).cpu()
            correct += int((predictions == labels.cpu()).sum())
            samples += len(labels)
    if first is None:
        raise ReplayInputError("data yielded no samples.")
    return correct / samples, samples, first


def _measure_gpu_j(
    model: nn.Module, inputs: torch.Tensor, meter: EnergyMeter, min_duration_s: float
) -> tuple[float, int]:
    """GPU joules and samples over repeated inference of ``inputs`` lasting ≥ ``min_duration_s``."""
    samples = 0
    meter.start()
    try:
        started = time.monotonic()
        with torch.no_grad():
            while time.monotonic() - started < min_duration_s:
                model(inputs)
                samples += len(inputs)
                if inputs.is_cuda:
                    torch.cuda.synchronize(inputs.device)
        readings = meter.read()
    finally:
        meter.stop()
    gpu = [
        reading
        for reading in readings
        if reading.kind == "gpu" and reading.ok and reading.source == "measured"
    ]
    return sum(reading.energy_j for reading in gpu), (samples if gpu else 0)


def _default_meter() -> EnergyMeter | None:
    if not torch.cuda.is_available():
        return None
    from nature_callback.meters import build_meters  # the project's NVML meter (GPU only here)

    return build_meters(gpus="visible", node_level=False)


def digital_reference(
    ann: nn.Module,
    data: Any,
    *,
    max_samples: int | None = None,
    progress: bool = False,
    meter: EnergyMeter | None | Literal["auto"] = "auto",
    min_duration_s: float = 1.0,
) -> DigitalReference:
    """The ANN's energy per inference on a GPU, or its digital estimate where none is metered.

    With ``meter='auto'`` a GPU is metered through ``nature_callback.meters`` when
    ``torch.cuda.is_available()``: inference on one batch is repeated for at least
    ``min_duration_s`` and the whole GPU's energy (idle share included) divided by the samples.
    Otherwise, or when the meter reads no GPU, the estimate is Horowitz's 45 nm FP32 MAC energy
    (4.6 pJ) × MACs, labelled as an estimate.
    """
    model = ann.eval()
    device = module_device(model)
    accuracy, samples, first = _accuracy(model, data, max_samples, device, progress)
    macs = count_macs(model, first.to(device, torch.float32))
    chosen = _default_meter() if meter == "auto" else meter
    if chosen is not None:
        gpu_device = torch.device("cuda") if torch.cuda.is_available() else device
        measured_j, measured_samples = _measure_gpu_j(
            model.to(gpu_device), first.to(gpu_device, torch.float32), chosen, min_duration_s
        )
        model.to(device)
        if measured_samples:
            return DigitalReference(
                label="ANN on GPU (measured, NVML)",
                energy_per_inference_j=measured_j / measured_samples,
                source="measured",
                method=f"NVML energy of the whole GPU over {measured_samples} inferences "
                f"(batch {len(first)}), idle share included",
                macs_per_inference=macs,
                accuracy=accuracy,
                samples=samples,
            )
    fp32 = HOROWITZ_45NM["fp32"]
    return DigitalReference(
        label="ANN digital (estimated, Horowitz 45 nm FP32)",
        energy_per_inference_j=macs * fp32.mac_pj * 1e-12,
        source="estimated",
        method=f"{fp32.mac_pj} pJ per FP32 MAC × {macs} MACs; arithmetic only ({HOROWITZ_SOURCE})",
        macs_per_inference=macs,
        accuracy=accuracy,
        samples=samples,
    )
