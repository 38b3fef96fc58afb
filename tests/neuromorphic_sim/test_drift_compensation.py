"""PCM over time on the digits SNN: global drift compensation keeps the accuracy of t = 0."""

from __future__ import annotations

import pytest

from neuromorphic_sim import HardwareConfig, presets, replay

from .conftest import Trained

YEAR_S = 365 * 86400.0


def _accuracy_and_report(trained: Trained, config: HardwareConfig):  # type: ignore[no-untyped-def]
    report = replay(trained.model, trained.splits.test, config, progress=False)
    return report.accuracy, report


def _one_year(config: HardwareConfig, compensation: bool) -> HardwareConfig:
    return config.with_parameter("drift_time_s", YEAR_S).with_parameter(
        "drift_compensation", compensation
    )


def test_one_year_of_pcm_drift_with_and_without_compensation(trained: Trained) -> None:
    """Ideal ADC (fast); the whole test split (269 samples, one sample = 0.37 points)."""
    pcm = presets.PCM.with_parameter("adc_bits", None)
    fresh, _ = _accuracy_and_report(trained, pcm)
    compensated, report = _accuracy_and_report(trained, _one_year(pcm, True))
    uncompensated, report_off = _accuracy_and_report(trained, _one_year(pcm, False))
    assert compensated >= fresh - 0.03  # within a few points of t = 0
    assert uncompensated < compensated - 0.2  # drift without compensation costs most of it
    gains = [layer.drift_compensation_gain for layer in report.mapping.layers]
    assert all(1.5 < gain < 3.0 for gain in gains), gains  # ≈ (t/t0)^ν, ν ≈ 0.05–0.06
    assert any("global drift compensation" in note for note in report.notes)
    assert all(layer.drift_compensation_gain == 1.0 for layer in report_off.mapping.layers)
    assert any("drift compensation off" in note for note in report_off.notes)


def test_nothing_is_compensated_where_nothing_drifts(trained: Trained, quiet_reram) -> None:
    report = replay(trained.model, trained.splits.test, quiet_reram, progress=False, max_samples=32)
    assert all(layer.drift_compensation_gain == 1.0 for layer in report.mapping.layers)
    assert not any("drift" in note for note in report.notes)


@pytest.mark.slow
def test_one_year_on_the_pcm_preset_as_shipped(trained: Trained) -> None:
    """The 8-bit ADC keeps its full scale while the currents drift down, so compensation
    recovers a little less than with an ideal ADC."""
    fresh, _ = _accuracy_and_report(trained, presets.PCM)
    compensated, _ = _accuracy_and_report(trained, _one_year(presets.PCM, True))
    uncompensated, _ = _accuracy_and_report(trained, _one_year(presets.PCM, False))
    assert compensated >= fresh - 0.05
    assert uncompensated < compensated - 0.2
