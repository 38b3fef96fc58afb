"""The energy–accuracy frontier: ANN, SNN per conversion method and T, iso-information QANN."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from spikingjelly.activation_based.neuron import HalfThresholdIFNode
from torch.utils.data import DataLoader

import spiking
from neuromorphic_sim import ConfigurationError, Frontier, frontier, presets
from neuromorphic_sim.frontier import CONVERSION_METHODS, wilson_interval
from neuromorphic_sim.quantised_ann import (
    activation_bits,
    activation_thresholds,
    calibrate_activations,
    quantise,
    replay_quantised,
)

from .conftest import Trained, first_samples

TIMESTEPS = (4, 8)
SAMPLES = 32
QUIET = presets.RERAM.with_parameter("adc_bits", None).with_parameter("c2c_read_noise", 0.0)
"""Static non-idealities only: the quick tests' crossbar."""


def _calibration(trained: Trained) -> DataLoader:
    """Small batches, as ``ltb`` needs (40 batches of 32)."""
    return DataLoader(trained.splits.train, batch_size=32)


@pytest.fixture(scope="module")
def quick(trained: Trained) -> Frontier:
    return frontier(
        trained.ann,
        _calibration(trained),
        trained.splits.test,
        TIMESTEPS,
        config=QUIET,
        samples=SAMPLES,
    )


def test_every_requested_point_is_there_with_its_configuration(quick: Frontier) -> None:
    snn = {(p.method, p.timesteps) for p in quick.points if p.kind == "snn"}
    assert snn == {(method, t) for method in CONVERSION_METHODS for t in TIMESTEPS}
    qann = {p.timesteps: p.activation_bits for p in quick.points if p.kind == "qann"}
    assert qann == {4: 3, 8: 4} == {t: math.ceil(math.log2(t + 1)) for t in TIMESTEPS}
    ann = [p for p in quick.points if p.kind == "ann"]
    assert {p.energy_source for p in ann} == {"estimated", "modelled"}
    assert len(quick.points) == 2 + len(CONVERSION_METHODS) * len(TIMESTEPS) + len(TIMESTEPS)
    for point in quick.points:
        assert point.samples == quick.samples == SAMPLES and point.energy_j > 0
        assert point.hardware == QUIET.name or point.energy_source != "modelled"
        low, high = point.interval
        assert low <= point.accuracy <= high
        assert point.to_dict()["accuracy_high"] == high
    for method in CONVERSION_METHODS:  # the SNN's energy grows with T
        energies = [
            p.energy_j
            for p in sorted(quick.points, key=lambda p: p.timesteps or 0)
            if p.method == method
        ]
        assert energies == sorted(energies) and energies[0] < energies[-1]
    assert "ltb T=8" in quick.to_table() and quick.to_dict()["samples"] == SAMPLES


def test_pareto_is_exactly_the_non_dominated_points(quick: Frontier) -> None:
    def dominated(point, pool):  # type: ignore[no-untyped-def]
        return any(
            other.energy_j <= point.energy_j
            and other.accuracy >= point.accuracy
            and (other.energy_j < point.energy_j or other.accuracy > point.accuracy)
            for other in pool
        )

    for source in (None, "modelled"):
        pool = [p for p in quick.points if source is None or p.energy_source == source]
        expected = {p for p in pool if not dominated(p, pool)}
        assert set(quick.pareto(source)) == expected  # type: ignore[arg-type]


def test_plot_is_written(quick: Frontier, tmp_path: Path) -> None:
    path = quick.plot(tmp_path / "figures" / "frontier.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 30_000


def test_unknown_or_inapplicable_method_lists_the_valid_ones(trained: Trained) -> None:
    for method, reason in (("spike-norm", "unknown"), ("qcfs", "does not apply")):
        with pytest.raises(ConfigurationError, match=reason) as caught:
            frontier(trained.ann, trained.splits.train, trained.splits.test, methods=[method])
        assert all(repr(name) in str(caught.value) for name in CONVERSION_METHODS)


def test_wilson_interval_matches_published_values() -> None:
    # Brown, Cai & DasGupta (2001) / any table: 5 of 10 → [0.2366, 0.7634], 0 of 10 → [0, 0.2775]
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)


def test_quantiser_thresholds_are_the_rate_conversions(trained: Trained) -> None:
    calibrated = calibrate_activations(trained.ann, trained.splits.train, "99.9%")
    scalers = [
        float(m.scale) for name, m in trained.model.snn.named_modules() if name.endswith("scaler1")
    ]
    assert activation_thresholds(calibrated) == pytest.approx(scalers, rel=1e-6)
    assert [activation_bits(t) for t in (1, 3, 4, 7, 8, 15, 16)] == [1, 2, 3, 3, 4, 4, 5]


def test_quantised_ann_replays_its_counts_losslessly_in_b_planes(trained: Trained) -> None:
    quantised = quantise(calibrate_activations(trained.ann, trained.splits.train), 3)
    inputs, labels = first_samples(trained, 64)
    report = replay_quantised(
        quantised,
        (inputs, labels),
        presets.RERAM.ideal().with_parameter("input_driver", "bit_serial"),
    )
    with torch.no_grad():
        expected = (quantised(inputs).argmax(dim=1) == labels).float().mean().item()
    assert report.accuracy == pytest.approx(expected)
    encodings = {layer.name: layer.input_encoding for layer in report.mapping.layers}
    assert encodings["0"].startswith("multi-bit")  # the pixels, as for the ANN
    assert encodings["3"].endswith("0–28, 5 bit-serial planes")  # 7 levels, 2×2 average pooling
    assert encodings["9"].endswith("0–7, 3 bit-serial planes")


def test_half_threshold_conversion(trained: Trained) -> None:
    model = spiking.convert(
        trained.ann, trained.splits.train, channel_wise=True, half_threshold=True
    )
    assert any(isinstance(m, HalfThresholdIFNode) for m in model.snn.modules())
    assert "half-threshold" in model.config.describe()
    with pytest.raises(spiking.InvalidInputError, match="channel_wise=True"):
        spiking.convert(trained.ann, trained.splits.train, half_threshold=True)


@pytest.mark.slow
def test_frontier_on_the_preset_as_shipped(trained: Trained, tmp_path: Path) -> None:
    result = frontier(
        trained.model,
        _calibration(trained),
        trained.splits.test,
        [4, 16],
        methods=["rate-99.9%", "ltb"],
        samples=64,
    )
    for method in ("rate-99.9%", "ltb"):
        low, high = (
            p.energy_j
            for p in sorted(result.points, key=lambda p: p.timesteps or 0)
            if p.method == method
        )
        assert high > 2 * low
    assert result.plot(tmp_path / "frontier.svg").stat().st_size > 10_000
