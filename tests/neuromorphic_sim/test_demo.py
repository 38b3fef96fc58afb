"""The crossbar stage of ``nature demo``."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuromorphic_sim import crossbar_stage

from .conftest import Trained


@pytest.mark.slow
def test_crossbar_stage_draws_the_figure_and_says_what_it_subsampled(
    trained: Trained, tmp_path: Path
) -> None:
    result = crossbar_stage(
        trained.model, trained.splits, tmp_path, {"nature_energy_j": 1000.0}, max_samples=24
    )
    assert result.figure.png.exists() and result.figure.svg.exists()
    assert result.samples_used == 24 and result.samples_available == len(trained.splits.test)
    values = [point.value for point in result.sweep.points]
    assert values == [2, 4, 8, 16]  # T/8 … T, the last one the SNN replay itself
    nominal = result.sweep.points[-1]  # its first seed is the SNN replay itself
    assert nominal.seed_accuracies[0] == result.snn.accuracy and len(nominal.seed_accuracies) == 3
    assert "Wilson" in result.to_table() and "±" in result.to_table()
    table = result.to_table()
    assert "subsample of 24" in table and "estimate" in table and str(result.figure.png) in table
    assert result.to_dict()["digital"]["source"] == "estimated"
