"""The side-by-side figure: files, caption, TensorBoard."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from neuromorphic_sim import digital_reference, presets, replay, side_by_side, sweep

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
    assert "Training run NATURE" in svg and "0.002 kWh" in svg and "0.9 g CO2e" in svg
    assert "the same crossbar" in svg and "estimated" in svg
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
