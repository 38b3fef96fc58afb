"""On a real NVIDIA GPU: the replay runs on CUDA, and the ANN's energy is measured with NVML."""

from __future__ import annotations

import pytest
import torch

from neuromorphic_sim import build_crossbar_network, digital_reference, presets, replay

from .conftest import Trained, first_samples

pytestmark = pytest.mark.gpu


def test_replay_on_cuda_matches_the_cpu(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 64)
    cpu = replay(trained.model, (inputs, labels), presets.RERAM, 8, progress=False)
    gpu = replay(trained.model, (inputs, labels), presets.RERAM, 8, progress=False, device="cuda")
    assert gpu.energy_per_inference_j == pytest.approx(cpu.energy_per_inference_j, rel=1e-3)
    ideal = build_crossbar_network(trained.model.snn, presets.RERAM.ideal()).to("cuda")
    snn = trained.model.copy().to("cuda")
    torch.testing.assert_close(ideal.run(inputs.cuda(), 8), snn.run(inputs.cuda(), 8))


def test_ann_energy_on_the_gpu_is_measured(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 64)
    reference = digital_reference(trained.ann, (inputs, labels), min_duration_s=1.0)
    assert reference.source == "measured" and reference.energy_per_inference_j > 0
    assert "NVML" in reference.label


def test_read_noise_with_an_ideal_adc_runs_on_cuda(trained: Trained) -> None:
    # one Gaussian per output (ideal ADC): the same energy as on the CPU, noisy outputs
    inputs, labels = first_samples(trained, 64)
    noisy = presets.RERAM.with_parameter("adc_bits", None)
    cpu = replay(trained.model, (inputs, labels), noisy, 8, progress=False)
    gpu = replay(trained.model, (inputs, labels), noisy, 8, progress=False, device="cuda")
    assert gpu.energy_per_inference_j == pytest.approx(cpu.energy_per_inference_j, rel=1e-3)
    network = build_crossbar_network(trained.model.snn, noisy).to("cuda")
    first, second = network.run(inputs.cuda(), 8), network.run(inputs.cuda(), 8)
    assert not torch.equal(first, second)  # fresh read noise on every read
