"""The ANN on conventional hardware: MAC count, the labelled estimate, the measured path."""

from __future__ import annotations

import pytest
import torch

from nature_callback.demo.digits import DigitsCNN
from nature_callback.meters.base import DeviceEnergy, EnergyMeter
from neuromorphic_sim import count_macs, digital_reference

from .conftest import Trained, first_samples

# conv, conv, linear, linear. A 3×3 kernel with padding 1 over n positions reaches
# 2 + 2 + 3 × (n − 2) real inputs per axis (taps on the zero padding do no work):
# 22 per axis on 8×8, 10 per axis on 4×4.
DIGITS_CNN_MACS = 16 * 1 * 22**2 + 32 * 16 * 10**2 + 128 * 64 + 64 * 10


def test_count_macs_of_the_digits_cnn() -> None:
    assert count_macs(DigitsCNN(), torch.zeros(3, 1, 8, 8)) == DIGITS_CNN_MACS == 67_776


def test_without_a_gpu_the_estimate_is_horowitz_and_says_so(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 64)
    reference = digital_reference(trained.ann, (inputs, labels), meter=None)
    assert reference.source == "estimated" and "estimated" in reference.label
    assert reference.energy_per_inference_j == pytest.approx(DIGITS_CNN_MACS * 4.6e-12)
    expected = float((trained.ann(inputs).argmax(1) == labels).double().mean())
    assert reference.accuracy == pytest.approx(expected) and reference.samples == 64


class _CountingGpuMeter(EnergyMeter):
    """A meter that reports a fixed GPU energy: stands in for NVML, which this machine lacks."""

    def __init__(self, energy_j: float) -> None:
        self.energy_j = energy_j
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def read(self) -> list[DeviceEnergy]:
        return [DeviceEnergy("gpu0", "gpu", "test GPU", self.energy_j, "measured")]

    def stop(self) -> None:
        self.stopped = True


def test_a_metered_gpu_gives_measured_joules_per_inference(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 32)
    meter = _CountingGpuMeter(energy_j=3.0)
    reference = digital_reference(trained.ann, (inputs, labels), meter=meter, min_duration_s=0.05)
    assert meter.started and meter.stopped
    assert reference.source == "measured" and "measured" in reference.label
    inferences = round(3.0 / reference.energy_per_inference_j)
    assert inferences % 32 == 0 and inferences >= 32  # whole batches of 32 over ≥ 0.05 s


def test_a_meter_without_gpu_falls_back_to_the_estimate(trained: Trained) -> None:
    class _NoGpu(_CountingGpuMeter):
        def read(self) -> list[DeviceEnergy]:
            return [DeviceEnergy("cpu0", "cpu", "cpu", 1.0, "estimated")]

    inputs, labels = first_samples(trained, 16)
    reference = digital_reference(
        trained.ann, (inputs, labels), meter=_NoGpu(0.0), min_duration_s=0.01
    )
    assert reference.source == "estimated"
