"""The conversion stage of ``nature demo``."""

from __future__ import annotations

import pytest

from spiking.demo import conversion_stage
from tests.spiking.conftest import TrainedDigits


def test_conversion_stage_prints_accuracy_over_t_and_the_energy_estimate(digits: TrainedDigits) -> None:
    report = conversion_stage(digits.model, digits.splits, timesteps=(8, 32))
    table = report.to_table()
    print(table)
    assert report.evaluation.timesteps == (8, 32)
    assert [line.split()[:2] for line in table.splitlines() if line.startswith("SNN")] == [["SNN", "8"], ["SNN", "32"]]
    assert "ESTIMATE" in table and "Horowitz" in table and "ISSCC 2014" in table
    assert "break-even" in table
    ann_energy = report.energies[0].ann_energy_j
    assert ann_energy == pytest.approx(67_776 * 4.6e-12)  # DigitsCNN MACs x FP32 MAC energy
    assert report.evaluation.drop_points(32) <= 2.0
