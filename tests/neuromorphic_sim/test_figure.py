"""The side-by-side figure: files, caption, TensorBoard."""

from __future__ import annotations

import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest

from neuromorphic_sim import (
    digital_reference,
    draw_side_by_side,
    presets,
    replay,
    side_by_side,
    sweep,
)
from neuromorphic_sim.figure import COMPONENT_LABELS, MIN_SHARE, ratio_drivers

from .conftest import Trained, first_samples


@pytest.fixture(scope="module")
def results(trained: Trained):
    inputs, labels = first_samples(trained, 32)
    quiet = presets.RERAM.with_parameter("adc_bits", None).with_parameter("c2c_read_noise", 0.0)
    snn = replay(trained.model, (inputs, labels), quiet, 8, progress=False)
    ann = replay(trained.ann, (inputs, labels), quiet, progress=False)
    digital = digital_reference(trained.ann, (inputs, labels), meter=None)
    trade_off = sweep(
        trained.model, (inputs, labels), "timesteps", [2, 4, 8], quiet, progress=False
    )
    return snn, ann, digital, trade_off


def test_writes_png_and_svg_with_ratio_and_nature_caption(results, tmp_path: Path) -> None:
    paths = side_by_side(
        *results,
        tmp_path / "figures",
        nature_summary={"nature_energy_j": 7200.0, "nature_co2e_kg": 0.0009},
    )
    assert paths.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths.svg.read_text()
    assert "<svg" in svg
    # the console's units: NATURE = 9.0000e-04 kg CO2e, 7200.0 J (2.000e-03 kWh)
    assert "Training run NATURE" in svg and "9.0000e-04 kg CO2e" in svg and "7200.0 J" in svg
    assert "the same crossbar" in svg and "estimated" in svg and "arithmetic only" in svg
    assert "Wilson 95 %" in svg
    assert not paths.logged_to_tensorboard
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "crossbar_side_by_side.png",
        "crossbar_side_by_side.svg",
    ]


@pytest.mark.slow  # TensorBoard takes seconds to import
def test_logs_to_tensorboard_through_a_trainer_like_object(results, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    trainer = SimpleNamespace(loggers=[SimpleNamespace(experiment=writer)])
    paths = side_by_side(*results, tmp_path, tensorboard=trainer, step=3)
    writer.close()
    assert paths.logged_to_tensorboard
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert "neuromorphic_sim/side_by_side" in events.Tags()["images"]
    assert events.Images("neuromorphic_sim/side_by_side")[0].step == 3


def test_breakdown_legend_names_exactly_the_components_drawn(results) -> None:
    snn, ann, digital, trade_off = results
    figure = draw_side_by_side(snn, ann, digital, trade_off)
    legend = {text.get_text() for text in figure.axes[1].get_legend().get_texts()}
    shares = [
        {name: joules / report.energy_per_inference_j for name, joules in report.breakdown.items()}
        for report in (snn, ann)
    ]
    large = {name for share in shares for name, value in share.items() if value >= MIN_SHARE}
    small = {name for share in shares for name, value in share.items() if 0 < value} - large
    expected = {COMPONENT_LABELS[name] for name in large} | (
        {"other (each < 1 %)"} if small else set()
    )
    assert legend == expected


def test_ratio_drivers_are_computed_from_the_breakdowns(results) -> None:
    snn, ann, _, _ = results
    lines = ratio_drivers(snn, ann)
    ratio = snn.energy_per_inference_j / ann.energy_per_inference_j
    assert lines[0] == f"SNN / ANN on the same crossbar: {ratio:.3g}×"
    layer = max(snn.layers, key=lambda layer: layer.total_j)
    share = layer.total_j / snn.energy_per_inference_j
    assert f"layer {layer.name} (" in lines[1] and f"{100 * share:.0f} % of the SNN's" in lines[1]
    component = max(snn.breakdown, key=lambda name: snn.breakdown[name])
    component_share = snn.breakdown[component] / snn.energy_per_inference_j
    assert lines[2].startswith(f"• {COMPONENT_LABELS[component]}: {100 * component_share:.0f} %")


def test_sweep_points_are_the_mean_and_spread_over_seeds(trained: Trained) -> None:
    inputs, labels = first_samples(trained, 32)
    hw = presets.RERAM.with_parameter("adc_bits", None).with_parameter("c2c_read_noise", 0.0)
    hw = hw.with_parameter("d2d_variation", 0.3)  # the seed changes the programmed cells
    result = sweep(
        trained.model, (inputs, labels), "timesteps", [4], hw, seeds=(0, 1, 2), progress=False
    )
    point = result.points[0]
    singles = [
        replay(
            trained.model, (inputs, labels), hw.with_parameter("seed", seed), 4, progress=False
        ).accuracy
        for seed in (0, 1, 2)
    ]
    assert result.seeds == (0, 1, 2) and point.seed_accuracies == tuple(singles)
    assert len(set(singles)) > 1  # the seeds differ, so the spread is not trivially 0
    assert point.accuracy == pytest.approx(statistics.fmean(singles))
    assert point.accuracy_sd == pytest.approx(statistics.stdev(singles))
    assert "±" in result.to_table()
